"""The ``gcnrefine lift`` command group: the built-in temporal lifter on the command line.

Subcommands:
    convert   an official VideoPose3D checkpoint -> a ``save_pretrained`` folder
    train     train one lifter on BlendMimic3D SS1 + SS2 (an action fold or all), resumable
    run       lift every sequence of a split detections file (``gcnrefine detect --data``) to 3D

``train`` and ``run`` are thin wrappers over :mod:`modeling_gcnrefine.backbone` (the same training,
detections and seeds as ``gcnrefine backbone``), imported only when they run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..data.blendmimic3d import load_blendmimic3d
from ..data.detection_files import load_split_detections
from ..data.predictions import save_predictions
from ..data.sequences import camera_sequences
from ..lifting.modeling_lifter import TemporalLifterModel
from ..utils.hub import default_lifter_checkpoint
from ..utils.io import write_atomic
from .backbone import BackboneSettings, assign_folds, lift_sequence, mpjpe_mm, train_lifter

FOLD_CHOICES = ("0", "1", "all")


TRAIN_RECORD = "lift_train.json"


# The BackboneSettings fields that shape a lifter's training (recorded; a resumed run must match them).
_TRAINING_FIELDS = (
    "channels", "filter_widths", "dropout", "epochs", "samples_per_epoch", "batch_size", "chunk",
    "learning_rate", "lr_decay", "train_seeds", "limit", "seed",
)  # fmt: skip


def _jsonable(value):
    return json.loads(json.dumps(value))


def _train(args: argparse.Namespace) -> int:


    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit: expected a positive integer, got {args.limit}")
    settings = BackboneSettings(
        channels=args.channels,
        epochs=args.epochs,
        samples_per_epoch=args.samples_per_epoch,
        batch_size=args.batch_size,
        limit=args.limit,
        seed=args.seed,
    )
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out: {out} exists and is not a folder")
    record_path = out / TRAIN_RECORD
    training = {name: getattr(settings, name) for name in _TRAINING_FIELDS}
    wanted = _jsonable({"actions_fold": args.actions_fold, "settings": training})
    if record_path.is_file():
        # A resumed run must train the same lifter: refuse other settings rather than mix two runs.
        recorded = json.loads(record_path.read_text())
        before = {"actions_fold": recorded.get("actions_fold"), **(recorded.get("settings") or {})}
        now = {"actions_fold": wanted["actions_fold"], **wanted["settings"]}
        changed = {name: (before.get(name), value) for name, value in now.items() if before.get(name) != value}
        if changed:
            raise ValueError(
                f"--out: {out} holds a lifter trained with other settings (recorded, asked): {changed}; "
                "choose another folder"
            )

    def save_record(record: dict) -> None:
        def writer(temporary: str) -> None:
            Path(temporary).write_text(json.dumps(record, indent=2) + "\n")

        write_atomic(record_path, writer, overwrite=True)

    dataset = load_blendmimic3d(args.data)
    # Only the train split (SS1 + SS2): the test subject (SS3) never reaches a lifter.
    sequences = camera_sequences(dataset["train"], settings.limit)
    test_subjects = set(dataset["test"].unique("subject"))
    if any(s.subject in test_subjects for s in sequences):
        raise ValueError(f"data: the train split holds test subjects {sorted(test_subjects)}")
    if args.actions_fold == "all":
        train_part, held_out = sequences, []
    else:
        fold = int(args.actions_fold)
        folds = assign_folds(sequences)
        train_part = [s for s, f in zip(sequences, folds) if f == fold]
        held_out = [s for s, f in zip(sequences, folds) if f != fold]
    if not train_part:
        raise ValueError(
            f"--actions-fold {args.actions_fold}: no training sequences"
            + (f" in the first {settings.limit} rows; raise --limit" if settings.limit else "")
        )
    out.mkdir(parents=True, exist_ok=True)
    record = dict(wanted, data=None if args.data is None else str(args.data), train_sequences=len(train_part))
    record["held_out_sequences"] = len(held_out)
    if not record_path.is_file():
        save_record(record)
    print(f"training a lifter on {len(train_part)} sequences (actions fold {args.actions_fold}) in {out}")
    lifter = train_lifter(train_part, out, settings, eval_sequences=held_out)
    chosen = "best" if (out / "best" / "config.json").is_file() else "final"
    record["model"] = chosen
    print(f"lifter: {out / chosen}")
    if args.actions_fold != "all":
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
    return 0


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


def _lift(args: argparse.Namespace) -> int:


    output = Path(args.output)
    if output.exists() and not args.force:
        print(f"error: {output} exists; pass --force to overwrite it", file=sys.stderr)
        return 2
    meta, sequences = load_split_detections(args.detections)
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
    folder = resolve_lifter_folder(args.lifter)
    lifter = TemporalLifterModel.from_pretrained(folder)
    flip_test = not args.no_flip_test
    positions: dict[str, dict[str, list]] = {}
    for (subject, action, _camera), arrays in tqdm(sequences.items(), desc="lift", unit="seq"):
        width, height = (int(v) for v in arrays["image_size"])
        poses = lifter.lift(arrays["keypoints_2d"], image_size=(width, height), flip_test=flip_test)
        positions.setdefault(subject, {}).setdefault(action, []).append(np.asarray(poses, np.float32))
    save_predictions(output, positions, overwrite=args.force)
    print(
        f"wrote {output} ({len(sequences)} sequences, lifter {folder}, detections {meta['split']} "
        f"preset {meta['preset']} seed {meta['seed']}, flip test {'on' if flip_test else 'off'})"
    )
    return 0
