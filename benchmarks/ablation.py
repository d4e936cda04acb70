"""Refiner variants on the validation motions of SS1 + SS2 (never SS3): which one fixes occlusions
and does no harm on clean input?

Trains each variant (at the compact size, to keep it affordable on a CPU) on the backbone
predictions, then prints backbone vs refined MPJPE on the held-out motions under the `occluded`
and `visible_only` presets. Resumable: finished runs are reused.

    python benchmarks/ablation.py --backbone outputs/backbone --out outputs/ablation [--epochs 30]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from modeling_gcnrefine import GCNRefineConfig
from modeling_gcnrefine.recipes.evaluate import evaluate_validation
from modeling_gcnrefine.recipes.refiner import RefinerDataSettings, train_refiner
from modeling_gcnrefine.training.arguments import TrainingArguments

COMPACT = dict(joint_channels=[32, 32, 64], part_channels=[128, 128], fusion_channels=64, non_local_channels=32)
VARIANTS = {
    "paper": {},
    "residual": {"predict_residual": True},
    "residual+confidence": {"predict_residual": True, "in_channels": 4},
    # Not in the paper: a longer window sees past short occlusions (T = 3 sees one frame either side).
    "residual_t9": {"predict_residual": True, "num_frames": 9},
    "residual+confidence_t9": {"predict_residual": True, "in_channels": 4, "num_frames": 9},
}


def resumable_arguments(run: Path, epochs: int, samples_per_epoch: int) -> TrainingArguments:
    """Training arguments of a study run in ``run``: best by validation MPJPE, resuming a killed run."""
    return TrainingArguments(
        output_dir=str(run),
        epochs=epochs,
        samples_per_epoch=samples_per_epoch,
        metric_for_best="loss_mpjpe",
        resume=(run / "checkpoints").exists(),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="outputs/backbone")
    parser.add_argument("--data", default=None)
    parser.add_argument("--out", default="outputs/ablation")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--samples-per-epoch", type=int, default=8192)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
    parser.add_argument(
        "--virtual-seeds", nargs="*", type=int, default=[], help="add the backbone's virtual-view predictions"
    )
    args = parser.parse_args()
    out = Path(args.out)
    paths = {}
    for name in args.variants:
        run = out / name.replace("+", "_")
        final = run / "final" / "config.json"
        if not final.exists():
            training = resumable_arguments(run, args.epochs, args.samples_per_epoch)
            data = RefinerDataSettings(virtual_seeds=tuple(args.virtual_seeds))
            train_refiner(args.backbone, run, GCNRefineConfig(**COMPACT, **VARIANTS[name]), args.data, data, training)
        paths[name] = run / "best"
    table = evaluate_validation(args.backbone, paths, args.data)
    chosen = choose_variant(table)
    (out / "validation.json").write_text(json.dumps({"mpjpe_mm": table, "chosen": chosen}, indent=2))
    print("\nValidation motions of SS1 + SS2, MPJPE (mm), mean over actions, flip test on:\n")
    names = ["backbone", *paths]
    print("| preset | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for preset, row in table.items():
        print(f"| {preset} | " + " | ".join(f"{row[n]:.1f}" for n in names) + " |")
    print(f"\nchosen (no harm on clean validation input, then lowest occluded MPJPE, ties to the cheaper): {chosen}")


def choose_variant(table: dict[str, dict[str, float]], tie_mm: float = 0.5) -> str:
    """Among variants at most 1 % worse than the backbone on clean validation input (all variants if
    none qualifies), those within ``tie_mm`` of the lowest occluded validation MPJPE tie, and the
    cheapest of them wins (``VARIANTS`` is listed from cheapest to most expensive). With virtual-view
    rows in ``table`` (unseen viewpoints), "clean" must hold on both rows and "occluded" is their mean."""
    clean_rows = [table[row] for row in ("visible_only", "virtual/visible_only") if row in table]
    occluded_rows = [table[row] for row in ("occluded", "virtual/occluded") if row in table]
    variants = [name for name in VARIANTS if name in table["occluded"]]
    harmless = [n for n in variants if all(row[n] <= 1.01 * row["backbone"] for row in clean_rows)] or variants
    score = {name: sum(row[name] for row in occluded_rows) / len(occluded_rows) for name in harmless}
    best = min(score.values())
    return next(name for name in harmless if score[name] <= best + tie_mm)


if __name__ == "__main__":
    main()
