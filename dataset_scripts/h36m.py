"""Human3.6M from VideoPose3D's files, as rows with the BlendMimic3D ``sequences`` features.

The paper trains on Human3.6M (S1, S5, S6, S7, S8, S11) together with BlendMimic3D SS1 + SS2 and
tests on S9 and SS3. Human3.6M cannot be redistributed, so users who have it convert their own
VideoPose3D files; the rows then concatenate with BlendMimic3D's::

    from datasets import concatenate_datasets
    h36m = load_human36m("data_3d_h36m_plain.npz", "data_2d_h36m_gt_plain.npz", "h36m_cameras.npz")
    train = concatenate_datasets([blendmimic3d["train"], h36m["train"]])

Input files (plain arrays, read with ``np.load(allow_pickle=False)``; this module never unpickles):

- 3D (VideoPose3D ``data_3d_h36m.npz``, flattened): one key per ``"<subject>/<action>"``, e.g.
  ``"S1/Walking 1"``, holding ``(T, 32, 3)`` (the 32 mocap joints; reduced to Human3.6M-17 with
  VideoPose3D's joint choice) or ``(T, 17, 3)`` world positions in metres.
- 2D (VideoPose3D ``data_2d_h36m_<detector>.npz``, flattened): one key per
  ``"<subject>/<action>/<camera index 0-3>"`` holding ``(T2, 17, 2)`` pixels in Human3.6M-17 order,
  and optionally ``"metadata/layout_name"`` (must be ``"h36m"``). ``T2 >= T``: longer 2D tracks
  are cut to the 3D length, as VideoPose3D does.
- cameras: VideoPose3D's Human3.6M camera parameters (``common/h36m_dataset.py`` holds them as
  Python dicts), one key per ``"<subject>/<camera index>/<field>"`` with fields ``id``,
  ``orientation`` (w, x, y, z), ``translation`` (camera centre in world millimetres, as
  VideoPose3D stores it), ``center`` and ``focal_length`` (pixels), ``res_w``, ``res_h``. Write
  it with :func:`write_cameras_npz`. Lens distortion is not represented (the 2D pixels are used as
  given).

VideoPose3D's ``.npz`` files store nested dicts, i.e. pickle, which this module never reads. Write the
plain files from where those dicts are built instead: VideoPose3D's ``data/prepare_data_h36m.py`` holds
``output`` (3D, subject -> action -> positions) and ``output_2d_poses`` before it saves them, so add
there::

    from dataset_scripts.h36m import flatten_positions, write_cameras_npz
    np.savez("data_3d_h36m_plain.npz", **flatten_positions(output))
    # and likewise for the 2D dict, adding "metadata/layout_name": "h36m"
    # in a VideoPose3D checkout:
    from common.h36m_dataset import h36m_cameras_extrinsic_params, h36m_cameras_intrinsic_params
    write_cameras_npz(h36m_cameras_intrinsic_params, h36m_cameras_extrinsic_params, "h36m_cameras.npz")

Conventions of the output (same as BlendMimic3D): anatomical Human3.6M-17 joints; extrinsics are
world-to-camera ``[R | t]`` with ``X_cam = R X_world + t`` (converted from VideoPose3D's
``X_cam = q^-1 (X_world - C)``); visibility is all True because Human3.6M has no occlusion labels.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from modeling_gcnrefine.data.blendmimic3d import H36M_SPLITS
from modeling_gcnrefine.data.builder import sequence_features
from modeling_gcnrefine.utils.geometry import world_to_camera
from modeling_gcnrefine.utils.io import set_default_mode

# VideoPose3D keeps these 17 of the 32 mocap joints, giving Human3.6M-17 order.
H36M_32_TO_17: tuple[int, ...] = (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)


CAMERA_FIELDS = ("id", "orientation", "translation", "center", "focal_length", "res_w", "res_h")


ADAPTER_VERSION = "1"


_PICKLED_HINT = (
    "it stores Python objects (pickle), which this loader never reads; convert your own trusted copy "
    "once to plain arrays, see the dataset_scripts.h36m module docstring"
)


class Human36MFileError(ValueError):
    """A Human3.6M input file is missing, pickled or inconsistent; the message names the file."""


def flatten_positions(nested: Mapping[str, Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """VideoPose3D's ``{subject: {action: array or [array per camera]}}`` as flat plain-array keys
    ``"subject/action"`` or ``"subject/action/camera"`` (for ``np.savez``)."""
    flat: dict[str, np.ndarray] = {}
    for subject, actions in nested.items():
        for action, value in actions.items():
            if isinstance(value, list | tuple):
                for camera, array in enumerate(value):
                    flat[f"{subject}/{action}/{camera}"] = np.asarray(array, dtype=np.float32)
            else:
                flat[f"{subject}/{action}"] = np.asarray(value, dtype=np.float32)
    return flat


def write_cameras_npz(
    intrinsic_params: Sequence[Mapping[str, Any]],
    extrinsic_params: Mapping[str, Sequence[Mapping[str, Any]]],
    path: str | os.PathLike,
    *,
    overwrite: bool = False,
) -> Path:
    """Write VideoPose3D's Human3.6M camera dicts (4 intrinsic dicts; per subject 4 extrinsic
    dicts) as the plain cameras file :func:`load_human36m` reads. Written atomically."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"path: {path} exists; pass overwrite=True to replace it")
    arrays: dict[str, np.ndarray] = {}
    for subject, cameras in extrinsic_params.items():
        if len(cameras) != len(intrinsic_params):
            raise ValueError(
                f"extrinsic_params[{subject!r}]: expected {len(intrinsic_params)} cameras, got {len(cameras)}"
            )
        for index, (intrinsic, extrinsic) in enumerate(zip(intrinsic_params, cameras)):
            merged = {**intrinsic, **extrinsic}
            missing = [f for f in CAMERA_FIELDS if f not in merged]
            if missing:
                raise ValueError(
                    f"camera {subject}/{index}: expected fields {CAMERA_FIELDS}, missing {missing}"
                )
            for field in CAMERA_FIELDS:
                value = str(merged[field]) if field == "id" else np.asarray(merged[field], dtype=np.float64)
                arrays[f"{subject}/{index}/{field}"] = np.asarray(value)
    handle, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".npz")
    os.close(handle)
    try:
        np.savez(partial, **arrays)
        set_default_mode(partial)
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return path


def _open_plain(path: str | os.PathLike, what: str) -> dict[str, np.ndarray]:
    """All arrays of a plain ``.npz``; pickled or corrupt files raise naming the file."""
    path = Path(path)
    if not path.is_file():
        raise Human36MFileError(f"{what}: {path} is missing")
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except ValueError as error:
        if "allow_pickle" in str(error):
            raise Human36MFileError(f"{what}: {path}: {_PICKLED_HINT}") from error
        raise Human36MFileError(f"{what}: {path}: cannot read ({error})") from error
    except (OSError, zipfile.BadZipFile, EOFError) as error:
        raise Human36MFileError(f"{what}: {path}: cannot read as .npz ({error})") from error


def _scan(path: Path, what: str) -> list[str]:
    """Key names of a plain ``.npz``, reading only the array headers; pickled or corrupt files raise."""
    try:
        with zipfile.ZipFile(path) as archive:
            keys = []
            for member in archive.namelist():
                with archive.open(member) as stream:
                    version = np.lib.format.read_magic(stream)
                    read_header = (
                        np.lib.format.read_array_header_1_0
                        if version == (1, 0)
                        else np.lib.format.read_array_header_2_0
                    )
                    _, _, dtype = read_header(stream)
                if dtype.hasobject:
                    raise Human36MFileError(f"{what}: {path}: {_PICKLED_HINT}")
                keys.append(member.removesuffix(".npy"))
            return keys
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        if isinstance(error, Human36MFileError):
            raise
        raise Human36MFileError(f"{what}: {path}: cannot read as .npz ({error})") from error


def _checked(array: np.ndarray, path: Path, key: str, tail: tuple[int, ...]) -> np.ndarray:
    if array.ndim != len(tail) + 1 or array.shape[1:] != tail or array.shape[0] == 0:
        raise Human36MFileError(
            f"{path}: {key!r} expected shape (T, {', '.join(map(str, tail))}), got {array.shape}"
        )
    if not np.issubdtype(array.dtype, np.number):
        raise Human36MFileError(f"{path}: {key!r} expected numbers, got dtype {array.dtype}")
    if not np.isfinite(array).all():
        raise Human36MFileError(f"{path}: {key!r} holds NaN or infinite values")
    return array.astype(np.float64)


def _camera(cameras: dict[str, np.ndarray], path: Path, subject: str, index: int) -> dict[str, Any]:
    """One camera in the project convention: K (3,3), [R | t] (3,4), id, width, height."""
    fields = {}
    for field in CAMERA_FIELDS:
        key = f"{subject}/{index}/{field}"
        if key not in cameras:
            raise Human36MFileError(f"{path}: missing key {key!r}")
        fields[field] = cameras[key]
    quaternion = np.asarray(fields["orientation"], dtype=np.float64).reshape(4)  # (w, x, y, z)
    centre = np.asarray(fields["translation"], dtype=np.float64).reshape(3) / 1000.0  # mm -> m
    if not np.isfinite(quaternion).all() or abs(np.linalg.norm(quaternion) - 1.0) > 1e-3:
        raise Human36MFileError(f"{path}: '{subject}/{index}/orientation' is not a unit quaternion")
    # VideoPose3D: X_cam = rotate(q^-1, X_world - C), i.e. R = R(q)^T and t = -R C.
    camera_to_world = Rotation.from_quat(quaternion[[1, 2, 3, 0]]).as_matrix()  # scipy wants (x, y, z, w)
    rotation = camera_to_world.T
    translation = -rotation @ centre
    focal = np.asarray(fields["focal_length"], dtype=np.float64).reshape(2)
    principal = np.asarray(fields["center"], dtype=np.float64).reshape(2)
    intrinsics = np.array([[focal[0], 0, principal[0]], [0, focal[1], principal[1]], [0, 0, 1]])
    return {
        "id": str(fields["id"]),
        "intrinsics": intrinsics,
        "extrinsics": np.concatenate([rotation, translation[:, None]], axis=1),  # (3, 4)
        "width": int(fields["res_w"]),
        "height": int(fields["res_h"]),
    }


def iter_human36m_sequences(
    positions_3d: str | os.PathLike,
    positions_2d: str | os.PathLike,
    cameras: str | os.PathLike,
    subjects: Sequence[str],
) -> Iterator[dict[str, Any]]:
    """Yield ``sequences`` rows (numpy) for every action and camera of ``subjects``."""
    paths = Path(positions_3d), Path(positions_2d), Path(cameras)
    data_3d = _open_plain(paths[0], "positions_3d")
    data_2d = _open_plain(paths[1], "positions_2d")
    camera_data = _open_plain(paths[2], "cameras")
    layout = data_2d.get("metadata/layout_name")
    if layout is not None and str(layout) != "h36m":
        raise Human36MFileError(f"{paths[1]}: expected 2D in the 'h36m' layout, got layout {str(layout)!r}")
    tracks_2d = {k: v for k, v in data_2d.items() if not k.startswith("metadata/")}
    for key in tracks_2d:
        if key.count("/") != 2 or key.rsplit("/", 1)[0] not in data_3d:
            raise Human36MFileError(f"{paths[1]}: key {key!r} has no 'subject/action' entry in {paths[0]}")
    for key in sorted(data_3d):
        if key.count("/") != 1:
            raise Human36MFileError(f"{paths[0]}: expected keys 'subject/action', got {key!r}")
        subject, action = key.split("/")
        if subject not in subjects:
            continue
        world = data_3d[key]
        if world.ndim == 3 and world.shape[1] == 32:
            world = world[:, list(H36M_32_TO_17)]  # (T, 32, 3) -> (T, 17, 3)
        world = _checked(world, paths[0], key, (17, 3))
        camera_keys = sorted(
            (k for k in tracks_2d if k.startswith(f"{key}/")), key=lambda k: int(k.rsplit("/", 1)[1])
        )
        if not camera_keys:
            raise Human36MFileError(f"{paths[1]}: no 2D tracks for {key!r} (expected keys '{key}/<camera>')")
        for key_2d in camera_keys:
            index = int(key_2d.rsplit("/", 1)[1])
            pixels = _checked(tracks_2d[key_2d], paths[1], key_2d, (17, 2))
            if len(pixels) < len(world):
                raise Human36MFileError(
                    f"{paths[1]}: {key_2d!r} has {len(pixels)} frames, fewer than the {len(world)} of {key!r} "
                    f"in {paths[0]}"
                )
            pixels = pixels[: len(world)]  # VideoPose3D: longer 2D tracks are cut to the mocap length
            camera = _camera(camera_data, paths[2], subject, index)
            rotation, translation = camera["extrinsics"][:, :3], camera["extrinsics"][:, 3]
            yield {
                "subject": subject,
                "action": action,
                "camera": index,
                "camera_id": camera["id"],
                "scenario": "human36m",
                "multi_person": False,
                "num_frames": len(world),
                "image_width": camera["width"],
                "image_height": camera["height"],
                "keypoints_2d": pixels.astype(np.float32),
                "keypoints_3d_world": world.astype(np.float32),
                "keypoints_3d_camera": world_to_camera(world, rotation, translation).astype(np.float32),
                "visibility": np.ones(world.shape[:2], dtype=bool),  # no occlusion labels in Human3.6M
                "intrinsics": camera["intrinsics"].astype(np.float32),
                "extrinsics": camera["extrinsics"].astype(np.float32),
                "joint_convention": "anatomical",
            }


def _fingerprint(paths: Sequence[Path], subjects: Sequence[str], split: str) -> str:
    digest = hashlib.sha256(f"h36m-{ADAPTER_VERSION}-{split}-{sorted(subjects)}".encode())
    for path in paths:
        stat = path.stat()
        digest.update(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:24]


def load_human36m(
    positions_3d: str | os.PathLike,
    positions_2d: str | os.PathLike,
    cameras: str | os.PathLike,
    *,
    splits: Mapping[str, Sequence[str]] = H36M_SPLITS,
    cache_dir: str | os.PathLike | None = None,
) -> Any:
    """Human3.6M as a ``DatasetDict`` with BlendMimic3D's ``sequences`` features, one split per
    entry of ``splits`` (default: the paper's train S1,S5,S6,S7,S8,S11 and test S9).

    Rows are written to Arrow under ``cache_dir`` (default ``HF_DATASETS_CACHE``) and reused while
    the input files are unchanged. Splits whose subjects are absent from the 3D file come back empty.
    """
    import datasets

    paths = [Path(positions_3d), Path(positions_2d), Path(cameras)]
    for name, path in zip(("positions_3d", "positions_2d", "cameras"), paths):
        if not path.is_file():
            raise ValueError(f"{name}: expected an existing .npz file, got {str(path)!r}")
    keys_3d = _scan(paths[0], "positions_3d")  # headers only: fail early, before any generation
    _scan(paths[1], "positions_2d")
    _scan(paths[2], "cameras")
    present = {key.split("/")[0] for key in keys_3d}
    features = sequence_features()
    parts = {}
    for split, subjects in splits.items():
        subjects = tuple(subjects)
        if not present & set(subjects):  # datasets cannot generate a split with no rows
            parts[split] = datasets.Dataset.from_dict(
                {name: [] for name in features}, features=features, split=datasets.NamedSplit(split)
            )
            continue
        try:
            parts[split] = datasets.Dataset.from_generator(
                iter_human36m_sequences,
                features=features,
                gen_kwargs={"positions_3d": str(paths[0]), "positions_2d": str(paths[1]),
                            "cameras": str(paths[2]), "subjects": subjects},
                cache_dir=None if cache_dir is None else str(cache_dir),
                split=datasets.NamedSplit(split),
                fingerprint=_fingerprint(paths, subjects, split),
            )  # fmt: skip
        except datasets.exceptions.DatasetGenerationError as error:
            # datasets wraps errors raised while generating; surface ours, which name the file.
            if isinstance(error.__cause__, Human36MFileError):
                raise error.__cause__ from None
            raise
    return datasets.DatasetDict(parts)
