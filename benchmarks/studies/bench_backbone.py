"""The built-in lifter as a backbone: held-out SS1/SS2 MPJPE with ground-truth 2D, and SS3 MPJPE under
each detection preset (mm). Runs `gcnrefine backbone` (resumable: finished lifters and prediction
files are reused) and prints the table.

    python benchmarks/studies/bench_backbone.py [--data ../shared/blendmimic3d] [--out outputs/backbone] [--lifter-views 8]
"""

from __future__ import annotations

import argparse

from modeling_gcnrefine.recipes.backbone import BackboneSettings, run_backbone


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None)
    parser.add_argument("--out", default="outputs/backbone")
    parser.add_argument("--lifter-views", type=int, default=0, help="virtual views per action in lifter training")
    args = parser.parse_args()
    metrics = run_backbone(args.data, args.out, BackboneSettings(lifter_views=args.lifter_views))
    print("\n| measurement | MPJPE (mm) |\n|---|---|")
    for fold, value in metrics["held_out_gt2d_mpjpe_mm"].items():
        print(f"| held-out SS1/SS2 actions, ground-truth 2D, lifter {fold} | {value:.1f} |")
    for fold, value in metrics.get("held_out_new_views_gt2d_mpjpe_mm", {}).items():
        print(f"| held-out SS1/SS2 actions, 2 new virtual views each, ground-truth 2D, lifter {fold} | {value:.1f} |")
    for name, value in metrics["test_mpjpe_mm"].items():
        print(f"| SS3, {name.rsplit('_seed', 1)[0]} detections | {value:.1f} |")
    for name, value in metrics.get("train_oof_mpjpe_mm", {}).items():
        print(f"| SS1/SS2 out-of-fold, {name.rsplit('_seed', 1)[0]} detections (seed {name.rsplit('seed', 1)[1]}) | {value:.1f} |")


if __name__ == "__main__":
    main()
