"""The report's figures (matplotlib, Agg, object-oriented API so pyplot's global backend is untouched):
MPJPE by number of occluded keypoints, and MPJPE along the detection-noise severity sweep.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure

from ..evaluation.records import BACKBONE, GCN, OCCLUDED_PRESET, _methods, severity_level
from .goals import _mean_metric, best_filter


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


def _figure_by_count(report: Mapping, path: str) -> None:

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
