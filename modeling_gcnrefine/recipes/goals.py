"""The project's goals for a refiner, each measured from an evaluation report and printed beside its
value, and the occlusion headroom (how much of the occluded-vs-clean gap a method closes).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..evaluation.filters import FILTERS
from ..evaluation.records import BACKBONE, CLEAN_PRESET, COMPACT, GCN, OCCLUDED_PRESET, _value


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
    """A goal of the project: ``measure(report, names)`` gives (value or None, detail); passes when
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
