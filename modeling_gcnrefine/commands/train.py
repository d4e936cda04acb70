"""TODO docstring (from modeling_gcnrefine/train_refiner.py)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..configuration_gcnrefine import GCNRefineConfig
from ..recipes.refiner import DEFAULT_PRESETS, RefinerDataSettings, train_refiner
from .config import add_training_arguments, training_arguments_from_namespace


def add_cli(subparsers) -> None:

    parser = subparsers.add_parser(
        "train",
        help="train the refiner on backbone predictions (Accelerate; CPU, GPU or many)",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument(
        "--backbone",
        nargs="+",
        default=["outputs/backbone"],
        help="folder(s) written by `gcnrefine backbone`; several = the predictions of several lifters",
    )
    parser.add_argument("--data", default=None, help="BlendMimic3D source (raw folder, exported folder, Hub id)")
    parser.add_argument("--config", default=None, help="JSON file or inline JSON of GCNRefineConfig overrides")
    parser.add_argument("--presets", nargs="+", default=list(DEFAULT_PRESETS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--limit", type=int, default=None, help="first N rows of the train split (small runs)")
    parser.add_argument("--val-motions-per-subject", type=int, default=2, help="whole motions held out per subject")
    parser.add_argument("--val-subjects", nargs="*", default=[], help="hold out whole subjects instead, e.g. SS2")
    parser.add_argument(
        "--subjects", nargs="*", default=[], help="train on these subjects only (default: SS1 and SS2), e.g. SS2"
    )
    parser.add_argument(
        "--rotate",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="random yaw and tilt of each training window (input and target alike)",
    )
    parser.add_argument(
        "--virtual-seeds",
        nargs="*",
        type=int,
        default=[],
        help="add the backbone's virtual-view predictions of these detection seeds (`gcnrefine backbone --virtual-views`)",
    )
    add_training_arguments(
        parser,
        defaults={"output_dir": "outputs/refiner", "metric_for_best": "loss_mpjpe", "samples_per_epoch": 8192},
    )
    parser.set_defaults(func=_run_cli)


def _run_cli(args: argparse.Namespace) -> int:

    overrides = {}
    if args.config:
        text = Path(args.config).read_text() if Path(args.config).is_file() else args.config
        overrides = json.loads(text)
    settings = RefinerDataSettings(
        presets=tuple(args.presets),
        seeds=tuple(args.seeds),
        limit=args.limit,
        val_motions_per_subject=args.val_motions_per_subject,
        val_subjects=tuple(args.val_subjects),
        subjects=tuple(args.subjects),
        virtual_seeds=tuple(args.virtual_seeds),
        rotate=args.rotate,
    )
    training_args = training_arguments_from_namespace(args)
    result = train_refiner(
        args.backbone, training_args.output_dir, GCNRefineConfig(**overrides), args.data, settings, training_args
    )
    print(f"best: {result.best_path} ({result.best_metric}), final: {result.final_path}")
    return 0
