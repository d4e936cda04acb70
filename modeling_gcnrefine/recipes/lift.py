"""The built-in temporal lifter one step at a time (``gcnrefine lift train`` / ``lift run``).

:func:`train_lifter_folder` trains one lifter on BlendMimic3D SS1 + SS2 (an action fold or all),
resumably; :func:`lift_detections_file` lifts every sequence of a split detections file
(``gcnrefine detect --data``) to 3D. Both use :mod:`.backbone`'s training, detections and seeds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ..data.blendmimic3d import load_blendmimic3d
from ..data.detection_files import load_split_detections
from ..data.predictions import save_predictions
from ..data.sequences import camera_sequences
from ..lifting.modeling_lifter import TemporalLifterModel
from ..utils.hub import default_lifter_checkpoint
from ..utils.io import write_atomic
from ..utils.missing import interpolate_missing
from .backbone import BackboneSettings, assign_folds, lift_sequence, mpjpe_mm, train_lifter

FOLD_CHOICES = ("0", "1", "all")


TRAIN_RECORD = "lift_train.json"


# The BackboneSettings fields that shape a lifter's training (recorded; a resumed run must match them).
TRAINING_FIELDS = (
    "channels", "filter_widths", "dropout", "epochs", "samples_per_epoch", "batch_size", "chunk",
    "learning_rate", "lr_decay", "train_seeds", "limit", "seed",
)  # fmt: skip


def _jsonable(value):
    return json.loads(json.dumps(value))


def train_lifter_folder(
    dataset_source: Any, out: str | Path, settings: BackboneSettings, actions_fold: str = "all"
) -> dict:
    """Train one lifter into ``out`` on the train split (SS1 + SS2): on action fold ``"0"`` or ``"1"``
    (the other fold selects ``best/`` and its ground-truth-2D MPJPE is recorded) or on ``"all"`` of it.

    Resumable: a finished run is loaded, an unfinished one resumed; a run recorded with other settings
    is refused. Returns the record also written to ``out/lift_train.json``.
    """
    if actions_fold not in FOLD_CHOICES:
        raise ValueError(f"actions_fold: expected one of {', '.join(FOLD_CHOICES)}, got {actions_fold!r}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out: {out} exists and is not a folder")
    record_path = out / TRAIN_RECORD
    training = {name: getattr(settings, name) for name in TRAINING_FIELDS}
    wanted = _jsonable({"actions_fold": actions_fold, "settings": training})
    if record_path.is_file():
        # A resumed run must train the same lifter: refuse other settings rather than mix two runs.
        recorded = json.loads(record_path.read_text())
        before = {"actions_fold": recorded.get("actions_fold"), **(recorded.get("settings") or {})}
        now = {"actions_fold": wanted["actions_fold"], **wanted["settings"]}
        changed = {name: (before.get(name), value) for name, value in now.items() if before.get(name) != value}
        if changed:
            raise ValueError(
                f"out: {out} holds a lifter trained with other settings (recorded, asked): {changed}; "
                "choose another folder"
            )

    def save_record(record: dict) -> None:
        def writer(temporary: str) -> None:
            Path(temporary).write_text(json.dumps(record, indent=2) + "\n")

        write_atomic(record_path, writer, overwrite=True)

    dataset = load_blendmimic3d(dataset_source)
    # Only the train split (SS1 + SS2): the test subject (SS3) never reaches a lifter.
    sequences = camera_sequences(dataset["train"], settings.limit)
    test_subjects = set(dataset["test"].unique("subject"))
    if any(s.subject in test_subjects for s in sequences):
        raise ValueError(f"data: the train split holds test subjects {sorted(test_subjects)}")
    if actions_fold == "all":
        train_part, held_out = sequences, []
    else:
        fold = int(actions_fold)
        folds = assign_folds(sequences, settings.fold_by)
        train_part = [s for s, f in zip(sequences, folds) if f == fold]
        held_out = [s for s, f in zip(sequences, folds) if f != fold]
    if not train_part:
        raise ValueError(
            f"--actions-fold {actions_fold}: no training sequences"
            + (f" in the first {settings.limit} rows; raise --limit" if settings.limit else "")
        )
    out.mkdir(parents=True, exist_ok=True)
    record = dict(wanted, data=None if dataset_source is None else str(dataset_source), train_sequences=len(train_part))
    record["held_out_sequences"] = len(held_out)
    if not record_path.is_file():
        save_record(record)
    print(f"training a lifter on {len(train_part)} sequences (actions fold {actions_fold}) in {out}")
    lifter = train_lifter(train_part, out, settings, eval_sequences=held_out)
    chosen = "best" if (out / "best" / "config.json").is_file() else "final"
    record["model"] = chosen
    print(f"lifter: {out / chosen}")
    if actions_fold != "all":
        if held_out:
            predictions = [
                lift_sequence(lifter, s, "none", 0)
                for s in tqdm(held_out, desc="held-out MPJPE", unit="seq")
            ]
            record["held_out_gt2d_mpjpe_mm"] = mpjpe_mm(predictions, held_out)
            print(
                f"held-out MPJPE (ground-truth 2D, flip test, {len(held_out)} sequences of the other fold): "
                f"{record['held_out_gt2d_mpjpe_mm']:.1f} mm"
            )
        else:
            print("held-out MPJPE: the other fold has no sequences in this subset (raise --limit)")
    save_record(record)
    return record


def resolve_lifter_folder(path: str | Path | None) -> Path:
    """A ``save_pretrained`` lifter folder from ``path``: the folder itself, else its ``best/`` then
    ``final/`` (a ``lift train`` output); None = the shipped lifter."""
    if path is None:

        return default_lifter_checkpoint()
    path = Path(path)
    for candidate in (path, path / "best", path / "final"):
        if (candidate / "config.json").is_file():
            return candidate
    raise ValueError(f"--lifter: no config.json in {path}, {path / 'best'} or {path / 'final'}")


def lift_detections_file(
    detections: str | Path,
    output: str | Path,
    lifter: str | Path | None = None,
    flip_test: bool = True,
    overwrite: bool = False,
) -> Path:
    """Lift every sequence of a split detections file (``gcnrefine detect --data``) with ``lifter``
    (:func:`resolve_lifter_folder`) and write a ``positions_3d`` predictions file, atomically."""
    output = Path(output)
    if output.exists() and not overwrite:
        raise FileExistsError(f"{output} exists; pass --force to overwrite it")
    meta, sequences = load_split_detections(detections)
    # The predictions file's camera index is the list position: every action needs cameras 0..n-1.
    by_action: dict[tuple[str, str], list[int]] = {}
    for subject, action, camera in sequences:
        by_action.setdefault((subject, action), []).append(camera)
    for (subject, action), cameras in by_action.items():
        if sorted(cameras) != list(range(len(cameras))):
            raise ValueError(
                f"--detections: {subject}/{action} has cameras {sorted(cameras)}; a predictions file needs "
                f"cameras 0..{len(cameras) - 1}"
            )
    folder = resolve_lifter_folder(lifter)
    model = TemporalLifterModel.from_pretrained(folder)
    positions: dict[str, dict[str, list]] = {}
    for (subject, action, _camera), arrays in tqdm(sequences.items(), desc="lift", unit="seq"):
        width, height = (int(v) for v in arrays["image_size"])
        keypoints = arrays["keypoints_2d"]
        if np.isnan(keypoints).any():  # real detections: frames without a person (see lift_sequence)
            keypoints = interpolate_missing(keypoints).astype(np.float32)
        poses = model.lift(keypoints, image_size=(width, height), flip_test=flip_test)
        positions.setdefault(subject, {}).setdefault(action, []).append(np.asarray(poses, np.float32))
    save_predictions(output, positions, overwrite=overwrite)
    print(
        f"wrote {output} ({len(sequences)} sequences, lifter {folder}, detections {meta['split']} "
        f"preset {meta['preset']} seed {meta['seed']}, flip test {'on' if flip_test else 'off'})"
    )
    return output
