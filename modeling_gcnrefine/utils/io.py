"""Reading and writing pose files safely: never unpickle, never overwrite unasked, write atomically."""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

POSE_SUFFIXES = (".npy", ".npz")


def load_poses_file(path: str | os.PathLike, key: str | None = None, max_frames: int | None = None) -> np.ndarray:
    """Load 3D poses ``(T, 17, 3)`` or ``(T, 1, 17, 3)`` from a ``.npy`` or ``.npz`` file, without pickle.

    For ``.npz`` files, ``key`` selects the array; it may be omitted when the file holds one array.
    Raises ValueError naming the file for anything that is not a plain numeric NumPy array of that
    shape: a pickled object array, a file that is not NumPy, a wrong shape, too many frames.
    """
    path = Path(path)
    if path.suffix not in POSE_SUFFIXES:
        raise ValueError(f"path: expected a {' or '.join(POSE_SUFFIXES)} file, got {path.name!r}")
    if not path.is_file():
        raise ValueError(f"path: expected an existing file, got {str(path)!r}")
    with open(path, "rb") as f:
        magic = f.read(6)
    # np.load falls back to pickle for unknown content: tell "not NumPy at all" apart first.
    if not (magic == b"\x93NUMPY" or magic.startswith(b"PK")):
        raise ValueError(f"{path.name}: not a NumPy .npy/.npz file (it does not start with the NumPy or zip header)")
    try:
        loaded = np.load(path, allow_pickle=False)
    except ValueError as error:
        if "pickle" in str(error).lower() or "object" in str(error).lower():
            raise ValueError(
                f"{path.name}: holds pickled Python objects, which are never loaded (pickle can run code); "
                "save the poses as a plain float array, e.g. np.save(path, poses.astype(np.float32))"
            ) from None
        raise ValueError(f"{path.name}: not a readable NumPy file ({error})") from None
    except (OSError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"{path.name}: not a NumPy .npy/.npz file ({type(error).__name__}: {error})") from None
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            names = list(loaded.files)
            if key is None:
                if len(names) != 1:
                    raise ValueError(f"key: {path.name} holds arrays {names}; expected key= to name one of them")
                key = names[0]
            if key not in names:
                raise ValueError(f"key: expected one of {names} in {path.name}, got {key!r}")
            try:
                array = loaded[key]
            except ValueError:
                raise ValueError(
                    f"{path.name}: array {key!r} holds pickled Python objects, which are never loaded"
                ) from None
    else:
        array = loaded
    return check_poses_array(array, name=path.name, max_frames=max_frames)


def check_poses_array(array: np.ndarray, name: str = "poses", max_frames: int | None = None) -> np.ndarray:
    """Validate a pose array from outside: numeric, ``(T, 17, 3)`` or ``(T, 1, 17, 3)``, some finite values."""
    array = np.asarray(array)
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise ValueError(f"{name}: expected a numeric (float or integer) array, got dtype {array.dtype}")
    if not np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.float32)
    shape_ok = (array.ndim == 3 and array.shape[1:] == (17, 3)) or (array.ndim == 4 and array.shape[1:] == (1, 17, 3))
    if not shape_ok:
        raise ValueError(f"{name}: expected shape (T, 17, 3) or (T, 1, 17, 3), got {array.shape}")
    if array.shape[0] < 1:
        raise ValueError(f"{name}: expected at least one frame, got {array.shape}")
    if max_frames is not None and array.shape[0] > max_frames:
        raise ValueError(f"{name}: expected at most {max_frames} frames, got {array.shape[0]}")
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
