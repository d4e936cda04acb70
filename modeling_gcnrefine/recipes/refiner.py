"""Train the refiner on BlendMimic3D backbone predictions (`gcnrefine train`).

Data: (backbone prediction, ground truth) windows of SS1 + SS2 from ``gcnrefine backbone``'s
out-of-fold prediction files, mixing the ``occluded`` and ``visible_only`` detection presets (so the
model learns to fix occlusions and to leave good poses alone) and several detection seeds
(augmentation). Whole motions are held out for validation; SS3 is never read here. Each batch gets a
random mirror and a random viewpoint change (yaw over the full circle, tilt within ±20°), the same for
input and target, so a refiner does not learn the training cameras.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..configuration_gcnrefine import GCNRefineConfig
from ..data.augmentation import change_speed, drop_joints, random_flip_and_rotate, scale_bones
from ..data.blendmimic3d import load_blendmimic3d
from ..data.predictions import load_predictions
from ..data.real_detections import REAL, covered_sequences
from ..data.sequences import CameraSequence, camera_sequences, detect, detection_presets
from ..data.virtual_cameras import action_filmings, load_settings, virtual_sequences
from ..data.windows import RefinerSequences, RefinerWindows
from ..evaluation.ridge import fit_ridge, mpjpe_mm
from ..modeling_gcnrefine import GCNRefineModel
from ..training.arguments import TrainingArguments
from ..training.loop import train
from ..utils.checks import check_int, check_sequence
from .backbone import aligned_predictions, prediction_path

DEFAULT_PRESETS = ("occluded", "visible_only")


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass
class RefinerDataSettings:
    """Which backbone predictions become training windows.

    Validated on construction (``ValueError`` naming the field and the bad value); each field's help
    is also its ``gcnrefine train`` flag's help.
    """

    presets: tuple[str, ...] = field(
        default=DEFAULT_PRESETS,
        metadata=_help("detection presets of the backbone's prediction files train_<preset>_seed<seed>.npz"),
    )
    seeds: tuple[int, ...] = field(
        default=(0, 1), metadata=_help("detection seeds of the backbone's prediction files")
    )
    val_motions_per_subject: int = field(
        default=2,
        metadata=_help("whole motions (an action and its _multi variant) held out per subject for validation"),
    )
    val_subjects: tuple[str, ...] = field(
        default=(),
        metadata=_help("hold out these whole subjects instead (e.g. SS2: unseen scene and cameras)"),
    )
    subjects: tuple[str, ...] = field(
        default=(),
        metadata=_help(
            "train on these subjects only (empty: all of SS1 + SS2), e.g. the ones a pretrained lifter never "
            "saw, so the refiner learns its errors on unseen data only"
        ),
    )
    stride: int = field(
        default=1,
        metadata=_help("window centres every this many frames (1: every frame; the epoch subsamples anyway)"),
    )
    limit: int | None = field(default=None, metadata=_help("first N rows of the train split only (small runs)"))
    split_seed: int = field(default=0, metadata=_help("seed of the choice of validation motions"))
    virtual_seeds: tuple[int, ...] = field(
        default=(),  # not in the paper: new viewpoints of SS1/SS2 (virtual_cameras.py)
        metadata=_help(
            "detection seeds of the backbone's virtual-view prediction files virtual_<preset>_seed<seed>.npz "
            "(`gcnrefine backbone --virtual-views N`) to add, in training and validation alike (every preset "
            "but 'real', which exists for filmed cameras only)"
        ),
    )
    rotate: bool = field(
        default=True,  # not in the paper: the random viewpoint change above
        metadata=_help(
            "turn each training window by a random yaw and tilt (input and target alike); without it the "
            "refiner sees only the training cameras' viewpoints"
        ),
    )

    bone_scale_std: float = field(
        default=0.0,  # not in the paper: other body proportions than the two training subjects'
        metadata=_help(
            "scale each bone of a training window (input and target alike, left/right partners together) by "
            "exp(N(0, this)); 0: off"
        ),
    )
    speed_range: tuple[float, float] = field(
        default=(1.0, 1.0),  # not in the paper: other motion speeds than the recorded ones
        metadata=_help(
            "resample each training window (input and target alike) about its centre at a speed drawn "
            "log-uniformly from LOW HIGH; 1 1: off",
        ),
    )
    joint_dropout: float = field(
        default=0.0,  # not in the paper: masked-joint training, as MotionBERT's
        metadata=_help(
            "share of training windows in which 1-4 input joints are frozen over a span of 5-60 frames "
            "(confidence 0 there, target untouched), as a lifter's output sticks on a hidden joint; 0: off"
        ),
    )

    ridge_alpha: float | None = field(
        default=None,  # not in the paper
        metadata=_help(
            "ridge strength of the window map (window_linear); none: chosen on the tuning motions (the "
            "training lifters' held-out motions). A value chosen by leave-one-lifter-out (a lifter's held-out "
            "motions scored by a map fitted on the other lifters) suits lifters the refiner never saw"
        ),
    )

    def __post_init__(self) -> None:
        check_sequence("presets", self.presets, non_empty=True, choices=detection_presets())
        check_sequence("seeds", self.seeds, non_empty=True, minimum=0)
        check_sequence("virtual_seeds", self.virtual_seeds, minimum=0)
        for name in ("val_subjects", "subjects"):
            check_sequence(name, getattr(self, name))
        check_int("val_motions_per_subject", self.val_motions_per_subject, 0)
        check_int("stride", self.stride, 1)
        check_int("limit", self.limit, 1, optional=True)
        check_int("split_seed", self.split_seed, 0)
        if not isinstance(self.rotate, bool):
            raise ValueError(f"rotate: expected a bool, got {self.rotate!r}")
        if not isinstance(self.bone_scale_std, int | float) or not 0.0 <= self.bone_scale_std <= 0.5:
            raise ValueError(f"bone_scale_std: expected a number in [0, 0.5], got {self.bone_scale_std!r}")
        low_high = tuple(self.speed_range)
        if len(low_high) != 2 or not all(isinstance(v, int | float) for v in low_high) or not 0.25 <= low_high[0] <= low_high[1] <= 4.0:
            raise ValueError(f"speed_range: expected (low, high) with 0.25 <= low <= high <= 4, got {self.speed_range!r}")
        self.speed_range = (float(low_high[0]), float(low_high[1]))
        if not isinstance(self.joint_dropout, int | float) or not 0.0 <= self.joint_dropout <= 1.0:
            raise ValueError(f"joint_dropout: expected a probability in [0, 1], got {self.joint_dropout!r}")
        if self.ridge_alpha is not None and (isinstance(self.ridge_alpha, bool) or not self.ridge_alpha > 0):
            raise ValueError(f"ridge_alpha: expected a positive number or None, got {self.ridge_alpha!r}")


def validation_motions(sequences: Sequence[CameraSequence], per_subject: int, seed: int = 0) -> set[tuple[str, str]]:
    """Held-out motions: ``per_subject`` per subject, chosen by a seeded shuffle."""
    rng = np.random.default_rng(seed)
    chosen = set()
    for subject in sorted({s.subject for s in sequences}):
        motions = sorted({s.motion for s in sequences if s.subject == subject})
        if per_subject >= len(motions):
            raise ValueError(f"val_motions_per_subject: expected fewer than {len(motions)} for {subject}, got {per_subject}")
        for i in rng.permutation(len(motions))[:per_subject]:
            chosen.add(motions[i])
    return chosen


def backbone_dirs(backbone_dir: str | Path | Sequence[str | Path]) -> list[Path]:
    """One backbone folder or several (the predictions of several lifters), as a non-empty list."""
    dirs = [Path(backbone_dir)] if isinstance(backbone_dir, str | Path) else [Path(d) for d in backbone_dir]
    if not dirs or len(set(dirs)) != len(dirs):
        raise ValueError(f"backbone_dir: expected one folder or several distinct ones, got {backbone_dir!r}")
    return dirs


def load_refiner_sequences(
    backbone_dir: str | Path | Sequence[str | Path],
    dataset_source: Any,
    settings: RefinerDataSettings,
    val_backbone_dir: str | Path | Sequence[str | Path] | None = None,
) -> tuple[RefinerSequences, RefinerSequences]:
    """(train, validation) sequences from the backbone folders' train prediction files; see
    :func:`load_refiner_split`."""
    train, val, _ = load_refiner_split(backbone_dir, dataset_source, settings, val_backbone_dir)
    return train, val


def load_refiner_split(
    backbone_dir: str | Path | Sequence[str | Path],
    dataset_source: Any,
    settings: RefinerDataSettings,
    val_backbone_dir: str | Path | Sequence[str | Path] | None = None,
) -> tuple[RefinerSequences, RefinerSequences, RefinerSequences]:
    """(train, validation, tuning) sequences from the backbone folders' train prediction files.

    Several folders (lifters) add each one's predictions of the same sequences; the held-out motions are
    the same for all. Keys of a second or later folder carry its name before the preset. With
    ``val_backbone_dir`` (leave-one-lifter-out), training takes the training motions of
    ``backbone_dir`` only and validation the held-out motions of ``val_backbone_dir`` only, so the
    validation figure is that of a lifter the refiner never saw, on motions it never saw; the tuning
    part is then the training lifters' held-out motions, where choices made before training (the
    window map's ridge strength) are made, so nothing is chosen on the held-out lifter. Without
    ``val_backbone_dir`` the tuning part is the validation part.
    """
    train_dirs = backbone_dirs(backbone_dir)
    val_dirs = None if val_backbone_dir is None else backbone_dirs(val_backbone_dir)
    if val_dirs is not None and set(val_dirs) & set(train_dirs):
        raise ValueError(
            f"val_backbone_dir: expected folders not among backbone_dir {[str(d) for d in train_dirs]}, "
            f"got {[str(d) for d in val_dirs]}"
        )

    dataset = load_blendmimic3d(dataset_source)
    sequences = camera_sequences(dataset["train"], settings.limit)  # SS1 + SS2 only
    if any(s.subject == "SS3" for s in sequences):
        raise ValueError("dataset: the train split holds SS3, the test subject; refusing to train on it")
    if settings.subjects:
        found = sorted({s.subject for s in sequences})
        if not set(settings.subjects) <= set(found):
            raise ValueError(f"subjects: expected some of {found}, got {list(settings.subjects)}")
        sequences = [s for s in sequences if s.subject in settings.subjects]
    if settings.val_subjects:
        held_out = {s.motion for s in sequences if s.subject in settings.val_subjects}
    else:
        held_out = validation_motions(sequences, settings.val_motions_per_subject, settings.split_seed)
    filmings = None
    if settings.virtual_seeds:

        subjects = {s.subject for s in sequences}
        filmings = [f for f in action_filmings(dataset["train"], settings.limit) if f.subject in subjects]
    train, val = RefinerSequences(), RefinerSequences()
    views_by_settings: list = []  # (settings, views): folders filmed with the same settings share them
    unused = RefinerSequences()  # leave-one-lifter-out: the training lifters' held-out motions (tuning)
    for index, folder in enumerate(train_dirs):
        tag = "" if index == 0 else f"{folder.name}:"
        held_out_part = val if val_dirs is None else unused
        _add_backbone(folder, tag, sequences, filmings, views_by_settings, held_out, settings, train, held_out_part)
    tuning = val if val_dirs is None else unused
    for folder in val_dirs or ():
        _add_backbone(
            folder, f"{folder.name}:", sequences, filmings, views_by_settings, held_out, settings, RefinerSequences(), val
        )
    return train, val, tuning


def _add_backbone(folder: Path, tag: str, sequences, filmings, views_by_settings, held_out, settings, train, val) -> None:
    """Append one backbone folder's prediction files to ``train`` and ``val``."""

    files = [(sequences, "train", preset, seed) for preset in settings.presets for seed in settings.seeds]
    if settings.virtual_seeds:

        virtual = load_settings(folder)
        if virtual is None:
            raise ValueError(
                f"backbone_dir: expected virtual views in {folder} (run `gcnrefine backbone --virtual-views N`)"
            )
        views = next((v for known, v in views_by_settings if known == virtual), None)
        if views is None:
            views = virtual_sequences(filmings, virtual)
            views_by_settings.append((virtual, views))
        # Real detections exist for filmed cameras only, never for virtual views.
        simulated = [p for p in settings.presets if p != REAL]
        files += [(views, "virtual", preset, seed) for preset in simulated for seed in settings.virtual_seeds]
    for group, split, preset, seed in files:
        if split == "train" and preset == REAL:  # the filmed SS1/SS2 videos only (the file's NaN cameras)
            group = covered_sequences(group)
        path = prediction_path(folder, split, preset, seed)
        if not path.exists():
            raise ValueError(f"backbone_dir: expected {path} (run `gcnrefine backbone` first), not found")
        saved = load_predictions(path, missing_cameras=preset == REAL)
        for s, predicted in zip(group, aligned_predictions(saved, group, path.name)):
            _, confidence = detect(s, preset, seed)  # deterministic: the same detections the backbone saw
            part = val if s.motion in held_out else train
            part.inputs.append(predicted)
            part.targets.append(s.poses_3d)
            part.visibility.append(s.visibility)
            part.confidence.append(confidence)
            label = preset if split == "train" else f"{split}/{preset}"
            part.keys.append((*s.key, tag + label, seed))


def train_refiner(
    backbone_dir: str | Path | Sequence[str | Path],
    output_dir: str | Path,
    config=None,
    dataset_source: Any = None,
    data_settings: RefinerDataSettings | None = None,
    training_args=None,
    val_backbone_dir: str | Path | Sequence[str | Path] | None = None,
):
    """Train a :class:`GCNRefineModel` on backbone predictions (one folder, or several: several lifters);
    returns the training result. ``val_backbone_dir``: validate on these lifters' held-out motions
    instead (leave-one-lifter-out; see :func:`load_refiner_sequences`)."""

    config = config or GCNRefineConfig()
    data_settings = data_settings or RefinerDataSettings()
    training_args = training_args or TrainingArguments(output_dir=str(output_dir), metric_for_best="loss_mpjpe")
    train_sequences, val_sequences, tuning_sequences = load_refiner_split(
        backbone_dir, dataset_source, data_settings, val_backbone_dir
    )
    with_confidence = config.in_channels == 4
    train_data = RefinerWindows(train_sequences, config.num_frames, data_settings.stride, with_confidence)
    val_data = RefinerWindows(val_sequences, config.num_frames, max(data_settings.stride, 4), with_confidence)
    torch.manual_seed(training_args.seed)
    model = GCNRefineModel(config)
    window_map = None
    if config.window_linear:
        window_map = _fit_window_linear(model, train_sequences, tuning_sequences, data_settings.ridge_alpha)

    def augment(batch, generator):
        rotate = data_settings.rotate
        if not with_confidence:
            out = random_flip_and_rotate(batch, generator, keys=("poses_3d", "labels"), rotate=rotate)
        else:
            # Mirroring swaps left/right joints, so confidence rides along as a 3-vector whose norm
            # survives the rotation and the x negation.
            carried = {**batch, "confidence": batch["confidence"][..., None].expand(-1, -1, -1, 3) / 3**0.5}
            out = random_flip_and_rotate(carried, generator, keys=("poses_3d", "labels", "confidence"), rotate=rotate)
            out = {**out, "confidence": torch.linalg.vector_norm(out["confidence"], dim=-1)}
        if data_settings.bone_scale_std > 0:
            out = scale_bones(out, generator, std=data_settings.bone_scale_std)
        if data_settings.speed_range != (1.0, 1.0):
            keys = ("poses_3d", "labels", "confidence") if with_confidence else ("poses_3d", "labels")
            out = change_speed(out, generator, keys=keys, speed_range=data_settings.speed_range)
        if data_settings.joint_dropout > 0:
            out = drop_joints(out, generator, probability=data_settings.joint_dropout)
        return out

    result = train(model, train_data, val_data, args=training_args, batch_transform=augment)
    meta = {
        "backbone_dirs": [str(d) for d in backbone_dirs(backbone_dir)],
        "val_backbone_dirs": None if val_backbone_dir is None else [str(d) for d in backbone_dirs(val_backbone_dir)],
        "train_sequences": len(train_sequences.keys),
        "val_sequences": len(val_sequences.keys),
        "val_motions": sorted({(k[0], k[1].removesuffix("_multi")) for k in val_sequences.keys}),
        "train_windows": len(train_data),
        "val_windows": len(val_data),
    }
    if window_map is not None:
        meta["window_linear"] = window_map
    (Path(output_dir) / "data.json").write_text(json.dumps(meta, indent=2))
    return result


def _fit_window_linear(
    model: GCNRefineModel, train: RefinerSequences, val: RefinerSequences, alpha: float | None = None
) -> dict[str, Any]:
    """Fit the ridge baseline over the model's window on the training predictions (strength chosen on
    ``val``, the tuning motions of :func:`load_refiner_split`, unless ``alpha`` is given), copy it into ``model.window_linear`` and freeze it there ("paper": one map
    of the whole window; "long_range": the per-frame map as a sliding convolution)."""
    config = model.config
    long_range = config.architecture == "long_range"
    frames = config.window_linear_frames if long_range else config.num_frames
    if frames % 2 == 0:
        raise ValueError(f"num_frames: expected an odd window with window_linear=True (a centred ridge map), got {frames}")
    alphas = {"alphas": (float(alpha),)} if alpha is not None else {}
    ridge = fit_ridge(zip(train.inputs, train.targets), list(zip(val.inputs, val.targets)), frames=frames, **alphas)
    layer = model.window_linear
    if long_range:
        size = layer.weight.shape[0]  # J * 3
        # ridge rows: frame k of the window, input channel i -> Conv1d weight[out, i, k]
        matrix = ridge.weights[:-1].reshape(frames, size, size).transpose(2, 1, 0)
        bias = ridge.weights[-1]
    else:
        matrix, bias = ridge.window_map(frames)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(np.ascontiguousarray(matrix)).to(layer.weight.dtype))
        layer.bias.copy_(torch.from_numpy(bias).to(layer.bias.dtype))
    layer.requires_grad_(False)
    return {
        "frames": frames,
        "alpha": ridge.alpha,
        "val_mpjpe_mm_by_alpha": {str(a): round(v, 2) for a, v in ridge.validation_mpjpe_mm.items()},
        "val_mpjpe_mm_before": round(mpjpe_mm(list(zip(val.inputs, val.targets))), 2),
    }
