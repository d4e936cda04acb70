"""Classical temporal filters applied to whole pose sequences (Savitzky-Golay, Gaussian, One-Euro),
and tuning their parameters on validation records: the baselines a learned refiner is compared with.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.signal import savgol_filter

from ..utils.metrics import mpjpe
from .records import MM, SequenceRecord, _check_poses, root_relative


def savgol_smooth(poses: np.ndarray, window_length: int, polyorder: int) -> np.ndarray:
    """Savitzky-Golay smoothing along time (scipy, ``mode="interp"``: polynomial fit at the ends).

    A sequence shorter than ``window_length`` uses the longest odd window that fits (a centred
    window); if that is not longer than ``polyorder``, the poses are returned unchanged (a copy).
    The dtype of ``poses`` is kept.
    """
    poses = _check_poses(poses, "poses")
    if not isinstance(window_length, int | np.integer) or window_length < 1:
        raise ValueError(f"window_length: expected an int >= 1, got {window_length!r}")
    if not isinstance(polyorder, int | np.integer) or not 0 <= polyorder < window_length:
        raise ValueError(
            f"polyorder: expected an int in [0, window_length={window_length}), got {polyorder!r}"
        )
    frames = len(poses)
    if window_length > frames:
        window_length = frames if frames % 2 else frames - 1
    if window_length <= polyorder:
        return poses.copy()
    return savgol_filter(poses, window_length, polyorder, axis=0, mode="interp").astype(
        poses.dtype, copy=False
    )


def gaussian_smooth(poses: np.ndarray, sigma: float, mode: str = "nearest") -> np.ndarray:
    """Gaussian smoothing along time (scipy), ``sigma`` in frames; 0 returns a copy.

    ``mode="nearest"`` repeats the end frames, which biases a moving end less than mirroring it.
    """
    poses = _check_poses(poses, "poses")
    if not isinstance(sigma, int | float | np.number) or not (math.isfinite(sigma) and sigma >= 0):
        raise ValueError(f"sigma: expected a finite number >= 0 (frames), got {sigma!r}")
    if sigma == 0:
        return poses.copy()
    return gaussian_filter1d(poses, float(sigma), axis=0, mode=mode)


def one_euro_smooth(
    poses: np.ndarray, min_cutoff: float, beta: float, d_cutoff: float = 1.0, fps: float = 50.0
) -> np.ndarray:
    """One-Euro filter (Casiez, Roussel, Vogel, CHI 2012) along time, every coordinate independently.

    A first-order low-pass whose cutoff (Hz) rises with the filtered speed: ``cutoff = min_cutoff +
    beta * |dx_hat|``, the speed in units per second (m/s for poses in metres) estimated from the
    previous *filtered* value (as in the paper's pseudo-code) and low-passed at ``d_cutoff``. Causal,
    so it lags; on a ramp of speed ``v`` with ``beta = 0`` the steady lag is ``v / (2 pi min_cutoff)``.
    ``fps`` is the frame rate; BlendMimic3D's is not stated upstream, 50 is an assumption (a
    different rate only rescales the tuned ``min_cutoff``/``beta``). Vectorised over joints and axes.
    """
    poses = _check_poses(poses, "poses")
    for name, value, low in (("min_cutoff", min_cutoff, 0), ("d_cutoff", d_cutoff, 0), ("fps", fps, 0)):
        if not isinstance(value, int | float | np.number) or not (math.isfinite(value) and value > low):
            raise ValueError(f"{name}: expected a finite number > 0, got {value!r}")
    if not isinstance(beta, int | float | np.number) or not (math.isfinite(beta) and beta >= 0):
        raise ValueError(f"beta: expected a finite number >= 0, got {beta!r}")
    x = poses.astype(np.float64)
    out = np.empty_like(x)
    # alpha = 1 / (1 + tau / Te) with tau = 1 / (2 pi cutoff), Te = 1 / fps.
    alpha_d = 1.0 / (1.0 + fps / (2.0 * math.pi * d_cutoff))
    speed_to_ratio = fps / (2.0 * math.pi)
    previous = out[0] = x[0]
    speed = np.zeros_like(x[0])  # the derivative filter starts at 0, as in the reference code
    for t in range(1, len(x)):
        speed = alpha_d * ((x[t] - previous) * fps) + (1.0 - alpha_d) * speed
        alpha = 1.0 / (1.0 + speed_to_ratio / (min_cutoff + beta * np.abs(speed)))
        previous = out[t] = alpha * x[t] + (1.0 - alpha) * previous
    return out.astype(poses.dtype, copy=False)


FILTERS: dict[str, Callable[..., np.ndarray]] = {
    "savgol": savgol_smooth,
    "gaussian": gaussian_smooth,
    "one_euro": one_euro_smooth,
}


# Small grids: window/sigma from light to about one second of smoothing at 50 fps; One-Euro cutoffs in Hz
# and beta in 1/m (speed in m/s).
DEFAULT_GRIDS: dict[str, list[dict]] = {
    "savgol": [
        {"window_length": w, "polyorder": p} for w in (5, 9, 15, 21, 31, 45) for p in (1, 2, 3) if p < w
    ],
    "gaussian": [{"sigma": s} for s in (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0)],
    "one_euro": [
        {"min_cutoff": c, "beta": b} for c in (0.1, 0.3, 1.0, 3.0, 10.0) for b in (0.0, 0.3, 1.0, 3.0, 10.0)
    ],
}


def apply_filter(name: str, poses: np.ndarray, params: Mapping[str, Any]) -> np.ndarray:
    """Run the filter ``FILTERS[name]`` with ``params`` on one sequence ``(T, J, 3)``."""
    if name not in FILTERS:
        raise ValueError(f"name: expected one of {sorted(FILTERS)}, got {name!r}")
    if not isinstance(params, Mapping):
        raise ValueError(f"params: expected a mapping of keyword arguments, got {params!r}")
    return FILTERS[name](poses, **params)


def smooth_records(
    records: Sequence[SequenceRecord], name: str, params: Mapping[str, Any]
) -> list[SequenceRecord]:
    """The records with their predictions filtered, each sequence on its own."""
    return [
        SequenceRecord(
            r.subject, r.action, r.camera, apply_filter(name, r.predicted, params), r.target, r.visibility
        )
        for r in records
    ]


def tune_filter(
    name: str,
    predictions: Sequence[np.ndarray],
    targets: Sequence[np.ndarray],
    grid: Sequence[Mapping[str, Any]] | None = None,
) -> tuple[dict, float]:
    """Grid-search a filter's parameters on validation sequences (never the test subject).

    Each prediction ``(T, J, 3)`` is filtered on its own; the score is the root-relative MPJPE (mm)
    over all frames of all sequences (frame-weighted). Returns ``(best params, best MPJPE)``; ties
    go to the earlier grid entry. ``grid`` defaults to ``DEFAULT_GRIDS[name]``.
    """
    if name not in FILTERS:
        raise ValueError(f"name: expected one of {sorted(FILTERS)}, got {name!r}")
    if isinstance(predictions, np.ndarray) or not isinstance(predictions, Sequence) or not predictions:
        raise ValueError("predictions: expected a non-empty list of (T, J, 3) arrays, one per sequence")
    if (
        isinstance(targets, np.ndarray)
        or not isinstance(targets, Sequence)
        or len(targets) != len(predictions)
    ):
        raise ValueError(
            f"targets: expected a list of {len(predictions)} arrays matching predictions, "
            f"got {type(targets).__name__} of length {len(targets) if hasattr(targets, '__len__') else '?'}"
        )
    grid = DEFAULT_GRIDS[name] if grid is None else list(grid)
    if not grid or not all(isinstance(params, Mapping) for params in grid):
        raise ValueError(f"grid: expected a non-empty list of parameter dicts, got {grid!r:.80}")
    targets_rel = []
    for index, (prediction, target) in enumerate(zip(predictions, targets)):
        prediction = _check_poses(prediction, f"predictions[{index}]")
        target = _check_poses(target, f"targets[{index}]")
        if target.shape != prediction.shape:
            raise ValueError(f"targets[{index}]: expected shape {prediction.shape}, got {target.shape}")
        targets_rel.append(root_relative(target))
    frames = sum(len(t) for t in targets_rel)
    best: tuple[dict, float] | None = None
    for params in grid:
        total = 0.0
        for prediction, target in zip(predictions, targets_rel):
            smoothed = root_relative(apply_filter(name, prediction, params))
            total += float(mpjpe(smoothed, target, reduction="none").sum())
        score = total / frames * MM
        if best is None or score < best[1]:
            best = (dict(params), score)
    assert best is not None
    return best
