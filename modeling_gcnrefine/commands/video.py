"""TODO docstring (from modeling_gcnrefine/video.py)."""

from __future__ import annotations

import argparse
import sys

import numpy as np

from ..video.models2d import DEFAULT_DETECTOR, DEFAULT_POSE_MODEL
from ..video.pipeline import LIFTER_LAYOUTS, process_video


def _target_arg(text: str) -> str | int:
    if text == "largest":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'largest' or a person index, got {text!r}") from None


def _run_video(args: argparse.Namespace) -> int:
    result = process_video(
        args.input,
        args.lifter,
        refiner=args.model,
        out_dir=args.out_dir,
        detector=args.detector,
        pose_model=args.pose_model,
        lifter_layout=args.lifter_layout,
        target=args.target,
        device=args.device,
        batch_size=args.batch_size,
        threshold=args.threshold,
        crop_detection=not args.no_crop,
        max_frames=args.max_frames,
        write_video=not args.no_video,
        overwrite=args.force,
    )
    found = int(np.isfinite(result.boxes[:, 0]).sum())
    cut = " (cut at --max-frames)" if result.truncated else ""
    print(f"{result.num_frames} frames{cut}, target found in {found}", file=sys.stderr)
    print(f"wrote {result.npz_path}")
    if result.video_path is not None:
        print(f"wrote {result.video_path}")
    return 0


def add_cli(subparsers: argparse._SubParsersAction) -> None:
    """Add ``gcnrefine video INPUT --lifter DIR`` to the command line."""
    video = subparsers.add_parser(
        "video",
        help="3D poses of one person in a video: detect, track, 2D keypoints, lift, refine",
        description=(
            f"Detect people ({DEFAULT_DETECTOR}), follow one, estimate its 2D keypoints "
            f"({DEFAULT_POSE_MODEL}), lift them to 3D and refine; write <input stem>_poses.npz and "
            "<input stem>_overlay.mp4 to --out-dir."
        ),
    )
    video.add_argument("input", help="video file")
    video.add_argument(
        "--lifter", default=None, help="TemporalLifterModel folder or Hub id (default: the shipped lifter)"
    )
    video.add_argument(
        "--lifter-layout",
        choices=LIFTER_LAYOUTS,
        default="h36m",
        help="the lifter's 2D input order (default h36m)",
    )
    video.add_argument(
        "--model", default=None, help="refiner folder or Hub id (default: the shipped checkpoint)"
    )
    video.add_argument("-o", "--out-dir", default=".", help="output folder (default: current)")
    video.add_argument(
        "--detector", default=DEFAULT_DETECTOR, help=f"object detector (default {DEFAULT_DETECTOR})"
    )
    video.add_argument(
        "--pose-model", default=DEFAULT_POSE_MODEL, help=f"ViTPose model (default {DEFAULT_POSE_MODEL})"
    )
    video.add_argument(
        "--target",
        type=_target_arg,
        default="largest",
        help="'largest' or a person index on the first frame, left to right",
    )
    video.add_argument("--max-frames", type=int, default=None, help="process at most this many frames")
    video.add_argument("--batch-size", type=int, default=8, help="frames per detector / pose-model pass")
    video.add_argument("--threshold", type=float, default=0.3, help="detector score threshold (default 0.3)")
    video.add_argument("--device", default=None, help="torch device (default: cuda when present, else cpu)")
    video.add_argument("--no-crop", action="store_true", help="detect on whole frames only")
    video.add_argument("--no-video", action="store_true", help="write only the .npz, no MP4")
    video.add_argument("--force", action="store_true", help="replace existing output files")
    video.set_defaults(func=_run_video)
