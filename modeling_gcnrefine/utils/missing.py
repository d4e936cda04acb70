"""Keypoints missing (NaN) in some frames, such as frames where a detector found no person, filled
before a model that needs every frame (a temporal lifter) sees them.
"""

from __future__ import annotations

import numpy as np


def interpolate_missing(keypoints: np.ndarray) -> np.ndarray:
    """Fill NaN in ``(T, J, C)`` by linear interpolation over time per joint and coordinate, holding the
    nearest observed value before the first and after the last observation. Returns a new array.

    Raises ValueError when a joint is missing in every frame (nothing to interpolate from).
    """
    array = np.asarray(keypoints, dtype=np.float64)
    if array.ndim != 3 or array.shape[0] < 1:
        raise ValueError(f"keypoints: expected shape (T, J, C) with T >= 1, got {array.shape}")
    filled = array.copy()
    time = np.arange(array.shape[0])
    for joint in range(array.shape[1]):
        for coord in range(array.shape[2]):
            column = array[:, joint, coord]
            observed = ~np.isnan(column)
            if not observed.any():
                raise ValueError(
                    f"keypoints: joint {joint} is missing (NaN) in every one of {len(column)} frames"
                )
            if not observed.all():
                filled[:, joint, coord] = np.interp(time, time[observed], column[observed])
    return filled
