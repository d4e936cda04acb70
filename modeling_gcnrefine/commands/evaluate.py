"""``gcnrefine evaluate``: evaluate the backbone, the refiner (and a compact one) and classic filters
on BlendMimic3D SS3, and write the report folder (:func:`~modeling_gcnrefine.recipes.evaluate.evaluate_blendmimic3d`)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from ..recipes.evaluate import evaluate_blendmimic3d
from ..recipes.files import check_output_dir
from ..utils.checks import check_int, check_path
from ..utils.hub import resolve_model
from .config import add_dataclass_arguments, dataclass_from_namespace


@dataclass(kw_only=True)
class EvaluateOptions:
    """Options of ``gcnrefine evaluate``: the backbone folder and models to compare, the data, and the
    report folder."""

    backbone: str = field(
        default="outputs/backbone", metadata={"help": "folder written by `gcnrefine backbone`"}
    )
    model: str | None = field(
        default=None, metadata={"help": "refiner: shipped name, folder or Hub id (none: the shipped checkpoint)"}
    )
    compact: str | None = field(
        default=None, metadata={"help": "a compact refiner to compare: shipped name, folder or Hub id"}
    )
    data: str | None = field(
        default=None,
        metadata={
            "help": "BlendMimic3D source: raw folder, exported folder or Hub id (none: env, else download)"
        },
    )
    predictions: str | None = field(
        default=None, metadata={"help": "your own SS3 predictions (.npz, positions_3d layout)"}
    )
    flip_test: bool = field(default=True, metadata={"help": "refine with flip test-time augmentation"})
    out: str = field(default="outputs/report", metadata={"aliases": ("-o",), "help": "report folder"})
    force: bool = field(default=False, metadata={"help": "replace an existing report folder's files"})
    val_motions_per_subject: int = field(
        default=2,
        metadata={
            "help": "validation motions per subject that tune the filters (as `gcnrefine train` holds out)"
        },
    )
    limit: int | None = field(
        default=None, metadata={"help": "first N rows of each split only (to match a limited backbone run)"}
    )

    def __post_init__(self) -> None:
        check_path("backbone", self.backbone)
        for name in ("model", "compact", "data", "predictions"):
            check_path(name, getattr(self, name), optional=True)
        check_path("out", self.out)
        check_int("val_motions_per_subject", self.val_motions_per_subject, 1)
        check_int("limit", self.limit, 1, optional=True)


def add_cli(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="evaluate backbone, GCN and filters on BlendMimic3D SS3",
        description="Evaluate the backbone, the refiner and classic filters on SS3 and write a report folder.",
    )
    add_dataclass_arguments(parser, EvaluateOptions)
    parser.set_defaults(func=_run_cli)


def _run_cli(args: argparse.Namespace) -> int:
    options = dataclass_from_namespace(EvaluateOptions, args)
    # The report is written last: a folder it cannot go into would waste the whole evaluation.
    check_output_dir(options.out, refuse_non_empty=not options.force, name="out")
    report = evaluate_blendmimic3d(
        options.backbone,
        resolve_model(options.model),
        options.out,
        compact=None if options.compact is None else resolve_model(options.compact),
        dataset_source=options.data,
        user_predictions=options.predictions,
        flip_test=options.flip_test,
        overwrite=options.force,
        val_motions_per_subject=options.val_motions_per_subject,
        limit=options.limit,
    )
    for goal in report["goals"]:
        status = {True: "PASS", False: "FAIL", None: "n/a"}[goal["passed"]]
        print(f"{status:4}  {goal['name']}: {goal['measured']} (target {goal['target']})")
    print(f"report: {Path(options.out) / 'report.md'}")
    return 0
