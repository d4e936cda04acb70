"""``gcnrefine train``: train the refiner on backbone predictions with Accelerate (CPU, GPU or many),
as :func:`~modeling_gcnrefine.recipes.refiner.train_refiner` does."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..configuration_gcnrefine import REFINER_PRESETS, GCNRefineConfig
from ..recipes.refiner import RefinerDataSettings, train_refiner
from ..training.arguments import TrainingArguments
from ..utils.checks import check_path, check_sequence
from .config import TRAINING_DEPRECATED, add_dataclass_arguments, dataclass_from_namespace

# PreTrainedConfig's own fields (transformers bookkeeping) are not architecture overrides.
_CONFIG_FIELDS = frozenset(GCNRefineConfig.__annotations__)


def _refiner_training() -> TrainingArguments:
    return TrainingArguments(
        output_dir="outputs/refiner", metric_for_best="loss_mpjpe", samples_per_epoch=8192
    )


@dataclass(kw_only=True)
class TrainOptions:
    """Options of ``gcnrefine train``: the backbone folders and dataset, the refiner's architecture
    overrides, which predictions become training windows, and the training loop."""

    backbone: tuple[str, ...] = field(
        default=("outputs/backbone",),
        metadata={
            "help": "folder(s) written by `gcnrefine backbone`; several = the predictions of several lifters",
            "metavar": "DIR",
        },
    )
    val_backbone: tuple[str, ...] = field(
        default=(),
        metadata={
            "help": "leave-one-lifter-out: validate on these backbone folders' held-out motions only (a "
            "lifter not among --backbone), training on --backbone's training motions only (none: validate "
            "on --backbone's held-out motions)",
            "metavar": "DIR",
        },
    )
    data: str | None = field(
        default=None,
        metadata={
            "help": "BlendMimic3D source: raw folder, exported folder or Hub id (none: env, else download)"
        },
    )
    refiner_preset: str | None = field(
        default=None,
        metadata={
            "help": "start from this named GCNRefineConfig preset (GCNRefineConfig.preset), --config's "
            "overrides on top; long_range: the long-range, confidence-aware sequence-to-sequence refiner "
            "(none: the defaults, the paper's architecture)",
            "choices": tuple(REFINER_PRESETS),
        },
    )
    config: str | None = field(
        default=None,
        metadata={
            "help": "GCNRefineConfig overrides as a JSON file or inline JSON object, e.g. "
            "'{\"predict_residual\": true}' or '{\"architecture\": \"long_range\", \"num_frames\": 121}' "
            "(none: the paper's architecture, or --refiner-preset's)"
        },
    )
    data_settings: RefinerDataSettings = field(
        default_factory=RefinerDataSettings, metadata={"title": "training windows (RefinerDataSettings)"}
    )
    training: TrainingArguments = field(
        default_factory=_refiner_training, metadata={"title": "training loop (TrainingArguments)"}
    )

    def __post_init__(self) -> None:
        check_sequence("backbone", self.backbone, non_empty=True)
        for folder in self.backbone:
            check_path("backbone", folder)
        check_sequence("val_backbone", self.val_backbone)
        for folder in self.val_backbone:
            check_path("val_backbone", folder)
        self.model_config()  # a bad override fails now, not after the data is loaded

    def config_overrides(self) -> dict[str, Any]:
        """The ``config`` JSON as a dict of GCNRefineConfig fields ({} without one)."""
        if self.config is None:
            return {}
        path = Path(self.config)
        try:
            text = path.read_text() if path.is_file() else self.config
            overrides = json.loads(text)
        except (OSError, json.JSONDecodeError) as error:
            raise ValueError(
                f"config: expected a JSON file or inline JSON object of GCNRefineConfig fields, got {self.config!r} ({error})"
            ) from None
        if not isinstance(overrides, dict):
            raise ValueError(f"config: expected a JSON object of GCNRefineConfig fields, got {overrides!r}")
        unknown = sorted(set(overrides) - _CONFIG_FIELDS)
        if unknown:
            raise ValueError(
                f"config: expected GCNRefineConfig fields such as predict_residual, got unknown {unknown}"
            )
        return overrides

    def model_config(self) -> GCNRefineConfig:
        """The refiner's configuration: the defaults, or ``refiner_preset``'s, with ``config``'s
        overrides (validated)."""
        preset = self.refiner_preset
        if preset is not None and preset not in REFINER_PRESETS:
            raise ValueError(f"refiner_preset: expected one of {list(REFINER_PRESETS)} or None, got {preset!r}")
        overrides = self.config_overrides()
        try:
            if preset is None:
                return GCNRefineConfig(**overrides)
            return GCNRefineConfig.preset(preset, **overrides)
        except ValueError as error:
            raise ValueError(f"config: {error}") from None


# Until this release --rotate and --no-rotate both existed; --rotate only restated the default.
DEPRECATED = {**TRAINING_DEPRECATED, "--no-rotate": ("--rotate",)}


def add_cli(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train the refiner on backbone predictions (Accelerate; CPU, GPU or many)",
        description="Train the refiner on backbone predictions with Accelerate (CPU, GPU or many).",
    )
    add_dataclass_arguments(parser, TrainOptions, deprecated=DEPRECATED)
    parser.set_defaults(func=_run_cli)


def _run_cli(args: argparse.Namespace) -> int:
    options = dataclass_from_namespace(TrainOptions, args)
    training = options.training
    result = train_refiner(
        options.backbone,
        training.output_dir,
        options.model_config(),
        options.data,
        options.data_settings,
        training,
        options.val_backbone or None,
    )
    print(f"best: {result.best_path} ({result.best_metric}), final: {result.final_path}")
    return 0
