"""COCO-17 keypoints (what 2D detectors such as ViTPose output) to the Human3.6M-17 layout.

Numpy only, like ``skeleton.py``, which re-exports :func:`coco_to_h36m`.

Human3.6M-17 has five joints that COCO-17 lacks; they are built from COCO points:

    pelvis (0)   midpoint of the hips (COCO 11, 12)
    thorax (8)   midpoint of the shoulders (COCO 5, 6)
    spine (7)    midpoint of pelvis and thorax
    neck (9)     the nose (COCO 0): Human3.6M's joint 9 ("neck/nose") sits on the face
    head (10)    midpoint of the eyes (COCO 1, 2)

The head convention (eyes, not the top of the skull) is the one of the public COCO-to-Human3.6M
converters (e.g. MotionBERT's); it places the head a few centimetres lower than Human3.6M's motion
capture marker. Hips, knees, ankles, shoulders, elbows and wrists map joint to joint (both layouts
name sides from the person's point of view).
"""

from __future__ import annotations

import numpy as np

# Human3.6M-17 joint -> the COCO-17 joints it is the mean of (one for a direct mapping).
COCO_TO_H36M_SOURCES: tuple[tuple[int, ...], ...] = (
    (11, 12),  # 0 pelvis = mid-hips
    (12,),  # 1 right hip
    (14,),  # 2 right knee
    (16,),  # 3 right ankle
    (11,),  # 4 left hip
    (13,),  # 5 left knee
    (15,),  # 6 left ankle
    (11, 12, 5, 6),  # 7 spine = mid(pelvis, thorax) = mean of hips and shoulders
    (5, 6),  # 8 thorax = mid-shoulders
    (0,),  # 9 neck/nose = nose
    (1, 2),  # 10 head = mid-eyes
    (5,),  # 11 left shoulder
    (7,),  # 12 left elbow
    (9,),  # 13 left wrist
    (6,),  # 14 right shoulder
    (8,),  # 15 right elbow
    (10,),  # 16 right wrist
)


def coco_to_h36m(keypoints: np.ndarray, scores: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Convert COCO-17 keypoints ``(..., 17, C)`` (C = 2 pixels, or 3 for 3D) to Human3.6M-17.

    Args:
        keypoints: COCO-17 order (nose, eyes, ears, shoulders, elbows, wrists, hips, knees, ankles).
            NaN marks a missing keypoint (e.g. no person detected in that frame).
        scores: optional ``(..., 17)`` detector scores (e.g. ViTPose heatmap maxima); NaN counts as 0.

    Returns:
        ``(keypoints_h36m, confidence)``: ``(..., 17, C)`` in the input's float dtype (float64 for
        integer input), and ``(..., 17)`` float confidence. A joint built from several COCO points
        is their mean and takes their *lowest* score (a midpoint is only as reliable as its least
        reliable end); it is NaN, with confidence 0, when any of them is missing. Low scores are kept
        as low confidence, never turned into NaN. Without ``scores`` every present joint has
        confidence 1 and every missing one 0.

    Raises:
        ValueError: wrong shape or dtype, infinite keypoints, or scores of the wrong shape.
    """
    kp = np.asarray(keypoints)
    if kp.ndim < 2 or kp.shape[-2] != 17 or kp.shape[-1] not in (2, 3):
        raise ValueError(
            f"keypoints: expected shape (..., 17, 2) or (..., 17, 3) in COCO-17 order, got {kp.shape}"
        )
    if not (np.issubdtype(kp.dtype, np.floating) or np.issubdtype(kp.dtype, np.integer)):
        raise ValueError(f"keypoints: expected a numeric array, got dtype {kp.dtype}")
    if not np.issubdtype(kp.dtype, np.floating):
        kp = kp.astype(np.float64)
    if np.isinf(kp).any():
        raise ValueError("keypoints: expected finite values or NaN for missing keypoints, got +-inf")
    if scores is None:
        sc = np.ones(kp.shape[:-1], dtype=kp.dtype)
    else:
        sc = np.asarray(scores)
        if sc.shape != kp.shape[:-1]:
            raise ValueError(f"scores: expected shape {kp.shape[:-1]} (keypoints.shape[:-1]), got {sc.shape}")
        if not (np.issubdtype(sc.dtype, np.floating) or np.issubdtype(sc.dtype, np.integer)):
            raise ValueError(f"scores: expected a numeric array, got dtype {sc.dtype}")
        sc = np.nan_to_num(sc.astype(kp.dtype), nan=0.0)
    # A missing keypoint has no confidence, whatever its score.
    sc = np.where(np.isnan(kp).any(axis=-1), 0.0, sc).astype(kp.dtype)

    out = np.empty(kp.shape, dtype=kp.dtype)
    conf = np.empty(sc.shape, dtype=kp.dtype)
    for joint, sources in enumerate(COCO_TO_H36M_SOURCES):
        # np.mean (not nanmean): a midpoint with a missing end is missing.
        out[..., joint, :] = kp[..., list(sources), :].mean(axis=-2)
        conf[..., joint] = sc[..., list(sources)].min(axis=-1)
    return out, conf
