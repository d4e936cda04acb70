"""``gcnrefine video``: 3D poses of one person in a video (detect, track, 2D keypoints, lift, refine),
written as ``<stem>_poses.npz`` and an overlay MP4 (:func:`~modeling_gcnrefine.video.pipeline.process_video`)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field

import numpy as np

from ..recipes.files import check_output_dir
from ..utils.checks import check_choice, check_int, check_number, check_path
from ..video.models2d import DEFAULT_DETECTOR, DEFAULT_POSE_MODEL
from ..video.pipeline import LIFTER_LAYOUTS, process_video
from .config import add_dataclass_arguments, dataclass_from_namespace


def _target_arg(text: str) -> str | int:
    if text == "largest":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'largest' or a person index, got {text!r}") from None


@dataclass(kw_only=True)
class VideoOptions:
    """Options of ``gcnrefine video``: the video, the four models, who to follow, and what to write."""

    input: str = field(metadata={"positional": True, "help": "video file"})
    lifter: str | None = field(
        default=None, metadata={"help": "TemporalLifterModel folder or Hub id (none: the shipped lifter)"}
    )
    lifter_layout: str = field(
        default="h36m", metadata={"help": "the lifter's 2D input order", "choices": LIFTER_LAYOUTS}
    )
    model: str | None = field(
        default=None, metadata={"help": "refiner folder or Hub id (none: the shipped checkpoint)"}
    )
    out_dir: str = field(default=".", metadata={"aliases": ("-o",), "help": "output folder"})
    detector: str = field(default=DEFAULT_DETECTOR, metadata={"help": "object detector (model id or folder)"})
    pose_model: str = field(
        default=DEFAULT_POSE_MODEL, metadata={"help": "ViTPose model (model id or folder)"}
    )
    target: str | int = field(
        default="largest",
        metadata={
            "type": _target_arg,
            "metavar": "{largest,INDEX}",
            "help": "'largest' or a person index on the first frame, left to right",
        },
    )
    max_frames: int | None = field(
        default=None, metadata={"help": "process at most this many frames (none: all)"}
    )
    batch_size: int = field(default=8, metadata={"help": "frames per detector / pose-model pass"})
    threshold: float = field(default=0.3, metadata={"help": "detector score threshold"})
    device: str | None = field(
        default=None, metadata={"help": "torch device (none: cuda when present, else cpu)"}
    )
    crop: bool = field(
        default=True, metadata={"help": "also detect in a crop around the target's predicted box"}
    )
    video: bool = field(default=True, metadata={"help": "also write the MP4 overlay"})
    force: bool = field(default=False, metadata={"help": "replace existing output files"})

    def __post_init__(self) -> None:
        check_path("input", self.input)
        for name in ("lifter", "model"):
            check_path(name, getattr(self, name), optional=True)
        check_choice("lifter_layout", self.lifter_layout, LIFTER_LAYOUTS)
        check_path("out_dir", self.out_dir)
        if self.target != "largest":
            check_int("target", self.target, 0)
        check_int("max_frames", self.max_frames, 1, optional=True)
        check_int("batch_size", self.batch_size, 1)
        check_number("threshold", self.threshold, 0.0, 1.0)


def _run_video(args: argparse.Namespace) -> int:
    options = dataclass_from_namespace(VideoOptions, args)
    check_output_dir(options.out_dir, name="out_dir")  # process_video checks the files in it
    result = process_video(
        options.input,
        options.lifter,
        refiner=options.model,
        out_dir=options.out_dir,
        detector=options.detector,
        pose_model=options.pose_model,
        lifter_layout=options.lifter_layout,
        target=options.target,
        device=options.device,
        batch_size=options.batch_size,
        threshold=options.threshold,
        crop_detection=options.crop,
        max_frames=options.max_frames,
        write_video=options.video,
        overwrite=options.force,
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
    add_dataclass_arguments(video, VideoOptions)
    video.set_defaults(func=_run_video)
