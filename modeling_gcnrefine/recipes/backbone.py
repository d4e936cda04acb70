"""Backbone predictions on BlendMimic3D: simulated detections -> built-in lifter -> 3D poses.

The refiner learns from, and is judged on, a lifter's 3D poses computed from 2D detections that go
wrong where joints are hidden. This module produces them honestly:

- lifters are trained on SS1 + SS2 with the occlusion-naive ``visible_only`` detections (like the
  published lifters, trained on clean Human3.6M detections, they never see occlusion errors);
- predictions for SS1/SS2 sequences come from out-of-fold lifters (actions split in two folds; the
  lifter trained on one fold predicts the other), never from a lifter that saw the sequence; with
  ``fold_by="subject"`` the folds are the subjects, so each prediction comes from a lifter that never
  saw that subject, its scene or its cameras, as the test subject's do;
- predictions for SS3 (the test subject) come from a lifter trained on all of SS1 + SS2.

With ``BackboneSettings.pretrained_lifter`` (the paper's protocol) no lifter is trained: one lifter
trained elsewhere, e.g. VideoPose3D on Human3.6M converted by ``gcnrefine lift convert``, predicts every
sequence. It never saw BlendMimic3D, so its SS1/SS2 predictions are as unseen as out-of-fold ones, and
the refiner learns to correct its errors across the domain gap, as in the paper.

``run_backbone`` does it all, resumably (each lifter run resumes; finished prediction files are kept).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ..data.augmentation import random_flip_and_rotate
from ..data.blendmimic3d import load_blendmimic3d
from ..data.predictions import load_predictions, save_predictions
from ..data.real_detections import REAL, check_coverage, covered_sequences
from ..data.sequences import CameraSequence, camera_sequences, detect, detection_presets, root_relative
from ..data.virtual_cameras import VirtualCameraSettings, action_filmings, virtual_sequences
from ..data.windows import LifterChunks
from ..lifting.auto import load_lifter
from ..lifting.configuration_lifter import LifterConfig
from ..lifting.modeling_lifter import TemporalLifterModel
from ..training.arguments import TrainingArguments
from ..training.loop import train
from ..utils.checks import check_int, check_number, check_path, check_sequence
from ..utils.geometry import normalize_screen_coordinates
from ..utils.missing import interpolate_missing

TRAIN_PRESET = "visible_only"


FOLDS = ("fold0", "fold1")


FULL = "full"


FOLD_SCHEMES = ("motion", "subject")


def assign_folds(sequences: Sequence[CameraSequence], by: str = "motion") -> list[int]:
    """Fold (0 or 1) of each sequence: whole motions, alternating in sorted order within each subject
    (``by="motion"``), or whole subjects, the first in sorted order being fold 0 (``by="subject"``)."""
    if by not in FOLD_SCHEMES:
        raise ValueError(f"fold_by: expected one of {FOLD_SCHEMES}, got {by!r}")
    if by == "subject":
        subjects = sorted({s.subject for s in sequences})
        if len(subjects) != len(FOLDS):
            raise ValueError(f"fold_by: 'subject' needs exactly {len(FOLDS)} training subjects, got {subjects}")
        return [subjects.index(s.subject) for s in sequences]
    motions = sorted({s.motion for s in sequences})
    by_subject: dict[str, list[tuple[str, str]]] = {}
    for motion in motions:
        by_subject.setdefault(motion[0], []).append(motion)
    fold_of = {m: i % 2 for group in by_subject.values() for i, m in enumerate(group)}
    return [fold_of[s.motion] for s in sequences]


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass
class BackboneSettings:
    """Settings of :func:`run_backbone`: the lifters, their training and which predictions to write.

    Validated on construction (``ValueError`` naming the field and the bad value); each field's help
    is also its ``gcnrefine backbone`` / ``gcnrefine lift train`` flag's help.
    """

    channels: int = field(
        default=512,
        metadata=_help("lifter channels (VideoPose3D: 1024; 512 keeps the whole CPU run under an hour)"),
    )
    filter_widths: tuple[int, ...] = field(
        default=(3, 3, 3), metadata=_help("lifter temporal filter widths (receptive field: their product)")
    )
    dropout: float = field(default=0.25, metadata=_help("lifter dropout"))
    epochs: int = field(
        default=16, metadata=_help("lifter training epochs (3-5 minutes per lifter on a 2-core CPU)")
    )
    samples_per_epoch: int | None = field(
        default=4000, metadata=_help("training chunks drawn per epoch (none: every chunk)")
    )
    batch_size: int = field(default=64, metadata=_help("lifter training batch size"))
    chunk: int = field(default=32, metadata=_help("output frames per training chunk"))
    learning_rate: float = field(default=1e-3, metadata=_help("lifter learning rate"))
    lr_decay: float = field(
        default=0.95,  # VideoPose3D's schedule: x0.95 per epoch, no extra halving
        metadata=_help("learning-rate factor per epoch"),
    )
    train_seeds: tuple[int, ...] = field(
        default=(0, 1), metadata=_help("detection seeds of the visible_only training inputs (augmentation)")
    )
    train_presets: tuple[str, ...] = field(
        default=("occluded", "visible_only"),
        metadata=_help(
            "detection presets of the SS1/SS2 (out-of-fold) prediction files (simulator presets, or 'real': "
            "the filmed SS1/SS2 videos only, the other cameras of their actions stored as NaN)"
        ),
    )
    test_presets: tuple[str, ...] = field(
        default=(
            "none", "visible_only", "occluded",
            "severity_0", "severity_0.001", "severity_0.005", "severity_0.01", "severity_0.03", "severity_0.05",
        ),
        metadata=_help("detection presets of the SS3 prediction files (simulator presets, or 'real': real detections)"),
    )  # fmt: skip
    prediction_seeds: tuple[int, ...] = field(
        default=(0, 1), metadata=_help("detection seeds of the SS1/SS2 prediction files")
    )
    test_prediction_seeds: tuple[int, ...] = field(
        default=(100,), metadata=_help("detection seeds of the SS3 prediction files")
    )
    limit: int | None = field(default=None, metadata=_help("first N rows of each split only (small runs)"))
    seed: int = field(default=0, metadata=_help("seed of lifter initialisation and training"))
    lifter_views: int = field(
        default=0,  # not in VideoPose3D: new viewpoints against a fixed-camera bias
        metadata=_help(
            "virtual camera views per action added to each lifter's training motions (0: the real cameras only)"
        ),
    )
    fold_by: str = field(
        default="motion",  # not in the paper: the paper's lifters never saw BlendMimic3D at all
        metadata=_help(
            "how SS1/SS2 are split for the out-of-fold predictions: 'motion' (actions alternate within each "
            "subject) or 'subject' (the lifter trained on SS1 predicts SS2 and back: an unseen subject, scene "
            "and cameras, as SS3 is for the full lifter)"
        ),
    )
    pretrained_lifter: str | None = field(
        default=None,
        metadata=_help(
            "a lifter trained outside BlendMimic3D that predicts every sequence: a folder or Hub id of the "
            "temporal lifter or SemGCN (e.g. converted by `gcnrefine lift convert`), or a published SemGCN "
            "checkpoint file; no lifter is trained and channels to lifter_views play no part (the paper's protocol)"
        ),
    )

    def __post_init__(self) -> None:
        for name in ("channels", "epochs", "batch_size", "chunk"):
            check_int(name, getattr(self, name), 1)
        check_int("samples_per_epoch", self.samples_per_epoch, 1, optional=True)
        check_int("limit", self.limit, 1, optional=True)
        check_int("seed", self.seed, 0)
        check_int("lifter_views", self.lifter_views, 0)
        check_sequence("filter_widths", self.filter_widths, non_empty=True, minimum=1)
        check_number("dropout", self.dropout, 0.0, 1.0)
        check_number("learning_rate", self.learning_rate, 0.0, low_inclusive=False)
        check_number("lr_decay", self.lr_decay, 0.0, low_inclusive=False)
        for name in ("train_seeds", "prediction_seeds", "test_prediction_seeds"):
            check_sequence(name, getattr(self, name), non_empty=True, minimum=0)
        for name in ("train_presets", "test_presets"):
            check_sequence(name, getattr(self, name), non_empty=True, choices=detection_presets())
        check_path("pretrained_lifter", self.pretrained_lifter, optional=True)
        if self.fold_by not in FOLD_SCHEMES:
            raise ValueError(f"fold_by: expected one of {FOLD_SCHEMES}, got {self.fold_by!r}")


def _training_arguments(output_dir: Path, settings: BackboneSettings, has_eval: bool):

    return TrainingArguments(
        output_dir=str(output_dir),
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        learning_rate=settings.learning_rate,
        samples_per_epoch=settings.samples_per_epoch,
        seed=settings.seed,
        resume=(output_dir / "checkpoints").exists(),
        lr_decay=settings.lr_decay,
        lr_decay_large=settings.lr_decay,
        log_with="tensorboard",
    )


def train_lifter(
    sequences: Sequence[CameraSequence],
    output_dir: Path,
    settings: BackboneSettings,
    eval_sequences: Sequence[CameraSequence] = (),
):
    """Train one lifter on ``sequences`` (``visible_only`` detections, flip augmentation) and return it.

    ``eval_sequences`` (ground-truth 2D) select ``best/``; a finished run is loaded, not retrained.
    """

    final = output_dir / "final"
    best = output_dir / "best"
    if (final / "config.json").exists():
        return TemporalLifterModel.from_pretrained(best if (best / "config.json").exists() else final)
    config = LifterConfig(channels=settings.channels, filter_widths=list(settings.filter_widths), dropout=settings.dropout)
    torch.manual_seed(settings.seed)
    model = TemporalLifterModel(config)
    inputs, targets = [], []
    for seed in settings.train_seeds:
        for s in sequences:
            keypoints, _ = detect(s, TRAIN_PRESET, seed)
            inputs.append(normalize_screen_coordinates(keypoints, *s.image_size))
            targets.append(s.poses_3d)
    train_data = LifterChunks(inputs, targets, model.receptive_field, settings.chunk)
    eval_data = None
    if eval_sequences:
        eval_data = LifterChunks(
            [normalize_screen_coordinates(s.keypoints_2d, *s.image_size) for s in eval_sequences],
            [s.poses_3d for s in eval_sequences],
            model.receptive_field,
            settings.chunk,
        )

    def flip(batch, generator):
        return random_flip_and_rotate(batch, generator, keys=("keypoints_2d", "labels"), rotate=False)

    result = train(
        model, train_data, eval_data, args=_training_arguments(output_dir, settings, eval_data is not None), batch_transform=flip
    )
    return TemporalLifterModel.from_pretrained(result.best_path or result.final_path)


def load_pretrained_lifter(name: str | Path):
    """A lifter trained elsewhere (the temporal lifter, SemGCN, or a SemGCN checkpoint file), checked
    to map Human3.6M-17 2D keypoints to 17 3D joints."""

    lifter = load_lifter(name)
    config = lifter.config
    if isinstance(lifter, TemporalLifterModel):
        found = (config.num_joints, config.in_features, config.out_features)
    else:  # SemGCN: 16 joints inside, the Human3.6M-17 boundary outside
        found = (config.num_boundary_joints, config.in_features, config.out_features)
    if found != (17, 2, 3):
        raise ValueError(
            f"pretrained_lifter: expected a lifter of 17 joints, 2D in and 3D out, got "
            f"(num_joints, in_features, out_features) = {found} in {name}"
        )
    return lifter.eval()


def saved_pretrained_lifter(out_dir: str | Path) -> str | None:
    """The ``pretrained_lifter`` a backbone folder was written with (None: trained lifters, or no run yet)."""
    saved_path = Path(out_dir) / "backbone_metrics.json"
    if not saved_path.exists():
        return None
    return json.loads(saved_path.read_text()).get("settings", {}).get("pretrained_lifter")


def saved_fold_by(out_dir: str | Path) -> str:
    """The ``fold_by`` a backbone folder was written with ('motion' for folders written before it existed)."""
    saved_path = Path(out_dir) / "backbone_metrics.json"
    if not saved_path.exists():
        return "motion"
    return json.loads(saved_path.read_text()).get("settings", {}).get("fold_by", "motion")


def fold_lifters(out_dir: str | Path) -> list:
    """The lifters that predicted fold 0 and fold 1 motions of a finished backbone folder: its trained
    fold lifters (``best/`` if there is one), or twice the pretrained lifter it was run with."""

    pretrained = saved_pretrained_lifter(out_dir)
    if pretrained is not None:  # the paper's protocol: the one lifter never saw BlendMimic3D
        return [load_pretrained_lifter(pretrained)] * len(FOLDS)
    lifters = []
    for name in FOLDS:
        run = Path(out_dir) / "lifters" / name
        chosen = run / "best" if (run / "best" / "config.json").exists() else run / "final"
        if not (chosen / "config.json").exists():
            raise ValueError(f"backbone_dir: expected the fold lifter {run} (run `gcnrefine backbone` first), not found")
        lifters.append(TemporalLifterModel.from_pretrained(chosen))
    return lifters


def _check_same_lifter(out_dir: Path, settings: BackboneSettings) -> None:
    """Refuse to mix prediction files of a trained and a pretrained lifter (or of two pretrained ones, or
    of two fold schemes)."""
    if not (out_dir / "backbone_metrics.json").exists():
        return
    saved = saved_pretrained_lifter(out_dir)
    if saved != settings.pretrained_lifter:
        raise ValueError(
            f"pretrained_lifter: {out_dir / 'backbone_metrics.json'} was written with {saved!r}, "
            f"got {settings.pretrained_lifter!r}; use another --out folder"
        )
    if saved_fold_by(out_dir) != settings.fold_by:
        raise ValueError(
            f"fold_by: {out_dir / 'backbone_metrics.json'} was written with {saved_fold_by(out_dir)!r}, "
            f"got {settings.fold_by!r}; use another --out folder"
        )


def lift_sequence(lifter, sequence: CameraSequence, preset: str, seed: int) -> np.ndarray:
    """Root-relative camera-frame 3D ``(T, 17, 3)`` from the detections of one sequence.

    Frames where a real detector found no person (NaN) are filled by linear interpolation in time
    first: the lifter takes finite 2D only, and its receptive field would carry a gap to its
    neighbours. Their confidence stays 0, so a refiner with a confidence channel knows them.
    """
    keypoints, _ = detect(sequence, preset, seed)
    if np.isnan(keypoints).any():
        keypoints = interpolate_missing(keypoints).astype(np.float32)
    return np.asarray(lifter.lift(keypoints, image_size=sequence.image_size, flip_test=True), np.float32)


def mpjpe_mm(predictions: Iterable[np.ndarray], sequences: Iterable[CameraSequence]) -> float:
    """Frame-weighted MPJPE (mm) of root-relative predictions against the sequences' ground truth."""
    errors = [
        np.linalg.norm(root_relative(p) - root_relative(s.poses_3d), axis=-1).mean(axis=-1)
        for p, s in zip(predictions, sequences)
    ]
    return float(np.concatenate(errors).mean() * 1000)


def aligned_predictions(predictions, sequences: Sequence[CameraSequence], where: str = "predictions") -> list[np.ndarray]:
    """Each sequence's ``(T, 17, 3)`` entry of a ``positions_3d`` dict, checked to exist and to match its
    frame count (``where`` names the source in the error)."""
    out = []
    for s in sequences:
        try:
            predicted = predictions[s.subject][s.action][s.camera]
        except (KeyError, IndexError):
            raise ValueError(f"{where}: no prediction for {s.key}") from None
        if len(predicted) != len(s.poses_3d):
            raise ValueError(f"{where}: {s.key} has {len(predicted)} frames, expected {len(s.poses_3d)}")
        out.append(predicted)
    return out


def prediction_path(out_dir: Path, split: str, preset: str, seed: int) -> Path:
    return out_dir / "predictions" / f"{split}_{preset}_seed{seed}.npz"


def _save(
    path: Path,
    sequences: Sequence[CameraSequence],
    predictions: Sequence[np.ndarray],
    all_sequences: Sequence[CameraSequence] | None = None,
) -> None:
    """Write ``positions_3d``. With ``all_sequences`` (a superset, e.g. every training sequence when only
    the filmed ones have real detections), a camera of a written action that ``sequences`` lack is stored
    as all NaN: the file numbers cameras by list position, and NaN says "no prediction" (a lifter's own
    output is finite; missing detections are interpolated before lifting)."""

    pairs = list(zip(sequences, predictions))
    if all_sequences is not None:
        written = {s.key for s in sequences}
        actions = {(s.subject, s.action) for s in sequences}
        pairs += [
            (s, np.full((len(s.poses_3d), *s.poses_3d.shape[1:]), np.nan, np.float32))
            for s in all_sequences
            if (s.subject, s.action) in actions and s.key not in written
        ]
    positions: dict[str, dict[str, list[np.ndarray]]] = {}
    cameras: dict[tuple[str, str], list[int]] = {}
    for s, p in sorted(pairs, key=lambda item: item[0].key):
        positions.setdefault(s.subject, {}).setdefault(s.action, []).append(p)
        cameras.setdefault((s.subject, s.action), []).append(s.camera)
    # The file numbers cameras by list position: refuse an action whose cameras are not exactly 0..n-1.
    for (subject, action), found in cameras.items():
        if found != list(range(len(found))):
            raise ValueError(f"sequences: {subject}/{action} has cameras {found}; expected 0..{len(found) - 1}")
    save_predictions(path, positions, overwrite=True, missing_cameras=all_sequences is not None)


def out_of_fold_predictions(
    lifters: dict[str, Any], sequences: Sequence[CameraSequence], fold_of: dict[tuple[str, str], int], preset: str, seed: int
) -> list[np.ndarray]:
    """Each sequence lifted by the lifter of the other fold, looked up by its motion: ``sequences`` may be a
    subset of the training sequences (the filmed ones, for real detections), so never by list position."""
    return [lift_sequence(lifters[FOLDS[1 - fold_of[s.motion]]], s, preset, seed) for s in sequences]


def run_backbone(source: str | Path | None, out_dir: str | Path, settings: BackboneSettings | None = None) -> dict:
    """Train the out-of-fold and full lifters and write every prediction file; returns the metrics.

    Writes ``out_dir/lifters/{fold0,fold1,full}/`` (training runs), ``out_dir/predictions/*.npz``
    (``positions_3d`` layout) and ``out_dir/backbone_metrics.json``. With ``settings.pretrained_lifter``
    no lifter is trained and that one predicts every file; a folder written with another lifter is refused.
    """


    # virtual_cameras imports this module, so it is imported here, not at the top.

    settings = settings or BackboneSettings()
    if settings.pretrained_lifter is not None:
        settings = dataclasses.replace(settings, pretrained_lifter=str(settings.pretrained_lifter))
    out_dir = Path(out_dir)
    _check_same_lifter(out_dir, settings)
    out_dir.mkdir(parents=True, exist_ok=True)
    dataset = load_blendmimic3d(source)
    train_sequences = camera_sequences(dataset["train"], settings.limit)
    test_sequences = camera_sequences(dataset["test"], settings.limit)
    # Real detections exist for the filmed sequences only: fail before the lifters train, not after.
    # SS3 is filmed whole; of SS1/SS2 only a few videos are, and those alone get 'real' predictions.
    if REAL in settings.test_presets:
        check_coverage(test_sequences)
    if REAL in settings.train_presets and not covered_sequences(train_sequences):
        check_coverage(train_sequences)  # none covered: its error names what the file does cover
    folds = assign_folds(train_sequences, settings.fold_by)
    fold_of = dict(zip((s.motion for s in train_sequences), folds))
    filmings = action_filmings(dataset["train"], settings.limit)
    # Unseen viewpoints of the held-out motions measure how a lifter copes with a new camera.
    probe_views = virtual_sequences(filmings, VirtualCameraSettings(views_per_action=2, seed=settings.seed + 2000))
    if settings.pretrained_lifter is not None:
        # The paper's protocol: one lifter that never saw BlendMimic3D predicts everything.
        pretrained = load_pretrained_lifter(settings.pretrained_lifter)
        lifters = dict.fromkeys((*FOLDS, FULL), pretrained)
    else:
        extra = []
        if settings.lifter_views:
            views = VirtualCameraSettings(views_per_action=settings.lifter_views, seed=settings.seed + 1000)
            extra = virtual_sequences(filmings, views)
        lifters = {}
        for fold, name in enumerate(FOLDS):
            train_part = [s for s in train_sequences + extra if fold_of[s.motion] == fold]
            held_out = [s for s, f in zip(train_sequences, folds) if f != fold]
            lifters[name] = train_lifter(train_part, out_dir / "lifters" / name, settings, eval_sequences=held_out)
        lifters[FULL] = train_lifter(train_sequences + extra, out_dir / "lifters" / FULL, settings)

    metrics: dict[str, Any] = {
        "settings": dataclasses.asdict(settings),
        "held_out_gt2d_mpjpe_mm": {},
        "held_out_new_views_gt2d_mpjpe_mm": {},
        "test_mpjpe_mm": {},
    }
    # Held-out SS1/SS2 actions with ground-truth 2D: each fold's lifter on the other fold.
    for fold, name in enumerate(FOLDS):
        held_out = [s for s, f in zip(train_sequences, folds) if f != fold]
        predictions = [lift_sequence(lifters[name], s, "none", 0) for s in held_out]
        metrics["held_out_gt2d_mpjpe_mm"][name] = mpjpe_mm(predictions, held_out)
        views = [v for v in probe_views if fold_of[v.motion] != fold]
        predictions = [lift_sequence(lifters[name], v, "none", 0) for v in views]
        metrics["held_out_new_views_gt2d_mpjpe_mm"][name] = mpjpe_mm(predictions, views)

    jobs = [("train", p, seed) for p in settings.train_presets for seed in settings.prediction_seeds]
    jobs += [("test", p, seed) for p in settings.test_presets for seed in settings.test_prediction_seeds]
    for split, preset, seed in tqdm(jobs, desc="backbone predictions"):
        path = prediction_path(out_dir, split, preset, seed)
        sequences = train_sequences if split == "train" else test_sequences
        if split == "train" and preset == REAL:
            sequences = covered_sequences(sequences)
        if path.exists():  # finished earlier: reuse the file (resumable runs)

            saved = load_predictions(path, missing_cameras=split == "train" and preset == REAL)
            predictions = aligned_predictions(saved, sequences, path.name)
        elif split == "train":
            predictions = out_of_fold_predictions(lifters, sequences, fold_of, preset, seed)
        else:
            predictions = [lift_sequence(lifters[FULL], s, preset, seed) for s in sequences]
        if split == "test":
            metrics["test_mpjpe_mm"][f"{preset}_seed{seed}"] = mpjpe_mm(predictions, sequences)
        else:
            metrics.setdefault("train_oof_mpjpe_mm", {})[f"{preset}_seed{seed}"] = mpjpe_mm(predictions, sequences)
        if not path.exists():
            _save(path, sequences, predictions, train_sequences if split == "train" and preset == REAL else None)
    (out_dir / "backbone_metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics
