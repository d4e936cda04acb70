"""TODO docstring (from modeling_gcnrefine/detections.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from ..data.detection_files import (
    read_split_detections_meta,
    simulate_split_detections,
    split_detections_meta,
)
from ..data.detections import PRESETS, simulate_detections
from ..utils.io import save_npz


def _run_detect_split(args: argparse.Namespace) -> int:
    output = Path(args.output)
    wanted = split_detections_meta(args.preset, args.seed, args.split, args.limit)
    if output.exists() and not args.force:
        try:
            recorded = read_split_detections_meta(output)
        except (ValueError, OSError) as error:
            message = f"{output} exists and is not a readable split detections file ({error})"
            print(f"error: {message}; pass --force to overwrite it", file=sys.stderr)
            return 1
        if recorded == wanted:
            print(f"{output} already holds these detections ({wanted}); nothing to do (--force redoes them)")
            return 0
        differ = {k: (recorded[k], wanted[k]) for k in wanted if recorded[k] != wanted[k]}
        message = f"{output} exists with other settings (recorded, asked): {differ}"
        print(f"error: {message}; pass --force to overwrite it", file=sys.stderr)
        return 1
    try:
        arrays = simulate_split_detections(args.data, args.split, args.preset, args.seed, args.limit)
        save_npz(output, arrays, overwrite=args.force)
    except (ValueError, OSError) as error:  # OSError covers FileExistsError from a racing writer
        print(f"error: {error}", file=sys.stderr)
        return 1
    count = sum(k.startswith("keypoints_2d/") for k in arrays)
    print(f"wrote {output} ({count} sequences of split {args.split}, preset {args.preset}, seed {args.seed})")
    return 0


def _run_detect(args: argparse.Namespace) -> int:
    if args.data is not None:
        if args.input is not None or args.image_size is not None:
            message = "with --data, give no INPUT and no --image-size (sizes come from the dataset)"
            print(f"error: {message}", file=sys.stderr)
            return 2
        if args.split is None:
            print("error: --data needs --split {train,test}", file=sys.stderr)
            return 2
        if args.limit is not None and args.limit < 1:
            print(f"error: --limit: expected a positive integer, got {args.limit}", file=sys.stderr)
            return 2
        if args.seed < 0:
            print(f"error: --seed: expected an int >= 0, got {args.seed}", file=sys.stderr)
            return 2
        return _run_detect_split(args)
    if args.input is None or args.image_size is None:
        message = "give INPUT and --image-size W H (one sequence), or --data SRC --split SPLIT (a split)"
        print(f"error: {message}", file=sys.stderr)
        return 2
    if args.split is not None or args.limit is not None:
        print("error: --split and --limit need --data", file=sys.stderr)
        return 2
    output = Path(args.output)
    if output.exists() and not args.force:
        print(f"error: {output} exists; pass --force to overwrite it", file=sys.stderr)
        return 1
    try:
        with np.load(Path(args.input), allow_pickle=False) as data:
            missing = {"keypoints_2d", "visibility"} - set(data.files)
            if missing:
                raise ValueError(f"input: expected arrays keypoints_2d and visibility, {sorted(missing)} missing")
            keypoints_2d = data["keypoints_2d"]
            visibility = data["visibility"]
        keypoints, confidence = simulate_detections(
            keypoints_2d, visibility, tuple(args.image_size), preset=args.preset, seed=args.seed
        )
        arrays = {
            "keypoints_2d": keypoints,
            "confidence": confidence,
            "visibility": np.asarray(visibility) == 1,
            "image_size": np.asarray(args.image_size, dtype=np.float64),
            "preset": np.asarray(args.preset),
            "seed": np.asarray(args.seed, dtype=np.int64),
        }
        save_npz(output, arrays, overwrite=args.force)
    except (ValueError, OSError) as error:  # OSError covers FileExistsError from a racing writer
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {output} ({keypoints.shape[0]} frames, preset {args.preset}, seed {args.seed})")
    return 0


def add_cli(subparsers) -> None:
    """Add ``gcnrefine detect``: simulate detections for one .npz sequence, or for a BlendMimic3D split."""
    parser = subparsers.add_parser(
        "detect",
        help="simulate a 2D detector (occlusion-aware) on ground-truth keypoints",
        description=(
            "One sequence: read INPUT (.npz with keypoints_2d (T, J, 2) pixels and visibility (T, J)), "
            "simulate the keypoints and confidences a top-down detector would return, and write them to "
            "OUTPUT (.npz with keypoints_2d, confidence, visibility, image_size, preset, seed). "
            "A dataset split: with --data SRC --split SPLIT, simulate every camera sequence of the split "
            "(the seeds of `gcnrefine backbone`) and write one .npz with keypoints_2d/<subject>/<action>/"
            "<camera>, confidence/..., image_size/... and meta/{format,preset,seed,split,limit}. An existing "
            "OUTPUT made with the same preset, seed, split and limit is kept (exit 0, nothing redone); "
            "one made otherwise is refused unless --force."
        ),
    )
    parser.add_argument(
        "input", nargs="?", default=None,
        help="one sequence: .npz with arrays keypoints_2d and visibility (loaded without pickle)",
    )  # fmt: skip
    parser.add_argument("-o", "--output", required=True, help="output .npz path (written atomically)")
    parser.add_argument("--preset", default="occluded", choices=list(PRESETS), help="noise preset")
    parser.add_argument("--seed", type=int, default=0, help="random seed (int >= 0)")
    parser.add_argument(
        "--image-size", nargs=2, type=float, default=None, metavar=("W", "H"),
        help="one sequence: image width and height in px (required with INPUT)",
    )  # fmt: skip
    parser.add_argument(
        "--data", default=None,
        help="BlendMimic3D source (raw folder, exported folder, Hub id): simulate a whole split instead",
    )  # fmt: skip
    parser.add_argument("--split", choices=("train", "test"), default=None, help="with --data: the split")
    parser.add_argument("--limit", type=int, default=None, help="with --data: only the first N rows (small runs)")
    parser.add_argument("--force", action="store_true", help="overwrite OUTPUT if it exists")
    parser.set_defaults(func=_run_detect)
