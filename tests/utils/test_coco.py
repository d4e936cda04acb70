"""COCO-17 -> Human3.6M-17 conversion on known points, scores and missing joints."""

from __future__ import annotations

import numpy as np
import pytest

from modeling_gcnrefine.skeleton import COCO_JOINT_NAMES, H36M_JOINT_NAMES
from modeling_gcnrefine.utils.coco import coco_to_h36m

C = {name: i for i, name in enumerate(COCO_JOINT_NAMES)}
H = {name: i for i, name in enumerate(H36M_JOINT_NAMES)}


def known_points() -> np.ndarray:
    """Distinct COCO points: joint j at (10 j + 1, 100 j + 3), so every source shows up in the result."""
    j = np.arange(17, dtype=np.float64)
    return np.stack([10 * j + 1, 100 * j + 3], axis=-1)


def test_known_points_map_by_name():
    kp = known_points()
    out, conf = coco_to_h36m(kp)
    mid = lambda a, b: (kp[C[a]] + kp[C[b]]) / 2  # noqa: E731
    expected = {
        "pelvis": mid("left_hip", "right_hip"),
        "thorax": mid("left_shoulder", "right_shoulder"),
        "spine": (mid("left_hip", "right_hip") + mid("left_shoulder", "right_shoulder")) / 2,
        "neck": kp[C["nose"]],
        "head": mid("left_eye", "right_eye"),
    }
    for side in ("left", "right"):  # limbs joint to joint, the person's own side in both layouts
        for joint in ("hip", "knee", "ankle", "shoulder", "elbow", "wrist"):
            expected[f"{side}_{joint}"] = kp[C[f"{side}_{joint}"]]
    assert set(expected) == set(H36M_JOINT_NAMES)
    for name, point in expected.items():
        np.testing.assert_allclose(out[H[name]], point, err_msg=name)
    np.testing.assert_array_equal(conf, np.ones(17))


def test_scores_become_confidence_and_midpoints_take_the_lowest():
    kp = known_points()
    scores = np.full(17, 0.9)
    scores[C["left_hip"]] = 0.05  # low, but still a keypoint: kept, not NaN
    scores[C["right_eye"]] = 0.4
    out, conf = coco_to_h36m(kp, scores)
    assert np.isfinite(out).all()
    assert conf[H["left_hip"]] == pytest.approx(0.05)
    assert conf[H["pelvis"]] == pytest.approx(0.05)
    assert conf[H["spine"]] == pytest.approx(0.05)
    assert conf[H["head"]] == pytest.approx(0.4)
    assert conf[H["right_hip"]] == pytest.approx(0.9)
    assert conf[H["thorax"]] == pytest.approx(0.9)


def test_missing_joints_are_nan_with_zero_confidence():
    kp = known_points()
    kp[C["left_hip"]] = np.nan
    scores = np.full(17, 0.8)
    scores[C["nose"]] = np.nan  # a NaN score counts as 0, the point itself is kept
    out, conf = coco_to_h36m(kp, scores)
    missing = {"left_hip", "pelvis", "spine"}
    for name in H36M_JOINT_NAMES:
        assert np.isnan(out[H[name]]).all() == (name in missing), name
    assert all(conf[H[n]] == 0 for n in missing)
    assert conf[H["neck"]] == 0 and np.isfinite(out[H["neck"]]).all()
    assert conf[H["thorax"]] == pytest.approx(0.8)


def test_batched_2d_and_3d_and_dtypes():
    rng = np.random.default_rng(0)
    kp = rng.normal(size=(2, 5, 17, 3)).astype(np.float32)
    scores = rng.uniform(size=(2, 5, 17)).astype(np.float32)
    out, conf = coco_to_h36m(kp, scores)
    assert out.shape == (2, 5, 17, 3) and conf.shape == (2, 5, 17)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[1, 3, H["left_wrist"]], kp[1, 3, C["left_wrist"]])
    frame, _ = coco_to_h36m(kp[0, 0])
    np.testing.assert_allclose(frame, out[0, 0])
    ints, _ = coco_to_h36m(np.arange(34).reshape(17, 2))
    assert ints.dtype == np.float64 and ints[H["pelvis"], 0] == pytest.approx((22 + 24) / 2)


@pytest.mark.parametrize(
    ("keypoints", "scores", "match"),
    [
        (np.zeros((17,)), None, "keypoints: expected shape"),
        (np.zeros((16, 2)), None, r"keypoints: expected shape .* got \(16, 2\)"),
        (np.zeros((17, 4)), None, "keypoints: expected shape"),
        (np.full((17, 2), np.inf), None, "keypoints: expected finite"),
        (np.array([["a", "b"]] * 17), None, "keypoints: expected a numeric"),
        (np.zeros((3, 17, 2)), np.zeros((17,)), r"scores: expected shape \(3, 17\)"),
    ],
)
def test_bad_input_raises(keypoints, scores, match):
    with pytest.raises(ValueError, match=match):
        coco_to_h36m(keypoints, scores)
