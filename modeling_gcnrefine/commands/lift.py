"""``gcnrefine lift``: the built-in temporal lifter (VideoPose3D architecture) on the command line:
``convert`` an official VideoPose3D checkpoint, ``train`` one lifter on BlendMimic3D SS1 + SS2, and
``run`` it on a split detections file."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Literal

from ..lifting.convert_semgcn import convert_semgcn
from ..lifting.convert_videopose3d import convert_videopose3d
from ..recipes.backbone import BackboneSettings
from ..recipes.files import check_output_path
from ..recipes.lift import FOLD_CHOICES, TRAINING_FIELDS, lift_detections_file, train_lifter_folder
from ..utils.checks import check_choice, check_int, check_path, check_sequence
from .config import add_dataclass_arguments, dataclass_from_namespace

CONVERT_FORMATS = ("videopose3d", "semgcn")


@dataclass(kw_only=True)
class ConvertOptions:
    """Options of ``gcnrefine lift convert``: the checkpoint, the output folder, and what the
    checkpoint's architecture is expected to be (checked against its weights)."""

    checkpoint: str = field(
        metadata={
            "positional": True,
            "help": "VideoPose3D checkpoint (e.g. pretrained_h36m_cpn.bin) or, with --format semgcn, "
            "SemGCN's ckpt_semgcn.pth.tar",
        }
    )
    out_dir: str = field(
        metadata={"positional": True, "help": "output folder (config.json + model.safetensors)"}
    )
    format: Literal["videopose3d", "semgcn"] = field(
        default="videopose3d",
        metadata={"help": "checkpoint architecture: VideoPose3D's temporal lifter or SemGCN's single-frame one"},
    )
    filter_widths: list[int] | None = field(
        default=None,
        metadata={"help": "temporal filter widths, checked against the weights (none: read from them)"},
    )
    channels: int | None = field(
        default=None, metadata={"help": "channels, checked against the weights (none: read from them)"}
    )
    key: str | None = field(
        default=None,
        metadata={"help": "checkpoint entry with the weights (none: model_pos, or state_dict for semgcn)"},
    )
    causal: bool = field(default=False, metadata={"help": "the checkpoint was trained causal"})
    dense: bool = field(default=False, metadata={"help": "the checkpoint uses dense (undilated) blocks"})
    force: bool = field(default=False, metadata={"help": "write into an existing non-empty OUT_DIR"})

    def __post_init__(self) -> None:
        check_path("checkpoint", self.checkpoint)
        check_path("out_dir", self.out_dir)
        check_choice("format", self.format, CONVERT_FORMATS)
        if self.format == "semgcn":
            # SemGCN's architecture is read whole from its weights; these describe VideoPose3D's only.
            given = [f"--{n.replace('_', '-')}" for n in ("filter_widths", "channels") if getattr(self, n) is not None]
            given += [f"--{n}" for n in ("causal", "dense") if getattr(self, n)]
            if given:
                raise ValueError(
                    f"format: {' '.join(given)} apply to videopose3d checkpoints only, got {self.format!r}"
                )
        if self.filter_widths is not None:
            check_sequence("filter_widths", self.filter_widths, non_empty=True, minimum=1)
        check_int("channels", self.channels, 1, optional=True)
        if self.key is not None and not self.key:
            raise ValueError(f"key: expected a checkpoint entry name such as model_pos, got {self.key!r}")


@dataclass(kw_only=True)
class LiftTrainOptions:
    """Options of ``gcnrefine lift train``: the data, the run folder, the action fold, and the
    :class:`BackboneSettings` fields that shape one lifter's training."""

    data: str | None = field(
        default=None,
        metadata={
            "help": "BlendMimic3D source: raw folder, exported folder or Hub id (none: env, else download)"
        },
    )
    out: str = field(metadata={"help": "output folder (resumable)"})
    actions_fold: Literal["0", "1", "all"] = field(
        default="all",
        metadata={"help": "training fold: 0 or 1 (the other fold selects best/ and is scored), or all"},
    )
    settings: BackboneSettings = field(
        default_factory=BackboneSettings,
        metadata={"include": TRAINING_FIELDS, "title": "lifter training (BackboneSettings)"},
    )

    def __post_init__(self) -> None:
        check_path("data", self.data, optional=True)
        check_path("out", self.out)
        check_choice("actions_fold", self.actions_fold, FOLD_CHOICES)


@dataclass(kw_only=True)
class LiftRunOptions:
    """Options of ``gcnrefine lift run``: the lifter, the detections to lift and the output file."""

    lifter: str | None = field(
        default=None,
        metadata={
            "help": "lifter folder, or a `lift train` folder (its best/, else final/); none: the shipped lifter"
        },
    )
    detections: str = field(metadata={"help": "split detections .npz from `gcnrefine detect --data`"})
    output: str = field(metadata={"aliases": ("-o",), "help": "output predictions .npz"})
    flip_test: bool = field(
        default=True, metadata={"help": "average with the mirrored input's lifting (flip test)"}
    )
    force: bool = field(default=False, metadata={"help": "overwrite OUTPUT if it exists"})

    def __post_init__(self) -> None:
        check_path("lifter", self.lifter, optional=True)
        check_path("detections", self.detections)
        check_path("output", self.output)


def _cli_convert(args: argparse.Namespace) -> int:
    options = dataclass_from_namespace(ConvertOptions, args)
    if options.format == "semgcn":
        result = convert_semgcn(
            options.checkpoint, options.out_dir, overwrite=options.force, key=options.key or "state_dict"
        )
        print(
            f"saved SemGCNModel to {result.out_dir} ({result.num_tensors} tensors, {result.num_values:,} values: "
            f"{result.num_parameters:,} trainable parameters plus BatchNorm statistics)"
        )
        return 0
    out = convert_videopose3d(
        options.checkpoint,
        options.out_dir,
        force=options.force,
        filter_widths=options.filter_widths,
        channels=options.channels,
        key=options.key or "model_pos",
        causal=options.causal,
        dense=options.dense,
    )
    print(f"saved TemporalLifterModel to {out}")
    return 0


def add_convert_cli(commands: argparse._SubParsersAction) -> None:
    """Add ``convert CKPT OUT_DIR`` to ``commands``, the subparsers of the ``gcnrefine lift`` group."""
    convert = commands.add_parser(
        "convert",
        help="convert an official VideoPose3D (or, --format semgcn, SemGCN) checkpoint to a save_pretrained folder",
        description=(
            "Read CKPT with torch.load(weights_only=True) and save the lifter to OUT_DIR. Official "
            "training checkpoints also pickle Python objects besides the weights (VideoPose3D's numpy "
            "RandomState; the upstream SemGCN legacy pickle), which are refused; the error explains how to "
            "re-save only the weights."
        ),
    )
    add_dataclass_arguments(convert, ConvertOptions)
    convert.set_defaults(func=_cli_convert)


def _run_train(args: argparse.Namespace) -> int:
    options = dataclass_from_namespace(LiftTrainOptions, args)
    train_lifter_folder(options.data, options.out, options.settings, options.actions_fold)
    return 0


def _run_lift(args: argparse.Namespace) -> int:
    options = dataclass_from_namespace(LiftRunOptions, args)
    check_output_path(options.output, options.force, suffixes=(".npz",))
    lift_detections_file(
        options.detections,
        options.output,
        options.lifter,
        flip_test=options.flip_test,
        overwrite=options.force,
    )
    return 0


def add_cli(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``gcnrefine lift`` group: ``convert``, ``train`` and ``run``."""
    lift = subparsers.add_parser("lift", help="the built-in temporal lifter (VideoPose3D architecture)")
    commands = lift.add_subparsers(dest="lift_command", required=True)
    add_convert_cli(commands)

    train = commands.add_parser(
        "train",
        help="train one lifter on BlendMimic3D SS1 + SS2 (an action fold or all); resumable",
        description=(
            "Train a lifter as `gcnrefine backbone` does (visible_only detections, flip augmentation) on the "
            "train split (SS1 + SS2; the test subject SS3 is never used): on one of the two action folds "
            "(--actions-fold 0/1; the other fold selects best/ and its MPJPE with ground-truth 2D is printed) "
            "or on all of it. OUT holds the run (checkpoints/, best/, final/, lift_train.json); running the "
            "command again resumes an unfinished run or loads a finished one."
        ),
    )
    add_dataclass_arguments(train, LiftTrainOptions)
    train.set_defaults(func=_run_train)

    run = commands.add_parser(
        "run",
        help="lift a split detections file (gcnrefine detect --data) to a predictions file",
        description=(
            "Lift every sequence of DETECTIONS (written by `gcnrefine detect --data`) with the lifter and "
            "write a positions_3d predictions file (positions_3d/<subject>/<action>/<camera>, root-relative "
            "camera-frame metres), atomically."
        ),
    )
    add_dataclass_arguments(run, LiftRunOptions)
    run.set_defaults(func=_run_lift)
