"""``gcnrefine backbone``: train the built-in lifters out of fold and write BlendMimic3D backbone
predictions (:func:`~modeling_gcnrefine.recipes.backbone.run_backbone`), optionally of virtual views."""

from __future__ import annotations

import argparse
import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..data.real_detections import REAL
from ..data.virtual_cameras import VirtualCameraSettings
from ..recipes.backbone import BackboneSettings, run_backbone
from ..recipes.virtual_views import write_virtual_predictions
from ..utils.checks import check_int, check_path
from .config import add_dataclass_arguments, dataclass_from_namespace


@dataclass(kw_only=True)
class BackboneOptions:
    """Options of ``gcnrefine backbone``: where the data comes from and goes, the lifters' settings,
    and the virtual camera views whose predictions become extra refiner training data."""

    data: str | None = field(
        default=None,
        metadata={
            "help": "BlendMimic3D source: raw folder, exported folder or Hub id (none: env, else download)"
        },
    )
    out: str = field(default="outputs/backbone", metadata={"help": "output folder (resumable)"})
    settings: BackboneSettings = field(
        default_factory=BackboneSettings, metadata={"title": "lifters and predictions (BackboneSettings)"}
    )
    virtual_views: int = field(
        default=0,
        metadata={
            "help": "also write out-of-fold predictions of N virtual camera views per SS1/SS2 action "
            "(refiner training data; 0: none)"
        },
    )
    virtual: VirtualCameraSettings = field(
        default_factory=VirtualCameraSettings,
        metadata={
            "prefix": "virtual-",
            # The count is --virtual-views (0 = none, which the settings refuse) and the seed is --seed.
            "exclude": ("views_per_action", "seed"),
            "title": "virtual camera views of --virtual-views (VirtualCameraSettings)",
        },
    )

    def __post_init__(self) -> None:
        check_path("out", self.out)
        check_int("virtual_views", self.virtual_views, 0)

    def virtual_settings(self) -> VirtualCameraSettings:
        """The cameras of ``--virtual-views``: the given ranges, the count and the run's seed."""
        return dataclasses.replace(self.virtual, views_per_action=self.virtual_views, seed=self.settings.seed)


def add_cli(subparsers) -> None:
    parser = subparsers.add_parser(
        "backbone",
        help="train the built-in lifters (out-of-fold) and write backbone predictions for BlendMimic3D",
        description=run_backbone.__doc__.splitlines()[0],
    )
    add_dataclass_arguments(parser, BackboneOptions)
    parser.set_defaults(func=_run_cli)


def _run_cli(args: argparse.Namespace) -> int:
    options = dataclass_from_namespace(BackboneOptions, args)
    settings = options.settings
    metrics = run_backbone(options.data, options.out, settings)
    if options.virtual_views:
        metrics["virtual_oof_mpjpe_mm"] = write_virtual_predictions(
            options.data,
            options.out,
            options.virtual_settings(),
            presets=[p for p in settings.train_presets if p != REAL],  # real detections: filmed cameras only
            limit=settings.limit,
        )
        (Path(options.out) / "backbone_metrics.json").write_text(json.dumps(metrics, indent=2))
    print(json.dumps({k: v for k, v in metrics.items() if k != "settings"}, indent=2))
    return 0
