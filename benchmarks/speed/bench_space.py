"""Time of the Space's "Your predictions" requests per 1,000 uploaded frames, and the limits app.py sets.

For each ``--frames`` length: the shipped refiner alone (``GCNRefineModel.from_pretrained()``, flip test
and the app's batch size, as the app calls it) and a whole upload request as the app serves it
(``SpaceBackend.refine_upload``: read the .npy, check it, refine, save, build the animation), best of
``--repeats``. Then the limits ``spaces_demo/app.py`` sets (frames cap, time budget, concurrency, queue
size) beside the ones this machine's measurement gives. Needs the demo extra (gradio, plotly).

    python benchmarks/speed/bench_space.py [--frames 1000 3000] [--repeats 2] [--threads N]
"""

from __future__ import annotations

import argparse
import inspect
import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import modeling_gcnrefine
from modeling_gcnrefine import GCNRefineModel
from modeling_gcnrefine.commands.demo import load_app

# A real lifter output shipped with the package (SS3, 199 frames, metres): a realistic input to time.
EXAMPLE = Path(modeling_gcnrefine.__file__).parent / "examples" / "ss3_takesitem_multi_cam1_lifted.npy"


def upload_poses(frames: int) -> np.ndarray:
    """``frames`` frames of the example, played forwards and backwards so the motion stays continuous."""
    clip = np.load(EXAMPLE, allow_pickle=False).astype(np.float32)
    loop = np.concatenate([clip, clip[::-1]])
    return np.resize(loop, (frames, *clip.shape[1:]))[:, None]  # (T, 1, 17, 3), VideoPose3D's layout


def best_of(repeats: int, run) -> float:
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[1000, 3000], help="upload lengths to time")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per length; the best is reported")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if any(n < 1 for n in args.frames) or args.repeats < 1:
        parser.error("--frames and --repeats: expected positive integers")
    if args.threads:
        torch.set_num_threads(args.threads)

    app = load_app()
    refiner = GCNRefineModel.from_pretrained()
    # No deadline while measuring: the point is how long the work takes, not whether it fits.
    backend = app.SpaceBackend(max_frames=max(args.frames), time_budget_s=math.inf)
    load = os.getloadavg()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
        f"load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1 / 5 / 15 min)"
    )
    print(
        f"refiner: shipped checkpoint, flip test, batch size {app.REFINE_BATCH_SIZE}; best of {args.repeats}\n"
    )

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        warm = Path(folder) / "warm.npy"
        np.save(warm, upload_poses(50))
        backend.refine_upload(str(warm))  # loads the backend's refiner; not timed
        refiner.refine(upload_poses(50)[:, 0], flip_test=True, batch_size=app.REFINE_BATCH_SIZE)
        for frames in args.frames:
            poses = upload_poses(frames)
            path = Path(folder) / f"upload_{frames}.npy"
            np.save(path, poses)
            refine_s = best_of(
                args.repeats,
                lambda p=poses: refiner.refine(p[:, 0], flip_test=True, batch_size=app.REFINE_BATCH_SIZE),
            )
            request_s = best_of(args.repeats, lambda p=path: backend.refine_upload(str(p)))
            rows.append((frames, refine_s, request_s))
        # The package's default batch size, beside the app's smaller one (its deadline granularity).
        longest = upload_poses(max(args.frames))[:, 0]
        default_batch_s = best_of(args.repeats, lambda: refiner.refine(longest, flip_test=True))
    backend.close()

    header = "| frames | refine (s) | request (s) | refine s / 1,000 frames | request s / 1,000 frames |"
    print(header)
    print("|" + "|".join("-" * len(c) for c in header.split("|")[1:-1]) + "|")
    for frames, refine_s, request_s in rows:
        print(
            f"| {frames:>6,} | {refine_s:>10.2f} | {request_s:>11.2f} | {refine_s / frames * 1000:>23.2f} "
            f"| {request_s / frames * 1000:>24.2f} |"
        )

    # The slowest per-1,000 rate of any length: short uploads carry the fixed costs, so this errs long.
    measured = max(request_s / frames * 1000 for frames, _, request_s in rows)
    budget, rate, cap = app.UPLOAD_TIME_BUDGET_S, app.UPLOAD_S_PER_1000_FRAMES, app.MAX_UPLOAD_FRAMES
    here_cap = app.upload_frames_cap(budget, measured)  # the formula behind app.py's MAX_UPLOAD_FRAMES
    print("\nLimits: what spaces_demo/app.py sets, and what this measurement gives\n")
    header = "| limit | app.py | from this measurement |"
    print(header)
    print("|---|---|---|")
    print(f"| request s per 1,000 frames (UPLOAD_S_PER_1000_FRAMES) | {rate:g} | {measured:.2f} |")
    print(
        f"| time budget per request, s (UPLOAD_TIME_BUDGET_S) | {budget:g} | {budget:g} (a choice, not measured) |"
    )
    jobs = app.REFINE_CONCURRENCY + app.VIDEO_CONCURRENCY
    print(
        f"| frames cap (MAX_UPLOAD_FRAMES = budget / (rate x {jobs} jobs), down to 500) | {cap:,} | {here_cap:,} |"
    )
    print(
        f"| estimated time of a {cap:,}-frame upload, s: alone / beside a clip | {cap * rate / 1000:.1f} / "
        f"{cap * rate * jobs / 1000:.1f} | {cap * measured / 1000:.1f} / {cap * measured * jobs / 1000:.1f} |"
    )
    print(f"| estimated time of a 10,000-frame upload, s (refused) | {10 * rate:.0f} | {10 * measured:.0f} |")
    print(f"| refine batch size (deadline checked before each) | {app.REFINE_BATCH_SIZE} | - |")
    print(
        f"| concurrent refines: sequences, uploads, example (REFINE_CONCURRENCY) | {app.REFINE_CONCURRENCY} | - |"
    )
    print(f"| concurrent clips (VIDEO_CONCURRENCY) | {app.VIDEO_CONCURRENCY} | - |")
    print(
        f"| queue size (QUEUE_MAX_SIZE); worst wait for uploads, s | {app.QUEUE_MAX_SIZE}; "
        f"{app.QUEUE_MAX_SIZE * budget:g} | - |"
    )
    print(
        f"\nrefiner alone on {len(longest):,} frames: {default_batch_s:.2f} s at refine()'s default batch size "
        f"({inspect.signature(GCNRefineModel.refine).parameters['batch_size'].default}) "
        f"beside {next(r for f, r, _ in rows if f == len(longest)):.2f} s at the app's {app.REFINE_BATCH_SIZE}"
    )
    end_load = os.getloadavg()[0]
    print(f"load average at the end: {end_load:.2f} (1 min); above {os.cpu_count()} the CPU was shared")
    if here_cap < cap:
        print(
            f"\nThis machine is slower than app.py assumes: a {cap:,}-frame upload would run past the budget."
        )


if __name__ == "__main__":
    main()
