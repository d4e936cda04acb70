"""Ground-truth-free measures (evaluation.plausibility) and `gcnrefine refine --example`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from modeling_gcnrefine.commands import main
from modeling_gcnrefine.evaluation.plausibility import (
    acceleration,
    bone_length_spread,
    jitter,
    left_right_asymmetry,
    mean_displacement,
    plausibility_change,
)
from modeling_gcnrefine.recipes.files import EXAMPLE_POSES
from modeling_gcnrefine.skeleton import H36M_PARENTS

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("GCNREFINE_SHARED_DIR", REPO_ROOT.parent / "shared"))


def rigid_walk(frames: int = 20) -> np.ndarray:
    """A fixed skeleton moving at constant velocity: no bone changes, no acceleration."""
    rng = np.random.default_rng(1)
    pose = rng.normal(scale=0.3, size=(17, 3))
    velocity = np.array([0.01, 0.0, 0.02])
    return pose[None] + velocity * np.arange(frames)[:, None, None]


def test_a_rigid_skeleton_at_constant_speed_scores_zero():
    poses = rigid_walk()
    assert bone_length_spread(poses) == pytest.approx(0.0, abs=1e-9)
    assert acceleration(poses) == pytest.approx(0.0, abs=1e-9)
    assert mean_displacement(poses, poses) == 0.0


def test_values_in_millimetres():
    poses = rigid_walk()
    moved = poses + np.array([0.003, 0.004, 0.0])  # 5 mm on every joint
    assert mean_displacement(poses, moved) == pytest.approx(5.0)
    jitter = poses.copy()
    jitter[1::2] += np.array([0.0, 0.0, 0.001])  # +1 mm on odd frames: second difference ±2 mm
    assert acceleration(jitter) == pytest.approx(2.0)
    # The right hip alternating 0.1 m and 0.12 m from the rest (all at the origin) changes its two
    # bones (pelvis -> hip, hip -> knee) by std 10 mm; the other 14 bones stay 0.
    stretch = np.zeros((10, 17, 3))
    stretch[:, 1, 0] = np.where(np.arange(10) % 2, 0.12, 0.1)
    assert bone_length_spread(stretch) == pytest.approx(2 * 10.0 / 16)


def test_nan_frames_are_left_out_and_one_person_axis_accepted():
    poses = rigid_walk()
    holes = poses.copy()
    holes[5] = np.nan
    assert np.isfinite(bone_length_spread(holes)) and bone_length_spread(holes) == pytest.approx(0.0, abs=1e-9)
    assert mean_displacement(holes, holes + 0.001) == pytest.approx(np.sqrt(3.0))
    assert acceleration(poses[:, None]) == pytest.approx(acceleration(poses))
    assert np.isnan(mean_displacement(np.full((3, 17, 3), np.nan), np.zeros((3, 17, 3))))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: acceleration(np.zeros((10, 17))), r"poses: expected shape \(T, J, 3\).*got \(10, 17\)"),
        (lambda: acceleration(np.zeros((2, 17, 3))), "poses: expected at least 3 frames, got 2"),
        (lambda: bone_length_spread(np.zeros((1, 17, 3))), "poses: expected at least 2 frames, got 1"),
        (lambda: bone_length_spread(np.zeros((4, 16, 3))), "parents: expected 16 entries.*got 17"),
        (lambda: bone_length_spread(np.array([["a"] * 3] * 17)[None].repeat(3, 0)), "poses: expected a numeric"),
        (lambda: mean_displacement(np.zeros((4, 17, 3)), np.zeros((5, 17, 3))), r"after: expected the shape of before \(4, 17, 3\), got \(5, 17, 3\)"),
        (lambda: mean_displacement(np.zeros((4, 17, 2)), np.zeros((4, 17, 2))), "before: expected shape"),
    ],
)
def test_bad_input_names_the_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_plausibility_change_reports_both_sides():
    poses = rigid_walk()
    change = plausibility_change(poses, poses + 0.002, H36M_PARENTS)
    assert change["displacement_mm"] == pytest.approx(2.0 * np.sqrt(3.0))
    assert change["bone_spread_mm"] == pytest.approx((0.0, 0.0), abs=1e-9)
    assert change["acceleration_mm"] == pytest.approx((0.0, 0.0), abs=1e-9)
    assert change["jitter_mm"] == change["acceleration_mm"]
    # A translation changes no bone, so both sides have the random skeleton's asymmetry.
    asymmetry = left_right_asymmetry(poses)
    assert asymmetry > 1.0 and change["asymmetry_mm"] == pytest.approx((asymmetry, asymmetry))


def test_plausibility_change_sees_asymmetry_and_jitter_go():
    before = symmetric_skeleton()[None].repeat(6, axis=0)
    forearm = before[0, 13] - before[0, 12]
    before[:, 13] += 0.01 * forearm / np.linalg.norm(forearm)  # left forearm 10 mm longer than the right
    before[1::2] += [0.001, 0.0, 0.0]  # +1 mm on odd frames: jitter 2 mm/frame²
    after = symmetric_skeleton()[None].repeat(6, axis=0)
    change = plausibility_change(before, after)
    assert change["asymmetry_mm"] == pytest.approx((10.0 / 6, 0.0), abs=1e-9)
    assert change["jitter_mm"] == pytest.approx((2.0, 0.0), abs=1e-9)


# --------------------------------------------------------------------------- left/right, jitter


def symmetric_skeleton() -> np.ndarray:
    """A Human3.6M-17 pose mirror-symmetric in x: every left bone as long as its right partner."""
    pose = np.zeros((17, 3))
    pose[[7, 8, 9, 10], 1] = [0.2, 0.45, 0.55, 0.75]  # spine, thorax, neck, head up the y axis
    for right, left, point in (
        (1, 4, [0.1, 0.0, 0.0]),  # hips
        (2, 5, [0.1, -0.44, 0.0]),  # knees
        (3, 6, [0.1, -0.83, 0.0]),  # ankles
        (14, 11, [0.18, 0.45, 0.0]),  # shoulders
        (15, 12, [0.2, 0.21, 0.0]),  # elbows
        (16, 13, [0.2, 0.0, 0.05]),  # wrists
    ):
        pose[right] = point
        pose[left] = np.array(point) * [-1.0, 1.0, 1.0]
    return pose


def test_left_right_asymmetry_hand_computed():
    pose = symmetric_skeleton()
    assert left_right_asymmetry(pose[None]) == pytest.approx(0.0, abs=1e-12)
    # Frame 0: the left shin 30 mm longer (left ankle 30 mm lower; the ankle moves its own bone only).
    # Frame 1: the right thigh and shin both change when the right knee moves 20 mm in z.
    poses = np.stack([pose, pose])
    poses[0, 6, 1] -= 0.03
    poses[1, 2, 2] += 0.02
    thigh = np.hypot(0.44, 0.02) - 0.44  # pelvis-side hip (0.1, 0, 0) to knee (0.1, -0.44, 0.02)
    shin = np.hypot(0.39, 0.02) - 0.39  # knee to ankle (0.1, -0.83, 0)
    expected = (30.0 + (thigh + shin) * 1000.0) / 12  # 6 pairs x 2 frames
    assert left_right_asymmetry(poses) == pytest.approx(expected)
    # A frame without a person is left out; the (T, 1, J, 3) layout is accepted.
    holes = np.concatenate([poses, np.full((1, 17, 3), np.nan)])
    assert left_right_asymmetry(holes[:, None]) == pytest.approx(expected)
    # Other skeletons: a three-joint chain whose two bones are the "pair".
    chain = np.array([[[0.0, 0.0, 0.0], [0.1, 0.0, 0.0], [0.1, 0.25, 0.0]]])
    assert left_right_asymmetry(chain, parents=(-1, 0, 1), joints_left=(1,), joints_right=(2,)) == pytest.approx(150.0)


def test_jitter_is_acceleration():
    poses = rigid_walk()
    poses[7] += [0.0, 0.003, 0.004]  # a 5 mm spike at one frame, all joints: 5 + 10 + 5 mm over 18
    assert jitter(poses) == pytest.approx(20.0 / 18)
    assert acceleration is jitter


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"joints_right": (1, 2)}, r"joints_right: expected 6 joints \(as many as joints_left\), got 2"),
        ({"joints_left": (), "joints_right": ()}, r"joints_left: expected at least one joint, got \[\]"),
        ({"joints_left": (4, 5, 6, 11, 12, 17)}, r"joints_left: expected joints in 0..16 that have a parent, got \[17\]"),
        ({"joints_right": (0, 2, 3, 14, 15, 16)}, r"joints_right: .*that have a parent, got \[0\]"),
        ({"parents": H36M_PARENTS[:16]}, "parents: expected 17 entries.*got 16"),
    ],
)
def test_left_right_asymmetry_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        left_right_asymmetry(symmetric_skeleton()[None], **kwargs)


# --------------------------------------------------------------------------- the shipped example


def test_the_example_is_a_small_float32_pose_file():
    poses = np.load(EXAMPLE_POSES, allow_pickle=False)
    assert poses.dtype == np.float32 and poses.ndim == 3 and poses.shape[1:] == (17, 3)
    assert 100 <= len(poses) <= 300 and np.isfinite(poses).all()
    assert EXAMPLE_POSES.stat().st_size < 100_000
    assert np.abs(poses).max() < 2.0  # root-relative metres


def test_cli_refines_the_example_and_reports_what_changed(tmp_path, capsys):
    out = tmp_path / "refined.npy"
    assert main(["refine", "--example", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    for line in ("mean displacement", "bone-length spread", "acceleration", "->", "mm/frame²"):
        assert line in printed
    refined = np.load(out, allow_pickle=False)
    assert refined.shape == np.load(EXAMPLE_POSES).shape and np.isfinite(refined).all()


def test_cli_prints_the_summary_for_an_input_file_too(tmp_path, capsys):
    source = tmp_path / "in.npy"
    np.save(source, np.load(EXAMPLE_POSES)[:40])
    assert main(["refine", str(source), "-o", str(tmp_path / "out.npz"), "--model", "gcnrefine-blendmimic3d-compact"]) == 0
    assert "bone-length spread" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["refine", "-o", "x.npy"], ["refine", "in.npy", "--example", "-o", "x.npy"]])
def test_cli_wants_exactly_one_of_input_and_example(argv, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert "exactly one of INPUT or --example" in capsys.readouterr().err
    assert not (tmp_path / "x.npy").exists()


@pytest.mark.shared
def test_make_example_reproduces_the_shipped_file(tmp_path):
    detections = SHARED / "real_detections" / "blendmimic3d_blazepose.npz"
    if not detections.is_file():
        pytest.skip(f"the real detections are not at {detections}")
    out = tmp_path / "example.npy"
    subprocess.run(
        [sys.executable, str(REPO_ROOT / "tools" / "make_example.py"), "--detections", str(detections), "-o", str(out)],
        check=True,
        env={**os.environ, "GCNREFINE_LIFTER_CHECKPOINT": ""},
        capture_output=True,
    )
    # Not byte for byte: float rounding of the lifter differs between CPUs (measured: 4e-7 m).
    made, shipped = np.load(out, allow_pickle=False), np.load(EXAMPLE_POSES, allow_pickle=False)
    assert made.shape == shipped.shape and made.dtype == shipped.dtype
    np.testing.assert_allclose(made, shipped, rtol=0, atol=1e-5)
