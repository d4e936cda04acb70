"""The record every stage passes along: one camera's view of one motion (`CameraSequence`), built from
the ``sequences`` config, with the detections a preset and seed give it: simulated (a name of
:data:`.detections.PRESETS`) or real (``"real"``, :mod:`.real_detections`, NaN where no person was found).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from .detections import PRESETS, simulate_detections
from .real_detections import REAL, real_detections


@dataclass
class CameraSequence:
    """One camera sequence of BlendMimic3D in the array contract (anatomical joint labels)."""

    subject: str
    action: str
    camera: int
    keypoints_2d: np.ndarray  # (T, 17, 2) pixels
    poses_3d: np.ndarray  # (T, 17, 3) camera frame, metres
    visibility: np.ndarray  # (T, 17) bool, True = visible
    image_size: tuple[int, int]  # (width, height)

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.subject, self.action, self.camera)

    @property
    def motion(self) -> tuple[str, str]:
        """Actions and their ``_multi`` variant share one motion: they always go to the same fold."""
        return (self.subject, self.action.removesuffix("_multi"))


def camera_sequences(dataset: Any, limit: int | None = None) -> list[CameraSequence]:
    """Rows of a ``sequences`` split as :class:`CameraSequence` (the first ``limit`` rows if given)."""
    if limit is not None:
        dataset = dataset.select(range(min(limit, len(dataset))))
    columns = ["keypoints_2d", "keypoints_3d_camera", "visibility"]
    arrays = dataset.with_format("numpy", columns=columns)
    meta = dataset.select_columns(["subject", "action", "camera", "image_width", "image_height"])
    out = []
    for i, row in enumerate(meta):
        camera = row["camera"]
        index = int(camera["index"]) if isinstance(camera, dict) else int(camera)
        item = arrays[i]
        out.append(
            CameraSequence(
                subject=row["subject"],
                action=row["action"],
                camera=index,
                keypoints_2d=np.asarray(item["keypoints_2d"], np.float32),
                poses_3d=np.asarray(item["keypoints_3d_camera"], np.float32),
                visibility=np.asarray(item["visibility"], bool),
                image_size=(int(row["image_width"]), int(row["image_height"])),
            )
        )
    return out


def detection_seed(seed: int, sequence: CameraSequence) -> int:
    """A per-sequence seed, stable across runs and machines (no Python hash randomisation)."""
    return (seed * 1_000_003 + zlib.crc32("/".join(map(str, sequence.key)).encode())) % (2**32)


def detection_presets() -> tuple[str, ...]:
    """Every preset :func:`detect` accepts: the simulator's (:data:`.detections.PRESETS`) and ``"real"``."""
    return (*PRESETS, REAL)


def detect(sequence: CameraSequence, preset: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Detector output ``(T, 17, 2)`` pixels and confidence ``(T, 17)`` for one sequence.

    ``preset`` is a simulator preset, or ``"real"`` for the real detections file's: the seed is then
    ignored, and frames without a person are NaN with confidence 0 (fill them before lifting, e.g. with
    :func:`~modeling_gcnrefine.utils.missing.interpolate_missing`).
    """
    if preset == REAL:
        return real_detections(sequence)
    return simulate_detections(
        sequence.keypoints_2d, sequence.visibility, sequence.image_size, preset=preset, seed=detection_seed(seed, sequence)
    )


def root_relative(poses: np.ndarray) -> np.ndarray:
    return poses - poses[..., :1, :]

