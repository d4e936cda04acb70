"""Reading and writing pose files safely: never unpickle, never overwrite unasked, write atomically."""

from __future__ import annotations

import math
import os
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np

POSE_SUFFIXES = (".npy", ".npz")


# Pose files are small (an hour at 30 fps is 108,000 frames, 22 MB in float32), but a .npy header can
# claim any shape and an .npz member can inflate ~1000x: an array is judged from its header before a
# byte of data is read, and no header may claim more than this (a day at 30 fps in float64, 2.6 M
# frames), so a file is refused before it can allocate much even when no max_frames is given.
MAX_POSES_ARRAY_BYTES = 1 << 30


def load_poses_file(path: str | os.PathLike, key: str | None = None, max_frames: int | None = None) -> np.ndarray:
    """Load 3D poses ``(T, 17, 3)`` or ``(T, 1, 17, 3)`` from a ``.npy`` or ``.npz`` file, without pickle.

    For ``.npz`` files, ``key`` selects the array; it may be omitted when the file holds one array.
    Raises ValueError naming the file for anything that is not a plain floating-point NumPy array of
    that shape: a pickled object array, a file that is not NumPy, a wrong dtype or shape, too many
    frames, more than ``MAX_POSES_ARRAY_BYTES``. All of these are decided from the array's ``.npy``
    header (and, in an ``.npz``, the zip directory) before any data is read or decompressed, so a
    small compressed file claiming a huge array costs nothing.
    """
    path = Path(path)
    if path.suffix not in POSE_SUFFIXES:
        raise ValueError(f"path: expected a {' or '.join(POSE_SUFFIXES)} file, got {path.name!r}")
    if not path.is_file():
        raise ValueError(f"path: expected an existing file, got {str(path)!r}")
    with open(path, "rb") as f:
        magic = f.read(6)
    try:
        if magic == b"\x93NUMPY":
            array = _load_npy(path, max_frames)
        elif magic.startswith(b"PK"):
            array = _load_npz_member(path, key, max_frames)
        else:
            raise ValueError(
                f"{path.name}: not a NumPy .npy/.npz file (it does not start with the NumPy or zip header)"
            )
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise ValueError(f"{path.name}: not a NumPy .npy/.npz file ({type(error).__name__}: {error})") from None
    return check_poses_array(array, name=path.name, max_frames=max_frames)


def _read_header(fp, name: str) -> tuple[tuple[int, ...], np.dtype, int]:
    """``(shape, dtype, bytes of data it declares)`` from the ``.npy`` header at ``fp``'s position.

    Reads the header only (numpy parses it with ``ast.literal_eval``, never pickle); leaves ``fp``
    just after it.
    """
    try:
        version = np.lib.format.read_magic(fp)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(fp)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(fp)
        else:  # 3.0 only stores structured dtypes with non-latin-1 field names: never poses
            raise ValueError(f"expected .npy format version 1.0 or 2.0, got {version[0]}.{version[1]}")
    except ValueError as error:
        raise ValueError(f"{name}: not a readable NumPy file ({error})") from None
    return shape, dtype, math.prod(shape) * dtype.itemsize


def _check_header(name: str, shape: tuple[int, ...], dtype: np.dtype, nbytes: int, max_frames: int | None) -> None:
    if dtype.hasobject:
        raise ValueError(
            f"{name}: holds pickled Python objects, which are never loaded (pickle can run code); "
            "save the poses as a plain float array, e.g. np.save(path, poses.astype(np.float32))"
        )
    _check_dtype(name, dtype)
    _check_shape(name, shape, max_frames)
    if nbytes > MAX_POSES_ARRAY_BYTES:
        raise ValueError(
            f"{name}: expected at most {MAX_POSES_ARRAY_BYTES} bytes of poses, got a header declaring "
            f"{shape} {dtype} ({nbytes} bytes)"
        )


def _load_npy(path: Path, max_frames: int | None) -> np.ndarray:
    with open(path, "rb") as f:
        shape, dtype, nbytes = _read_header(f, path.name)
        _check_header(path.name, shape, dtype, nbytes, max_frames)
        # np.fromfile allocates what the header declares before finding the file short: check first.
        size = os.fstat(f.fileno()).st_size
        if size < f.tell() + nbytes:
            raise ValueError(
                f"{path.name}: expected {f.tell() + nbytes} bytes for its {shape} {dtype} array, got a "
                f"truncated file of {size} bytes"
            )
        f.seek(0)
        return np.lib.format.read_array(f, allow_pickle=False)


def _load_npz_member(path: Path, key: str | None, max_frames: int | None) -> np.ndarray:
    with zipfile.ZipFile(path) as archive:
        # np.savez stores array "k" as member "k.npy"; other members are not arrays.
        members = {info.filename[: -len(".npy")]: info for info in archive.infolist() if info.filename.endswith(".npy")}
        names = list(members)
        if key is None:
            if len(names) != 1:
                raise ValueError(f"key: {path.name} holds arrays {names}; expected key= to name one of them")
            key = names[0]
        if key not in members:
            raise ValueError(f"key: expected one of {names} in {path.name}, got {key!r}")
        info = members[key]
        with archive.open(info) as member:
            shape, dtype, nbytes = _read_header(member, path.name)
            if dtype.hasobject:
                raise ValueError(f"{path.name}: array {key!r} holds pickled Python objects, which are never loaded")
            _check_header(path.name, shape, dtype, nbytes, max_frames)
            expected = member.tell() + nbytes
        # The directory's size bounds what decompression yields (zipfile stops there); it must be
        # exactly the header plus the data it declares, or the header is not the whole story.
        if info.file_size != expected:
            raise ValueError(
                f"{path.name}: expected array {key!r} to take {expected} bytes (its header declares {shape} "
                f"{dtype}), got {info.file_size} bytes in the zip directory"
            )
        with archive.open(info) as member:
            return np.lib.format.read_array(member, allow_pickle=False)


def _check_dtype(name: str, dtype: np.dtype) -> None:
    # Metres are never integers: an int array is pixels, millimetres or a mistake, not poses to refine.
    if not np.issubdtype(dtype, np.floating):
        raise ValueError(f"{name}: expected a floating-point array (metres), got dtype {dtype}")


def _check_shape(name: str, shape: tuple[int, ...], max_frames: int | None) -> None:
    shape_ok = (len(shape) == 3 and shape[1:] == (17, 3)) or (len(shape) == 4 and shape[1:] == (1, 17, 3))
    if not shape_ok:
        raise ValueError(f"{name}: expected shape (T, 17, 3) or (T, 1, 17, 3), got {shape}")
    if shape[0] < 1:
        raise ValueError(f"{name}: expected at least one frame, got {shape}")
    if max_frames is not None and shape[0] > max_frames:
        raise ValueError(f"{name}: expected at most {max_frames} frames, got {shape[0]}")


def check_poses_array(array: np.ndarray, name: str = "poses", max_frames: int | None = None) -> np.ndarray:
    """Validate a pose array from outside: floating-point (metres; the same rule as
    ``GCNRefineModel.refine``), ``(T, 17, 3)`` or ``(T, 1, 17, 3)``, some finite values."""
    array = np.asarray(array)
    _check_dtype(name, array.dtype)
    _check_shape(name, array.shape, max_frames)
    if not np.isfinite(array).any():
        raise ValueError(f"{name}: expected some finite keypoints, got only NaN/inf")
    return array


def current_umask() -> int:
    """The process's umask, read without changing it where the system allows (Linux ``/proc``)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    # No /proc (macOS, Windows, kernels before 4.7): the only portable way is to set it and put it
    # back, which another thread creating a file in between would see.
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def set_default_mode(path: str | os.PathLike) -> None:
    """Give ``path`` the mode a plain ``open(path, "w")`` / ``mkdir`` would: 0o666 / 0o777 less the umask.

    ``tempfile.mkstemp``/``mkdtemp`` create 0o600 / 0o700 so nobody reads a half-written temporary;
    once it is renamed into place as an output, it should be as readable as any other file.
    """
    base = 0o777 if Path(path).is_dir() else 0o666
    os.chmod(path, base & ~current_umask())


def write_atomic(path: str | os.PathLike, writer, overwrite: bool = False, suffix: str | None = None) -> Path:
    """Write a file through ``writer(temp_path)`` and rename it into place.

    Refuses to replace an existing file unless ``overwrite``; a failed write leaves nothing behind.
    The file gets the usual mode (0o666 less the umask), not the temporary file's private 0o600.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True (CLI: --force) to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or path.suffix, dir=path.parent)
    os.close(fd)
    try:
        writer(temp)
        set_default_mode(temp)  # before the rename, so the file never appears with another mode
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path


def save_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray], overwrite: bool = False) -> Path:
    """Write plain arrays to an ``.npz`` atomically (no pickle; refuses to replace unless ``overwrite``)."""
    arrays = {key: np.asarray(value) for key, value in arrays.items()}
    objects = [key for key, value in arrays.items() if value.dtype == object]
    if objects:
        raise ValueError(f"arrays: expected plain (non-object) arrays, got object arrays {objects}")

    def writer(temp: str) -> None:
        with open(temp, "wb") as f:  # a stream, so numpy adds no second ".npz"
            np.savez(f, **arrays)

    return write_atomic(path, writer, overwrite=overwrite)


def save_poses_file(path: str | os.PathLike, poses: np.ndarray, overwrite: bool = False, key: str = "poses_3d") -> Path:
    """Save poses to ``.npy`` (the array) or ``.npz`` (under ``key``), atomically, without pickle."""
    path = Path(path)
    if path.suffix not in POSE_SUFFIXES:
        raise ValueError(f"path: expected a {' or '.join(POSE_SUFFIXES)} file, got {path.name!r}")
    poses = np.ascontiguousarray(poses)
    if path.suffix == ".npz":
        return save_npz(path, {key: poses}, overwrite=overwrite)

    def writer(temp: str) -> None:
        with open(temp, "wb") as f:
            np.save(f, poses, allow_pickle=False)

    return write_atomic(path, writer, overwrite=overwrite)
