"""Does a refiner trained on one lifter's errors help another lifter, and does training on several help?

Trains one compact residual refiner per backbone folder and one on all of them together (same schedule),
then measures every refiner on every backbone's held-out SS1/SS2 motions (never SS3). A refiner that
only helps the lifter it was trained on is not plug-and-play: users bring their own lifter.

    python benchmarks/studies/lifter_transfer.py --backbones outputs/backbone outputs/backbone_views \\
        --virtual-seeds 0 --out outputs/transfer

Resumable: finished runs are reused.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from modeling_gcnrefine.evaluation.records import BACKBONE
from modeling_gcnrefine.recipes.evaluate import evaluate_validation
from modeling_gcnrefine.recipes.presets import refiner_config, resumable_arguments
from modeling_gcnrefine.recipes.refiner import RefinerDataSettings, train_refiner

ALL = "all"


def train_runs(backbones: list[Path], out: Path, data_source, data: RefinerDataSettings, epochs: int, samples: int):
    """``{"on <backbones>": best checkpoint}``: one run per backbone and one on all of them."""
    plan = {b.name: [b] for b in backbones}
    plan[ALL] = backbones
    paths = {}
    for name, folders in plan.items():
        run = out / name
        if not (run / "final" / "config.json").exists():
            training = resumable_arguments(run, epochs, samples)
            config = refiner_config("residual")
            train_refiner(folders, run, config, data_source, data, training)
        paths[f"on {name}"] = run / "best"  # never "backbone", the name of the no-refiner column
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", nargs="+", required=True, help="two or more `gcnrefine backbone` folders")
    parser.add_argument("--data", default=None)
    parser.add_argument("--out", default="outputs/transfer")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--samples-per-epoch", type=int, default=16384)
    parser.add_argument("--virtual-seeds", nargs="*", type=int, default=[])
    args = parser.parse_args()
    backbones = [Path(b) for b in args.backbones]
    if len(backbones) < 2 or len({b.name for b in backbones}) != len(backbones):
        parser.error(f"--backbones: expected two or more folders with distinct names, got {args.backbones}")
    out = Path(args.out)
    data = RefinerDataSettings(virtual_seeds=tuple(args.virtual_seeds))
    refiners = train_runs(backbones, out, args.data, data, args.epochs, args.samples_per_epoch)
    table = {b.name: evaluate_validation(b, refiners, args.data) for b in backbones}
    (out / "transfer.json").write_text(json.dumps(table, indent=2))
    names = [BACKBONE, *refiners]
    print("\nHeld-out SS1/SS2 motions, MPJPE (mm), mean over actions; columns: refiner trained on\n")
    print("| predictions of | preset | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    for backbone, rows in table.items():
        for preset, row in rows.items():
            print(f"| {backbone} | {preset} | " + " | ".join(f"{row[n]:.1f}" for n in names) + " |")


if __name__ == "__main__":
    main()
