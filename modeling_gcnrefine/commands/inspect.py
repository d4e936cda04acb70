"""``gcnrefine inspect``: how plausible the poses in a .npy/.npz file are, without ground truth (and
against it, given a reference file).

Ground-truth-free figures (:mod:`~modeling_gcnrefine.evaluation.plausibility`): bone-length spread,
left/right asymmetry and jitter. With ``--reference`` also MPJPE and acceleration error, both after
subtracting the root joint on each side, as ``gcnrefine evaluate`` scores (a global translation of
the poses does not count).
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass, field

import numpy as np

from ..evaluation.plausibility import bone_length_spread, jitter, left_right_asymmetry
from ..evaluation.records import root_relative
from ..utils.checks import check_path
from ..utils.io import load_poses_file
from ..utils.metrics import acceleration_error, mpjpe
from .config import add_dataclass_arguments, dataclass_from_namespace

MM = 1000.0  # pose files are in metres, the figures in millimetres

# (key, label, unit, decimals) of each printed line, in order; the reference lines only with one.
_LINES = (
    ("frames", "frames", "", 0),
    ("empty_frames", "frames without a pose", "", 0),
    ("joints", "joints", "", 0),
    ("bone_spread_mm", "bone-length spread", "mm", 1),
    ("asymmetry_mm", "left/right asymmetry", "mm", 1),
    ("jitter_mm", "jitter", "mm/frame²", 2),
    ("mpjpe_mm", "MPJPE", "mm", 1),
    ("acceleration_error_mm", "acceleration error", "mm/frame²", 2),
)


@dataclass(kw_only=True)
class InspectOptions:
    """Options of ``gcnrefine inspect``: the pose file, an optional ground truth, and the format."""

    input: str = field(
        metadata={"positional": True, "help": "poses: .npy or .npz file, (T, 17, 3) or (T, 1, 17, 3) metres"}
    )
    reference: str | None = field(
        default=None,
        metadata={
            "metavar": "GT_FILE",
            "help": "ground truth of the same shape (.npy/.npz): adds MPJPE and acceleration error",
        },
    )
    json: bool = field(default=False, metadata={"help": "print the figures as one JSON object"})

    def __post_init__(self) -> None:
        check_path("input", self.input)
        check_path("reference", self.reference, optional=True)


def _one_person(poses: np.ndarray) -> np.ndarray:
    return poses[:, 0] if poses.ndim == 4 else poses


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None  # JSON has no NaN


def summarize(poses: np.ndarray, reference: np.ndarray | None = None) -> dict[str, float | int | None]:
    """The figures ``gcnrefine inspect`` prints, for ``(T, J, 3)`` poses in metres (None: not measurable).

    Keys: ``frames``, ``empty_frames`` (no finite joint), ``joints``, ``bone_spread_mm`` (needs 2
    frames), ``asymmetry_mm``, ``jitter_mm`` (mm/frame², needs 3 frames) and, with a ``reference`` of
    the same shape, ``mpjpe_mm`` and ``acceleration_error_mm`` (mm/frame², needs 3 frames), over the
    joints finite in both.
    """
    frames, joints = poses.shape[:2]
    summary: dict[str, float | int | None] = {
        "frames": int(frames),
        "empty_frames": int((~np.isfinite(poses).any(axis=(1, 2))).sum()),
        "joints": int(joints),
        "bone_spread_mm": _finite(bone_length_spread(poses)) if frames >= 2 else None,
        "asymmetry_mm": _finite(left_right_asymmetry(poses)),
        "jitter_mm": _finite(jitter(poses)) if frames >= 3 else None,
    }
    if reference is None:
        return summary
    if reference.shape != poses.shape:
        raise ValueError(f"reference: expected the shape of input {poses.shape}, got {reference.shape}")
    predicted, target = root_relative(poses), root_relative(reference)
    # A joint missing on either side (no person found, never annotated) is left out, not NaN-poisoning.
    valid = np.isfinite(predicted).all(axis=-1) & np.isfinite(target).all(axis=-1)
    predicted, target = np.where(valid[..., None], predicted, 0.0), np.where(valid[..., None], target, 0.0)
    summary["mpjpe_mm"] = _finite(float(mpjpe(predicted, target, mask=valid)) * MM)
    accel = float(acceleration_error(predicted, target, mask=valid)) * MM if frames >= 3 else math.nan
    summary["acceleration_error_mm"] = _finite(accel)
    return summary


def _table(name: str, summary: dict) -> str:
    lines = [name]
    for key, label, unit, decimals in _LINES:
        if key not in summary:
            continue
        value = summary[key]
        text = "n/a" if value is None else f"{value:.{decimals}f}" + (f" {unit}" if unit else "")
        lines.append(f"  {label:<24}{text}")
    return "\n".join(lines)


def _run_inspect(args: argparse.Namespace) -> int:
    options = dataclass_from_namespace(InspectOptions, args)
    poses = _one_person(load_poses_file(options.input))
    reference = None if options.reference is None else _one_person(load_poses_file(options.reference))
    summary = summarize(poses, reference)
    if options.json:
        print(json.dumps({"input": options.input, "reference": options.reference, **summary}))
    else:
        print(_table(options.input, summary))
    return 0


def add_cli(subparsers) -> None:
    parser = subparsers.add_parser(
        "inspect",
        help="how plausible the poses in a .npy/.npz file are (and their error, given ground truth)",
        description=(
            "Print frames, joints, bone-length spread (mm), left/right asymmetry (mm) and jitter "
            "(mm/frame²) of the poses in INPUT; with --reference GT_FILE (the same shape) also MPJPE (mm) "
            "and acceleration error (mm/frame²), root-relative. Non-finite joints are left out."
        ),
    )
    add_dataclass_arguments(parser, InspectOptions)
    parser.set_defaults(func=_run_inspect)
