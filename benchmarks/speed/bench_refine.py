"""Throughput of `GCNRefineModel.refine` on CPU, beside the FLOP limit of this machine.

Prints, for the reference-size paper model at T = 3 and T = 5 and for the long-range preset
(`GCNRefineConfig.long_range()`, receptive field 81, refined in overlapping chunks), with and without
flip test: frames per second on a 10,000-frame sequence, the measured FLOPs per refined frame, the
frames per second the CPU's measured float32 matrix-multiply peak would allow, and the peak extra
resident memory of one `refine` call (sampled in a fresh process per model; Linux only).

    python benchmarks/speed/bench_refine.py [--frames 10000] [--threads N] [--repeats 2] [--no-memory]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import threading
import time

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from modeling_gcnrefine import GCNRefineConfig, GCNRefineModel
from modeling_gcnrefine.processing_gcnrefine import chunk_plan

# Rows: (label, config overrides of the model).
MODELS = {
    "paper T=3": lambda: GCNRefineConfig.paper(num_frames=3),
    "paper T=5": lambda: GCNRefineConfig.paper(num_frames=5),
    "long_range": GCNRefineConfig.long_range,
}


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


def _count_flops(model: GCNRefineModel, windows: torch.Tensor) -> float:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(windows)
    return counter.get_total_flops()


def flops_per_frame(model: GCNRefineModel, frames: int, flip_test: bool) -> float:
    """FLOPs `refine` spends per refined frame of a ``frames``-long sequence."""
    config = model.config
    if config.architecture == "paper":
        per_frame = _count_flops(model, torch.randn(64, config.num_frames, 17, 3)) / 64  # one window each
    else:
        # Whole chunks, overlaps included: the chunks' FLOPs over the sequence's frames.
        chunks, _ = chunk_plan(frames, config.chunk_length, config.resolved_chunk_overlap, config.temporal_context)
        size = int(chunks[0, 1] - chunks[0, 0])
        per_frame = _count_flops(model, torch.randn(1, size, 17, 3)) * len(chunks) / frames
    return per_frame * (2 if flip_test else 1)


def sequence(frames: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    poses = rng.normal(scale=0.2, size=(frames, 17, 3)).astype(np.float32)
    poses[:, :, 2] += 4.0
    return poses


def _rss_mib() -> float:
    """Current resident memory of this process (Linux: /proc/self/statm)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def _peak_memory_child(name: str, frames: int, batch_size: int, threads: int | None, queue, config=None) -> None:
    """In a fresh process: peak extra resident memory (MiB) of one refine without and one with flip test.

    A thread samples the resident size every millisecond during the call; the figure is its peak
    minus the size just before. The parent starts this process with glibc's mmap threshold lowered,
    so freed tensors leave the resident size at once and each call starts from what it holds."""
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = GCNRefineModel(MODELS[name]() if config is None else GCNRefineConfig(**config)).eval()
    poses = sequence(frames)
    peaks = []
    for flip_test in (False, True):
        before = _rss_mib()
        highest, done = [before], threading.Event()

        def sample(highest=highest, done=done) -> None:
            while not done.wait(0.001):
                highest[0] = max(highest[0], _rss_mib())

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            model.refine(poses, flip_test=flip_test, batch_size=batch_size)
        finally:
            done.set()
            sampler.join()
        peaks.append(max(highest[0], _rss_mib()) - before)
    queue.put(peaks)


def peak_memory_mib(
    name: str, frames: int, batch_size: int, threads: int | None, config: dict | None = None
) -> list[float] | None:
    """``[without flip test, with flip test]`` from `_peak_memory_child`, or None where it cannot run.
    ``config``: a ``GCNRefineConfig.to_dict()`` to measure instead of the row ``name``."""
    if not os.path.exists("/proc/self/statm"):
        return None
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_peak_memory_child, args=(name, frames, batch_size, threads, queue, config))
    saved = os.environ.get("MALLOC_MMAP_THRESHOLD_")
    os.environ["MALLOC_MMAP_THRESHOLD_"] = str(64 * 1024)  # read by glibc when the child starts
    try:
        process.start()
    finally:
        if saved is None:
            os.environ.pop("MALLOC_MMAP_THRESHOLD_")
        else:
            os.environ["MALLOC_MMAP_THRESHOLD_"] = saved
    peaks = queue.get(timeout=3600)
    process.join()
    return peaks if process.exitcode == 0 else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per row; the best is reported")
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory column (a process per model)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    peak = matmul_peak_gflops()
    poses = sequence(args.frames)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float32 GEMM peak {peak:.1f} GFLOP/s")
    print(f"sequence: {args.frames} frames, batch size {args.batch_size}")
    long_range = GCNRefineConfig.long_range()
    print(
        f"long_range: receptive field {long_range.receptive_field}, chunks of {long_range.chunk_length} frames "
        f"overlapping by {long_range.resolved_chunk_overlap}, no confidence given\n"
    )
    columns = ("model", "params", "flip test", "frames/s", "MFLOP/frame", "limit frames/s", "% of limit", "peak MiB")
    widths = (10, 9, 9, 9, 11, 14, 10, 8)
    print("| " + " | ".join(f"{c:>{w}}" for c, w in zip(columns, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for name, make in MODELS.items():
        memory = None if args.no_memory else peak_memory_mib(name, args.frames, args.batch_size, args.threads)
        torch.manual_seed(0)
        model = GCNRefineModel(make()).eval()
        params = sum(p.numel() for p in model.parameters())
        for flip_test in (False, True):
            flops = flops_per_frame(model, args.frames, flip_test)
            model.refine(poses[:512], flip_test=flip_test, batch_size=args.batch_size)  # warm-up
            best = float("inf")
            for _ in range(args.repeats):
                start = time.perf_counter()
                model.refine(poses, flip_test=flip_test, batch_size=args.batch_size)
                best = min(best, time.perf_counter() - start)
            fps = args.frames / best
            limit = peak * 1e9 / flops
            mib = "n/a" if memory is None else f"{memory[int(flip_test)]:.0f}"
            cells = (
                name, f"{params:,}", "yes" if flip_test else "no", f"{fps:.0f}", f"{flops / 1e6:.1f}",
                f"{limit:.0f}", f"{100 * fps / limit:.0f}%", mib,
            )  # fmt: skip
            print("| " + " | ".join(f"{c:>{w}}" for c, w in zip(cells, widths)) + " |")


if __name__ == "__main__":
    main()
