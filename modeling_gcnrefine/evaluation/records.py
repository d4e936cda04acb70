"""Evaluation records and their metrics: per-action tables, occlusion views, method comparison.

Everything here works on plain arrays, one camera sequence at a time (:class:`SequenceRecord`);
producing the predictions (lifter, refiner, detections) is the caller's job. The protocol:

- Poses are made root-relative (joint 0 subtracted on both sides) before any metric, so a global
  translation of the prediction never counts. MPJPE is the mean over all 17 joints (the root
  included, with its zero error) per frame, in millimetres.
- Per action: the mean over all frames of that action's camera sequences (every subject and camera
  with that action name, as in the Human3.6M protocol). Summary: the *unweighted* mean over actions.
- P-MPJPE: per-frame similarity Procrustes (:func:`metrics.p_mpjpe`). MPJVE: first differences
  within each sequence (never across sequences), in mm per frame. Acceleration error: the same for
  second differences (:func:`metrics.acceleration_error`), in mm per frame².
- Figures that need no ground truth (:mod:`.plausibility`), of the root-relative predictions, so a
  method can be judged as it would be on a video without ground truth: bone-length spread (mm, per
  sequence), left/right asymmetry (mm) and jitter (mm/frame²). Per action they are means over frames
  like the others (a sequence's bone-length spread counts once per frame of it); they are None for
  poses that are not Human3.6M-17.
- Occlusion views: MPJPE over the occluded joints only and over the visible joints only, with the
  per-frame convention of :mod:`metrics` (mean over the selected joints of a frame, then over the
  frames that have one). The root is left out of both views: root-relative, its error is zero by
  construction and would only dilute them. MPJPE grouped by the number of occluded keypoints in a
  frame (all 17 counted) is pooled over every frame (frame-weighted, not per action).

Values are JSON-native (``float``, ``int``, ``str``, ``None`` for "not measurable", string keys), so
an evaluation dict equals ``json.loads(json.dumps(it))``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..skeleton import H36M_PARENTS, H36M_ROOT
from ..utils.metrics import acceleration_error, mpjpe, mpjve, p_mpjpe
from .plausibility import bone_length_spread, jitter, left_right_asymmetry

MM = 1000.0  # poses are in metres, every reported value in millimetres


# Measured without the ground truth (of the predictions alone).
GT_FREE_METRICS = ("bone_spread", "asymmetry", "jitter")


METRICS = ("mpjpe", "p_mpjpe", "mpjve", "mpjpe_occluded", "mpjpe_visible", "accel_error", *GT_FREE_METRICS)


METRIC_LABELS = {
    "mpjpe": "MPJPE",
    "p_mpjpe": "P-MPJPE",
    "mpjve": "MPJVE",
    "mpjpe_occluded": "MPJPE occluded joints",
    "mpjpe_visible": "MPJPE visible joints",
    "accel_error": "Acceleration error",
    "bone_spread": "Bone-length spread",
    "asymmetry": "Left/right asymmetry",
    "jitter": "Jitter",
}


# Method names the goals and figures look for in a report.
BACKBONE = "backbone"


GCN = "gcn"


COMPACT = "gcn_compact"


OCCLUDED_PRESET = "occluded"


CLEAN_PRESET = "visible_only"


SEVERITY_PREFIX = "severity_"


@dataclass
class SequenceRecord:
    """One camera sequence: predictions, ground truth and visibility.

    ``predicted`` and ``target`` are ``(T, J, 3)`` in metres, camera frame, absolute or root-relative
    (made root-relative inside); ``visibility`` is ``(T, J)`` bool, True = visible (a 0/1 numeric
    array, as stored upstream, is accepted and converted).
    """

    subject: str
    action: str
    camera: int
    predicted: np.ndarray
    target: np.ndarray
    visibility: np.ndarray

    def __post_init__(self) -> None:
        for name in ("subject", "action"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ValueError(f"{name}: expected a non-empty string, got {getattr(self, name)!r}")
        if isinstance(self.camera, bool) or not isinstance(self.camera, int | np.integer):
            raise ValueError(f"camera: expected an int, got {self.camera!r}")
        self.camera = int(self.camera)
        self.predicted = _check_poses(self.predicted, "predicted")
        self.target = _check_poses(self.target, "target")
        if self.target.shape != self.predicted.shape:
            raise ValueError(
                f"target: expected the shape of predicted {self.predicted.shape}, got {self.target.shape}"
            )
        visibility = np.asarray(self.visibility)
        if visibility.shape != self.predicted.shape[:2]:
            raise ValueError(f"visibility: expected shape {self.predicted.shape[:2]}, got {visibility.shape}")
        if visibility.dtype != np.bool_:
            numeric = np.issubdtype(visibility.dtype, np.number)
            if not numeric or not np.isin(visibility, (0, 1)).all():
                raise ValueError(
                    f"visibility: expected a bool array (or 0/1 values), got dtype {visibility.dtype}"
                    + (f" with values {np.unique(visibility)[:5]}" if numeric else "")
                )
            visibility = visibility.astype(bool)
        self.visibility = visibility

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.subject, self.action, self.camera)


def _check_poses(poses, name: str) -> np.ndarray:
    """Validate a ``(T, J, 3)`` finite numeric pose array; returns it as float (dtype kept if float)."""
    array = np.asarray(poses)
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise ValueError(f"{name}: expected a numeric array, got dtype {array.dtype}")
    if array.ndim != 3 or array.shape[-1] != 3 or array.shape[0] < 1 or array.shape[1] < 1:
        raise ValueError(f"{name}: expected shape (T, J, 3) with T, J >= 1, got {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name}: expected finite values, got {int((~np.isfinite(array)).sum())} NaN/inf")
    if not np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.float64)
    return array


def root_relative(poses: np.ndarray, root: int = H36M_ROOT) -> np.ndarray:
    """Poses ``(..., J, 3)`` with the root joint subtracted (float64)."""
    poses = np.asarray(poses, dtype=np.float64)
    return poses - poses[..., root : root + 1, :]


def _value(x) -> float | None:
    """A finite float, or None for "not measurable" (JSON has no NaN)."""
    x = float(x)
    return x if math.isfinite(x) else None


def _mean(values: list[np.ndarray]) -> float | None:
    """Mean of the finite entries of concatenated per-frame values; None when there are none."""
    if not values:
        return None
    joined = np.concatenate(values)
    joined = joined[np.isfinite(joined)]
    return _value(joined.mean()) if joined.size else None


def evaluate_records(records: Sequence[SequenceRecord]) -> dict[str, Any]:
    """Score camera sequences by action, following the module's protocol (values in mm).

    Returns ``{"per_action": {action: row}, "mean": row, "by_occluded_count": {"k": {"mpjpe", "frames"}}}``
    where a row holds ``mpjpe``, ``p_mpjpe``, ``mpjve``, ``mpjpe_occluded``, ``mpjpe_visible``,
    ``accel_error`` (mm/frame²) and the ground-truth-free ``bone_spread``, ``asymmetry`` (mm) and
    ``jitter`` (mm/frame²) (each None if no frame qualifies), ``frames``, ``sequences`` and
    ``occluded_fraction`` (share of occluded joints).
    ``mean`` is the unweighted mean over actions of each metric (over actions where it is defined),
    with ``frames``/``sequences`` summed and ``actions`` counted.
    """
    if isinstance(records, SequenceRecord) or not isinstance(records, Sequence) or len(records) == 0:
        raise ValueError(f"records: expected a non-empty sequence of SequenceRecord, got {records!r:.80}")
    seen: set[tuple[str, str, int]] = set()
    per_action: dict[str, dict[str, list]] = {}
    by_count: dict[int, list[np.ndarray]] = {}
    for index, record in enumerate(records):
        if not isinstance(record, SequenceRecord):
            raise ValueError(f"records[{index}]: expected a SequenceRecord, got {type(record).__name__}")
        if record.key in seen:
            raise ValueError(f"records[{index}]: duplicate sequence (subject, action, camera) = {record.key}")
        seen.add(record.key)
        predicted, target = root_relative(record.predicted), root_relative(record.target)
        occluded = ~record.visibility
        scored = np.ones(occluded.shape[1], dtype=bool)
        scored[H36M_ROOT] = False  # zero error by construction once root-relative
        errors = mpjpe(predicted, target, reduction="none") * MM
        acc = per_action.setdefault(
            record.action,
            {m: [] for m in METRICS} | {"frames": 0, "sequences": 0, "occluded": 0, "joints": 0},
        )
        acc["mpjpe"].append(errors)
        acc["p_mpjpe"].append(p_mpjpe(predicted, target, reduction="none") * MM)
        if len(predicted) >= 2:  # velocities stay inside this sequence
            acc["mpjve"].append(mpjve(predicted, target, reduction="none") * MM)
        acc["mpjpe_occluded"].append(mpjpe(predicted, target, mask=occluded & scored, reduction="none") * MM)
        acc["mpjpe_visible"].append(mpjpe(predicted, target, mask=~occluded & scored, reduction="none") * MM)
        frames = len(predicted)
        if frames >= 3:  # accelerations stay inside this sequence too
            acc["accel_error"].append(acceleration_error(predicted, target, reduction="none") * MM)
        if predicted.shape[1] == len(H36M_PARENTS):
            # Sequence-level values repeated per frame they cover, so the action's mean is frame-weighted.
            acc["asymmetry"].append(np.full(frames, left_right_asymmetry(predicted)))
            if frames >= 2:
                acc["bone_spread"].append(np.full(frames, bone_length_spread(predicted)))
            if frames >= 3:
                acc["jitter"].append(np.full(frames - 2, jitter(predicted)))
        acc["frames"] += len(predicted)
        acc["sequences"] += 1
        acc["occluded"] += int(occluded.sum())
        acc["joints"] += occluded.size
        counts = occluded.sum(axis=1)
        for k in np.unique(counts):
            by_count.setdefault(int(k), []).append(errors[counts == k])

    rows: dict[str, dict[str, Any]] = {}
    for action, acc in per_action.items():
        rows[action] = {m: _mean(acc[m]) for m in METRICS} | {
            "frames": acc["frames"],
            "sequences": acc["sequences"],
            "occluded_fraction": acc["occluded"] / acc["joints"],
        }
    mean: dict[str, Any] = {}
    for m in METRICS:
        defined = [row[m] for row in rows.values() if row[m] is not None]
        mean[m] = _value(np.mean(defined)) if defined else None
    mean |= {
        "frames": sum(row["frames"] for row in rows.values()),
        "sequences": sum(row["sequences"] for row in rows.values()),
        "occluded_fraction": _value(
            sum(acc["occluded"] for acc in per_action.values())
            / sum(acc["joints"] for acc in per_action.values())
        ),
        "actions": len(rows),
    }
    grouped = {
        str(k): {"mpjpe": _mean(by_count[k]), "frames": int(sum(len(e) for e in by_count[k]))}
        for k in sorted(by_count)
    }
    return {"per_action": rows, "mean": mean, "by_occluded_count": grouped}


def compare_methods(results: Mapping[str, Mapping[str, Any]], baseline: str = BACKBONE) -> dict[str, dict]:
    """Mean metrics of each method and their relative change against ``baseline`` (when present).

    ``results[method]`` is an :func:`evaluate_records` output. Returns ``{method: {metric: mm,
    metric + "_change": fraction}}``; a change is ``value / baseline - 1`` (-0.3 = 30 % lower), None
    where either side is missing.
    """
    _check_results(results, "results")
    base = results[baseline]["mean"] if baseline in results else None
    table: dict[str, dict] = {}
    for method, result in results.items():
        row: dict[str, Any] = {}
        for m in METRICS:
            value = result["mean"].get(m)
            row[m] = value
            reference = None if base is None else base.get(m)
            row[f"{m}_change"] = (
                value / reference - 1.0 if value is not None and reference not in (None, 0.0) else None
            )
        table[method] = row
    return table


def _check_results(results, name: str) -> None:
    if not isinstance(results, Mapping) or not results:
        raise ValueError(
            f"{name}: expected a non-empty mapping method -> evaluate_records() output, got {results!r:.80}"
        )
    for method, result in results.items():
        if not isinstance(result, Mapping) or not {"per_action", "mean", "by_occluded_count"} <= set(result):
            raise ValueError(
                f"{name}[{method!r}]: expected an evaluate_records() output with per_action, mean and "
                f"by_occluded_count, got {type(result).__name__}"
            )


def severity_level(preset: str) -> float | None:
    """The level of a ``severity_<level>`` preset name, else None."""
    if not preset.startswith(SEVERITY_PREFIX):
        return None
    try:
        return float(preset[len(SEVERITY_PREFIX) :])
    except ValueError:
        return None


def _methods(presets: Mapping) -> list[str]:
    """All methods in first-seen order."""
    seen: dict[str, None] = {}
    for results in presets.values():
        seen.update(dict.fromkeys(results))
    return list(seen)
