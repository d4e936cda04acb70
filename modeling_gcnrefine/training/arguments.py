"""`TrainingArguments`: every setting of the training loop, documented and validated (defaults follow
the paper's schedule).
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

_MIXED_PRECISION = ("no", "fp16", "bf16")


_TRACKERS = ("tensorboard", "wandb", "mlflow", "comet_ml", "aim", "clearml", "dvclive", "swanlab", "all")


def _help(text: str, **extra: Any) -> dict[str, Any]:
    return {"help": text, **extra}


@dataclass
class TrainingArguments:
    """Settings of :func:`train`. Every field is validated on construction (``ValueError`` quoting the
    bad value); ``add_training_arguments`` turns them into command-line flags with the help texts below.
    """

    output_dir: str = field(metadata=_help("Folder for checkpoints, TensorBoard logs, best/ and final/."))
    epochs: int = field(default=40, metadata=_help("Number of passes (epochs) over the training data."))
    batch_size: int = field(
        default=256,
        metadata=_help("Samples per batch on each process (effective batch: x processes x accumulation)."),
    )
    learning_rate: float = field(default=1e-3, metadata=_help("Initial learning rate."))
    lr_decay: float = field(
        default=0.95, metadata=_help("Learning-rate factor applied after each ordinary epoch.")
    )
    lr_decay_large: float = field(
        default=0.5,
        metadata=_help("Factor applied instead of lr_decay after every lr_decay_large_every-th epoch."),
    )
    lr_decay_large_every: int = field(default=5, metadata=_help("Period (epochs) of the large decay."))
    amsgrad: bool = field(default=True, metadata=_help("Use the AMSGrad variant of Adam."))
    weight_decay: float = field(default=0.0, metadata=_help("Adam L2 weight decay."))
    grad_clip_norm: float | None = field(
        default=None, metadata=_help("Clip the global gradient norm to this value (none: no clipping).")
    )
    gradient_accumulation_steps: int = field(
        default=1, metadata=_help("Batches whose gradients are summed before each optimizer step.")
    )
    mixed_precision: str = field(
        default="no",
        metadata=_help("Autocast precision; fp16 only takes effect on GPU.", choices=_MIXED_PRECISION),
    )
    samples_per_epoch: int | None = field(
        default=None,
        metadata=_help(
            "Random samples drawn per epoch, reproducible from (seed, epoch) (none: the whole set)."
        ),
    )
    drop_last: bool = field(
        default=False, metadata=_help("Drop the last incomplete batch of each epoch (helps BatchNorm).")
    )
    num_workers: int = field(default=0, metadata=_help("DataLoader worker processes."))
    seed: int = field(default=0, metadata=_help("Seed of every random choice of the run."))
    eval_every: int = field(
        default=1, metadata=_help("Validate every this many epochs (and after the last).")
    )
    save_total_limit: int = field(default=2, metadata=_help("Complete epoch checkpoints kept for --resume."))
    log_with: str | None = field(
        default="tensorboard",
        metadata=_help("Accelerate tracker for metrics (none: no tracker).", choices=_TRACKERS),
    )
    cpu: bool = field(default=False, metadata=_help("Train on CPU even when an accelerator is present."))
    resume: bool = field(
        default=False, metadata=_help("Continue from the latest complete checkpoint in output_dir.")
    )
    metric_for_best: str = field(
        default="loss",
        metadata=_help("Validation loss term (lower is better) that selects best/, e.g. loss."),
    )

    def __post_init__(self) -> None:
        if not isinstance(self.output_dir, str | os.PathLike) or not str(self.output_dir):
            raise ValueError(f"output_dir: expected a non-empty path, got {self.output_dir!r}")
        self.output_dir = str(self.output_dir)
        for name, minimum in (
            ("epochs", 1),
            ("batch_size", 1),
            ("lr_decay_large_every", 1),
            ("gradient_accumulation_steps", 1),
            ("num_workers", 0),
            ("seed", 0),
            ("eval_every", 1),
            ("save_total_limit", 1),
        ):
            _check_int(name, getattr(self, name), minimum)
        if self.samples_per_epoch is not None:
            _check_int("samples_per_epoch", self.samples_per_epoch, 1)
        for name in ("learning_rate", "lr_decay", "lr_decay_large"):
            _check_float(name, getattr(self, name), positive=True)
        _check_float("weight_decay", self.weight_decay, positive=False)
        if self.grad_clip_norm is not None:
            _check_float("grad_clip_norm", self.grad_clip_norm, positive=True)
        for name in ("amsgrad", "drop_last", "cpu", "resume"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name}: expected a bool, got {getattr(self, name)!r}")
        if self.mixed_precision not in _MIXED_PRECISION:
            raise ValueError(
                f"mixed_precision: expected one of {_MIXED_PRECISION}, got {self.mixed_precision!r}"
            )
        if self.log_with is not None and self.log_with not in _TRACKERS:
            raise ValueError(f"log_with: expected None or one of {_TRACKERS}, got {self.log_with!r}")
        if not isinstance(self.metric_for_best, str) or not self.metric_for_best:
            raise ValueError(
                f"metric_for_best: expected a loss name such as 'loss', got {self.metric_for_best!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict of the settings."""
        return dataclasses.asdict(self)


def _check_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value!r}")


def _check_float(name: str, value: Any, positive: bool) -> None:
    ok = isinstance(value, int | float | np.floating) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or (value <= 0 if positive else value < 0):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{name}: expected a finite number {bound}, got {value!r}")
