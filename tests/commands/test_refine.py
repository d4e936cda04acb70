"""`gcnrefine refine` and the safe pose-file helpers."""

from __future__ import annotations

import pickle
import re
from unittest import mock

import numpy as np
import pytest
import torch
from conftest import TINY_REFINER

from modeling_gcnrefine import GCNRefineConfig, GCNRefineModel
from modeling_gcnrefine.commands import main
from modeling_gcnrefine.recipes import files
from modeling_gcnrefine.recipes.files import (
    check_output_dir,
    check_output_path,
    refine_file,
    refine_poses_file,
)
from modeling_gcnrefine.utils.io import load_poses_file, save_poses_file


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    torch.manual_seed(0)
    model = GCNRefineModel(GCNRefineConfig(**TINY_REFINER)).eval()
    folder = tmp_path_factory.mktemp("refiner")
    model.save_pretrained(folder)
    return folder


def poses(frames: int = 30) -> np.ndarray:
    rng = np.random.default_rng(0)
    poses = rng.normal(scale=0.2, size=(frames, 17, 3))
    poses[..., 2] += 4.0
    return poses.astype(np.float32)


def test_cli_refines_the_in_the_wild_example(tmp_path, model_dir, example_predictions_path):
    out = tmp_path / "refined.npy"
    assert main(["refine", str(example_predictions_path), "-o", str(out), "--model", str(model_dir)]) == 0
    original = np.load(example_predictions_path, allow_pickle=False)
    refined = np.load(out, allow_pickle=False)
    assert refined.shape == original.shape == (396, 1, 17, 3)
    assert refined.dtype == np.float32 and np.isfinite(refined).all()
    np.testing.assert_allclose(refined[:, 0, 0], original[:, 0, 0], atol=1e-6)  # root kept


def test_cli_refuses_to_overwrite_without_force(tmp_path, model_dir, capsys):
    source = tmp_path / "in.npz"
    save_poses_file(source, poses())
    out = tmp_path / "out.npz"
    out.write_bytes(b"precious")
    assert main(["refine", str(source), "-o", str(out), "--model", str(model_dir)]) == 2
    assert "exists" in capsys.readouterr().err
    assert out.read_bytes() == b"precious"
    assert main(["refine", str(source), "-o", str(out), "--model", str(model_dir), "--force"]) == 0
    assert load_poses_file(out).shape == (30, 17, 3)


def _bad_outputs(tmp_path):
    """(output path, overwrite, expected error, message) a refine run could not write."""
    (tmp_path / "taken.npy").write_bytes(b"precious")
    (tmp_path / "folder.npy").mkdir()
    (tmp_path / "a_file").write_bytes(b"")
    return [
        (tmp_path / "out.txt", False, ValueError, "expected a .npy or .npz file"),
        (tmp_path / "out", False, ValueError, "expected a .npy or .npz file"),
        (tmp_path / "folder.npy", True, ValueError, "expected a file, got the folder"),
        (tmp_path / "taken.npy", False, FileExistsError, "exists; pass overwrite=True"),
        (tmp_path / "a_file" / "sub" / "out.npy", False, ValueError, "is a file"),
    ]


def test_check_output_path_refuses_what_could_not_be_written(tmp_path, monkeypatch):
    for path, overwrite, error, message in _bad_outputs(tmp_path):
        with pytest.raises(error, match=re.escape(message)):
            check_output_path(path, overwrite)
    assert check_output_path(tmp_path / "taken.npy", overwrite=True) == tmp_path / "taken.npy"
    assert (
        check_output_path(str(tmp_path / "new" / "deeper" / "out.npz")).name == "out.npz"
    )  # made when written
    assert check_output_path(tmp_path / "d.npz", suffixes=(".npz",)) == tmp_path / "d.npz"
    with pytest.raises(ValueError, match=r"detections: expected a \.npz file"):
        check_output_path(tmp_path / "d.npy", suffixes=(".npz",), name="detections")
    # Root may write anywhere, so the permission check is exercised through os.access.
    monkeypatch.setattr(files.os, "access", lambda path, mode: False)
    with pytest.raises(PermissionError, match="is not writable"):
        check_output_path(tmp_path / "new" / "out.npy")


def test_check_output_dir(tmp_path, monkeypatch):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "report.md").write_text("x")
    (tmp_path / "a_file").write_text("")
    assert check_output_dir(tmp_path / "new" / "report") == tmp_path / "new" / "report"
    assert check_output_dir(tmp_path / "full") == tmp_path / "full"
    with pytest.raises(FileExistsError, match="not empty"):
        check_output_dir(tmp_path / "full", refuse_non_empty=True)
    with pytest.raises(ValueError, match="out: expected a folder, got the file"):
        check_output_dir(tmp_path / "a_file")
    with pytest.raises(ValueError, match="is a file"):
        check_output_dir(tmp_path / "a_file" / "report")
    monkeypatch.setattr(files.os, "access", lambda path, mode: False)
    with pytest.raises(PermissionError, match="not writable"):
        check_output_dir(tmp_path / "full")


@pytest.fixture
def no_refining(monkeypatch):
    """Loading the input or the refiner fails the test: the output must be refused before either."""
    monkeypatch.setattr(files, "load_poses_file", mock.Mock(side_effect=AssertionError("input loaded")))
    monkeypatch.setattr(
        files.GCNRefineModel, "from_pretrained", mock.Mock(side_effect=AssertionError("refiner loaded"))
    )


def test_refine_checks_the_output_before_loading_anything(tmp_path, no_refining, capsys):
    for path, overwrite, error, message in _bad_outputs(tmp_path):
        with pytest.raises(error, match=re.escape(message)):
            refine_poses_file(files.EXAMPLE_POSES, path, overwrite=overwrite)
        argv = ["refine", "--example", "-o", str(path), *(["--force"] if overwrite else [])]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("gcnrefine refine: error: ") and message in err
        assert len(err.strip().splitlines()) == 1
    assert (tmp_path / "taken.npy").read_bytes() == b"precious"


def test_refine_file_flip_test(tmp_path, model_dir):
    source = tmp_path / "in.npy"
    np.save(source, poses())
    out = refine_file(source, tmp_path / "out.npy", model=model_dir, flip_test=True)
    assert np.load(out).shape == (30, 17, 3)
    assert not list(tmp_path.glob(".out.npy*"))  # no temporary file left behind


def test_pickled_object_array_is_refused(tmp_path):
    path = tmp_path / "evil.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="pickle"):
        load_poses_file(path)


def test_not_numpy_is_refused(tmp_path):
    path = tmp_path / "fake.npy"
    path.write_bytes(pickle.dumps({"poses": 1}))
    with pytest.raises(ValueError, match=r"fake\.npy"):
        load_poses_file(path)


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((5, 16, 3), np.float32), "expected shape"),
        (np.full((5, 17, 3), np.nan, np.float32), "only NaN"),
        (np.zeros((5, 17, 3), np.complex64), "floating-point"),
    ],
)
def test_bad_arrays_are_refused(tmp_path, array, message):
    path = tmp_path / "bad.npy"
    np.save(path, array)
    with pytest.raises(ValueError, match=message):
        load_poses_file(path)


def test_cli_refuses_integer_poses_as_refine_does(tmp_path, model_dir, capsys):
    # Before, the CLI converted int arrays that GCNRefineModel.refine refuses: one rule now.
    source = tmp_path / "pixels.npy"
    np.save(source, np.zeros((5, 17, 3), np.int64))
    assert main(["refine", str(source), "-o", str(tmp_path / "out.npy"), "--model", str(model_dir)]) == 2
    assert "pixels.npy: expected a floating-point array (metres), got dtype int64" in capsys.readouterr().err
    assert not (tmp_path / "out.npy").exists()


def test_too_many_frames_and_npz_keys(tmp_path):
    path = tmp_path / "two.npz"
    np.savez(path, a=poses(10), b=poses(20))
    with pytest.raises(ValueError, match="key"):
        load_poses_file(path)
    assert load_poses_file(path, key="b").shape == (20, 17, 3)
    with pytest.raises(ValueError, match="at most 15 frames"):
        load_poses_file(path, key="b", max_frames=15)


def test_default_checkpoint_missing_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("GCNREFINE_CHECKPOINT", str(tmp_path / "nothing"))
    with pytest.raises(ValueError, match="GCNREFINE_CHECKPOINT"):
        GCNRefineModel.from_pretrained()


def test_cli_smoothing_sigma_and_fps(tmp_path, capsys):
    torch.manual_seed(0)
    model = GCNRefineModel(GCNRefineConfig(**TINY_REFINER, smoothing_sigma=4.0)).eval()
    model.save_pretrained(tmp_path / "smoothing")
    source = tmp_path / "in.npy"
    np.save(source, poses(60))
    base = ["refine", str(source), "--model", str(tmp_path / "smoothing")]
    assert main([*base, "-o", str(tmp_path / "sigma.npy"), "--smoothing-sigma", "2"]) == 0
    assert main([*base, "-o", str(tmp_path / "fps.npy"), "--fps", "25"]) == 0  # 4 frames at 50 fps = 2 at 25
    expected = model.refine(poses(60), smoothing_sigma=2.0)
    np.testing.assert_allclose(np.load(tmp_path / "sigma.npy"), expected, atol=1e-6)
    np.testing.assert_allclose(np.load(tmp_path / "fps.npy"), expected, atol=1e-6)
    capsys.readouterr()
    assert main([*base, "-o", str(tmp_path / "bad.npy"), "--fps", "0"]) == 2
    assert "fps: expected a finite number > 0 (frames/s), got 0.0" in capsys.readouterr().err
    assert main([*base, "-o", str(tmp_path / "bad.npy"), "--smoothing-sigma", "-1"]) == 2
    assert "smoothing_sigma: expected a finite number >= 0 (frames), got -1.0" in capsys.readouterr().err
    assert not (tmp_path / "bad.npy").exists()


def test_cli_change_weight(tmp_path, capsys):
    torch.manual_seed(0)
    model = GCNRefineModel(GCNRefineConfig(**TINY_REFINER)).eval()
    model.save_pretrained(tmp_path / "refiner")
    source = tmp_path / "in.npy"
    np.save(source, poses(40))
    base = ["refine", str(source), "--model", str(tmp_path / "refiner")]
    assert main([*base, "-o", str(tmp_path / "half.npy"), "--change-weight", "0.5"]) == 0
    np.testing.assert_allclose(np.load(tmp_path / "half.npy"), model.refine(poses(40), change_weight=0.5), atol=1e-6)
    assert main([*base, "-o", str(tmp_path / "none.npy"), "--change-weight", "0"]) == 0
    np.testing.assert_allclose(np.load(tmp_path / "none.npy"), poses(40), atol=1e-6)  # nothing kept: the input
    capsys.readouterr()
    assert main([*base, "-o", str(tmp_path / "bad.npy"), "--change-weight", "1.5"]) == 2
    assert "change_weight: expected a number in [0, 1], got 1.5" in capsys.readouterr().err
    assert not (tmp_path / "bad.npy").exists()
