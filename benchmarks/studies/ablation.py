"""Refiner variants on the validation motions of SS1 + SS2 (never SS3): which one fixes occlusions
and does no harm on clean input?

Trains each variant (at the compact size, to keep it affordable on a CPU) on the backbone
predictions, then prints backbone vs refined MPJPE on the held-out motions under the `occluded`
and `visible_only` presets. Resumable: finished runs are reused.

    python benchmarks/studies/ablation.py --backbone outputs/backbone --out outputs/ablation [--epochs 30]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from modeling_gcnrefine.recipes.evaluate import evaluate_validation
from modeling_gcnrefine.recipes.presets import (
    VARIANTS,
    choose_variant,
    refiner_config,
    resumable_arguments,
    variant_run_name,
)
from modeling_gcnrefine.recipes.refiner import RefinerDataSettings, train_refiner


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="outputs/backbone")
    parser.add_argument("--data", default=None)
    parser.add_argument("--out", default="outputs/ablation")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--samples-per-epoch", type=int, default=8192)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument(
        "--virtual-seeds", nargs="*", type=int, default=[], help="add the backbone's virtual-view predictions"
    )
    args = parser.parse_args()
    out = Path(args.out)
    paths = {}
    for name in args.variants:
        run = out / variant_run_name(name)
        final = run / "final" / "config.json"
        if not final.exists():
            training = resumable_arguments(run, args.epochs, args.samples_per_epoch)
            data = RefinerDataSettings(virtual_seeds=tuple(args.virtual_seeds))
            train_refiner(args.backbone, run, refiner_config(name), args.data, data, training)
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


if __name__ == "__main__":
    main()
