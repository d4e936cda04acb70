"""``gcnrefine refine``: refine a .npy/.npz file of 3D poses with a saved refiner."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from ..configuration_gcnrefine import is_nonnegative_number
from ..evaluation.plausibility import plausibility_change
from ..recipes.files import EXAMPLE_POSES, refine_poses_file
from ..utils.checks import check_int, check_path
from .config import add_dataclass_arguments, dataclass_from_namespace


@dataclass(kw_only=True)
class RefineOptions:
    """Options of ``gcnrefine refine``: the poses to refine (a file, or the shipped example), where
    the result goes, and the refiner and how it runs."""

    input: str | None = field(
        default=None, metadata={"positional": True, "help": "input .npy or .npz file (read without pickle)"}
    )
    example: bool = field(
        default=False, metadata={"help": "refine the shipped example (a lifter's output on a real SS3 video)"}
    )
    output: str = field(metadata={"aliases": ("-o",), "help": "output .npy or .npz file"})
    model: str | None = field(default=None, metadata={"help": "refiner folder or Hub id (none: the shipped checkpoint)"})
    key: str | None = field(default=None, metadata={"help": "array name inside an .npz input with several arrays"})
    flip_test: bool = field(default=False, metadata={"help": "average with the mirrored input's refinement"})
    batch_size: int = field(default=1024, metadata={"help": "windows per forward pass"})
    device: str | None = field(default=None, metadata={"help": "torch device, e.g. cuda (none: cpu)"})
    fps: float | None = field(
        default=None,
        metadata={"help": "the poses' frame rate: scales the model's smoothing (none: the model's own rate, 50 fps)"},
    )
    smoothing_sigma: float | None = field(
        default=None,
        metadata={"help": "Gaussian smoothing over time, sigma in frames of the input; 0: off (none: the model's)"},
    )
    change_weight: float | None = field(
        default=None,
        metadata={"help": "share of the refiner's change kept, in [0, 1]; 0: the input back (none: the model's)"},
    )
    force: bool = field(default=False, metadata={"help": "replace the output file if it exists"})

    def __post_init__(self) -> None:
        if (self.input is None) == (not self.example):
            given = "both" if self.example else "neither"
            raise ValueError(f"input: expected exactly one of INPUT or --example, got {given}")
        check_path("input", self.input, optional=True)
        check_path("output", self.output)
        check_path("model", self.model, optional=True)
        check_int("batch_size", self.batch_size, 1)
        if self.fps is not None and not (is_nonnegative_number(self.fps) and self.fps > 0):
            raise ValueError(f"fps: expected a finite number > 0 (frames/s), got {self.fps!r}")
        if self.smoothing_sigma is not None and not is_nonnegative_number(self.smoothing_sigma):
            raise ValueError(f"smoothing_sigma: expected a finite number >= 0 (frames), got {self.smoothing_sigma!r}")
        if self.change_weight is not None and not (is_nonnegative_number(self.change_weight) and self.change_weight <= 1):
            raise ValueError(f"change_weight: expected a number in [0, 1], got {self.change_weight!r}")


def _summary(change: dict) -> str:
    spread, asymmetry, jitter = change["bone_spread_mm"], change["asymmetry_mm"], change["jitter_mm"]
    return "\n".join(
        (
            "what the refiner changed (before -> after; no ground truth needed):",
            f"  mean displacement          {change['displacement_mm']:.1f} mm",
            f"  bone-length spread         {spread[0]:.1f} -> {spread[1]:.1f} mm",
            f"  left/right asymmetry       {asymmetry[0]:.1f} -> {asymmetry[1]:.1f} mm",
            f"  jitter (mean acceleration) {jitter[0]:.2f} -> {jitter[1]:.2f} mm/frame²",
        )
    )


def _run_refine(args: argparse.Namespace) -> int:
    options = dataclass_from_namespace(RefineOptions, args)
    result = refine_poses_file(
        EXAMPLE_POSES if options.example else options.input,
        options.output,
        model=options.model,
        flip_test=options.flip_test,
        batch_size=options.batch_size,
        overwrite=options.force,
        key=options.key,
        device=options.device,
        fps=options.fps,
        smoothing_sigma=options.smoothing_sigma,
        change_weight=options.change_weight,
    )
    if len(result.before) >= 3:  # acceleration needs three frames
        print(_summary(plausibility_change(result.before, result.after)))
    print(f"wrote {result.path}")
    return 0


def add_cli(subparsers) -> None:
    refine = subparsers.add_parser(
        "refine",
        help="refine 3D poses in a .npy/.npz file",
        description="Refine (T, 17, 3) or (T, 1, 17, 3) poses (metres, camera frame, Human3.6M-17 order).",
    )
    add_dataclass_arguments(refine, RefineOptions)
    refine.set_defaults(func=_run_refine)
