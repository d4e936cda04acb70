"""``gcnrefine detect``: simulate an occlusion-aware 2D detector on ground-truth keypoints, for one
``.npz`` sequence or for every camera sequence of a BlendMimic3D split (the seeds of ``gcnrefine backbone``);
for a split, the preset ``real`` writes the real detections of its videos instead (NaN where no person
was found)."""

from __future__ import annotations

import argparse
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from ..data.detection_files import (
    read_split_detections_meta,
    simulate_split_detections,
    split_detections_meta,
)
from ..data.detections import PRESETS, simulate_detections
from ..data.real_detections import REAL
from ..data.sequences import detection_presets
from ..recipes.files import check_output_path
from ..utils.checks import check_choice, check_int, check_path
from ..utils.io import save_npz
from .config import add_dataclass_arguments, dataclass_from_namespace


@dataclass(kw_only=True)
class DetectOptions:
    """Options of ``gcnrefine detect``. One sequence: ``input`` and ``image_size``. A dataset split:
    ``data`` and ``split`` (and optionally ``limit``). ``preset`` names a
    :class:`~modeling_gcnrefine.data.detections.DetectionNoiseConfig` of ``PRESETS``, or is ``real``
    (a split only: the real detections of the split's videos, :mod:`~modeling_gcnrefine.data.real_detections`)."""

    input: str | None = field(
        default=None,
        metadata={
            "positional": True,
            "help": "one sequence: .npz with arrays keypoints_2d and visibility (loaded without pickle)",
        },
    )
    output: str = field(metadata={"aliases": ("-o",), "help": "output .npz path (written atomically)"})
    preset: str = field(
        default="occluded",
        metadata={
            "help": "noise preset, or real: the real detections of a split's videos (NaN: no person found)",
            "choices": detection_presets(),
        },
    )
    seed: int = field(default=0, metadata={"help": "random seed (int >= 0)"})
    image_size: tuple[float, float] | None = field(
        default=None,
        metadata={
            "metavar": ("W", "H"),
            "help": "one sequence: image width and height in px (required with INPUT)",
        },
    )
    data: str | None = field(
        default=None,
        metadata={
            "help": "BlendMimic3D source (raw folder, exported folder, Hub id): simulate a whole split instead"
        },
    )
    split: Literal["train", "test"] | None = field(default=None, metadata={"help": "with --data: the split"})
    limit: int | None = field(
        default=None, metadata={"help": "with --data: only the first N rows (small runs)"}
    )
    force: bool = field(default=False, metadata={"help": "overwrite OUTPUT if it exists"})

    def __post_init__(self) -> None:
        check_path("output", self.output)
        check_choice("preset", self.preset, detection_presets())
        check_int("seed", self.seed, 0)
        check_int("limit", self.limit, 1, optional=True)
        check_choice("split", self.split, ("train", "test"), optional=True)
        if self.data is not None:
            # Sizes come from the dataset, so the one-sequence inputs would be ignored: refuse them.
            if self.input is not None or self.image_size is not None:
                given = self.input if self.input is not None else self.image_size
                raise ValueError(f"input / image_size: expected neither with data (a split), got {given!r}")
            if self.split is None:
                raise ValueError("split: expected train or test with data, got none")
            return
        if self.preset == REAL:
            # Real detections come from the dataset's videos; a lone keypoints file has none.
            raise ValueError(
                f"preset: expected one of {list(PRESETS)} for one sequence (INPUT), got {REAL!r}; "
                f"the real detections exist only for a split: --data SRC --split SPLIT --preset {REAL}"
            )
        if self.input is None or self.image_size is None:
            raise ValueError(
                "input / image_size: expected INPUT and --image-size W H (one sequence), or --data SRC "
                f"--split SPLIT (a split), got input {self.input!r} and image_size {self.image_size!r}"
            )
        width, height = self.image_size
        if not (width > 0 and height > 0):
            raise ValueError(f"image_size: expected a positive width and height, got {self.image_size!r}")
        if self.split is not None or self.limit is not None:
            raise ValueError(
                f"split / limit: expected only with data (a split), got split {self.split!r} and limit {self.limit!r}"
            )


def _run_detect_split(options: DetectOptions) -> int:
    # Existence is decided below (same settings: nothing to do), the rest before simulating.
    output = check_output_path(options.output, overwrite=True, suffixes=(".npz",))
    wanted = split_detections_meta(options.preset, options.seed, options.split, options.limit)
    if output.exists() and not options.force:
        try:
            recorded = read_split_detections_meta(output)
        except (ValueError, OSError) as error:
            raise FileExistsError(
                f"{output} exists and is not a readable split detections file ({error}); pass --force to overwrite it"
            ) from error
        if recorded == wanted:
            print(f"{output} already holds these detections ({wanted}); nothing to do (--force redoes them)")
            return 0
        differ = {k: (recorded[k], wanted[k]) for k in wanted if recorded[k] != wanted[k]}
        raise FileExistsError(
            f"{output} exists with other settings (recorded, asked): {differ}; pass --force to overwrite it"
        )
    arrays = simulate_split_detections(
        options.data, options.split, options.preset, options.seed, options.limit
    )
    save_npz(output, arrays, overwrite=options.force)
    count = sum(k.startswith("keypoints_2d/") for k in arrays)
    print(
        f"wrote {output} ({count} sequences of split {options.split}, preset {options.preset}, seed {options.seed})"
    )
    return 0


def _run_detect(args: argparse.Namespace) -> int:
    options = dataclass_from_namespace(DetectOptions, args)
    if options.data is not None:
        return _run_detect_split(options)
    output = check_output_path(options.output, options.force, suffixes=(".npz",))
    try:
        with np.load(Path(options.input), allow_pickle=False) as data:
            missing = {"keypoints_2d", "visibility"} - set(data.files)
            if missing:
                raise ValueError(
                    f"input: expected arrays keypoints_2d and visibility, {sorted(missing)} missing"
                )
            keypoints_2d = data["keypoints_2d"]
            visibility = data["visibility"]
    except (zipfile.BadZipFile, EOFError) as error:  # a damaged file is bad input, not a bug
        raise ValueError(f"input: expected a readable .npz file, got {options.input!r} ({error})") from error
    keypoints, confidence = simulate_detections(
        keypoints_2d, visibility, tuple(options.image_size), preset=options.preset, seed=options.seed
    )
    arrays = {
        "keypoints_2d": keypoints,
        "confidence": confidence,
        "visibility": np.asarray(visibility) == 1,
        "image_size": np.asarray(options.image_size, dtype=np.float64),
        "preset": np.asarray(options.preset),
        "seed": np.asarray(options.seed, dtype=np.int64),
    }
    save_npz(output, arrays, overwrite=options.force)
    print(f"wrote {output} ({keypoints.shape[0]} frames, preset {options.preset}, seed {options.seed})")
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
            "one made otherwise is refused unless --force. --preset real (a split only) writes the real "
            "detections of the split's videos instead (the seed plays no part): NaN keypoints and confidence "
            "0 where no person was found; they must cover the whole split (the test split, SS3, is)."
        ),
    )
    add_dataclass_arguments(parser, DetectOptions)
    parser.set_defaults(func=_run_detect)
