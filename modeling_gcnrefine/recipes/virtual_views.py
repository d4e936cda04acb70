"""Out-of-fold lifter predictions of virtual camera views for a backbone folder
(``gcnrefine backbone --virtual-views N``): the refiner's training data from viewpoints no lifter saw.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ..data.blendmimic3d import load_blendmimic3d
from ..data.predictions import load_predictions
from ..data.real_detections import REAL
from ..data.virtual_cameras import (
    VirtualCameraSettings,
    action_filmings,
    load_settings,
    settings_path,
    virtual_sequences,
)
from .backbone import (
    _save,
    aligned_predictions,
    assign_folds,
    fold_lifters,
    lift_sequence,
    mpjpe_mm,
    prediction_path,
    saved_fold_by,
)


def write_virtual_predictions(
    source: Any,
    backbone_dir,
    settings: VirtualCameraSettings | None = None,
    presets: Sequence[str] = ("occluded", "visible_only"),
    seeds: Sequence[int] = (0,),
    limit: int | None = None,
) -> dict[str, float]:
    """Out-of-fold lifter predictions of virtual views of SS1/SS2 (``predictions/virtual_<preset>_seed<s>.npz``).

    Needs the fold lifters of ``gcnrefine backbone`` in ``backbone_dir`` (or, for a backbone run with a
    pretrained lifter, that lifter); returns MPJPE (mm) per file.
    Existing files written with other settings are refused rather than mixed.
    """



    if REAL in presets:
        raise ValueError(f"presets: the 'real' detections exist for filmed cameras only, not virtual views; got {presets!r}")
    settings = settings or VirtualCameraSettings()
    saved = load_settings(backbone_dir)
    if saved is not None and saved != settings:
        raise ValueError(
            f"settings: {settings_path(backbone_dir)} holds {saved}, got {settings}; "
            "remove the virtual_* files to write new ones"
        )
    lifters = fold_lifters(backbone_dir)
    dataset = load_blendmimic3d(source)
    filmings = action_filmings(dataset["train"], limit)
    if any(f.subject == "SS3" for f in filmings):
        raise ValueError("dataset: the train split holds SS3, the test subject; refusing to film it")
    folds = dict(zip([f.motion for f in filmings], assign_folds(filmings, saved_fold_by(backbone_dir))))
    sequences = virtual_sequences(filmings, settings)
    metrics = {}
    for preset in tqdm(presets, desc="virtual views"):
        for seed in seeds:
            path = prediction_path(Path(backbone_dir), "virtual", preset, seed)
            if path.exists():  # finished earlier (resumable): measure the saved file
                predictions = aligned_predictions(load_predictions(path), sequences, path.name)
            else:
                # Out of fold: the lifter trained on the other fold predicts each motion.
                predictions = [lift_sequence(lifters[1 - folds[s.motion]], s, preset, seed) for s in sequences]
                _save(path, sequences, predictions)
            metrics[f"{preset}_seed{seed}"] = mpjpe_mm(predictions, sequences)
    settings_path(backbone_dir).write_text(json.dumps(dataclasses.asdict(settings), indent=2))
    return metrics
