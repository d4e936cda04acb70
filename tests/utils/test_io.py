"""`utils.io.load_poses_file` judges an array by its header, before reading or decompressing data."""

from __future__ import annotations

import math
import tracemalloc
import zipfile

import numpy as np
import pytest

from modeling_gcnrefine import GCNRefineModel
from modeling_gcnrefine.utils.io import MAX_POSES_ARRAY_BYTES, check_poses_array, load_poses_file

# What a refused file may allocate while being judged: headers and zip directories are a few KB.
SMALL_ALLOCATION = 2 << 20


def _write_npy_header(fp, shape, descr="<f4") -> None:
    np.lib.format.write_array_header_1_0(fp, {"descr": descr, "fortran_order": False, "shape": shape})


@pytest.fixture(scope="module")
def compressed_bomb(tmp_path_factory):
    """The reviewer's file: a (2_500_000, 17, 3) float32 array of zeros deflated into an .npz, a few
    MB on disk, 510 MB decompressed; the member layout np.savez_compressed writes, streamed at the
    fastest compression level so that making it allocates nothing big and takes ~3 s."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.npz"
    shape = (2_500_000, 17, 3)
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive,
        archive.open("poses.npy", "w", force_zip64=True) as member,
    ):
        _write_npy_header(member, shape)
        chunk, left = bytes(16 << 20), math.prod(shape) * 4
        while left > 0:
            member.write(chunk[: min(left, len(chunk))])
            left -= len(chunk)
    assert path.stat().st_size < 4 << 20
    return path


@pytest.fixture
def no_data_reads(monkeypatch):
    """Fail the test if any array data is read (numpy's reader is where the big allocation happens)."""

    def refuse(*args, **kwargs):
        raise AssertionError("array data was read before the file was refused")

    monkeypatch.setattr(np.lib.format, "read_array", refuse)


def _peak_while(call) -> tuple[BaseException | None, int]:
    tracemalloc.start()
    try:
        call()
    except Exception as error:  # the refusal under test
        raised = error
    else:
        raised = None
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return raised, peak


def test_compressed_bomb_is_refused_from_its_header_before_decompressing(compressed_bomb, no_data_reads):
    error, peak = _peak_while(lambda: load_poses_file(compressed_bomb, max_frames=10_000))
    assert isinstance(error, ValueError) and "expected at most 10000 frames, got 2500000" in str(error)
    assert peak < SMALL_ALLOCATION  # before: ~849 MB


def test_compressed_bomb_allocation_is_bounded_by_the_header_check(compressed_bomb):
    # Without mocks: the whole load path, refusal included, stays small.
    error, peak = _peak_while(lambda: load_poses_file(compressed_bomb, max_frames=10_000))
    assert isinstance(error, ValueError)
    assert peak < SMALL_ALLOCATION


def test_npy_header_is_checked_before_reading(tmp_path, no_data_reads):
    path = tmp_path / "long.npy"
    with open(path, "wb") as f:  # a header claiming 2.5 M frames; the data need not even be there
        _write_npy_header(f, (2_500_000, 17, 3))
    with pytest.raises(ValueError, match="expected at most 10000 frames, got 2500000"):
        load_poses_file(path, max_frames=10_000)


@pytest.mark.parametrize("suffix", [".npy", ".npz"])
def test_header_claiming_more_than_the_hard_cap_is_refused_without_max_frames(tmp_path, suffix, no_data_reads):
    frames = MAX_POSES_ARRAY_BYTES // (17 * 3 * 8) + 1
    path = tmp_path / f"huge{suffix}"
    if suffix == ".npy":
        with open(path, "wb") as f:
            _write_npy_header(f, (frames, 17, 3), "<f8")
    else:
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive, archive.open("poses.npy", "w") as member:
            _write_npy_header(member, (frames, 17, 3), "<f8")
    error, peak = _peak_while(lambda: load_poses_file(path))
    assert isinstance(error, ValueError)
    assert f"expected at most {MAX_POSES_ARRAY_BYTES} bytes of poses" in str(error) and str(frames) in str(error)
    assert peak < SMALL_ALLOCATION


def test_truncated_npy_is_refused_before_allocating_what_its_header_claims(tmp_path):
    path = tmp_path / "short.npy"
    with open(path, "wb") as f:  # 408 MB declared (under the cap), 100 bytes present
        _write_npy_header(f, (1_000_000, 17, 3), "<f8")
        f.write(bytes(100))
    error, peak = _peak_while(lambda: load_poses_file(path))
    assert isinstance(error, ValueError) and "truncated" in str(error)
    assert peak < SMALL_ALLOCATION


def test_npz_member_larger_than_its_header_declares_is_refused_unread(tmp_path, no_data_reads):
    path = tmp_path / "padded.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive, archive.open("poses.npy", "w") as member:
        _write_npy_header(member, (10, 17, 3))  # a small, valid-looking header ...
        member.write(np.zeros((10, 17, 3), np.float32).tobytes())
        for _ in range(4):  # ... followed by 64 MB more that decompression would produce
            member.write(bytes(16 << 20))
    with pytest.raises(ValueError, match="zip directory"):
        load_poses_file(path)


def test_arrays_still_load_in_every_layout_numpy_writes(tmp_path):
    poses = np.random.default_rng(0).normal(size=(12, 17, 3)).astype(np.float32)
    variants = {
        "c.npy": poses,
        "fortran.npy": np.asfortranarray(poses),
        "big_endian.npy": poses.astype(">f8"),
        "videopose3d.npy": poses[:, None],
    }
    for name, array in variants.items():
        np.save(tmp_path / name, array)
        loaded = load_poses_file(tmp_path / name)
        assert loaded.shape == array.shape and loaded.dtype == array.dtype
        np.testing.assert_array_equal(loaded, array)
    np.savez_compressed(tmp_path / "two.npz", a=poses, b=poses[:5].astype(np.float64))
    np.testing.assert_array_equal(load_poses_file(tmp_path / "two.npz", key="b"), poses[:5])


def test_object_array_in_npz_is_refused_unread(tmp_path, no_data_reads):
    path = tmp_path / "evil.npz"
    np.savez(path, poses=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="pickled Python objects"):
        load_poses_file(path)


def test_integer_poses_are_refused_with_one_message_in_the_file_loader_and_refine(tmp_path, tiny_refiner_config):
    integers = np.zeros((5, 17, 3), np.int64)
    expected = "expected a floating-point array (metres), got dtype int64"
    path = tmp_path / "pixels.npy"
    np.save(path, integers)
    with pytest.raises(ValueError, match=r"pixels\.npy: ") as from_file:
        load_poses_file(path)
    with pytest.raises(ValueError, match="poses: ") as from_array:
        check_poses_array(integers)
    with pytest.raises(ValueError, match="poses: ") as from_refine:
        GCNRefineModel(tiny_refiner_config()).refine(integers)
    for error in (from_file, from_array, from_refine):
        assert str(error.value).endswith(expected)

