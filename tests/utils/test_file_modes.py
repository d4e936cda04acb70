"""Written outputs get the usual modes (0o666 / 0o777 less the umask), not tempfile's private ones."""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from pathlib import Path

import numpy as np
import pytest

from dataset_scripts import export_blendmimic3d as exporter
from dataset_scripts import h36m
from modeling_gcnrefine.data import upstream
from modeling_gcnrefine.utils.io import (
    current_umask,
    save_npz,
    save_poses_file,
    set_default_mode,
    write_atomic,
)

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


@pytest.fixture(params=[0o022, 0o027], ids=["umask022", "umask027"])
def umask(request):
    previous = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_current_umask_does_not_change_it(umask):
    assert current_umask() == umask
    assert current_umask() == umask


def test_atomic_writes_get_the_usual_file_mode(tmp_path, umask):
    poses = np.zeros((3, 17, 3), np.float32)
    written = [
        save_poses_file(tmp_path / "a.npy", poses),
        save_poses_file(tmp_path / "b.npz", poses),
        save_npz(tmp_path / "c.npz", {"x": np.ones(2)}),
        write_atomic(tmp_path / "sub" / "d.txt", lambda temp: Path(temp).write_text("hi")),
    ]
    for path in written:
        assert mode(path) == 0o666 & ~umask, path.name
    assert mode(tmp_path / "sub") == 0o777 & ~umask
    # Replacing keeps it atomic (no temporary left) and gives the new file the same mode.
    save_poses_file(tmp_path / "a.npy", poses + 1, overwrite=True)
    assert mode(tmp_path / "a.npy") == 0o666 & ~umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npy", "b.npz", "c.npz", "sub"]


def test_set_default_mode_on_temporary_files_and_folders(tmp_path, umask):
    fd, name = tempfile.mkstemp(dir=tmp_path)
    os.close(fd)
    folder = tempfile.mkdtemp(dir=tmp_path)
    set_default_mode(name)
    set_default_mode(folder)
    assert mode(Path(name)) == 0o666 & ~umask
    assert mode(Path(folder)) == 0o777 & ~umask


def test_upstream_download_and_h36m_cameras_get_the_usual_file_mode(tmp_path, umask, monkeypatch):
    content = b"PK\x03\x04 a fake upstream file"  # fixed bytes, so the checksum is known

    def fake_fetch(url: str, path: Path) -> None:
        path.write_bytes(content)

    for name in upstream.OFFLINE_ENV_VARS:  # conftest's offline mode refuses downloads
        monkeypatch.delenv(name, raising=False)
    checksums = dict.fromkeys(upstream.upstream_files(), hashlib.sha256(content).hexdigest())
    dest = upstream.download_upstream(tmp_path / "raw", fetch=fake_fetch, checksums=checksums)
    files = [p for p in dest.rglob("*") if p.is_file()]
    assert files and all(mode(p) == 0o666 & ~umask for p in files)

    intrinsic = [{"id": str(i), "center": [0.0, 0.0], "focal_length": [1.0, 1.0], "res_w": 10, "res_h": 10} for i in range(4)]
    extrinsic = {"S1": [{"orientation": [1.0, 0.0, 0.0, 0.0], "translation": [0.0, 0.0, 0.0]}] * 4}
    cameras = h36m.write_cameras_npz(intrinsic, extrinsic, tmp_path / "cameras.npz")
    assert mode(cameras) == 0o666 & ~umask


def test_exported_dataset_folder_gets_the_usual_folder_mode(tmp_path, blendmimic3d_dir):
    pytest.importorskip("datasets")
    previous = os.umask(0o027)  # mkdtemp's 0o700 would differ from the expected 0o750
    try:
        out = exporter.export_blendmimic3d(
            blendmimic3d_dir, tmp_path / "export", configs=["sequences"], cache_dir=tmp_path / "cache"
        )
    finally:
        os.umask(previous)
    assert mode(out) == 0o750
    assert mode(out / "README.md") == 0o640


def test_training_checkpoints_get_the_usual_file_mode(tmp_path, umask):
    """safetensors writes model.safetensors 0o600; a saved training folder must be readable like any file."""
    from modeling_gcnrefine.training.loop import _save_pretrained_atomic

    class Saver:
        def save_pretrained(self, folder):
            Path(folder).mkdir()
            private = Path(folder) / "model.safetensors"
            private.write_bytes(b"weights")
            os.chmod(private, 0o600)

    _save_pretrained_atomic(Saver(), tmp_path / "best", {"epoch": 1})
    for name in ("model.safetensors", "trainer_state.json"):
        assert mode(tmp_path / "best" / name) == 0o666 & ~umask, name
