"""Measuring 2D detections against the ground truth: a real detector's error statistics beside those of
the simulator's presets on the same frames, the figures the ``realistic`` preset was calibrated on.

Errors are Euclidean, in px per 1000 px of image size ``S = (width + height) / 2`` (the simulator's
normalisation), over the frames where the real detector found the person, split by the dataset's
visibility labels: *visible*, and *occluded* (label 0: hidden or out of frame).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

import numpy as np

from ..data.real_detections import REAL, real_detections
from ..data.sequences import CameraSequence, detect

STATISTICS: tuple[str, ...] = ("mean", "median", "p90", "over_50")
"""What :func:`error_statistics` returns: ``over_50`` is the percentage of errors above 50."""

CLASSES: tuple[str, ...] = ("visible", "occluded")


def normalised_errors(keypoints, truth, image_size) -> np.ndarray:
    """``(T, J)`` distances between ``(T, J, 2)`` pixel arrays, in px per 1000 px of ``(w + h) / 2``."""
    size = (float(image_size[0]) + float(image_size[1])) / 2
    difference = np.asarray(keypoints, np.float64) - np.asarray(truth, np.float64)
    return np.linalg.norm(difference, axis=-1) * (1000.0 / size)


def error_statistics(errors) -> dict[str, float]:
    """Mean, median, 90th percentile and percentage above 50 of a set of errors (NaN when empty)."""
    errors = np.asarray(errors, np.float64).ravel()
    if errors.size == 0:
        return dict.fromkeys(STATISTICS, float("nan"))
    return {
        "mean": float(errors.mean()),
        "median": float(np.median(errors)),
        "p90": float(np.percentile(errors, 90)),
        "over_50": float(100.0 * (errors > 50).mean()),
    }


def statistic_ratios(measured: dict[str, float], reference: dict[str, float]) -> dict[str, float]:
    """``measured / reference`` per statistic (inf where only the reference is 0, 1 where both are)."""
    out = {}
    for name in STATISTICS:
        a, b = measured[name], reference[name]
        out[name] = float(a / b) if b != 0 else (1.0 if a == 0 else float("inf"))
    return out


def within(ratios: dict[str, float], tolerance: float) -> bool:
    """Every ratio within ``1 +- tolerance``."""
    return all(abs(r - 1.0) <= tolerance for r in ratios.values())


def detector_errors(
    sequences: Iterable[CameraSequence],
    preset: str,
    seeds: Sequence[int] = (0,),
    real_path: str | os.PathLike | None = None,
) -> dict[str, dict[str, np.ndarray]]:
    """``{subject: {"visible": errors, "occluded": errors}}`` of ``preset``'s detections (``"real"`` or a
    simulator preset, each seed's pooled) over the frames where the real detections found the person.

    Every sequence must be covered by the real detections file (``real_path``, default its usual place).
    """
    out: dict[str, dict[str, list[np.ndarray]]] = {}
    for sequence in sequences:
        real_keypoints, _ = real_detections(sequence, real_path)
        found = ~np.isnan(real_keypoints).any(axis=(1, 2))
        visible = sequence.visibility[found]
        runs = [real_keypoints] if preset == REAL else [detect(sequence, preset, seed)[0] for seed in seeds]
        parts = out.setdefault(sequence.subject, {name: [] for name in CLASSES})
        for keypoints in runs:
            errors = normalised_errors(keypoints[found], sequence.keypoints_2d[found], sequence.image_size)
            parts["visible"].append(errors[visible])
            parts["occluded"].append(errors[~visible])
    return {
        subject: {name: np.concatenate(arrays) if arrays else np.zeros(0) for name, arrays in parts.items()}
        for subject, parts in out.items()
    }


def pooled(errors: dict[str, dict[str, np.ndarray]], subjects: Iterable[str]) -> dict[str, np.ndarray]:
    """The errors of ``subjects`` together, per joint class (subjects absent from ``errors`` add nothing)."""
    subjects = [s for s in subjects if s in errors]
    return {
        name: np.concatenate([errors[s][name] for s in subjects]) if subjects else np.zeros(0) for name in CLASSES
    }
