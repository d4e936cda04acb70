"""Evaluation protocol: per-action metrics, occlusion views, classical filters, goals and the report.

Everything here works on plain arrays, one camera sequence at a time (:class:`SequenceRecord`);
producing the predictions (lifter, refiner, detections) is the caller's job. The protocol follows
MODEL.md (Evaluation):

- Poses are made root-relative (joint 0 subtracted on both sides) before any metric, so a global
  translation of the prediction never counts. MPJPE is the mean over all 17 joints (the root
  included, with its zero error) per frame, in millimetres.
- Per action: the mean over all frames of that action's camera sequences (every subject and camera
  with that action name, as in the Human3.6M protocol). Summary: the *unweighted* mean over actions.
- P-MPJPE: per-frame similarity Procrustes (:func:`metrics.p_mpjpe`). MPJVE: first differences
  within each sequence (never across sequences), in mm per frame.
- Occlusion views: MPJPE over the occluded joints only and over the visible joints only, with the
  per-frame convention of :mod:`metrics` (mean over the selected joints of a frame, then over the
  frames that have one). The root is left out of both views: root-relative, its error is zero by
  construction and would only dilute them. MPJPE grouped by the number of occluded keypoints in a
  frame (all 17 counted) is pooled over every frame (frame-weighted, not per action).

Values are JSON-native (``float``, ``int``, ``str``, ``None`` for "not measurable", string keys), so
an evaluation dict equals ``json.loads(json.dumps(it))``.

Classical baselines are the Savitzky-Golay (:func:`scipy.signal.savgol_filter`), Gaussian
(:func:`scipy.ndimage.gaussian_filter1d`) and One-Euro filters (Casiez, Roussel, Vogel, "1€ Filter:
A Simple Speed-based Low-pass Filter for Noisy Input in Interactive Systems", CHI 2012), each
applied per sequence and tuned with :func:`tune_filter` on validation sequences, never on SS3.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.signal import savgol_filter

from .io import write_atomic
from .metrics import mpjpe, mpjve, p_mpjpe
from .skeleton import H36M_ROOT

MM = 1000.0  # poses are in metres, every reported value in millimetres
METRICS = ("mpjpe", "p_mpjpe", "mpjve", "mpjpe_occluded", "mpjpe_visible")
METRIC_LABELS = {
    "mpjpe": "MPJPE",
    "p_mpjpe": "P-MPJPE",
    "mpjve": "MPJVE",
    "mpjpe_occluded": "MPJPE occluded joints",
    "mpjpe_visible": "MPJPE visible joints",
}

# Method names the goals and figures look for in a report.
BACKBONE = "backbone"
GCN = "gcn"
COMPACT = "gcn_compact"
OCCLUDED_PRESET = "occluded"
CLEAN_PRESET = "visible_only"
SEVERITY_PREFIX = "severity_"

REPORT_FILES = ("report.md", "report.json", "mpjpe_by_occluded_count.png", "severity_sweep.png")


# --------------------------------------------------------------------------------------------------
# Records and metrics


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
    where a row holds ``mpjpe``, ``p_mpjpe``, ``mpjve``, ``mpjpe_occluded``, ``mpjpe_visible`` (None if
    no frame qualifies), ``frames``, ``sequences`` and ``occluded_fraction`` (share of occluded joints).
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


# --------------------------------------------------------------------------------------------------
# Classical temporal filters, one sequence (T, J, 3) at a time


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
    ``fps`` is the frame rate; BlendMimic3D's is not stated in DATA.md, 50 is an assumption (a
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


# --------------------------------------------------------------------------------------------------
# Goals


def _mean_metric(report: Mapping, preset: str, method: str, metric: str) -> float | None:
    try:
        return report["presets"][preset][method]["mean"][metric]
    except (KeyError, TypeError):
        return None


def _reduction(report, preset: str, metric: str, names: Mapping[str, str]) -> tuple[float | None, str]:
    base = _mean_metric(report, preset, names["backbone"], metric)
    ours = _mean_metric(report, preset, names["gcn"], metric)
    if base is None or ours is None or base == 0:
        return None, f"needs {names['backbone']!r} and {names['gcn']!r} in preset {preset!r}"
    return 100.0 * (1.0 - ours / base), f"{names['backbone']} {base:.1f} mm -> {names['gcn']} {ours:.1f} mm"


def _measure_occluded_mpjpe(report, names):
    return _reduction(report, OCCLUDED_PRESET, "mpjpe", names)


def _measure_occluded_joints(report, names):
    return _reduction(report, OCCLUDED_PRESET, "mpjpe_occluded", names)


def _measure_do_no_harm(report, names):
    value, detail = _reduction(report, CLEAN_PRESET, "mpjpe", names)
    return (None if value is None else -value), detail


def best_filter(report: Mapping, preset: str = OCCLUDED_PRESET, filters: Sequence[str] = tuple(FILTERS)):
    """``(method, mean MPJPE)`` of the classical filter with the lowest MPJPE in ``preset``, or None."""
    scored = [(m, _mean_metric(report, preset, m, "mpjpe")) for m in filters]
    scored = [(m, v) for m, v in scored if v is not None]
    return min(scored, key=lambda item: item[1]) if scored else None


def _measure_best_filter(report, names):
    best = best_filter(report, OCCLUDED_PRESET, names["filters"])
    ours = _mean_metric(report, OCCLUDED_PRESET, names["gcn"], "mpjpe")
    if best is None or ours is None or best[1] == 0:
        return (
            None,
            f"needs {names['gcn']!r} and one of {list(names['filters'])} in preset {OCCLUDED_PRESET!r}",
        )
    return 100.0 * (
        1.0 - ours / best[1]
    ), f"best filter {best[0]} {best[1]:.1f} mm -> {names['gcn']} {ours:.1f} mm"


def _measure_compact_speedup(report, names):
    throughput = (report.get("meta") or {}).get("throughput") or {}
    paper, compact = throughput.get(names["gcn"]), throughput.get(names["compact"])
    if not paper or compact is None:
        return None, f"needs meta.throughput[{names['gcn']!r}] and [{names['compact']!r}] (frames/s)"
    return compact / paper, f"{names['compact']} {compact:.0f} vs {names['gcn']} {paper:.0f} frames/s"


def _measure_compact_gap(report, names):
    paper = _mean_metric(report, OCCLUDED_PRESET, names["gcn"], "mpjpe")
    compact = _mean_metric(report, OCCLUDED_PRESET, names["compact"], "mpjpe")
    if paper is None or compact is None:
        return None, f"needs {names['gcn']!r} and {names['compact']!r} in preset {OCCLUDED_PRESET!r}"
    return compact - paper, f"{names['compact']} {compact:.1f} mm vs {names['gcn']} {paper:.1f} mm"


@dataclass(frozen=True)
class Goal:
    """A target from issue 5: ``measure(report, names)`` gives (value or None, detail); passes when
    the value is at least (``higher_is_better``) or at most the threshold."""

    name: str
    description: str
    threshold: float
    higher_is_better: bool
    unit: str
    measure: Callable[[Mapping, Mapping[str, Any]], tuple[float | None, str]]

    @property
    def target(self) -> str:
        return f"{'>=' if self.higher_is_better else '<='} {self.threshold:g}{self.unit}"


GOALS: list[Goal] = [
    Goal(
        "occluded_mpjpe_reduction",
        "Occluded SS3: GCN cuts the backbone's MPJPE (paper: 36 % for VideoPose3D)",
        30.0,
        True,
        " %",
        _measure_occluded_mpjpe,
    ),
    Goal(
        "occluded_joint_mpjpe_reduction",
        "Occluded SS3: GCN cuts the backbone's occluded-joint MPJPE",
        35.0,
        True,
        " %",
        _measure_occluded_joints,
    ),
    Goal(
        "clean_input_do_no_harm",
        "Clean input (visible_only): MPJPE change after refinement",
        1.0,
        False,
        " %",
        _measure_do_no_harm,
    ),
    Goal(
        "beats_best_filter",
        "Occluded SS3: GCN MPJPE below the best classical filter's",
        20.0,
        True,
        " %",
        _measure_best_filter,
    ),
    Goal(
        "compact_speedup",
        "Compact configuration: throughput relative to the paper-size model",
        5.0,
        True,
        "x",
        _measure_compact_speedup,
    ),
    Goal(
        "compact_mpjpe_gap",
        "Compact configuration: occluded SS3 MPJPE above the paper-size model's",
        2.0,
        False,
        " mm",
        _measure_compact_gap,
    ),
]

_TOLERANCE = 1e-9  # a goal met exactly must not fail on rounding (1 - 0.7 != 0.3 in floats)


def check_goals(
    report: Mapping,
    backbone: str = BACKBONE,
    gcn: str = GCN,
    compact: str = COMPACT,
    filters: Sequence[str] = tuple(FILTERS),
    goals: Sequence[Goal] = tuple(GOALS),
) -> list[dict]:
    """Measure every goal on ``report``; ``passed`` is None where the report lacks what it needs.

    Reductions are in percent of the backbone's (or best filter's) value; the do-no-harm value is the
    percent change of MPJPE (positive = worse); throughput comes from ``report["meta"]["throughput"]``
    (``{method: frames per second}``).
    """
    if not isinstance(report, Mapping) or not isinstance(report.get("presets"), Mapping):
        raise ValueError(f"report: expected a mapping with a 'presets' mapping, got {report!r:.80}")
    names = {"backbone": backbone, "gcn": gcn, "compact": compact, "filters": tuple(filters)}
    rows = []
    for goal in goals:
        measured, detail = goal.measure(report, names)
        if measured is None:
            passed = None
        elif goal.higher_is_better:
            passed = bool(measured >= goal.threshold - _TOLERANCE)
        else:
            passed = bool(measured <= goal.threshold + _TOLERANCE)
        rows.append(
            {
                "name": goal.name,
                "description": goal.description,
                "target": goal.target,
                "measured": None if measured is None else _value(measured),
                "unit": goal.unit.strip(),
                "passed": passed,
                "detail": detail,
            }
        )
    return rows


def occlusion_headroom(report: Mapping, backbone: str = BACKBONE) -> dict[str, Any] | None:
    """How much of the backbone's error occlusion adds, and how much of that each method removes.

    The ``occluded`` and ``visible_only`` presets detect the same frames, so their backbone MPJPE
    differs only by what the occlusion errors of the detections cost. Removing all of it would cut
    MPJPE by ``bound_pct``; a larger cut also needs errors the backbone makes on clean input fixed.
    Per method (``occluded`` preset), ``removed_pct`` is the share of that added error it removes (it
    exceeds 100 when a method also fixes errors occlusion did not cause), and ``gap_closed_pct`` how much
    of the occluded-vs-clean gap is gone after applying the method to both presets: what it fixes of
    occlusion in particular, beyond what it does to clean input. None when a preset is missing.
    """
    if not isinstance(report, Mapping) or not isinstance(report.get("presets"), Mapping):
        raise ValueError(f"report: expected a mapping with a 'presets' mapping, got {report!r:.80}")
    out: dict[str, Any] = {}
    for metric in ("mpjpe", "mpjpe_occluded"):
        occluded = _mean_metric(report, OCCLUDED_PRESET, backbone, metric)
        clean = _mean_metric(report, CLEAN_PRESET, backbone, metric)
        if occluded is None or clean is None or occluded <= 0:
            return None
        added = occluded - clean
        methods = {}
        for method in report["presets"][OCCLUDED_PRESET]:
            value = _mean_metric(report, OCCLUDED_PRESET, method, metric)
            if method != backbone and value is not None and added > 0:
                methods[method] = {"value": value, "removed_pct": 100.0 * (occluded - value) / added}
                on_clean = _mean_metric(report, CLEAN_PRESET, method, metric)
                if on_clean is not None:
                    methods[method]["gap_closed_pct"] = 100.0 * (1.0 - (value - on_clean) / added)
        out[metric] = {
            "backbone_occluded": occluded,
            "backbone_clean": clean,
            "added_by_occlusion": added,
            "bound_pct": 100.0 * added / occluded,
            "methods": methods,
        }
    return out


def _headroom_markdown(headroom: Mapping[str, Any]) -> list[str]:
    out = ["## Occlusion headroom", ""]
    out += [
        "The `occluded` and `visible_only` presets detect the same SS3 frames; the backbone's MPJPE "
        "difference between them is the error the occlusion errors of the detections add. A refiner "
        "that removed all of it, and nothing else, would cut MPJPE by the bound below; cuts beyond it "
        "need errors the backbone also makes on clean detections fixed.",
        "",
    ]
    labels = {"mpjpe": "all joints", "mpjpe_occluded": "occluded joints"}
    out += _table(
        ["Joints", "Backbone, occluded", "Backbone, clean", "Added by occlusion", "Bound on the cut"],
        [
            [
                labels[metric],
                _fmt(row["backbone_occluded"]),
                _fmt(row["backbone_clean"]),
                _fmt(row["added_by_occlusion"]),
                f"{row['bound_pct']:.1f} %",
            ]
            for metric, row in headroom.items()
        ],
    )
    methods = list(headroom["mpjpe"]["methods"])
    if methods:
        out += [
            "Share of the added error each method removes on `occluded` input, and share of the "
            "occluded-vs-clean gap closed when the method is applied to both presets (what it fixes of "
            "occlusion in particular):",
            "",
        ]

        def cell(row, method, key):
            value = row["methods"].get(method, {}).get(key)
            return "–" if value is None else f"{value:.0f} %"

        out += _table(
            ["Joints", "Share", *methods],
            [
                [labels[metric], label, *[cell(row, m, key) for m in methods]]
                for metric, row in headroom.items()
                for key, label in (("removed_pct", "of the added error removed"), ("gap_closed_pct", "of the gap closed"))
            ],
            text_columns=2,
        )
    return out


# --------------------------------------------------------------------------------------------------
# Report


def _jsonable(value):
    """Plain JSON types: numpy scalars/arrays unpacked, NaN/inf -> None, keys as strings."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if value is None or isinstance(value, bool | int | str):
        return value
    raise ValueError(f"report: cannot write {type(value).__name__} value {value!r:.60} to JSON")


def _fmt(value, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _pct(change) -> str:
    return "–" if change is None else f"{100.0 * change:+.1f} %"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], text_columns: int = 1) -> list[str]:
    """A Markdown table; the first ``text_columns`` columns left-aligned, the numbers right-aligned."""
    align = ["---" if i < text_columns else "---:" for i in range(len(headers))]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


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


def _markdown(report: Mapping, goals: list[dict]) -> str:
    presets = report["presets"]
    methods = _methods(presets)
    main = [p for p in presets if severity_level(p) is None]
    sweep = sorted((p for p in presets if severity_level(p) is not None), key=severity_level)
    out = ["# gcnrefine evaluation report", ""]
    out += [
        "MPJPE, P-MPJPE and MPJVE in mm (MPJVE per frame), root-relative poses; per action over all "
        "camera sequences, mean = unweighted mean over actions. Occluded/visible-joint views leave "
        "out the root (zero error by construction).",
        "",
    ]
    meta = report.get("meta") or {}
    if meta:
        out += ["## Setup", "", "```json", json.dumps(_jsonable(meta), indent=2), "```", ""]

    out += ["## Goals", ""]
    result_text = {True: "PASS", False: "FAIL", None: "n/a"}
    out += _table(
        ["Goal", "Result", "Target", "Measured", "Detail"],
        [
            [
                g["description"],
                f"**{result_text[g['passed']]}**",
                g["target"],
                "–" if g["measured"] is None else f"{g['measured']:.1f} {g['unit']}".strip(),
                g["detail"],
            ]
            for g in goals
        ],
        text_columns=5,
    )

    headroom = occlusion_headroom(report)
    if headroom is not None:
        out += _headroom_markdown(headroom)

    out += ["## Summary: MPJPE (mean over actions) by preset", ""]
    out += _table(
        ["Preset", *methods],
        [[p, *[_fmt(_mean_metric(report, p, m, "mpjpe")) for m in methods]] for p in [*main, *sweep]],
    )

    for preset in main:
        results = presets[preset]
        comparison = compare_methods(results)
        names = list(results)
        out += [f"## Preset `{preset}`", ""]
        out += ["### Means and occlusion views", ""]
        out += _table(
            [
                "Method",
                *[METRIC_LABELS[m] for m in METRICS],
                "MPJPE vs backbone",
                "Occluded joints vs backbone",
            ],
            [
                [
                    m,
                    *[_fmt(comparison[m][k]) for k in METRICS],
                    _pct(comparison[m]["mpjpe_change"]),
                    _pct(comparison[m]["mpjpe_occluded_change"]),
                ]
                for m in names
            ],
        )
        actions = list(next(iter(results.values()))["per_action"])
        for metric in ("mpjpe", "p_mpjpe", "mpjve"):
            out += [f"### {METRIC_LABELS[metric]} per action", ""]
            rows = []
            for action in actions:
                first = results[names[0]]["per_action"].get(action, {})
                rows.append(
                    [
                        action,
                        str(first.get("frames", "–")),
                        _fmt(first.get("occluded_fraction"), 3),
                        *[_fmt(results[m]["per_action"].get(action, {}).get(metric)) for m in names],
                    ]
                )
            rows.append(
                [
                    "**Mean**",
                    str(results[names[0]]["mean"]["frames"]),
                    "",
                    *[f"**{_fmt(results[m]['mean'][metric])}**" for m in names],
                ]
            )
            out += _table(["Action", "Frames", "Occluded share", *names], rows)
        counts = sorted({int(k) for m in names for k in results[m]["by_occluded_count"]})
        out += ["### MPJPE by number of occluded keypoints per frame", ""]
        rows = []
        for k in counts:
            cells = [results[m]["by_occluded_count"].get(str(k), {}) for m in names]
            frames = next((c["frames"] for c in cells if c), 0)
            rows.append([str(k), str(frames), *[_fmt(c.get("mpjpe")) for c in cells]])
        out += _table(["Occluded keypoints", "Frames", *names], rows)

    if sweep:
        out += ["## Severity sweep (occluded-keypoint noise, fraction of image size)", ""]
        for metric in ("mpjpe", "mpjpe_occluded"):
            out += [f"### {METRIC_LABELS[metric]}", ""]
            out += _table(
                ["Level", *methods],
                [
                    [f"{severity_level(p):g}", *[_fmt(_mean_metric(report, p, m, metric)) for m in methods]]
                    for p in sweep
                ],
            )
    figures = [name for name in REPORT_FILES if name.endswith(".png")]
    out += ["## Figures", ""] + [f"![{name}]({name})" for name in figures if _has_figure(report, name)] + [""]
    return "\n".join(out)


def _has_figure(report: Mapping, name: str) -> bool:
    presets = report["presets"]
    if name == "severity_sweep.png":
        return any(severity_level(p) is not None for p in presets)
    return _count_preset(report) is not None


def _count_preset(report: Mapping) -> str | None:
    """The preset whose by-occluded-count chart is drawn: ``occluded`` if present, else the first."""
    presets = report["presets"]
    if OCCLUDED_PRESET in presets:
        return OCCLUDED_PRESET
    main = [p for p in presets if severity_level(p) is None]
    return main[0] if main else None


def _bar_methods(report: Mapping, preset: str) -> list[str]:
    """Backbone, GCN and the best classical filter when present; otherwise every method."""
    results = report["presets"][preset]
    chosen = [m for m in (BACKBONE, GCN) if m in results]
    best = best_filter(report, preset)
    if best is not None:
        chosen.append(best[0])
    return chosen if chosen else list(results)


def _figure_class():
    """matplotlib's Figure, imported on first use (an optional dependency, only the figures need it).

    The object-oriented API renders with Agg and leaves pyplot's global backend alone.
    """
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError("write_report needs matplotlib for its figures: pip install matplotlib") from error
    return Figure


def _figure_by_count(report: Mapping, path: str) -> None:
    Figure = _figure_class()

    preset = _count_preset(report)
    results = report["presets"][preset]
    methods = _bar_methods(report, preset)
    counts = sorted({int(k) for m in methods for k in results[m]["by_occluded_count"]})
    width = 0.8 / len(methods)
    figure = Figure(figsize=(max(6.0, 0.6 * len(counts) + 2), 4.0), layout="constrained")
    axes = figure.add_subplot()
    x = np.arange(len(counts))
    frames = {}
    best = best_filter(report, preset)
    for i, method in enumerate(methods):
        groups = results[method]["by_occluded_count"]
        values = [groups.get(str(k), {}).get("mpjpe") for k in counts]
        frames.update({k: groups[str(k)]["frames"] for k in counts if str(k) in groups})
        heights = [np.nan if v is None else v for v in values]
        label = f"{method} (best filter)" if best is not None and method == best[0] else method
        axes.bar(x + (i - (len(methods) - 1) / 2) * width, heights, width, label=label)
    axes.set_xticks(x, [f"{k}\n({frames.get(k, 0)})" for k in counts], fontsize=8)
    axes.set_xlabel("occluded keypoints per frame (frames)")
    axes.set_ylabel("MPJPE (mm)")
    axes.set_title(f"MPJPE by number of occluded keypoints, preset '{preset}'")
    axes.set_ylim(top=axes.get_ylim()[1] * 1.15)  # headroom so the legend never hides a bar
    axes.legend(loc="upper center", ncols=len(methods), fontsize=8)
    axes.grid(axis="y", alpha=0.3)
    figure.savefig(path, format="png", dpi=120)


def _figure_severity(report: Mapping, path: str) -> None:
    Figure = _figure_class()

    presets = report["presets"]
    sweep = sorted((p for p in presets if severity_level(p) is not None), key=severity_level)
    figure = Figure(figsize=(6.0, 4.0), layout="constrained")
    axes = figure.add_subplot()
    # Levels span 0 to 0.05 unevenly (0, 0.001, ...): even spacing keeps the small ones readable.
    x = np.arange(len(sweep))
    for method in _methods({p: presets[p] for p in sweep}):
        values = [_mean_metric(report, p, method, "mpjpe") for p in sweep]
        axes.plot(x, [np.nan if v is None else v for v in values], marker="o", label=method)
    axes.set_xticks(x, [f"{severity_level(p):g}" for p in sweep])
    axes.set_xlabel("occluded-keypoint noise sigma (fraction of image size)")
    axes.set_ylabel("MPJPE (mm)")
    axes.set_title("Severity sweep")
    axes.legend()
    axes.grid(alpha=0.3)
    figure.savefig(path, format="png", dpi=120)


def _check_report(report) -> None:
    if (
        not isinstance(report, Mapping)
        or not isinstance(report.get("presets"), Mapping)
        or not report["presets"]
    ):
        raise ValueError(
            "report: expected {'presets': {preset: {method: evaluation}}, 'meta': ...}, "
            f"got {report!r:.80}"
        )
    for preset, results in report["presets"].items():
        _check_results(results, f"report['presets'][{preset!r}]")
    if "meta" in report and not isinstance(report["meta"], Mapping | None):
        raise ValueError(f"report['meta']: expected a mapping, got {type(report['meta']).__name__}")


def write_report(report: Mapping, out_dir: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write ``report.md``, ``report.json`` and the figures into ``out_dir``; returns ``out_dir``.

    ``report = {"presets": {preset: {method: evaluate_records() output}}, "meta": {...}}`` with
    presets such as ``occluded``, ``visible_only`` and ``severity_<level>``; methods such as
    ``backbone``, ``gcn``, ``gcn_compact``, ``savgol``, ``gaussian``, ``one_euro``. ``meta`` is free-form
    (backbone, checkpoint, seeds, filter parameters, ``throughput = {method: frames/s}``). The goals
    (:func:`check_goals`) are added to the JSON. Each file is written atomically; a non-empty
    ``out_dir`` is refused (FileExistsError) unless ``overwrite``. The severity figure is only drawn
    when there are ``severity_*`` presets.
    """
    _check_report(report)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"out_dir: expected a directory, got the file {str(out_dir)!r}")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
        raise FileExistsError(f"{out_dir} is not empty; pass overwrite=True (CLI: --force) to write into it")
    _figure_class()  # fail before writing anything when matplotlib is missing
    goals = check_goals(report)
    document = _jsonable({**report, "goals": goals, "occlusion_headroom": occlusion_headroom(report)})
    text = json.dumps(document, indent=2, allow_nan=False) + "\n"
    markdown = _markdown(report, goals)

    def write_text(content: str) -> Callable[[str], None]:
        def writer(temp: str) -> None:
            Path(temp).write_text(content, encoding="utf-8")

        return writer

    out_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(out_dir / "report.json", write_text(text), overwrite=overwrite)
    if _has_figure(report, "mpjpe_by_occluded_count.png"):
        write_atomic(
            out_dir / "mpjpe_by_occluded_count.png",
            lambda p: _figure_by_count(report, p),
            overwrite=overwrite,
        )
    if _has_figure(report, "severity_sweep.png"):
        write_atomic(
            out_dir / "severity_sweep.png", lambda p: _figure_severity(report, p), overwrite=overwrite
        )
    write_atomic(out_dir / "report.md", write_text(markdown), overwrite=overwrite)
    return out_dir
