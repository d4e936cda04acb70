"""`gcnrefine evaluate`: the paper's table on BlendMimic3D SS3, side by side with classical filters.

Protocol: SS3 (the test subject), all 4 cameras, the backbone's fixed detection seeds. For each
detection preset found in the backbone folder (``occluded``, ``visible_only``, the severity sweep, ``real``)
and each method (backbone alone, + GCN, + compact GCN, + Savitzky-Golay / Gaussian / One-Euro filters
whose parameters are tuned on the validation motions of SS1 + SS2, never on SS3), the report gives
MPJPE, P-MPJPE and MPJVE per action and over actions, occluded- and visible-joint MPJPE and MPJPE by
number of occluded keypoints, the acceleration error, and beside them the figures that need no ground
truth (bone-length spread, left/right asymmetry, jitter; see :mod:`~modeling_gcnrefine.evaluation.records`). A user's
own SS3 prediction file (``positions_3d`` layout) can be evaluated too, as its own backbone.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ..data.blendmimic3d import load_blendmimic3d
from ..data.predictions import load_predictions
from ..data.sequences import camera_sequences, detect
from ..data.virtual_cameras import action_filmings, load_settings, virtual_sequences
from ..evaluation.filters import FILTERS, smooth_records, tune_filter
from ..evaluation.records import BACKBONE, COMPACT, GCN, SequenceRecord, evaluate_records
from ..modeling_gcnrefine import GCNRefineModel
from .backbone import aligned_predictions, prediction_path
from .goals import check_goals
from .refiner import validation_motions
from .report import write_report

_FILE = re.compile(r"^(train|test)_(.+)_seed(\d+)\.npz$")


def _prediction_files(backbone_dir: Path, split: str) -> dict[str, tuple[int, Path]]:
    """``{preset: (seed, path)}`` for the lowest seed of each preset of ``split``."""
    found: dict[str, tuple[int, Path]] = {}
    for path in sorted((backbone_dir / "predictions").glob(f"{split}_*.npz")):
        match = _FILE.match(path.name)
        if match:
            preset, seed = match.group(2), int(match.group(3))
            if preset not in found or seed < found[preset][0]:
                found[preset] = (seed, path)
    return found


def _records(sequences, predictions) -> list[SequenceRecord]:
    return [
        SequenceRecord(s.subject, s.action, s.camera, predicted, s.poses_3d, s.visibility)
        for s, predicted in zip(sequences, aligned_predictions(predictions, sequences))
    ]


def _refined(records: list[SequenceRecord], model, flip_test: bool, confidences=None) -> list[SequenceRecord]:
    """Records with refined predictions; ``confidences`` (one ``(T, 17)`` per record) feed a refiner
    with a confidence channel."""
    out = []
    for i, r in enumerate(records):
        confidence = confidences[i] if model.config.in_channels == 4 else None
        refined = model.refine(r.predicted, confidence=confidence, flip_test=flip_test)
        out.append(SequenceRecord(r.subject, r.action, r.camera, refined, r.target, r.visibility))
    return out


def _confidences(sequences, preset: str, seed: int, models) -> list[np.ndarray] | None:
    """The detector confidence behind a prediction file (detections are deterministic per seed)."""
    if not any(m.config.in_channels == 4 for m in models.values()):
        return None
    return [detect(s, preset, seed)[1] for s in sequences]


def measure_throughput(model, frames: int = 4000, flip_test: bool = False, repeats: int = 2) -> float:
    """Frames per second of ``model.refine`` on a synthetic ``frames``-long sequence (best of ``repeats``)."""
    rng = np.random.default_rng(0)
    poses = rng.normal(scale=0.2, size=(frames, 17, 3)).astype(np.float32)
    poses[..., 2] += 4.0
    model.refine(poses[:256], flip_test=flip_test)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        model.refine(poses, flip_test=flip_test)
        best = min(best, time.perf_counter() - start)
    return frames / best


def evaluate_blendmimic3d(
    backbone_dir: str | Path,
    refiner: str | Path | None,
    out_dir: str | Path,
    compact: str | Path | None = None,
    dataset_source: Any = None,
    user_predictions: str | Path | None = None,
    flip_test: bool = True,
    overwrite: bool = False,
    val_motions_per_subject: int = 2,
    limit: int | None = None,
) -> dict:
    """Evaluate on SS3 and write the report folder; returns the report dict (with ``goals``).

    ``limit`` keeps the first rows of each split only (small runs that match a limited backbone run).
    """


    backbone_dir, out_dir = Path(backbone_dir), Path(out_dir)
    dataset = load_blendmimic3d(dataset_source)
    test_sequences = camera_sequences(dataset["test"], limit)
    train_sequences = camera_sequences(dataset["train"], limit)
    models = {GCN: GCNRefineModel.from_pretrained(refiner)}
    if compact is not None:
        models[COMPACT] = GCNRefineModel.from_pretrained(compact)

    # Filter parameters: tuned on the refiner's validation motions (SS1 + SS2), occluded preset.
    held_out = validation_motions(train_sequences, val_motions_per_subject)
    val_sequences = [s for s in train_sequences if s.motion in held_out]
    train_files = _prediction_files(backbone_dir, "train")
    if "occluded" not in train_files:
        raise ValueError(f"backbone_dir: expected train_occluded_seed*.npz under {backbone_dir / 'predictions'}")
    val_records = _records(val_sequences, load_predictions(train_files["occluded"][1]))
    filter_params = {}
    for name in tqdm(FILTERS, desc="tuning filters on validation"):
        params, score = tune_filter(name, [r.predicted for r in val_records], [r.target for r in val_records])
        filter_params[name] = {"params": params, "validation_mpjpe_mm": score}

    presets: dict[str, dict] = {}
    test_files = _prediction_files(backbone_dir, "test")
    if not test_files:
        raise ValueError(f"backbone_dir: expected test_*.npz prediction files under {backbone_dir / 'predictions'}")
    sources = {preset: entry for preset, entry in test_files.items() if preset != "none"}
    if user_predictions is not None:
        sources["user_predictions"] = (None, Path(user_predictions))
    for preset, (seed, path) in tqdm(sorted(sources.items()), desc="evaluating presets"):
        records = _records(test_sequences, load_predictions(path))
        results = {BACKBONE: evaluate_records(records)}
        # A user's file comes without detector confidence: refiners that need it are left out there.
        usable = {n: m for n, m in models.items() if seed is not None or m.config.in_channels == 3}
        confidences = None if seed is None else _confidences(test_sequences, preset, seed, usable)
        for name, model in usable.items():
            results[name] = evaluate_records(_refined(records, model, flip_test, confidences))
        for name, entry in filter_params.items():
            results[name] = evaluate_records(smooth_records(records, name, entry["params"]))
        presets[preset] = results

    meta = {
        "backbone_dir": str(backbone_dir),
        "backbone_metrics": _read_json(backbone_dir / "backbone_metrics.json"),
        "refiner": str(refiner),
        "compact": None if compact is None else str(compact),
        "flip_test": flip_test,
        "detection_seeds": {preset: seed for preset, (seed, _) in test_files.items()},
        "filters": filter_params,
        "validation_motions": sorted(map(list, held_out)),
        "throughput": {name: measure_throughput(model) for name, model in models.items()},
        "parameters": {name: sum(p.numel() for p in m.parameters()) for name, m in models.items()},
        "torch_threads": torch.get_num_threads(),
    }
    report = {"presets": presets, "meta": meta}
    write_report(report, out_dir, overwrite=overwrite)
    report["goals"] = check_goals(report)
    return report


def _read_json(path: Path):
    return json.loads(path.read_text()) if path.exists() else None


def evaluate_validation(
    backbone_dir: str | Path,
    refiners: dict[str, str | Path],
    dataset_source: Any = None,
    presets: tuple[str, ...] = ("occluded", "visible_only"),
    val_motions_per_subject: int = 2,
    flip_test: bool = True,
) -> dict[str, dict[str, float]]:
    """MPJPE (mm, mean over actions) on the held-out SS1/SS2 motions, per preset and method.

    This is what model and variant selection may look at; SS3 is not read. When the backbone folder
    holds virtual-view predictions (``gcnrefine backbone --virtual-views``), the held-out motions' virtual
    views are reported too, as ``virtual/<preset>``: viewpoints no lifter was trained on.
    """

    backbone_dir = Path(backbone_dir)
    dataset = load_blendmimic3d(dataset_source)
    train_sequences = camera_sequences(dataset["train"])
    held_out = validation_motions(train_sequences, val_motions_per_subject)
    sequences = [s for s in train_sequences if s.motion in held_out]
    files = _prediction_files(backbone_dir, "train")
    jobs = [(preset, sequences, files[preset][1], files[preset][0]) for preset in presets]
    virtual = load_settings(backbone_dir)
    if virtual is not None:
        views = [v for v in virtual_sequences(action_filmings(dataset["train"]), virtual) if v.motion in held_out]
        for preset in presets:
            path = prediction_path(backbone_dir, "virtual", preset, 0)
            if path.exists():
                jobs.append((f"virtual/{preset}", views, path, 0))
    models = {name: GCNRefineModel.from_pretrained(path) for name, path in refiners.items()}
    out: dict[str, dict[str, float]] = {}
    for row, group, path, seed in jobs:
        records = _records(group, load_predictions(path))
        confidences = _confidences(group, row.removeprefix("virtual/"), seed, models)
        out[row] = {BACKBONE: evaluate_records(records)["mean"]["mpjpe"]}
        for name, model in models.items():
            out[row][name] = evaluate_records(_refined(records, model, flip_test, confidences))["mean"]["mpjpe"]
    return out
