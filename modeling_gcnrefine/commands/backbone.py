"""TODO docstring (from modeling_gcnrefine/backbone.py)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..data.virtual_cameras import VirtualCameraSettings
from ..recipes.backbone import BackboneSettings, run_backbone
from ..recipes.virtual_views import write_virtual_predictions


def add_cli(subparsers) -> None:
    parser = subparsers.add_parser(
        "backbone",
        help="train the built-in lifters (out-of-fold) and write backbone predictions for BlendMimic3D",
        description=run_backbone.__doc__.splitlines()[0],
    )
    parser.add_argument("--data", default=None, help="BlendMimic3D source (raw folder, exported folder, Hub id)")
    parser.add_argument("--out", default="outputs/backbone", help="output folder (resumable)")
    defaults = BackboneSettings()
    parser.add_argument("--channels", type=int, default=defaults.channels)
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--samples-per-epoch", type=int, default=defaults.samples_per_epoch)
    parser.add_argument("--limit", type=int, default=None, help="first N rows per split (small runs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--lifter-views",
        type=int,
        default=defaults.lifter_views,
        help="virtual camera views per action added to the lifters' training data (0: real cameras only)",
    )
    parser.add_argument(
        "--pretrained-lifter",
        default=None,
        help="folder or Hub id of a lifter trained outside BlendMimic3D (e.g. converted by `gcnrefine lift convert`)"
        " that predicts every sequence; no lifter is trained (the paper's protocol)",
    )
    parser.add_argument(
        "--virtual-views",
        type=int,
        default=0,
        help="also write out-of-fold predictions of N virtual camera views per SS1/SS2 action (refiner training data)",
    )
    parser.set_defaults(func=_run_cli)


def _run_cli(args: argparse.Namespace) -> int:
    settings = BackboneSettings(
        channels=args.channels,
        epochs=args.epochs,
        samples_per_epoch=args.samples_per_epoch,
        limit=args.limit,
        seed=args.seed,
        lifter_views=args.lifter_views,
        pretrained_lifter=args.pretrained_lifter,
    )
    metrics = run_backbone(args.data, args.out, settings)
    if args.virtual_views:

        virtual = VirtualCameraSettings(views_per_action=args.virtual_views, seed=args.seed)
        metrics["virtual_oof_mpjpe_mm"] = write_virtual_predictions(
            args.data, args.out, virtual, presets=settings.train_presets, limit=args.limit
        )
        (Path(args.out) / "backbone_metrics.json").write_text(json.dumps(metrics, indent=2))
    print(json.dumps({k: v for k, v in metrics.items() if k != "settings"}, indent=2))
    return 0
