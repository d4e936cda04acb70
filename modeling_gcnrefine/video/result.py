"""The record the video pipeline returns and the renderer draws."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class VideoResult:
    """What :func:`process_video` returns: the written files and every array it saved.

    2D arrays keep NaN (and score/confidence 0) in frames where the target was not found; the 3D
    arrays have no NaN (those frames' 2D was interpolated before lifting).
    """

    npz_path: Path
    video_path: Path | None
    keypoints_coco: np.ndarray  # (T, 17, 2) pixels, COCO-17 order, from the pose model
    scores_coco: np.ndarray  # (T, 17)
    keypoints_2d: np.ndarray  # (T, 17, 2) pixels, Human3.6M-17 order (coco_to_h36m)
    confidence: np.ndarray  # (T, 17)
    boxes: np.ndarray  # (T, 4) the target's box, xyxy pixels
    box_scores: np.ndarray  # (T,)
    poses_3d: np.ndarray  # (T, 17, 3) metres, camera frame, root-relative: the lifter's output
    poses_3d_refined: np.ndarray  # (T, 17, 3) after refinement
    fps: float
    image_size: tuple[int, int]  # (width, height)
    truncated: bool  # only the first max_frames frames were processed

    @property
    def num_frames(self) -> int:
        return len(self.poses_3d)
