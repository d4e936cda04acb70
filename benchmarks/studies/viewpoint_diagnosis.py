"""Where the backbone's error comes from, per camera: viewpoint or pose?

For each camera of each subject, prints the camera's height and downward pitch, the backbone's
MPJPE, and the MPJPE left after one rotation per sequence (Kabsch via scipy) and after removing one
constant offset per joint and sequence. Error that a single rotation removes is a viewpoint bias
(the whole body tilted), which a lifter shows on cameras unlike its training cameras.

Diagnosis only: it reads SS3 predictions to explain the test result, and chooses nothing.

    python benchmarks/studies/viewpoint_diagnosis.py [--backbone outputs/backbone] [--data ../shared/blendmimic3d]
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from modeling_gcnrefine.data.blendmimic3d import load_blendmimic3d
from modeling_gcnrefine.data.predictions import load_predictions
from modeling_gcnrefine.recipes.backbone import prediction_path


def decompose(predicted: np.ndarray, target: np.ndarray) -> tuple[float, float, float]:
    """MPJPE (mm) as is, after one best rotation of the whole sequence, and after one offset per joint."""
    predicted = predicted - predicted[:, :1]
    target = target - target[:, :1]
    plain = np.linalg.norm(predicted - target, axis=-1).mean()
    rotation, _ = Rotation.align_vectors(target.reshape(-1, 3), predicted.reshape(-1, 3))
    rotated = np.linalg.norm(rotation.apply(predicted.reshape(-1, 3)).reshape(target.shape) - target, axis=-1).mean()
    offset = np.linalg.norm(predicted - predicted.mean(0) - target + target.mean(0), axis=-1).mean()
    return 1000 * plain, 1000 * rotated, 1000 * offset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="outputs/backbone")
    parser.add_argument("--data", default=None)
    parser.add_argument("--preset", default="occluded")
    args = parser.parse_args()
    dataset = load_blendmimic3d(args.data)
    rows = defaultdict(list)
    cameras = {}
    for split, seed in (("train", 0), ("test", 100)):
        predictions = load_predictions(prediction_path(Path(args.backbone), split, args.preset, seed))
        part = dataset[split].with_format("numpy", columns=["keypoints_3d_camera", "extrinsics"])
        meta = dataset[split].select_columns(["subject", "action", "camera"])
        for i, row in enumerate(meta):
            item = part[i]
            key = (row["subject"], int(row["camera"]))
            predicted = predictions[row["subject"]][row["action"]][int(row["camera"])]
            rows[key].append(decompose(predicted.astype(np.float64), item["keypoints_3d_camera"].astype(np.float64)))
            rotation, translation = item["extrinsics"][:, :3], item["extrinsics"][:, 3]
            up = rotation @ np.array([0.0, 0.0, 1.0])  # world up in the camera frame (y down)
            cameras[key] = ((-rotation.T @ translation)[2], np.degrees(np.arcsin(np.clip(-up[2], -1, 1))))
    print(f"Backbone `{args.preset}` predictions (out-of-fold on SS1/SS2), MPJPE in mm, mean over sequences:\n")
    print("| Subject | Camera | Height (m) | Looks down (°) | MPJPE | After one rotation | After one offset per joint |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for key in sorted(rows):
        plain, rotated, offset = np.mean(rows[key], axis=0)
        height, pitch = cameras[key]
        print(f"| {key[0]} | {key[1]} | {height:.2f} | {pitch:.1f} | {plain:.1f} | {rotated:.1f} | {offset:.1f} |")


if __name__ == "__main__":
    main()
