"""Is a graph network needed? A ridge-regression refiner fitted on the same data, measured the same way.

Fits a residual affine map (poses of a window of ``--frames`` frames -> correction of the centre frame,
root-relative, camera frame) by ridge regression on the backbone's SS1/SS2 predictions (both presets,
both seeds, and the virtual views when the backbone folder has them), holding out the refiner's
validation motions; the ridge strength is chosen on those. ``--rotations K`` adds K randomly turned
copies of each training sequence (yaw over the full circle, tilt within 20 degrees, input and target
alike), the GCN's augmentation. SS3 is evaluated once, with the protocol of
``gcnrefine evaluate``, and printed beside the GCN rows of an existing report.

    python benchmarks/studies/linear_baseline.py --backbone outputs/backbone --report outputs/report/report.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation
from tqdm.auto import tqdm

from modeling_gcnrefine import GCNRefineModel
from modeling_gcnrefine.data.blendmimic3d import load_blendmimic3d
from modeling_gcnrefine.data.predictions import load_predictions
from modeling_gcnrefine.data.sequences import camera_sequences
from modeling_gcnrefine.data.virtual_cameras import action_filmings, load_settings, virtual_sequences
from modeling_gcnrefine.evaluation.records import SequenceRecord, evaluate_records
from modeling_gcnrefine.evaluation.ridge import ALPHAS, RidgeRefiner, normal_equations, root_relative, solve
from modeling_gcnrefine.recipes.backbone import aligned_predictions, prediction_path
from modeling_gcnrefine.recipes.refiner import validation_motions
from modeling_gcnrefine.skeleton import H36M_PARENTS
from modeling_gcnrefine.utils.hub import resolve_model

PRESETS = ("occluded", "visible_only")


def mpjpe_mm(pairs, weights=None, frames: int = 3) -> float:
    return 1000 * float(
        np.mean([np.linalg.norm((x if weights is None else correct(weights, x, frames)) - y, axis=-1).mean() for x, y in pairs])
    )


def cross_subject(backbone: Path, train, frames: int, alpha: float) -> None:
    """Fit on one training subject's real-camera predictions, measure on it and on the other one."""
    by_subject: dict[str, list] = {}
    for preset in PRESETS:
        for seed in (0, 1):
            path = prediction_path(backbone, "train", preset, seed)
            for s, x in zip(train, aligned_predictions(load_predictions(path), train, path.name)):
                pair = (root_relative(x.astype(np.float64)), root_relative(s.poses_3d.astype(np.float64)))
                by_subject.setdefault(s.subject, []).append(pair)
    print("\nRidge fitted on one subject (all its motions), MPJPE (mm, sequence mean) backbone -> fitted:")
    for fitted in sorted(by_subject):
        weights = solve(*normal_equations(by_subject[fitted], frames), alpha)
        cells = [f"{name} {mpjpe_mm(pairs):.1f} -> {mpjpe_mm(pairs, weights, frames):.1f}" for name, pairs in sorted(by_subject.items())]
        print(f"  fitted on {fitted}: " + "; ".join(cells))


def bone_lengths(sequences) -> None:
    """Each subject's mean bone lengths (mm, camera 0 frames): how different the bodies are."""
    print("\nMean bone lengths per subject (mm; sum, then each bone in joint order):")
    for subject in sorted({s.subject for s in sequences}):
        poses = np.concatenate([s.poses_3d for s in sequences if s.subject == subject and s.camera == 0])
        lengths = [np.linalg.norm(poses[:, j] - poses[:, p], axis=-1).mean() for j, p in enumerate(H36M_PARENTS) if p >= 0]
        print(f"  {subject}: {1000 * sum(lengths):.0f} = " + " ".join(f"{1000 * v:.0f}" for v in lengths))


def random_turn(rng: np.random.Generator) -> np.ndarray:
    """A yaw about the camera's vertical (y) axis and a tilt about its x axis within 20 degrees."""
    yaw, tilt = rng.uniform(-180, 180), rng.uniform(-20, 20)
    return Rotation.from_euler("xy", [tilt, yaw], degrees=True).as_matrix()


def correct(weights: np.ndarray, poses: np.ndarray, frames: int) -> np.ndarray:
    return RidgeRefiner(weights, frames, alpha=float("nan"), validation_mpjpe_mm={}).refine(poses)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="outputs/backbone")
    parser.add_argument("--report", default=None, help="report.json of `gcnrefine evaluate` to print beside")
    parser.add_argument("--data", default=None)
    parser.add_argument("--frames", type=int, default=3)
    parser.add_argument("--rotations", type=int, default=0, help="randomly turned copies per training sequence")
    parser.add_argument("--model", default=None, help="a refiner (folder, shipped name or Hub id) to measure on the same validation sequences")
    parser.add_argument("--cross-subject", action="store_true", help="also fit on one subject, measure on the other")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    backbone = Path(args.backbone)
    dataset = load_blendmimic3d(args.data)
    train = camera_sequences(dataset["train"])
    held_out = validation_motions(train, 2)
    groups = [(train, "train", p, s) for p in PRESETS for s in (0, 1)]
    if (settings := load_settings(backbone)) is not None:
        views = virtual_sequences(action_filmings(dataset["train"]), settings)
        groups += [(views, "virtual", p, 0) for p in PRESETS]

    val = []

    def training_pairs():
        """Training sequences (and their randomly turned copies); validation ones are set aside."""
        for sequences, split, preset, seed in groups:
            path = prediction_path(backbone, split, preset, seed)
            for s, predicted in zip(sequences, aligned_predictions(load_predictions(path), sequences, path.name)):
                x = root_relative(predicted.astype(np.float64))
                y = root_relative(s.poses_3d.astype(np.float64))
                if s.motion in held_out:
                    val.append((x, y))
                    continue
                for turn in [np.eye(3), *(random_turn(rng) for _ in range(args.rotations))]:
                    yield x @ turn.T, y @ turn.T

    gram, cross = normal_equations(training_pairs(), args.frames)
    print(f"validation MPJPE (mm, sequence mean) of the backbone: {mpjpe_mm(val):.1f}")
    scores = {alpha: mpjpe_mm(val, solve(gram, cross, alpha), args.frames) for alpha in ALPHAS}
    alpha = min(scores, key=scores.get)
    weights = solve(gram, cross, alpha)
    print("validation MPJPE (mm, sequence mean) by ridge strength:", {a: round(v, 1) for a, v in scores.items()})
    if args.model:
        model = GCNRefineModel.from_pretrained(resolve_model(args.model))
        errors = [
            np.linalg.norm(root_relative(model.refine(x.astype(np.float32), flip_test=True)) - y, axis=-1).mean()
            for x, y in tqdm(val, desc="refiner on validation")
        ]
        print(f"validation MPJPE (mm, sequence mean) of {args.model}: {1000 * float(np.mean(errors)):.1f}")

    if args.cross_subject:
        cross_subject(backbone, train, args.frames, alpha)

    test = camera_sequences(dataset["test"])
    if args.cross_subject:
        bone_lengths(train + test)  # ground truth of SS3 described, not used for fitting or choosing
    report = json.loads(Path(args.report).read_text()) if args.report else None
    rows = {}
    for preset in PRESETS:
        path = prediction_path(backbone, "test", preset, 100)
        predictions = aligned_predictions(load_predictions(path), test, path.name)
        base = [SequenceRecord(s.subject, s.action, s.camera, p, s.poses_3d, s.visibility) for s, p in zip(test, predictions)]
        fitted = [
            SequenceRecord(r.subject, r.action, r.camera, correct(weights, r.predicted, args.frames), r.target, r.visibility)
            for r in base
        ]
        rows[preset] = {"backbone": evaluate_records(base)["mean"], "linear": evaluate_records(fitted)["mean"]}
        if report is not None:
            rows[preset]["gcn"] = report["presets"][preset]["gcn"]["mean"]
    print(f"\nSS3, mean over actions (ridge strength {alpha:g}, window {args.frames}, {args.rotations} turns):\n")
    methods = list(rows[PRESETS[0]])
    print("| preset | metric | " + " | ".join(methods) + " |")
    print("|---|---|" + "---|" * len(methods))
    for preset, row in rows.items():
        for metric in ("mpjpe", "mpjpe_occluded"):
            print(f"| {preset} | {metric} | " + " | ".join(f"{row[m][metric]:.1f}" for m in methods) + " |")


if __name__ == "__main__":
    main()
