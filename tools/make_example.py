"""Make the shipped example input of ``gcnrefine refine --example``.

It is the shipped lifter's 3D output (``lifter-blendmimic3d``, flip test on) on one real 2D detection
sequence: MediaPipe BlazePose on the BlendMimic3D SS3 video ``TakesItem_multi`` camera 1 (other
people walk through it, so there are real occlusions and detector errors). Frames where no person was
found (the ``found`` mask) are filled by linear interpolation over time before lifting. The result is
float32 ``(T, 17, 3)`` metres, root-relative, camera frame, Human3.6M-17 order; it holds no ground
truth. It is written to ``modeling_gcnrefine/examples/`` (package data, so a wheel has it).

Needs the read-only data beside the checkout (``../shared/real_detections/blendmimic3d_blazepose.npz``,
described in ``../shared/docs/DATA.md``); the package itself never does. Deterministic: the same
detections and lifter give the same bytes (one CPU thread, so float sums are always in one order).

    python tools/make_example.py --force
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from modeling_gcnrefine.lifting import TemporalLifterModel
from modeling_gcnrefine.recipes.files import EXAMPLE_POSES
from modeling_gcnrefine.utils.hub import resolve_model
from modeling_gcnrefine.utils.io import save_poses_file
from modeling_gcnrefine.video.pipeline import interpolate_missing

REPO = Path(__file__).resolve().parents[1]
DETECTIONS = REPO.parent / "shared" / "real_detections" / "blendmimic3d_blazepose.npz"
SEQUENCE = "S3/TakesItem_multi/1"
IMAGE_SIZE = (1280, 720)  # every SS3 video (DATA.md); the detections file does not store it


def lifted_example(detections: Path, sequence: str, frames: int | None = None) -> np.ndarray:
    """The shipped lifter's ``(T, 17, 3)`` float32 output on ``sequence`` of the detections file."""
    with np.load(detections, allow_pickle=False) as data:
        if f"{sequence}|kp2d" not in data.files:
            names = sorted({name.split("|")[0] for name in data.files})
            raise ValueError(f"sequence: expected one of {names}, got {sequence!r}")
        keypoints = data[f"{sequence}|kp2d"].astype(np.float64)
        found = data[f"{sequence}|found"]
    keypoints[~found] = np.nan  # already NaN there; make the mask, not that convention, decide
    keypoints = interpolate_missing(keypoints[:frames])
    lifter = TemporalLifterModel.from_pretrained(resolve_model(None, "lifter")).eval()
    return np.asarray(lifter.lift(keypoints, image_size=IMAGE_SIZE, flip_test=True), np.float32)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detections", type=Path, default=DETECTIONS, help="the real detections .npz")
    parser.add_argument("--sequence", default=SEQUENCE, help="'<S>/<Action>/<camera>' inside it (an SS3 one)")
    parser.add_argument("--frames", type=int, default=None, help="keep only the first N frames (default: all)")
    parser.add_argument("-o", "--output", type=Path, default=EXAMPLE_POSES, help="where to write the .npy")
    parser.add_argument("--force", action="store_true", help="replace the output if it exists")
    args = parser.parse_args(argv)
    if not args.detections.is_file():
        parser.error(f"--detections: {args.detections} not found (it lives in ../shared, beside the checkout)")
    torch.set_num_threads(1)
    poses = lifted_example(args.detections, args.sequence, args.frames)
    path = save_poses_file(args.output, poses, overwrite=args.force)
    print(f"wrote {path}: {poses.shape} {poses.dtype}, {path.stat().st_size} bytes, from {args.sequence}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
