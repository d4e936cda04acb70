"""Named refiner configurations shared by the studies and the release chain.

- ``COMPACT``: the reduced widths of the compact refiner. The studies train at this size to stay
  affordable on a CPU; the release ships one as ``COMPACT_CHECKPOINT_NAME``.
- ``VARIANTS``: the refiner formulations the variant study compares (``benchmarks/studies/ablation.py``),
  as ``GCNRefineConfig`` overrides, listed from cheapest to most expensive.
- ``RELEASED_VARIANT``: the variant of the shipped paper-architecture checkpoints (``PAPER_CHECKPOINT_NAME``,
  ``COMPACT_CHECKPOINT_NAME``), used when no variant study has run.
- :func:`choose_variant`: the selection rule applied to a validation table of
  :func:`recipes.evaluate.evaluate_validation`.
- :func:`resumable_arguments`: the training arguments every study run uses.

A preset only names ``GCNRefineConfig`` fields; :func:`refiner_config` builds the config, so a study,
the release chain and ``gcnrefine train --config`` (which takes the same overrides as JSON) agree on
what a name means.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..configuration_gcnrefine import GCNRefineConfig
from ..evaluation.records import BACKBONE, CLEAN_PRESET, OCCLUDED_PRESET
from ..training.arguments import TrainingArguments

COMPACT: dict[str, Any] = dict(
    joint_channels=[32, 32, 64], part_channels=[128, 128], fusion_channels=64, non_local_channels=32
)


# choose_variant breaks ties towards the earlier entry, so the order is part of the rule.
VARIANTS: dict[str, dict[str, Any]] = {
    "paper": {},
    "residual": {"predict_residual": True},
    "residual+confidence": {"predict_residual": True, "in_channels": 4},
    # Not in the paper: a longer window sees past short occlusions (T = 3 sees one frame either side).
    "residual_t9": {"predict_residual": True, "num_frames": 9},
    "residual+confidence_t9": {"predict_residual": True, "in_channels": 4, "num_frames": 9},
}


RELEASED_VARIANT = "residual"


COMPACT_CHECKPOINT_NAME = "gcnrefine-blendmimic3d-compact"


# The paper-size refiner of RELEASED_VARIANT (the default checkpoint until the long-range lifter-bank
# refiner replaced it, README "One refiner for every lifter").
PAPER_CHECKPOINT_NAME = "gcnrefine-blendmimic3d-paper"


# Rows of evaluate_validation that hold the held-out motions' virtual views (unseen viewpoints).
_VIRTUAL = "virtual/"


def refiner_config(variant: str = RELEASED_VARIANT, compact: bool = True) -> GCNRefineConfig:
    """The ``GCNRefineConfig`` of ``variant`` (a key of ``VARIANTS``), at the compact or the paper's size."""
    if variant not in VARIANTS:
        raise ValueError(f"variant: expected one of {list(VARIANTS)}, got {variant!r}")
    return GCNRefineConfig(**(COMPACT if compact else {}), **VARIANTS[variant])


def variant_run_name(variant: str) -> str:
    """The folder name of a variant's study run (``+`` becomes ``_``), which the release chain looks up."""
    return variant.replace("+", "_")


def resumable_arguments(run: Path, epochs: int, samples_per_epoch: int) -> TrainingArguments:
    """Training arguments of a study run in ``run``: best by validation MPJPE, resuming a killed run."""
    return TrainingArguments(
        output_dir=str(run),
        epochs=epochs,
        samples_per_epoch=samples_per_epoch,
        metric_for_best="loss_mpjpe",
        resume=(Path(run) / "checkpoints").exists(),
    )


def choose_variant(table: dict[str, dict[str, float]], tie_mm: float = 0.5) -> str:
    """The variant to release, from a validation table ``{row: {method: MPJPE mm}}``.

    Among variants at most 1 % worse than the backbone on clean validation input (all variants if
    none qualifies), those within ``tie_mm`` of the lowest occluded validation MPJPE tie, and the
    cheapest of them wins (``VARIANTS`` order). With virtual-view rows in ``table`` (unseen
    viewpoints), "clean" must hold on both clean rows and "occluded" is the mean of both occluded rows.
    """
    clean_rows = [table[row] for row in (CLEAN_PRESET, _VIRTUAL + CLEAN_PRESET) if row in table]
    occluded_rows = [table[row] for row in (OCCLUDED_PRESET, _VIRTUAL + OCCLUDED_PRESET) if row in table]
    variants = [name for name in VARIANTS if name in table[OCCLUDED_PRESET]]
    if not variants:
        raise ValueError(f"table: expected columns among {list(VARIANTS)}, got {list(table[OCCLUDED_PRESET])}")
    harmless = [n for n in variants if all(row[n] <= 1.01 * row[BACKBONE] for row in clean_rows)] or variants
    score = {name: sum(row[name] for row in occluded_rows) / len(occluded_rows) for name in harmless}
    best = min(score.values())
    return next(name for name in harmless if score[name] <= best + tie_mm)
