"""Camera sequences read straight from the raw BlendMimic3D files, for the tests of real detections:
much faster than building the dataset, and the same arrays (anatomical labels)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from modeling_gcnrefine.data.real_detections import load_real_detections
from modeling_gcnrefine.data.sequences import CameraSequence
from modeling_gcnrefine.skeleton import mirror_blendmimic3d

FOLDERS = {"SS1": "S1", "SS2": "S2", "SS3": "S3"}


def raw_sequence(blendmimic3d_dir: Path, subject: str, action: str, camera: int) -> CameraSequence:
    """One camera sequence with its 2D, visibility and image size (no 3D: zeros)."""
    folder = Path(blendmimic3d_dir) / FOLDERS[subject]
    with np.load(folder / "D2_Positions" / action / "2D_positions.npz", allow_pickle=False) as f:
        keypoints = mirror_blendmimic3d(f[f"Cam_{camera}"])
    with np.load(folder / "Occlusions" / action / "occluded_kpt.npz", allow_pickle=False) as f:
        visible = mirror_blendmimic3d(f[f"Cam_{camera}"], axis=-1) > 0.5
    with np.load(folder / "Cameras" / f"matrices_{FOLDERS[subject]}.npz", allow_pickle=False) as f:
        principal_point = f["K"][camera, :2, 2]
    width, height = (int(v) for v in (2 * principal_point).round())  # the image centre (DATA.md)
    return CameraSequence(
        subject=subject,
        action=action,
        camera=camera,
        keypoints_2d=keypoints.astype(np.float32),
        poses_3d=np.zeros((*keypoints.shape[:2], 3), np.float32),
        visibility=visible,
        image_size=(width, height),
    )


def covered_sequences(blendmimic3d_dir: Path, real_path: Path, subjects: tuple[str, ...]) -> list[CameraSequence]:
    """Every sequence of ``subjects`` that the real detections file covers."""
    keys = [key for key in load_real_detections(real_path) if key[0] in subjects]
    return [raw_sequence(blendmimic3d_dir, *key) for key in keys]
