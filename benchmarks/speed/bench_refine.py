"""Throughput of `GCNRefineModel.refine` on CPU, beside the FLOP limit of this machine.

Prints, for the reference-size model at T = 3 and T = 5, with and without flip test: frames per
second on a 10,000-frame sequence, the measured FLOPs per refined frame, and the frames per second
the CPU's measured float32 matrix-multiply peak would allow.

    python benchmarks/speed/bench_refine.py [--frames 10000] [--threads N] [--repeats 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from modeling_gcnrefine import GCNRefineConfig, GCNRefineModel


def matmul_peak_gflops(size: int = 2048, repeats: int = 5) -> float:
    """Best observed float32 GEMM rate (GFLOP/s) on this machine with the current thread count."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def flops_per_window(model: GCNRefineModel, flip_test: bool) -> float:
    windows = torch.randn(64, model.config.num_frames, 17, 3)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(windows)
    per_window = counter.get_total_flops() / 64
    return per_window * (2 if flip_test else 1)


def sequence(frames: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    poses = rng.normal(scale=0.2, size=(frames, 17, 3)).astype(np.float32)
    poses[:, :, 2] += 4.0
    return poses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per row; the best is reported")
    parser.add_argument("--batch-size", type=int, default=1024)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    peak = matmul_peak_gflops()
    poses = sequence(args.frames)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float32 GEMM peak {peak:.1f} GFLOP/s")
    print(f"sequence: {args.frames} frames, batch size {args.batch_size}\n")
    header = f"| {'T':>2} | {'flip test':>9} | {'frames/s':>9} | {'MFLOP/frame':>11} | {'limit frames/s':>14} | {'% of limit':>10} |"
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for frames in (3, 5):
        torch.manual_seed(0)
        model = GCNRefineModel(GCNRefineConfig(num_frames=frames)).eval()
        for flip_test in (False, True):
            flops = flops_per_window(model, flip_test)
            model.refine(poses[:512], flip_test=flip_test, batch_size=args.batch_size)  # warm-up
            best = float("inf")
            for _ in range(args.repeats):
                start = time.perf_counter()
                model.refine(poses, flip_test=flip_test, batch_size=args.batch_size)
                best = min(best, time.perf_counter() - start)
            fps = args.frames / best
            limit = peak * 1e9 / flops
            print(
                f"| {frames:>2} | {'yes' if flip_test else 'no':>9} | {fps:>9.0f} | {flops / 1e6:>11.1f} | "
                f"{limit:>14.0f} | {100 * fps / limit:>9.0f}% |"
            )


if __name__ == "__main__":
    main()
