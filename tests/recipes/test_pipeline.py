"""Backbone predictions (out-of-fold lifters) and refiner training on BlendMimic3D, on a small subset."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import TINY_REFINER

from modeling_gcnrefine import GCNRefineConfig, GCNRefineModel
from modeling_gcnrefine.data.predictions import load_predictions
from modeling_gcnrefine.data.sequences import CameraSequence, detection_seed
from modeling_gcnrefine.data.windows import LifterChunks
from modeling_gcnrefine.recipes.backbone import (
    FOLDS,
    BackboneSettings,
    assign_folds,
    out_of_fold_predictions,
    prediction_path,
    run_backbone,
)
from modeling_gcnrefine.recipes.refiner import (
    RefinerDataSettings,
    load_refiner_sequences,
    load_refiner_split,
    train_refiner,
)
from modeling_gcnrefine.training.arguments import TrainingArguments


def fake_sequence(subject, action, camera, length=10):
    return CameraSequence(
        subject, action, camera, np.zeros((length, 17, 2), np.float32), np.zeros((length, 17, 3), np.float32),
        np.ones((length, 17), bool), (100, 100),
    )


def test_folds_keep_motions_together_and_split_every_subject():
    sequences = [
        fake_sequence(s, a, c)
        for s in ("SS1", "SS2")
        for a in ("A", "B", "C", "C_multi", "D")
        for c in range(4)
    ]
    folds = assign_folds(sequences)
    by_motion = {}
    for s, f in zip(sequences, folds):
        by_motion.setdefault(s.motion, set()).add(f)
    assert all(len(v) == 1 for v in by_motion.values())  # cameras and _multi twins stay together
    for subject in ("SS1", "SS2"):
        assert {f for s, f in zip(sequences, folds) if s.subject == subject} == {0, 1}


def test_folds_by_subject_put_each_subject_in_its_own_fold():
    sequences = [fake_sequence(s, a, c) for s in ("SS2", "SS1") for a in ("A", "B") for c in range(2)]
    assert assign_folds(sequences, "subject") == [1] * 4 + [0] * 4
    with pytest.raises(ValueError, match=r"fold_by: 'subject' needs exactly 2 training subjects, got \['SS1'\]"):
        assign_folds(sequences[4:], "subject")
    with pytest.raises(ValueError, match=r"fold_by: expected one of \('motion', 'subject'\), got 'camera'"):
        assign_folds(sequences, "camera")
    with pytest.raises(ValueError, match=r"fold_by: expected one of \('motion', 'subject'\), got 'camera'"):
        BackboneSettings(fold_by="camera")


class _MarkerLifter:
    """Lifts every frame to one constant value: which lifter predicted a sequence is read off its output."""

    def __init__(self, value: float):
        self.value = value

    def lift(self, keypoints, image_size, flip_test):
        return np.full((len(keypoints), 17, 3), self.value, np.float32)


@pytest.mark.parametrize("by", ["motion", "subject"])
def test_out_of_fold_predictions_of_a_subset_use_the_other_folds_lifter(by):
    # The filmed sequences (real detections) are a subset of the training sequences; a lifter must be
    # chosen by each sequence's motion, not by its position in the full list (a subset starting in the
    # second fold once got the lifter trained on it).
    sequences = [fake_sequence(s, a, c) for s in ("SS1", "SS2") for a in ("A", "B", "C") for c in range(2)]
    fold_of = dict(zip((s.motion for s in sequences), assign_folds(sequences, by)))
    lifters = {FOLDS[0]: _MarkerLifter(0.0), FOLDS[1]: _MarkerLifter(1.0), "full": _MarkerLifter(2.0)}
    for subset in (sequences, sequences[::-1], [s for s in sequences if fold_of[s.motion] == 1], sequences[7:]):
        predictions = out_of_fold_predictions(lifters, subset, fold_of, "none", 0)
        assert [float(p[0, 0, 0]) for p in predictions] == [1.0 - fold_of[s.motion] for s in subset]


def test_detection_seed_is_stable_and_distinct():
    a, b = fake_sequence("SS1", "A", 0), fake_sequence("SS1", "A", 1)
    assert detection_seed(0, a) == detection_seed(0, fake_sequence("SS1", "A", 0))
    assert len({detection_seed(0, a), detection_seed(0, b), detection_seed(1, a)}) == 3


def test_lifter_chunks_align_inputs_and_labels():
    length, field = 7, 5
    inputs = [np.arange(length, dtype=np.float32)[:, None, None] * np.ones((1, 17, 2), np.float32)]
    targets = [np.arange(length, dtype=np.float32)[:, None, None] * np.ones((1, 17, 3), np.float32)]
    targets[0][:, 0] = 0  # root-relative already
    chunks = LifterChunks(inputs, targets, receptive_field=field, chunk=3)
    covered = set()
    for item in (chunks[i] for i in range(len(chunks))):
        assert item["keypoints_2d"].shape == (3 + field - 1, 17, 2)
        assert item["labels"].shape == (3, 17, 3)
        frames = item["labels"][:, 1, 0].int().tolist()
        covered.update(frames)
        # Output frame t sees inputs t-2..t+2 (edges replicated): the window centre is frame t.
        centres = item["keypoints_2d"][field // 2 : field // 2 + 3, 1, 0].int().tolist()
        assert centres == frames
    assert covered == set(range(length))


@pytest.fixture(scope="module")
def backbone_dir(tmp_path_factory, blendmimic3d_dir):
    out = tmp_path_factory.mktemp("backbone")
    settings = BackboneSettings(
        channels=32,
        epochs=2,
        samples_per_epoch=32,
        batch_size=16,
        limit=8,
        train_seeds=(0,),
        test_presets=("none", "occluded"),
        prediction_seeds=(0,),
        test_prediction_seeds=(0,),
    )
    metrics = run_backbone(blendmimic3d_dir, out, settings)
    return out, metrics


def test_backbone_writes_out_of_fold_predictions(backbone_dir, blendmimic3d_dir):
    out, metrics = backbone_dir
    for name in ("fold0", "fold1", "full"):
        assert (out / "lifters" / name / "final" / "model.safetensors").exists()
    assert set(metrics["held_out_gt2d_mpjpe_mm"]) == {"fold0", "fold1"}
    assert set(metrics["held_out_new_views_gt2d_mpjpe_mm"]) == {"fold0", "fold1"}
    assert all(np.isfinite(v) for v in metrics["held_out_new_views_gt2d_mpjpe_mm"].values())
    assert all(np.isfinite(v) for v in metrics["test_mpjpe_mm"].values())
    train = load_predictions(prediction_path(out, "train", "occluded", 0))
    test = load_predictions(prediction_path(out, "test", "occluded", 0))
    assert set(train) <= {"SS1", "SS2"} and set(test) == {"SS3"}
    first = next(iter(next(iter(train.values())).values()))[0]
    assert first.ndim == 3 and first.shape[1:] == (17, 3) and np.isfinite(first).all()
    saved = json.loads((out / "backbone_metrics.json").read_text())
    assert saved["test_mpjpe_mm"] == metrics["test_mpjpe_mm"]
    # A second run reuses the finished lifters and files (resumable) and gives the same numbers.
    again = run_backbone(blendmimic3d_dir, out, _settings(metrics))
    assert again["test_mpjpe_mm"] == metrics["test_mpjpe_mm"]
    # Predictions of another fold scheme never join the folder.
    other = _settings(metrics)
    other.fold_by = "subject"
    with pytest.raises(ValueError, match=r"fold_by: .*backbone_metrics\.json was written with 'motion', got 'subject'"):
        run_backbone(blendmimic3d_dir, out, other)


def test_lifter_views_add_virtual_cameras_to_lifter_training(backbone_dir, blendmimic3d_dir, tmp_path):
    from safetensors.numpy import load_file

    _, metrics = backbone_dir
    settings = _settings(metrics)
    settings.lifter_views = 1
    settings.test_presets = ("none",)
    settings.train_presets = ("occluded",)
    with_views = run_backbone(blendmimic3d_dir, tmp_path, settings)
    assert with_views["settings"]["lifter_views"] == 1
    # Same seed and schedule, more training data: different weights than the real-cameras-only run.
    plain = load_file(str(backbone_dir[0] / "lifters" / "full" / "final" / "model.safetensors"))
    viewed = load_file(str(tmp_path / "lifters" / "full" / "final" / "model.safetensors"))
    assert plain.keys() == viewed.keys()
    assert any(not np.array_equal(plain[k], viewed[k]) for k in plain)


def _settings(metrics):
    saved = metrics["settings"]
    return BackboneSettings(**{k: tuple(v) if isinstance(v, list) else v for k, v in saved.items()})


def test_refiner_trains_on_backbone_predictions(backbone_dir, blendmimic3d_dir, tmp_path):
    out, _ = backbone_dir
    data = RefinerDataSettings(presets=("occluded", "visible_only"), seeds=(0,), limit=8, val_motions_per_subject=1)
    train_part, val_part = load_refiner_sequences(out, blendmimic3d_dir, data)
    assert train_part.keys and val_part.keys
    train_motions = {(k[0], k[1]) for k in train_part.keys}
    val_motions = {(k[0], k[1]) for k in val_part.keys}
    assert not train_motions & val_motions  # whole motions held out
    assert all(k[0] != "SS3" for k in train_part.keys + val_part.keys)
    args = TrainingArguments(
        output_dir=str(tmp_path / "refiner"), epochs=2, batch_size=32, samples_per_epoch=128,
        metric_for_best="loss_mpjpe", log_with=None,
    )
    result = train_refiner(out, tmp_path / "refiner", GCNRefineConfig(**TINY_REFINER), blendmimic3d_dir, data, args)
    loaded = GCNRefineModel.from_pretrained(result.best_path)
    refined = loaded.refine(train_part.inputs[0])
    assert refined.shape == train_part.inputs[0].shape and np.isfinite(refined).all()
    assert json.loads((tmp_path / "refiner" / "data.json").read_text())["train_windows"] > 0


def test_window_linear_is_the_ridge_fit_and_stays_frozen(backbone_dir, blendmimic3d_dir, tmp_path):
    from modeling_gcnrefine.evaluation.ridge import fit_ridge

    out, _ = backbone_dir
    data = RefinerDataSettings(presets=("occluded",), seeds=(0,), limit=8, val_motions_per_subject=1)
    args = TrainingArguments(
        output_dir=str(tmp_path / "refiner"), epochs=1, batch_size=32, samples_per_epoch=64, log_with=None,
        metric_for_best="loss_mpjpe",
    )
    config = GCNRefineConfig(num_frames=3, predict_residual=True, window_linear=True, **TINY_REFINER)
    result = train_refiner(out, tmp_path / "refiner", config, blendmimic3d_dir, data, args)
    meta = json.loads((tmp_path / "refiner" / "data.json").read_text())["window_linear"]
    train_part, val_part = load_refiner_sequences(out, blendmimic3d_dir, data)
    ridge = fit_ridge(zip(train_part.inputs, train_part.targets), list(zip(val_part.inputs, val_part.targets)), frames=3)
    assert meta["frames"] == 3 and meta["alpha"] == ridge.alpha
    matrix, _ = ridge.window_map(3)
    loaded = GCNRefineModel.from_pretrained(result.best_path)
    # Trained for an epoch, yet the map is the closed-form fit: it was frozen.
    np.testing.assert_allclose(loaded.window_linear.weight.detach().numpy(), matrix, atol=1e-6)
    with pytest.raises(ValueError, match=r"num_frames: expected an odd window with window_linear=True"):
        train_refiner(out, tmp_path / "even", GCNRefineConfig(num_frames=4, window_linear=True, **TINY_REFINER), blendmimic3d_dir, data, args)


def test_refiner_trains_with_confidence_channel(backbone_dir, blendmimic3d_dir, tmp_path):
    out, _ = backbone_dir
    data = RefinerDataSettings(presets=("occluded",), seeds=(0,), limit=8, val_motions_per_subject=1)
    args = TrainingArguments(
        output_dir=str(tmp_path / "refiner"), epochs=1, batch_size=32, samples_per_epoch=64, log_with=None,
        metric_for_best="loss_mpjpe",
    )
    result = train_refiner(out, tmp_path / "refiner", GCNRefineConfig(in_channels=4, **TINY_REFINER), blendmimic3d_dir, data, args)
    model = GCNRefineModel.from_pretrained(result.final_path)
    assert model.config.in_channels == 4
    assert torch.isfinite(model(torch.zeros(1, 3, 17, 3), confidence=torch.ones(1, 3, 17)).refined).all()


def test_long_range_refiner_trains_on_backbone_predictions(backbone_dir, blendmimic3d_dir, tmp_path):
    out, _ = backbone_dir
    data = RefinerDataSettings(presets=("occluded",), seeds=(0,), limit=8, val_motions_per_subject=1)
    args = TrainingArguments(
        output_dir=str(tmp_path / "refiner"), epochs=1, batch_size=16, samples_per_epoch=64, log_with=None,
        metric_for_best="loss_mpjpe",
    )
    # A tiny long-range refiner (receptive field 9) on 15-frame windows, confidence optional.
    config = GCNRefineConfig.long_range(
        spatial_channels=[8, 8], temporal_channels=16, temporal_dilations=[1, 3], temporal_joint_channels=4,
        num_frames=15, in_channels=4,
    )  # fmt: skip
    result = train_refiner(out, tmp_path / "refiner", config, blendmimic3d_dir, data, args)
    assert np.isfinite(result.best_metric)
    model = GCNRefineModel.from_pretrained(result.best_path)
    assert model.config.architecture == "long_range" and model.config.confidence_dropout == 0.25
    train_part, _ = load_refiner_sequences(out, blendmimic3d_dir, data)
    poses, confidence = train_part.inputs[0], train_part.confidence[0]
    for given in (None, confidence):
        refined = model.refine(poses, confidence=given)
        assert refined.shape == poses.shape and np.isfinite(refined).all()
    assert json.loads((tmp_path / "refiner" / "data.json").read_text())["train_windows"] > 0


def test_evaluate_writes_the_report(backbone_dir, blendmimic3d_dir, tmp_path):
    from modeling_gcnrefine.recipes.evaluate import evaluate_blendmimic3d

    out, _ = backbone_dir
    torch.manual_seed(0)
    refiner = tmp_path / "refiner"
    GCNRefineModel(GCNRefineConfig(**TINY_REFINER)).save_pretrained(refiner)
    report = evaluate_blendmimic3d(
        out, refiner, tmp_path / "report", compact=refiner, dataset_source=blendmimic3d_dir,
        val_motions_per_subject=1, limit=8,
    )
    assert (tmp_path / "report" / "report.md").exists() and (tmp_path / "report" / "report.json").exists()
    occluded = report["presets"]["occluded"]
    assert {"backbone", "gcn", "gcn_compact", "savgol", "gaussian", "one_euro"} <= set(occluded)
    assert report["meta"]["throughput"]["gcn"] > 0
    assert "none" not in report["presets"]  # ground-truth 2D is not a detection preset
    names = {g["name"] for g in report["goals"]}
    assert {"occluded_mpjpe_reduction", "clean_input_do_no_harm", "beats_best_filter"} <= names
    assert occluded["backbone"]["mean"]["mpjpe"] > 0
    for method, result in occluded.items():  # every row has the acceleration error and the GT-free figures
        for metric in ("accel_error", "bone_spread", "asymmetry", "jitter"):
            assert result["mean"][metric] is not None and result["mean"][metric] >= 0, (method, metric)
    assert "| Jitter (mm/frame²) † |" in (tmp_path / "report" / "report.md").read_text()
    # The GCN row really is the refiner's output, not the backbone's numbers copied.
    assert occluded["gcn"]["mean"]["mpjpe"] != occluded["backbone"]["mean"]["mpjpe"]


def test_virtual_views_become_out_of_fold_refiner_data(backbone_dir, blendmimic3d_dir):
    from modeling_gcnrefine.data.virtual_cameras import VirtualCameraSettings, load_settings
    from modeling_gcnrefine.recipes.virtual_views import write_virtual_predictions

    out, _ = backbone_dir
    settings = VirtualCameraSettings(views_per_action=2, seed=3)
    metrics = write_virtual_predictions(blendmimic3d_dir, out, settings, presets=("occluded",), seeds=(0,), limit=8)
    assert set(metrics) == {"occluded_seed0"} and np.isfinite(metrics["occluded_seed0"])
    assert load_settings(out) == settings
    # A second call reuses the file and measures it again.
    again = write_virtual_predictions(blendmimic3d_dir, out, settings, presets=("occluded",), seeds=(0,), limit=8)
    assert again == metrics
    saved = load_predictions(prediction_path(out, "virtual", "occluded", 0))
    assert set(saved) <= {"SS1", "SS2"}
    assert all(len(cameras) == 2 for actions in saved.values() for cameras in actions.values())
    # Other settings would mix two sets of views in one folder: refused, naming both.
    with pytest.raises(ValueError, match=r"settings: .*virtual_views\.json holds"):
        write_virtual_predictions(blendmimic3d_dir, out, VirtualCameraSettings(views_per_action=3), limit=8)

    data = RefinerDataSettings(presets=("occluded",), seeds=(0,), limit=8, val_motions_per_subject=1, virtual_seeds=(0,))
    train_part, val_part = load_refiner_sequences(out, blendmimic3d_dir, data)
    keys = train_part.keys + val_part.keys
    virtual = [k for k in keys if k[3] == "virtual/occluded"]
    real = [k for k in keys if k[3] == "occluded"]
    assert len(virtual) == 2 * len(real) // 4  # 2 views per action, 4 real cameras per action
    # Held-out motions hold out their virtual views too.
    val_motions = {(k[0], k[1].removesuffix("_multi")) for k in val_part.keys}
    assert not val_motions & {(k[0], k[1].removesuffix("_multi")) for k in train_part.keys}
    assert any(k[3] == "virtual/occluded" for k in val_part.keys)
    # The virtual targets are the same motion seen from elsewhere: a rigid change of frame of a real target.
    def target(key):
        pool = train_part if key in train_part.keys else val_part
        return pool.targets[pool.keys.index(key)]

    seen_virtually = target(virtual[0])
    seen_really = target(next(k for k in real if k[:2] == virtual[0][:2]))
    assert not np.allclose(seen_virtually, seen_really, atol=1e-2)
    np.testing.assert_allclose(
        np.linalg.norm(seen_virtually[:, 1:] - seen_virtually[:, :1], axis=-1),
        np.linalg.norm(seen_really[:, 1:] - seen_really[:, :1], axis=-1),
        atol=1e-4,
    )


def test_aligned_predictions_name_the_missing_or_mismatched_sequence():
    from modeling_gcnrefine.recipes.backbone import aligned_predictions

    sequences = [fake_sequence("SS1", "Walking", 0), fake_sequence("SS1", "Walking", 1)]
    good = {"SS1": {"Walking": [np.ones((10, 17, 3)), np.full((10, 17, 3), 2.0)]}}
    assert [p[0, 0, 0] for p in aligned_predictions(good, sequences)] == [1.0, 2.0]
    with pytest.raises(ValueError, match=r"run.npz: no prediction for \('SS1', 'Walking', 1\)"):
        aligned_predictions({"SS1": {"Walking": [np.ones((10, 17, 3))]}}, sequences, "run.npz")
    with pytest.raises(ValueError, match=r"predictions: \('SS1', 'Walking', 0\) has 9 frames, expected 10"):
        aligned_predictions({"SS1": {"Walking": [np.ones((9, 17, 3))] * 2}}, sequences)


def test_pretrained_lifter_predicts_everything_without_training(backbone_dir, blendmimic3d_dir, tmp_path):
    """The paper's protocol: a lifter trained elsewhere (here a small random one) writes every file."""
    from modeling_gcnrefine.data.blendmimic3d import load_blendmimic3d
    from modeling_gcnrefine.data.sequences import camera_sequences
    from modeling_gcnrefine.data.virtual_cameras import VirtualCameraSettings
    from modeling_gcnrefine.lifting import LifterConfig, TemporalLifterModel
    from modeling_gcnrefine.recipes.backbone import lift_sequence
    from modeling_gcnrefine.recipes.virtual_views import write_virtual_predictions

    torch.manual_seed(0)
    lifter = TemporalLifterModel(LifterConfig(channels=16, filter_widths=[3, 3])).eval()
    lifter.save_pretrained(tmp_path / "elsewhere")
    settings = BackboneSettings(
        limit=8, train_seeds=(0,), train_presets=("occluded",), test_presets=("occluded",),
        prediction_seeds=(0,), test_prediction_seeds=(0,), pretrained_lifter=tmp_path / "elsewhere",
    )
    out = tmp_path / "paper"
    metrics = run_backbone(blendmimic3d_dir, out, settings)
    assert not (out / "lifters").exists()  # nothing trained
    assert metrics["settings"]["pretrained_lifter"] == str(tmp_path / "elsewhere")
    sequences = camera_sequences(load_blendmimic3d(blendmimic3d_dir)["train"], 8)
    saved = load_predictions(prediction_path(out, "train", "occluded", 0))
    first = sequences[0]
    np.testing.assert_allclose(
        saved[first.subject][first.action][first.camera], lift_sequence(lifter, first, "occluded", 0), atol=1e-5
    )
    views = write_virtual_predictions(
        blendmimic3d_dir, out, VirtualCameraSettings(views_per_action=1, seed=5), presets=("occluded",), limit=8
    )
    assert np.isfinite(views["occluded_seed0"])
    # Files of a trained backbone and of a pretrained lifter never mix in one folder.
    with pytest.raises(ValueError, match=r"pretrained_lifter: .*backbone_metrics\.json was written with None"):
        run_backbone(blendmimic3d_dir, backbone_dir[0], settings)
    # A lifter that does not map 17 2D joints to 17 3D joints is refused, naming what it has.
    TemporalLifterModel(LifterConfig(channels=8, filter_widths=[3], in_features=3)).save_pretrained(tmp_path / "bad")
    settings.pretrained_lifter = str(tmp_path / "bad")
    with pytest.raises(ValueError, match=r"pretrained_lifter: expected a lifter of 17 joints.*\(17, 3, 3\)"):
        run_backbone(blendmimic3d_dir, tmp_path / "other", settings)


def test_real_training_detections_cover_the_filmed_cameras_only(blendmimic3d_dir, tmp_path, monkeypatch):
    """Of SS1/SS2 only a few videos were filmed: those sequences get 'real' predictions, the other
    cameras of their actions are NaN in the file, and the refiner takes the filmed ones alone."""
    from modeling_gcnrefine.data.blendmimic3d import load_blendmimic3d
    from modeling_gcnrefine.data.sequences import camera_sequences
    from modeling_gcnrefine.lifting import LifterConfig, TemporalLifterModel
    from modeling_gcnrefine.recipes.backbone import lift_sequence

    sequences = camera_sequences(load_blendmimic3d(blendmimic3d_dir)["train"], 8)
    filmed = sequences[1]  # camera 1 of the first action; its camera 0 was not filmed
    assert filmed.camera == 1 and sequences[0].action == filmed.action
    name = f"S{filmed.subject[-1]}/{filmed.action}/{filmed.camera}"
    np.savez(
        tmp_path / "real.npz",
        **{
            f"{name}|kp2d": filmed.keypoints_2d + 1.0,
            f"{name}|score": np.full(filmed.keypoints_2d.shape[:2], 0.8, np.float32),
            f"{name}|found": np.ones(len(filmed.keypoints_2d), bool),
        },
    )
    monkeypatch.setenv("GCNREFINE_REAL_DETECTIONS", str(tmp_path / "real.npz"))
    torch.manual_seed(0)
    lifter = TemporalLifterModel(LifterConfig(channels=16, filter_widths=[3, 3])).eval()
    lifter.save_pretrained(tmp_path / "elsewhere")
    settings = BackboneSettings(
        limit=8, train_seeds=(0,), train_presets=("occluded", "real"), test_presets=("occluded",),
        prediction_seeds=(0,), test_prediction_seeds=(0,), pretrained_lifter=tmp_path / "elsewhere",
    )  # fmt: skip
    out = tmp_path / "bank"
    metrics = run_backbone(blendmimic3d_dir, out, settings)
    saved = load_predictions(prediction_path(out, "train", "real", 0), missing_cameras=True)
    assert list(saved) == [filmed.subject] and list(saved[filmed.subject]) == [filmed.action]
    cameras = saved[filmed.subject][filmed.action]
    others = [s.camera for s in sequences if s.action == filmed.action and s.camera != filmed.camera]
    assert len(cameras) == len(others) + 1 and all(np.isnan(cameras[c]).all() for c in others)
    np.testing.assert_allclose(cameras[1], lift_sequence(lifter, filmed, "real", 0), atol=1e-5)
    assert np.isfinite(metrics["train_oof_mpjpe_mm"]["real_seed0"])
    data = RefinerDataSettings(presets=("occluded", "real"), seeds=(0,), limit=8, val_motions_per_subject=1)
    train_part, val_part = load_refiner_sequences(out, blendmimic3d_dir, data)
    assert [k[:3] for k in train_part.keys + val_part.keys if k[3] == "real"] == [filmed.key]
    assert len([k for k in train_part.keys + val_part.keys if k[3] == "occluded"]) == len(sequences)
    assert all(np.isfinite(x).all() for x in train_part.inputs + val_part.inputs)
    # A training split the file does not touch at all is refused before any lifter runs.
    settings.limit = 1
    with pytest.raises(ValueError, match=r"preset 'real': .* do not cover 1 of the 1 sequences"):
        run_backbone(blendmimic3d_dir, tmp_path / "none_filmed", settings)


def test_refiner_data_from_several_lifters(backbone_dir, blendmimic3d_dir, tmp_path):
    """Several backbone folders (lifters) add up; the same motions are held out for all of them."""
    import shutil

    from modeling_gcnrefine.recipes.refiner import backbone_dirs

    out, _ = backbone_dir
    other = tmp_path / "other_lifter"
    shutil.copytree(out / "predictions", other / "predictions")
    data = RefinerDataSettings(presets=("occluded",), seeds=(0,), limit=8, val_motions_per_subject=1)
    one_train, one_val = load_refiner_sequences(out, blendmimic3d_dir, data)
    two_train, two_val = load_refiner_sequences([out, other], blendmimic3d_dir, data)
    assert len(two_train.keys) == 2 * len(one_train.keys) and len(two_val.keys) == 2 * len(one_val.keys)
    assert {k[3] for k in two_train.keys} == {"occluded", "other_lifter:occluded"}
    motions = {(k[0], k[1].removesuffix("_multi")) for k in two_val.keys}
    assert motions == {(k[0], k[1].removesuffix("_multi")) for k in one_val.keys}
    assert not motions & {(k[0], k[1].removesuffix("_multi")) for k in two_train.keys}
    # Only the subjects asked for (e.g. those a pretrained lifter never saw); an unknown one is refused.
    only = RefinerDataSettings(presets=("occluded",), seeds=(0,), limit=8, val_motions_per_subject=1, subjects=("SS1",))
    some_train, some_val = load_refiner_sequences(out, blendmimic3d_dir, only)
    assert {k[0] for k in some_train.keys + some_val.keys} == {"SS1"}
    only.subjects = ("SS3",)
    with pytest.raises(ValueError, match=r"subjects: expected some of \['SS1'.*got \['SS3'\]"):
        load_refiner_sequences(out, blendmimic3d_dir, only)
    with pytest.raises(ValueError, match=r"backbone_dir: expected one folder or several distinct ones"):
        backbone_dirs([out, out])
    with pytest.raises(ValueError, match=r"backbone_dir: expected .*train_occluded_seed0\.npz"):
        load_refiner_sequences([out, tmp_path / "empty"], blendmimic3d_dir, data)


def test_leave_one_lifter_out_validates_on_the_held_out_lifter_only(backbone_dir, blendmimic3d_dir, tmp_path):
    """val_backbone_dir: train on the other lifters' training motions, validate on the held-out
    lifter's held-out motions; the motions split as without it, and a folder cannot be both."""
    import shutil

    out, _ = backbone_dir
    held = tmp_path / "held_lifter"
    shutil.copytree(out / "predictions", held / "predictions")
    data = RefinerDataSettings(presets=("occluded",), seeds=(0,), limit=8, val_motions_per_subject=1)
    in_train, in_val = load_refiner_sequences(out, blendmimic3d_dir, data)
    train_part, val_part = load_refiner_sequences(out, blendmimic3d_dir, data, val_backbone_dir=held)
    assert train_part.keys == in_train.keys
    assert {k[3] for k in val_part.keys} == {"held_lifter:occluded"}
    assert [k[:3] for k in val_part.keys] == [k[:3] for k in in_val.keys]
    # Choices made before training (the window map's strength) use the training lifters' held-out motions.
    _, _, tuning = load_refiner_split(out, blendmimic3d_dir, data, val_backbone_dir=held)
    assert tuning.keys == in_val.keys
    assert load_refiner_split(out, blendmimic3d_dir, data)[2].keys == in_val.keys
    with pytest.raises(ValueError, match=r"val_backbone_dir: expected folders not among backbone_dir"):
        load_refiner_sequences([out, held], blendmimic3d_dir, data, val_backbone_dir=held)


@pytest.mark.parametrize(
    "field_name, value, message",
    [
        ("bone_scale_std", -0.1, r"bone_scale_std: expected a number in \[0, 0.5\], got -0.1"),
        ("speed_range", (1.5, 1.0), r"speed_range: expected \(low, high\).*got \(1.5, 1.0\)"),
        ("joint_dropout", 2.0, r"joint_dropout: expected a probability in \[0, 1\], got 2.0"),
        ("ridge_alpha", 0.0, r"ridge_alpha: expected a positive number or None, got 0.0"),
    ],
)
def test_refiner_augmentation_settings_are_validated(field_name, value, message):
    with pytest.raises(ValueError, match=message):
        RefinerDataSettings(**{field_name: value})


def test_refiner_trains_with_every_augmentation(backbone_dir, blendmimic3d_dir, tmp_path):
    out, _ = backbone_dir
    data = RefinerDataSettings(
        presets=("occluded",), seeds=(0,), limit=8, val_motions_per_subject=1,
        bone_scale_std=0.05, speed_range=(0.8, 1.25), joint_dropout=0.5, ridge_alpha=0.01,
    )
    config = GCNRefineConfig.long_range(
        spatial_channels=[8, 8], temporal_channels=16, temporal_dilations=[1, 3], temporal_joint_channels=4,
        num_frames=15, in_channels=4, window_linear=True, window_linear_frames=5,
    )  # fmt: skip
    args = TrainingArguments(
        output_dir=str(tmp_path / "r"), epochs=1, batch_size=8, samples_per_epoch=16, log_with=None,
        metric_for_best="loss_mpjpe",
    )
    result = train_refiner(out, tmp_path / "r", config, blendmimic3d_dir, data, args)
    assert np.isfinite(result.best_metric)
    # The long-range sliding ridge map was fitted (not zero) and stayed as fitted while training.
    model = GCNRefineModel.from_pretrained(result.best_path)
    fitted = json.loads((tmp_path / "r" / "data.json").read_text())["window_linear"]
    assert fitted["frames"] == 5 and model.window_linear.weight.abs().sum() > 0
    assert fitted["alpha"] == 0.01 and list(fitted["val_mpjpe_mm_by_alpha"]) == ["0.01"]  # given, not chosen
    final = GCNRefineModel.from_pretrained(result.final_path)
    torch.testing.assert_close(final.window_linear.weight, model.window_linear.weight)
