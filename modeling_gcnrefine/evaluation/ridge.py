"""A residual ridge-regression refiner: the baseline every learned refiner must beat.

It maps a window of ``frames`` root-relative poses (edges repeated at the sequence ends) plus a
constant to a correction of the centre frame, fitted in closed form on ``(predicted, target)``
sequence pairs. A lifter meeting a new dataset makes largely systematic errors (another skeleton,
other cameras), and an affine map over a short window removes much of that; a graph network earns
its place only by doing clearly better.

The normal equations are summed one sequence at a time, so training data never sits in memory as
one matrix; ``alpha`` is relative to the mean diagonal of ``X'X``, so one grid fits any data size.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

ALPHAS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)


def root_relative(poses: np.ndarray) -> np.ndarray:
    poses = np.asarray(poses, np.float64)
    return poses - poses[:, :1]


def _check_sequence(poses: np.ndarray, name: str) -> np.ndarray:
    poses = np.asarray(poses)
    if poses.ndim != 3 or poses.shape[-1] != 3 or len(poses) < 1:
        raise ValueError(f"{name}: expected poses of shape (T >= 1, J, 3), got {poses.shape}")
    if not np.isfinite(poses).all():
        raise ValueError(f"{name}: expected finite poses (fill missing frames first), got NaN or inf")
    return poses


def windows(poses: np.ndarray, frames: int) -> np.ndarray:
    """``(T, frames * J * 3 + 1)`` features: each frame's window (edges repeated) and a constant."""
    half = frames // 2
    padded = np.concatenate([np.repeat(poses[:1], half, 0), poses, np.repeat(poses[-1:], half, 0)])
    stacked = np.stack([padded[i : i + len(poses)] for i in range(frames)], axis=1)  # (T, frames, J, 3)
    return np.concatenate([stacked.reshape(len(poses), -1), np.ones((len(poses), 1))], axis=1)


def normal_equations(pairs: Iterable[tuple[np.ndarray, np.ndarray]], frames: int) -> tuple[np.ndarray, np.ndarray]:
    """``X'X`` and ``X'R`` of the residual map over root-relative ``(predicted, target)`` pairs
    (``pairs`` may be a generator)."""
    gram = cross = None
    for x, y in pairs:
        features = windows(x, frames)
        residual = (y - x).reshape(len(x), -1)
        if gram is None:
            gram, cross = np.zeros((features.shape[1],) * 2), np.zeros((features.shape[1], residual.shape[1]))
        gram += features.T @ features
        cross += features.T @ residual
    if gram is None:
        raise ValueError("pairs: expected at least one (predicted, target) pair, got none")
    return gram, cross


def solve(gram: np.ndarray, cross: np.ndarray, alpha: float) -> np.ndarray:
    """Ridge weights; ``alpha`` is relative to the mean diagonal of ``gram``."""
    size = len(gram)
    return np.linalg.solve(gram + alpha * np.trace(gram) / size * np.eye(size), cross)


@dataclass
class RidgeRefiner:
    """A fitted residual ridge map; :meth:`refine` corrects root-relative ``(T, J, 3)`` poses."""

    weights: np.ndarray
    frames: int
    alpha: float
    validation_mpjpe_mm: dict[float, float]

    def refine(self, poses: np.ndarray) -> np.ndarray:
        relative = root_relative(_check_sequence(poses, "poses"))
        corrected = relative + (windows(relative, self.frames) @ self.weights).reshape(relative.shape)
        return corrected.astype(np.asarray(poses).dtype if np.asarray(poses).dtype.kind == "f" else np.float64)

    def window_map(self, num_frames: int) -> tuple[np.ndarray, np.ndarray]:
        """This map as one linear layer over a whole window of ``num_frames`` root-relative frames:
        ``(matrix, bias)`` with ``correction = matrix @ window.ravel() + bias``, shapes
        ``(num_frames*J*3, num_frames*J*3)`` and ``(num_frames*J*3,)``. Each output frame reads its own
        ``frames``-frame neighbourhood with the window's edges repeated, so the centre frame of a
        window at least ``frames`` long gets exactly what :meth:`refine` gives it."""
        if not isinstance(num_frames, int) or num_frames < 1:
            raise ValueError(f"num_frames: expected an integer >= 1, got {num_frames!r}")
        size = self.weights.shape[1]  # J * 3
        half = self.frames // 2
        matrix = np.zeros((num_frames * size, num_frames * size))
        for t in range(num_frames):
            for k in range(self.frames):
                source = min(max(t + k - half, 0), num_frames - 1)
                block = self.weights[k * size : (k + 1) * size].T  # (out J*3, in J*3)
                matrix[t * size : (t + 1) * size, source * size : (source + 1) * size] += block
        return matrix, np.tile(self.weights[-1], num_frames)


def mpjpe_mm(pairs: Sequence[tuple[np.ndarray, np.ndarray]], refiner: RidgeRefiner | None = None) -> float:
    """Mean over sequences of each sequence's MPJPE (mm), root-relative (both sides made so here)."""
    errors = [
        np.linalg.norm(root_relative(x if refiner is None else refiner.refine(x)) - root_relative(y), axis=-1).mean()
        for x, y in pairs
    ]
    return 1000 * float(np.mean(errors))


def fit_ridge(
    train_pairs: Iterable[tuple[np.ndarray, np.ndarray]],
    val_pairs: Sequence[tuple[np.ndarray, np.ndarray]],
    frames: int = 9,
    alphas: Sequence[float] = ALPHAS,
) -> RidgeRefiner:
    """Fit on ``train_pairs`` and choose the ridge strength on ``val_pairs`` (root-relative metres)."""
    if not isinstance(frames, int) or frames < 1 or frames % 2 == 0:
        raise ValueError(f"frames: expected an odd integer >= 1, got {frames!r}")
    if not val_pairs:
        raise ValueError("val_pairs: expected at least one validation pair to choose the ridge strength, got none")
    checked = ((root_relative(_check_sequence(x, "predicted")), root_relative(_check_sequence(y, "target"))) for x, y in train_pairs)
    gram, cross = normal_equations(checked, frames)
    scores = {}
    for alpha in alphas:
        scores[alpha] = mpjpe_mm(val_pairs, RidgeRefiner(solve(gram, cross, alpha), frames, alpha, {}))
    alpha = min(scores, key=scores.get)
    return RidgeRefiner(solve(gram, cross, alpha), frames, alpha, scores)
