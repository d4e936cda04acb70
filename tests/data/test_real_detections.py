"""Tests for modeling_gcnrefine.data.real_detections: the loader, frames without a person, coverage
errors, ``detect(sequence, "real", seed)`` and lifting real detections with missing frames."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _real_sequences import raw_sequence

from modeling_gcnrefine.data.real_detections import (
    REAL,
    check_coverage,
    coverage,
    default_real_detections_path,
    load_real_detections,
    real_detections,
)
from modeling_gcnrefine.data.sequences import CameraSequence, detect, detection_presets
from modeling_gcnrefine.lifting.configuration_lifter import LifterConfig
from modeling_gcnrefine.lifting.modeling_lifter import TemporalLifterModel
from modeling_gcnrefine.recipes.backbone import BackboneSettings, lift_sequence
from modeling_gcnrefine.recipes.refiner import RefinerDataSettings

SIZE = (1000, 1002)

# A front-facing skeleton in pixels (Human3.6M-17 order); left/right partners are 40 to 100 px apart.
_TEMPLATE = 0.5 * np.array(
    [
        [0, 0],
        [-40, 0], [-45, 90], [-50, 180],
        [40, 0], [45, 90], [50, 180],
        [0, -60], [0, -120], [0, -140], [0, -170],
        [60, -115], [90, -50], [100, 10],
        [-60, -115], [-90, -50], [-100, 10],
    ]
)  # fmt: skip


def _sequence(subject="SS1", action="Walk", camera=0, frames=12, centre=(500.0, 450.0)) -> CameraSequence:
    rng = np.random.default_rng(0)
    keypoints = (np.asarray(centre) + _TEMPLATE + rng.normal(scale=2.0, size=(frames, 17, 2))).astype(np.float32)
    return CameraSequence(
        subject, action, camera, keypoints, np.zeros((frames, 17, 3), np.float32), np.ones((frames, 17), bool), SIZE
    )


def _write(path, sequences, found=None, **extra):
    """A real detections file holding ``sequences`` detected at their ground truth plus 1 px."""
    arrays = {}
    for s in sequences:
        name = f"S{s.subject[-1]}/{s.action}/{s.camera}"
        hit = np.ones(len(s.keypoints_2d), bool) if found is None else found
        keypoints = s.keypoints_2d + 1.0
        keypoints[~hit] = 0.0  # a writer that leaves zeros in frames without a person
        arrays[f"{name}|kp2d"] = keypoints.astype(np.float32)
        arrays[f"{name}|score"] = np.full(s.keypoints_2d.shape[:2], 0.8, np.float32)
        arrays[f"{name}|found"] = hit
    arrays.update(extra)
    np.savez(path, **arrays)
    return path


# ---------------------------------------------------------------- the loader


def test_frames_without_a_person_are_nan_with_zero_confidence(tmp_path):
    sequence = _sequence()
    found = np.ones(12, bool)
    found[[0, 5, 6]] = False
    path = _write(tmp_path / "real.npz", [sequence], found=found)
    loaded = load_real_detections(path)
    assert list(loaded) == [("SS1", "Walk", 0)]
    entry = loaded["SS1", "Walk", 0]
    assert entry.keypoints_2d.dtype == np.float32 and entry.confidence.dtype == np.float32
    assert np.isnan(entry.keypoints_2d[~found]).all() and (entry.confidence[~found] == 0).all()
    np.testing.assert_allclose(entry.keypoints_2d[found], sequence.keypoints_2d[found] + 1.0)
    np.testing.assert_allclose(entry.confidence[found], 0.8)
    np.testing.assert_array_equal(entry.found, found)
    with pytest.raises(ValueError, match="read-only"):
        entry.keypoints_2d[0, 0, 0] = 1.0  # cached and shared: nobody may change it


def test_a_missing_keypoint_in_a_found_frame_has_no_confidence(tmp_path):
    sequence = _sequence()
    path = _write(tmp_path / "real.npz", [sequence])
    with np.load(path) as f:
        arrays = dict(f)
    arrays["S1/Walk/0|kp2d"][3, 7] = np.nan
    np.savez(tmp_path / "holes.npz", **arrays)
    entry = load_real_detections(tmp_path / "holes.npz")["SS1", "Walk", 0]
    assert entry.confidence[3, 7] == 0 and entry.confidence[3, 6] == pytest.approx(0.8)


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        ({"S1/Walk/0|depth": np.zeros(12)}, "expected keys"),
        ({"bad key": np.zeros(3)}, "expected keys"),
        ({"S7/Walk/0|kp2d": np.zeros((12, 17, 2), np.float32)}, "subject folder"),
        ({"S1/Walk/1|kp2d": np.zeros((12, 17, 2), np.float32)}, r"SS1/Walk camera 1: missing \['score', 'found'\]"),
    ],
)
def test_malformed_files_name_the_key(tmp_path, extra, match):
    path = _write(tmp_path / "real.npz", [_sequence()], **extra)
    with pytest.raises(ValueError, match=match):
        load_real_detections(path)


def test_wrong_shapes_and_pickles_are_refused(tmp_path):
    path = _write(tmp_path / "real.npz", [_sequence()], **{"S1/Walk/0|found": np.ones(11, bool)})
    with pytest.raises(ValueError, match="found: expected bool of shape"):
        load_real_detections(path)
    objects = tmp_path / "objects.npz"
    np.savez(objects, **{"S1/Walk/0|kp2d": np.array([{"a": 1}], dtype=object)})
    with pytest.raises(ValueError, match="not a plain array"):
        load_real_detections(objects)
    with pytest.raises(FileNotFoundError, match="GCNREFINE_REAL_DETECTIONS"):
        load_real_detections(tmp_path / "absent.npz")


def test_a_rewritten_file_is_read_again(tmp_path):
    path = _write(tmp_path / "real.npz", [_sequence()])
    assert list(load_real_detections(path)) == [("SS1", "Walk", 0)]
    _write(path, [_sequence(action="Running")])  # another size, whatever the clock's resolution
    assert list(load_real_detections(path)) == [("SS1", "Running", 0)]


def test_default_location(monkeypatch, tmp_path):
    monkeypatch.setenv("GCNREFINE_REAL_DETECTIONS", str(tmp_path / "mine.npz"))
    assert default_real_detections_path() == tmp_path / "mine.npz"
    monkeypatch.delenv("GCNREFINE_REAL_DETECTIONS")
    monkeypatch.setenv("GCNREFINE_BLENDMIMIC3D_DIR", str(tmp_path / "shared" / "blendmimic3d"))
    assert default_real_detections_path() == tmp_path / "shared" / "real_detections" / "blendmimic3d_blazepose.npz"
    monkeypatch.delenv("GCNREFINE_BLENDMIMIC3D_DIR")
    assert default_real_detections_path().parts[-3:] == ("shared", "real_detections", "blendmimic3d_blazepose.npz")


# ---------------------------------------------------------------- one sequence


def test_an_uncovered_sequence_names_itself_and_the_coverage(tmp_path):
    path = _write(tmp_path / "real.npz", [_sequence(camera=c) for c in (0, 1, 2)] + [_sequence("SS3", "Focus", 2)])
    with pytest.raises(ValueError, match=r"none for SS2/Greeting camera 3; the file covers 4 camera sequences: "
                       r"SS1 Walk 0-2; SS3 Focus 2"):  # fmt: skip
        real_detections(_sequence("SS2", "Greeting", 3), path)
    with pytest.raises(ValueError, match=r"do not cover 1 of the 2 sequences \(SS2/Greeting camera 3\)"):
        check_coverage([_sequence(), _sequence("SS2", "Greeting", 3)], path)
    check_coverage([_sequence(camera=1), _sequence("SS3", "Focus", 2)], path)
    assert coverage([("SS1", "A", 0), ("SS1", "A", 2), ("SS1", "B", 1)]) == "SS1 A 0 2, B 1"


def test_detect_real_reads_the_file_and_ignores_the_seed(tmp_path, monkeypatch):
    sequence = _sequence()
    found = np.arange(12) % 4 != 0
    monkeypatch.setenv("GCNREFINE_REAL_DETECTIONS", str(_write(tmp_path / "real.npz", [sequence], found=found)))
    assert REAL in detection_presets() and "realistic" in detection_presets()
    keypoints, confidence = detect(sequence, "real", 0)
    again, _ = detect(sequence, "real", 7)
    np.testing.assert_array_equal(keypoints, again)
    assert keypoints.shape == (12, 17, 2) and confidence.shape == (12, 17)
    assert np.isnan(keypoints[~found]).all() and (confidence[~found] == 0).all()
    keypoints[:] = 0  # callers get their own arrays
    assert not np.array_equal(detect(sequence, "real", 0)[0][found], keypoints[found])


def test_detections_that_do_not_fit_the_sequence_are_refused(tmp_path):
    sequence = _sequence()
    path = _write(tmp_path / "real.npz", [sequence])
    shorter = _sequence(frames=10)
    with pytest.raises(ValueError, match="12 frames, but the sequence has 10"):
        real_detections(shorter, path)
    moved = _sequence(centre=(200.0, 450.0))  # another view of the same motion, e.g. a virtual camera
    with pytest.raises(ValueError, match="another view or motion"):
        real_detections(moved, path)
    mirrored = CameraSequence(
        "SS1", "Walk", 0, sequence.keypoints_2d[:, [0, 4, 5, 6, 1, 2, 3, 7, 8, 9, 10, 14, 15, 16, 11, 12, 13]],
        sequence.poses_3d, sequence.visibility, SIZE,
    )  # fmt: skip
    with pytest.raises(ValueError, match="upstream joint labelling"):
        real_detections(mirrored, path)


def test_settings_accept_the_real_preset():
    BackboneSettings(test_presets=("real", "realistic"), train_presets=("real", "occluded"))
    RefinerDataSettings(presets=("real",))
    # Virtual views take the simulated presets only; the real files still join from filmed cameras.
    RefinerDataSettings(presets=("real", "occluded"), virtual_seeds=(0,))
    with pytest.raises(ValueError, match="test_presets"):
        BackboneSettings(test_presets=("imaginary",))


# ---------------------------------------------------------------- the shared file


def test_the_shared_file(real_detections_path):
    loaded = load_real_detections(real_detections_path)
    assert len(loaded) == 27
    subjects = [key[0] for key in loaded]
    assert (subjects.count("SS1"), subjects.count("SS2"), subjects.count("SS3")) == (8, 3, 16)
    frames = sum(len(entry.found) for entry in loaded.values())
    found = sum(int(entry.found.sum()) for entry in loaded.values())
    assert frames == 10439 and found / frames == pytest.approx(0.984, abs=0.001)  # DATA.md
    for entry in loaded.values():
        assert np.isnan(entry.keypoints_2d[~entry.found]).all() and (entry.confidence[~entry.found] == 0).all()
        assert np.isfinite(entry.keypoints_2d[entry.found]).all()
        assert ((entry.confidence >= 0) & (entry.confidence <= 1)).all()
    assert not loaded["SS2", "GatheringObjects", 0].found.all()


def test_a_real_sequence_with_unfound_frames_lifts_to_finite_3d(blendmimic3d_dir, real_detections_path, monkeypatch):
    monkeypatch.setenv("GCNREFINE_REAL_DETECTIONS", str(real_detections_path))
    sequence = raw_sequence(blendmimic3d_dir, "SS2", "GatheringObjects", 0)
    keypoints, confidence = detect(sequence, "real", 0)
    unfound = np.isnan(keypoints).any(axis=(1, 2))
    assert 0 < unfound.sum() < len(unfound) and (confidence[unfound] == 0).all()
    torch.manual_seed(0)
    lifter = TemporalLifterModel(LifterConfig(filter_widths=[3, 3], channels=8)).eval()
    with pytest.raises(ValueError, match="finite"):  # the lifter itself takes finite 2D only
        lifter.lift(keypoints, image_size=sequence.image_size)
    poses = lift_sequence(lifter, sequence, "real", 0)
    assert poses.shape == (len(keypoints), 17, 3) and np.isfinite(poses).all()
