"""The evaluation report: ``report.json`` (every number, the goals and the occlusion headroom),
``report.md`` (tables per preset and action) and the figures, written atomically.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..evaluation.records import (
    GT_FREE_METRICS,
    METRIC_LABELS,
    METRICS,
    _check_results,
    _methods,
    compare_methods,
    severity_level,
)
from ..utils.io import write_atomic
from .figures import _figure_by_count, _figure_severity, _has_figure
from .goals import _mean_metric, check_goals, occlusion_headroom

REPORT_FILES = ("report.md", "report.json", "mpjpe_by_occluded_count.png", "severity_sweep.png")

# Decimals of a metric in the tables: per-frame² values are a few mm, one decimal would hide changes.
_DIGITS = {"accel_error": 2, "jitter": 2}

_UNITS = {"accel_error": "mm/frame²", "jitter": "mm/frame²"}


def _label(metric: str) -> str:
    """Column header: the label, with its unit where it is not mm, and marked when it needs no ground truth."""
    label = METRIC_LABELS[metric]
    if metric in _UNITS:
        label += f" ({_UNITS[metric]})"
    return label + (" †" if metric in GT_FREE_METRICS else "")


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


def _markdown(report: Mapping, goals: list[dict]) -> str:
    presets = report["presets"]
    methods = _methods(presets)
    main = [p for p in presets if severity_level(p) is None]
    sweep = sorted((p for p in presets if severity_level(p) is not None), key=severity_level)
    out = ["# gcnrefine evaluation report", ""]
    out += [
        "MPJPE, P-MPJPE and MPJVE in mm (MPJVE per frame), acceleration error in mm/frame², "
        "root-relative poses; per action over all camera sequences, mean = unweighted mean over actions. "
        "Occluded/visible-joint views leave out the root (zero error by construction). Bone-length "
        "spread (mm), left/right asymmetry (mm) and jitter (mm/frame²) need no ground truth: they "
        "measure the predictions alone, as one could on a video (a real person's bones keep their "
        "length, and its left and right limbs are equally long).",
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
                *[_label(m) for m in METRICS],
                "MPJPE vs backbone",
                "Occluded joints vs backbone",
            ],
            [
                [
                    m,
                    *[_fmt(comparison[m][k], _DIGITS.get(k, 1)) for k in METRICS],
                    _pct(comparison[m]["mpjpe_change"]),
                    _pct(comparison[m]["mpjpe_occluded_change"]),
                ]
                for m in names
            ],
        )
        out += ["† needs no ground truth (measured on the predictions alone).", ""]
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
