"""The paper's Table 2 with real parts: a Human3.6M lifter (SemGCN) and the built-in lifter on SS3,
alone, + the ridge baseline and + their refiner, under simulated, calibrated and real detections.

    python benchmarks/studies/real_parts.py --semgcn-backbone outputs/semgcn/backbone \
        --data ../shared/blendmimic3d [--semgcn-refiner gcnrefine-semgcn-h36m] [--out outputs/real_parts]

Rows are detection sources (``occluded``: the simulator's occlusion preset; ``realistic``: the preset
calibrated on SS1/SS2 real detections; ``real``: BlazePose on the videos; ``visible_only``: clean input,
for the do-no-harm goal). SemGCN never saw BlendMimic3D; its predictions come from the backbone folder
(``gcnrefine backbone --pretrained-lifter ...``). The built-in lifter (trained on SS1 + SS2) lifts SS3 here.
The ridge baseline (``modeling_gcnrefine.evaluation.ridge``, 9-frame windows) is fitted on the same
SemGCN SS1/SS2 prediction files as the refiner and its strength chosen on the same held-out motions.
SS3 is only measured: nothing here is fitted or chosen on it.

Besides MPJPE it prints acceleration error (needs ground truth) and the ground-truth-free figures
(bone-length spread, left/right asymmetry, jitter), and the issue's goals beside the measured values.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from modeling_gcnrefine import GCNRefineModel
from modeling_gcnrefine.data.blendmimic3d import load_blendmimic3d
from modeling_gcnrefine.data.predictions import load_predictions
from modeling_gcnrefine.data.sequences import camera_sequences, detect
from modeling_gcnrefine.data.virtual_cameras import load_settings
from modeling_gcnrefine.evaluation.plausibility import bone_length_spread, jitter, left_right_asymmetry
from modeling_gcnrefine.evaluation.records import SequenceRecord, evaluate_records
from modeling_gcnrefine.evaluation.ridge import fit_ridge
from modeling_gcnrefine.recipes.backbone import (
    aligned_predictions,
    lift_sequence,
    load_pretrained_lifter,
    prediction_path,
)
from modeling_gcnrefine.recipes.refiner import RefinerDataSettings, load_refiner_sequences
from modeling_gcnrefine.utils.hub import resolve_model
from modeling_gcnrefine.utils.metrics import acceleration_error

ROWS = ("occluded", "realistic", "real", "visible_only")
TEST_SEED = 100  # the SS3 detection seed of every backbone folder
RIDGE_FRAMES = 9
ALONE, RIDGE, REFINED = "alone", "+ ridge", "+ refiner"


def measure(sequences, predictions) -> dict[str, float]:
    """MPJPE (visible/occluded) by the evaluation protocol, plus acceleration error and the GT-free
    figures as means over sequences (mm, mm/frame²)."""
    records = [SequenceRecord(s.subject, s.action, s.camera, p, s.poses_3d, s.visibility) for s, p in zip(sequences, predictions)]
    mean = evaluate_records(records)["mean"]
    root = [p - p[:, :1] for p in predictions]
    truth = [s.poses_3d - s.poses_3d[:, :1] for s in sequences]
    return {
        "mpjpe": mean["mpjpe"],
        "mpjpe_occluded": mean["mpjpe_occluded"],
        "mpjpe_visible": mean["mpjpe_visible"],
        "acceleration_error": 1000 * float(np.mean([acceleration_error(p, t) for p, t in zip(root, truth)])),
        "bone_length_spread": float(np.mean([bone_length_spread(p) for p in root])),
        "left_right_asymmetry": float(np.mean([left_right_asymmetry(p) for p in root])),
        "jitter": float(np.mean([jitter(p) for p in root])),
    }


def refine_all(model, sequences, predictions, preset: str) -> list[np.ndarray]:
    out = []
    for s, p in zip(sequences, predictions):
        confidence = detect(s, preset, TEST_SEED)[1] if model.config.in_channels == 4 else None
        out.append(np.asarray(model.refine(p, confidence=confidence, flip_test=True), np.float32))
    return out


def semgcn_ridge(backbone: Path, data):
    """The ridge baseline fitted on the backbone's SS1/SS2 prediction files (validation motions held out)."""
    presets = tuple(
        p for p in ROWS if p != "real" and prediction_path(backbone, "train", p, 0).exists()
    )
    virtual = (0,) if load_settings(backbone) is not None else ()
    # Detection seeds 0 and 1 where the folder has both (a backbone run with --prediction-seeds 0 has one).
    seeds = tuple(s for s in (0, 1) if all(prediction_path(backbone, "train", p, s).exists() for p in presets))
    settings = RefinerDataSettings(presets=presets, seeds=seeds, virtual_seeds=virtual)
    train, val = load_refiner_sequences(backbone, data, settings)
    pairs = list(zip(train.inputs, train.targets))
    ridge = fit_ridge(pairs, list(zip(val.inputs, val.targets)), frames=RIDGE_FRAMES)
    return ridge, {"presets": list(presets), "seeds": list(seeds), "virtual_seeds": list(virtual), "train_sequences": len(pairs),
                   "val_sequences": len(val.inputs), "alpha": ridge.alpha,
                   "validation_mpjpe_mm": {str(k): v for k, v in ridge.validation_mpjpe_mm.items()}}


def cut(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else 100 * (before - after) / before


def goals(table) -> list[dict]:
    """The issue's goals for SemGCN + its refiner, each with its measured value."""
    semgcn = table["SemGCN"]
    real, clean = semgcn["real"], semgcn["visible_only"]
    real_cut = cut(real[ALONE]["mpjpe"], real[REFINED]["mpjpe"])
    rows = [
        ("SS3 real detections: MPJPE cut", ">= 40 %", real_cut, 40.0),
        ("SS3 real detections: occluded-joint MPJPE cut", ">= 35 %",
         cut(real[ALONE]["mpjpe_occluded"], real[REFINED]["mpjpe_occluded"]), 35.0),
        ("SS3 visible_only: MPJPE cut at least the real-detection cut", f">= {real_cut:.1f} %",
         cut(clean[ALONE]["mpjpe"], clean[REFINED]["mpjpe"]), real_cut),
        ("SS3 real detections: acceleration error cut", ">= 80 %",
         cut(real[ALONE]["acceleration_error"], real[REFINED]["acceleration_error"]), 80.0),
    ]
    return [{"goal": g, "target": t, "measured_pct": m, "met": m is not None and m >= threshold}
            for g, t, m, threshold in rows]


def _f(value) -> str:
    return "-" if value is None else f"{value:.1f}"


def markdown(table, goal_rows) -> str:
    lines = ["MPJPE (mm) / occluded-joint MPJPE (mm), SS3, mean over actions:", "",
             "| detections | lifter | alone | + ridge | + refiner | refiner cut |", "|---|---|---|---|---|---|"]
    for preset in ROWS:
        for lifter, rows in table.items():
            row = rows[preset]
            cells = [f"{_f(row[m]['mpjpe'])} / {_f(row[m]['mpjpe_occluded'])}" if m in row else "-" for m in (ALONE, RIDGE, REFINED)]
            lines.append(f"| {preset} | {lifter} | " + " | ".join(cells)
                         + f" | {_f(cut(row[ALONE]['mpjpe'], row[REFINED]['mpjpe']))} % |")
    lines += ["", "Acceleration error (mm/frame²) and ground-truth-free figures (bone-length spread mm, "
              "left/right asymmetry mm, jitter mm/frame²), alone -> + refiner:", "",
              "| detections | lifter | acceleration error | bone-length spread | asymmetry | jitter |", "|---|---|---|---|---|---|"]
    for preset in ROWS:
        for lifter, rows in table.items():
            a, r = rows[preset][ALONE], rows[preset][REFINED]
            lines.append(f"| {preset} | {lifter} | " + " | ".join(
                f"{_f(a[k])} -> {_f(r[k])}" for k in ("acceleration_error", "bone_length_spread", "left_right_asymmetry", "jitter")) + " |")
    lines += ["", "Goals (SemGCN + its refiner):", "", "| goal | target | measured | met |", "|---|---|---|---|"]
    for g in goal_rows:
        lines.append(f"| {g['goal']} | {g['target']} | {_f(g['measured_pct'])} % | {'yes' if g['met'] else 'MISSED'} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--semgcn-backbone", default="outputs/semgcn/backbone", help="backbone folder written with SemGCN")
    parser.add_argument("--semgcn-refiner", default="gcnrefine-semgcn-h36m", help="refiner trained on SemGCN predictions")
    parser.add_argument("--lifter", default="lifter-blendmimic3d", help="the built-in lifter (shipped name, folder or Hub id)")
    parser.add_argument("--refiner", default="gcnrefine-blendmimic3d-paper", help="the built-in lifter's refiner")
    parser.add_argument("--data", default=None, help="BlendMimic3D source")
    parser.add_argument("--out", default="outputs/real_parts", help="folder for table.md, table.json, lifted SS3 files")
    args = parser.parse_args()
    backbone, out = Path(args.semgcn_backbone), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    dataset = load_blendmimic3d(args.data)
    test = camera_sequences(dataset["test"])
    ridge, ridge_info = semgcn_ridge(backbone, args.data)
    print(f"ridge: strength {ridge.alpha:g} chosen on {ridge_info['val_sequences']} held-out SS1/SS2 sequences")

    semgcn_refiner = GCNRefineModel.from_pretrained(resolve_model(args.semgcn_refiner))
    builtin_refiner = GCNRefineModel.from_pretrained(resolve_model(args.refiner))
    lifter = load_pretrained_lifter(resolve_model(args.lifter, "lifter"))
    table: dict[str, dict[str, dict]] = {"SemGCN": {}, "built-in lifter": {}}
    for preset in tqdm(ROWS, desc="detection sources"):
        path = prediction_path(backbone, "test", preset, TEST_SEED)
        semgcn = aligned_predictions(load_predictions(path), test, path.name)
        table["SemGCN"][preset] = {
            ALONE: measure(test, semgcn),
            RIDGE: measure(test, [ridge.refine(p).astype(np.float32) for p in semgcn]),
            REFINED: measure(test, refine_all(semgcn_refiner, test, semgcn, preset)),
        }
        cached = out / f"builtin_{preset}_seed{TEST_SEED}.npz"
        if cached.exists():
            with np.load(cached, allow_pickle=False) as saved:
                builtin = [saved[f"{s.subject}/{s.action}/{s.camera}"] for s in test]
        else:
            builtin = [lift_sequence(lifter, s, preset, TEST_SEED) for s in test]
            np.savez(cached, **{f"{s.subject}/{s.action}/{s.camera}": p for s, p in zip(test, builtin)})
        table["built-in lifter"][preset] = {
            ALONE: measure(test, builtin),
            REFINED: measure(test, refine_all(builtin_refiner, test, builtin, preset)),
        }
    goal_rows = goals(table)
    text = markdown(table, goal_rows)
    print(text)
    meta = {"semgcn_backbone": str(backbone), "semgcn_refiner": args.semgcn_refiner, "lifter": args.lifter,
            "refiner": args.refiner, "ridge": ridge_info, "test_seed": TEST_SEED}
    (out / "table.md").write_text(text)
    (out / "table.json").write_text(json.dumps({"table": table, "goals": goal_rows, "meta": meta}, indent=2))


if __name__ == "__main__":
    main()
