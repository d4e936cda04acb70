"""The whole release, resumable: backbone -> variant choice on validation -> paper-size training ->
SS3 evaluation -> the shipped checkpoints (``modeling_gcnrefine/checkpoints/``).

    python benchmarks/studies/reproduce.py [--data ../shared/blendmimic3d] [--epochs 24] [--ablation-epochs 20]

Every stage reuses finished work, so a killed run continues where it stopped. On a 2-core CPU the
whole run takes about 2 hours; on one GPU a few minutes.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

from modeling_gcnrefine.modeling_gcnrefine import SHIPPED_CHECKPOINTS_DIR
from modeling_gcnrefine.recipes.presets import (
    COMPACT,
    COMPACT_CHECKPOINT_NAME,
    PAPER_CHECKPOINT_NAME,
    RELEASED_VARIANT,
    VARIANTS,
    variant_run_name,
)
from modeling_gcnrefine.utils.hub import DEFAULT_LIFTER_NAME

ROOT = Path(__file__).resolve().parents[2]
ABLATION = Path(__file__).with_name("ablation.py")


def run(*command: str) -> None:
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True, cwd=ROOT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "blendmimic3d"))
    parser.add_argument("--out", default="outputs")
    parser.add_argument("--epochs", type=int, default=24)
    parser.add_argument("--ablation-epochs", type=int, default=20)
    parser.add_argument("--samples-per-epoch", type=int, default=16384)
    parser.add_argument(
        "--views", type=int, default=8, help="virtual camera views per action for the lifters and the refiner (0: none)"
    )
    parser.add_argument(
        "--skip-ablation", action="store_true", help=f"reuse the ablation's earlier choice ({RELEASED_VARIANT} if none)"
    )
    args = parser.parse_args()
    out = ROOT / args.out
    gcnrefine = [sys.executable, "-m", "modeling_gcnrefine.commands"]

    if not (out / "backbone" / "backbone_metrics.json").exists():
        run(*gcnrefine, "backbone", "--data", args.data, "--out", str(out / "backbone"),
            "--lifter-views", str(args.views), "--virtual-views", str(args.views))
    virtual = ["--virtual-seeds", "0"] if args.views else []
    choice = out / "ablation" / "validation.json"
    if args.skip_ablation:
        chosen = json.loads(choice.read_text())["chosen"] if choice.exists() else RELEASED_VARIANT
    else:
        run(sys.executable, str(ABLATION), "--backbone", str(out / "backbone"), "--data", args.data,
            "--out", str(out / "ablation"), "--epochs", str(args.ablation_epochs),
            "--samples-per-epoch", str(args.samples_per_epoch), *virtual)
        chosen = json.loads((out / "ablation" / "validation.json").read_text())["chosen"]
    config = json.dumps(VARIANTS[chosen])
    refiner = out / "refiner"
    if not (refiner / "final" / "config.json").exists():
        resume = ["--resume"] if (refiner / "checkpoints").exists() else []
        run(*gcnrefine, "train", "--backbone", str(out / "backbone"), "--data", args.data, "--config", config,
            "--output-dir", str(refiner), "--epochs", str(args.epochs),
            "--samples-per-epoch", str(args.samples_per_epoch), *virtual, *resume)
    compact = out / "ablation" / variant_run_name(chosen) / "best"
    compact_args = ["--compact", str(compact)] if compact.exists() else []
    report = out / "report"
    run(*gcnrefine, "evaluate", "--backbone", str(out / "backbone"), "--data", args.data, "--model",
        str(refiner / "best"), *compact_args, "-o", str(report), "--force")

    for source, name in ((refiner / "best", PAPER_CHECKPOINT_NAME), (compact, COMPACT_CHECKPOINT_NAME),
                         (out / "backbone" / "lifters" / "full" / "final", DEFAULT_LIFTER_NAME)):
        if source.exists():
            target = SHIPPED_CHECKPOINTS_DIR / name
            shutil.rmtree(target, ignore_errors=True)
            # Weights and config only: the model code lives in the package (save_pretrained/push_to_hub of
            # the loaded model writes it next to the weights for trust_remote_code users).
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("trainer_state.json", "*.py"))
            # Without the code files, an auto_map would point trust_remote_code users at files that are not there.
            config_path = target / "config.json"
            config = json.loads(config_path.read_text())
            config.pop("auto_map", None)
            config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    print(json.dumps({"chosen": chosen, "COMPACT": COMPACT}, indent=2))


if __name__ == "__main__":
    main()
