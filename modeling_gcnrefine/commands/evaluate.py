"""TODO docstring (from modeling_gcnrefine/evaluate_blendmimic3d.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..modeling_gcnrefine import default_checkpoint
from ..recipes.evaluate import evaluate_blendmimic3d


def add_cli(subparsers) -> None:
    parser = subparsers.add_parser("evaluate", help="evaluate backbone, GCN and filters on BlendMimic3D SS3")
    parser.add_argument("--backbone", default="outputs/backbone", help="folder written by `gcnrefine backbone`")
    parser.add_argument("--model", default=None, help="refiner folder or Hub id (default: the shipped checkpoint)")
    parser.add_argument("--compact", default=None, help="a compact refiner to compare (folder or Hub id)")
    parser.add_argument("--data", default=None, help="BlendMimic3D source (raw folder, exported folder, Hub id)")
    parser.add_argument("--predictions", default=None, help="your own SS3 predictions (.npz, positions_3d layout)")
    parser.add_argument("--no-flip-test", action="store_true", help="refine without flip test-time augmentation")
    parser.add_argument("-o", "--out", default="outputs/report", help="report folder")
    parser.add_argument("--force", action="store_true", help="replace an existing report folder's files")
    parser.set_defaults(func=_run_cli)


def _run_cli(args: argparse.Namespace) -> int:

    report = evaluate_blendmimic3d(
        args.backbone,
        args.model or default_checkpoint(),
        args.out,
        compact=args.compact,
        dataset_source=args.data,
        user_predictions=args.predictions,
        flip_test=not args.no_flip_test,
        overwrite=args.force,
    )
    for goal in report["goals"]:
        status = {True: "PASS", False: "FAIL", None: "n/a"}[goal["passed"]]
        print(f"{status:4}  {goal['name']}: {goal['measured']} (target {goal['target']})")
    print(f"report: {Path(args.out) / 'report.md'}")
    return 0
