"""TODO docstring (from modeling_gcnrefine/lifting/convert_videopose3d.py, modeling_gcnrefine/lifting/cli.py)."""

from __future__ import annotations

import argparse
import sys

from ..lifting.convert_videopose3d import convert_videopose3d
from ..recipes.backbone import BackboneSettings
from ..recipes.lift import FOLD_CHOICES, _lift, _train


def _cli_convert(args: argparse.Namespace) -> int:
    try:
        out = convert_videopose3d(
            args.checkpoint,
            args.out_dir,
            force=args.force,
            filter_widths=args.filter_widths,
            channels=args.channels,
            key=args.key,
            causal=args.causal,
            dense=args.dense,
        )
    except (ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"saved TemporalLifterModel to {out}")
    return 0


def add_convert_cli(commands: argparse._SubParsersAction) -> None:
    """Add ``convert CKPT OUT_DIR`` to ``commands``, the subparsers of the ``gcnrefine lift`` group
    (built by :func:`modeling_gcnrefine.lifting.cli.add_cli`)."""
    convert = commands.add_parser(
        "convert",
        help="convert an official VideoPose3D checkpoint into a save_pretrained folder",
        description=(
            "Read CKPT with torch.load(weights_only=True) and save the lifter to OUT_DIR. Official "
            "training checkpoints also pickle a numpy RandomState, which is refused; the error explains "
            "how to re-save only the weights."
        ),
    )
    convert.add_argument("checkpoint", help="VideoPose3D checkpoint, e.g. pretrained_h36m_cpn.bin")
    convert.add_argument("out_dir", help="output folder (config.json + model.safetensors)")
    convert.add_argument(
        "--filter-widths", type=int, nargs="+", default=None, help="checked against the weights"
    )
    convert.add_argument("--channels", type=int, default=None, help="checked against the weights")
    convert.add_argument(
        "--key", default="model_pos", help="checkpoint entry with the weights (default model_pos)"
    )
    convert.add_argument("--causal", action="store_true", help="the checkpoint was trained causal")
    convert.add_argument("--dense", action="store_true", help="the checkpoint uses dense (undilated) blocks")
    convert.add_argument("--force", action="store_true", help="write into an existing non-empty OUT_DIR")
    convert.set_defaults(func=_cli_convert)


def _run_train(args: argparse.Namespace) -> int:
    try:
        return _train(args)
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _run_lift(args: argparse.Namespace) -> int:
    try:
        return _lift(args)
    except (ValueError, OSError) as error:  # OSError covers FileExistsError from a racing writer
        print(f"error: {error}", file=sys.stderr)
        return 2


def add_cli(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``gcnrefine lift`` group: ``convert``, ``train`` and ``run``."""

    lift = subparsers.add_parser("lift", help="the built-in temporal lifter (VideoPose3D architecture)")
    commands = lift.add_subparsers(dest="lift_command", required=True)
    add_convert_cli(commands)

    defaults = BackboneSettings()
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
    train.add_argument("--data", default=None, help="BlendMimic3D source (raw folder, exported folder, Hub id)")
    train.add_argument("--out", required=True, help="output folder (resumable)")
    train.add_argument("--actions-fold", choices=FOLD_CHOICES, default="all", help="training fold (default all)")
    train.add_argument("--channels", type=int, default=defaults.channels, help="lifter channels")
    train.add_argument("--epochs", type=int, default=defaults.epochs)
    train.add_argument("--samples-per-epoch", type=int, default=defaults.samples_per_epoch)
    train.add_argument("--batch-size", type=int, default=defaults.batch_size)
    train.add_argument("--limit", type=int, default=None, help="first N rows of the train split (small runs)")
    train.add_argument("--seed", type=int, default=defaults.seed, help="training seed")
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
    run.add_argument(
        "--lifter", default=None,
        help="lifter folder, or a `lift train` folder (its best/, else final/); default: the shipped lifter",
    )  # fmt: skip
    run.add_argument("--detections", required=True, help="split detections .npz from `gcnrefine detect --data`")
    run.add_argument("-o", "--output", required=True, help="output predictions .npz")
    run.add_argument("--no-flip-test", action="store_true", help="lift without flip test-time augmentation")
    run.add_argument("--force", action="store_true", help="overwrite OUTPUT if it exists")
    run.set_defaults(func=_run_lift)
