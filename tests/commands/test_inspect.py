"""`gcnrefine inspect`: plausibility figures of a pose file, and its error against a reference."""

from __future__ import annotations

import json

import numpy as np
import pytest

from modeling_gcnrefine.commands import main
from modeling_gcnrefine.commands.inspect import summarize
from modeling_gcnrefine.recipes.files import EXAMPLE_POSES


def jittery_poses() -> np.ndarray:
    """4 frames, every joint at the origin but the left wrist 30 mm above it, and the whole body
    1 mm to the side on odd frames.

    Hand-computed: the left forearm is 30 mm, its right partner 0, the other 5 pairs equal, so the
    asymmetry is 30 / 6 = 5 mm; no bone changes length (spread 0); every second difference is 2 mm
    (jitter 2 mm/frame²).
    """
    poses = np.zeros((4, 17, 3))
    poses[:, 13, 2] = 0.03
    poses[1::2] += [0.001, 0.0, 0.0]
    return poses.astype(np.float32)


def reference_for(poses: np.ndarray) -> np.ndarray:
    """Ground truth that differs from ``jittery_poses`` by a translation, the (uniform) jitter and a
    5 mm error of the head at frame 2.

    Root-relative, only the head error remains: MPJPE 5 / (17 * 4) mm. Its second differences are
    5 mm (frames 0-2) and 10 mm (frames 1-3) at one joint of 17: acceleration error 7.5 / 17 mm/frame².
    """
    reference = poses.astype(np.float64).copy()
    reference[1::2] -= [0.001, 0.0, 0.0]
    reference += [0.0, 0.0, 2.0]
    reference[2, 10] += [0.003, 0.004, 0.0]
    return reference


def _inspect_json(argv, capsys) -> dict:
    assert main(["inspect", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_synthetic_file_hand_computed(tmp_path, capsys):
    source = tmp_path / "poses.npy"
    np.save(source, jittery_poses())
    figures = _inspect_json([str(source)], capsys)
    assert figures["frames"] == 4 and figures["joints"] == 17 and figures["empty_frames"] == 0
    assert figures["bone_spread_mm"] == pytest.approx(0.0, abs=1e-4)
    assert figures["asymmetry_mm"] == pytest.approx(5.0, rel=1e-5)
    assert figures["jitter_mm"] == pytest.approx(2.0, rel=1e-4)
    assert "mpjpe_mm" not in figures and figures["reference"] is None


def test_the_reference_adds_mpjpe_and_acceleration_error(tmp_path, capsys):
    poses = jittery_poses()
    source, truth = tmp_path / "poses.npz", tmp_path / "truth.npy"
    np.savez(source, poses=poses[:, None])  # (T, 1, J, 3) in an .npz: the person axis is dropped
    np.save(truth, reference_for(poses))
    figures = _inspect_json([str(source), "--reference", str(truth)], capsys)
    assert figures["mpjpe_mm"] == pytest.approx(5.0 / 68, rel=1e-4)
    assert figures["acceleration_error_mm"] == pytest.approx(7.5 / 17, rel=1e-4)
    assert figures["asymmetry_mm"] == pytest.approx(5.0, rel=1e-5)  # of INPUT, not of the reference


def test_the_table(tmp_path, capsys):
    source, truth = tmp_path / "poses.npy", tmp_path / "truth.npy"
    np.save(source, jittery_poses())
    np.save(truth, reference_for(jittery_poses()))
    assert main(["inspect", str(source), "--reference", str(truth)]) == 0
    lines = [" ".join(line.split()) for line in capsys.readouterr().out.splitlines()]
    assert lines[0] == str(source)
    assert lines[1:] == [
        "frames 4",
        "frames without a pose 0",
        "joints 17",
        "bone-length spread 0.0 mm",
        "left/right asymmetry 5.0 mm",
        "jitter 2.00 mm/frame²",
        "MPJPE 0.1 mm",
        "acceleration error 0.44 mm/frame²",
    ]


def test_missing_frames_and_short_files():
    poses = np.concatenate([jittery_poses(), np.full((1, 17, 3), np.nan)])
    reference = np.concatenate([reference_for(jittery_poses()), np.zeros((1, 17, 3))])
    figures = summarize(poses, reference)
    assert figures["frames"] == 5 and figures["empty_frames"] == 1
    # The empty frame is left out of every figure: the same values as without it.
    assert figures["asymmetry_mm"] == pytest.approx(5.0, rel=1e-5)
    assert figures["jitter_mm"] == pytest.approx(2.0, rel=1e-4)
    assert figures["mpjpe_mm"] == pytest.approx(5.0 / 68, rel=1e-4)
    assert figures["acceleration_error_mm"] == pytest.approx(7.5 / 17, rel=1e-4)
    short = summarize(jittery_poses()[:2], reference_for(jittery_poses())[:2])
    assert short["jitter_mm"] is None and short["acceleration_error_mm"] is None
    assert short["bone_spread_mm"] == pytest.approx(0.0, abs=1e-4)
    assert summarize(jittery_poses()[:1])["bone_spread_mm"] is None


def test_the_shipped_example(capsys):
    figures = _inspect_json([str(EXAMPLE_POSES)], capsys)
    poses = np.load(EXAMPLE_POSES, allow_pickle=False)
    assert figures["frames"] == len(poses) and figures["joints"] == 17 and figures["empty_frames"] == 0
    for key in ("bone_spread_mm", "asymmetry_mm", "jitter_mm"):
        assert 0.0 < figures[key] < 100.0, key  # a lifter's output: imperfect, but a person
    against_itself = _inspect_json([str(EXAMPLE_POSES), "--reference", str(EXAMPLE_POSES)], capsys)
    assert against_itself["mpjpe_mm"] == 0.0 and against_itself["acceleration_error_mm"] == 0.0


def _one_error(capsys) -> str:
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("gcnrefine inspect: error: "), err
    return err


def test_bad_files_are_one_line_errors_with_exit_code_2(tmp_path, capsys):
    text = tmp_path / "notes.npy"
    text.write_text("not numpy")
    assert main(["inspect", str(text)]) == 2
    assert "notes.npy: not a NumPy .npy/.npz file" in _one_error(capsys)
    pickled = tmp_path / "objects.npy"
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert main(["inspect", str(pickled)]) == 2
    assert "objects.npy: holds pickled Python objects, which are never loaded" in _one_error(capsys)
    assert main(["inspect", str(tmp_path / "missing.npy")]) == 2
    assert "path: expected an existing file" in _one_error(capsys)
    wrong = tmp_path / "poses_2d.npy"
    np.save(wrong, np.zeros((4, 17, 2)))
    assert main(["inspect", str(wrong)]) == 2
    assert "poses_2d.npy: expected shape (T, 17, 3) or (T, 1, 17, 3), got (4, 17, 2)" in _one_error(capsys)
    source, short = tmp_path / "poses.npy", tmp_path / "short.npy"
    np.save(source, jittery_poses())
    np.save(short, jittery_poses()[:3])
    assert main(["inspect", str(source), "--reference", str(short)]) == 2
    assert "reference: expected the shape of input (4, 17, 3), got (3, 17, 3)" in _one_error(capsys)
