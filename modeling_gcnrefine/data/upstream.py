"""Reading the upstream BlendMimic3D files: layout, constants, cameras, actions and checks, and the
pinned download.

The upstream folder layout::

    S1/ S2/ S3/
      Cameras/matrices_S?.npz              K (4,3,3), RT (4,3,4), P (4,3,4)
      Cameras/camera_params_S?.npz         camera ids and image sizes (pickled dicts, see below)
      D2_Positions/<Action>/2D_positions.npz    Cam_0..Cam_3: (T,17,2) pixels
      D3_Positions/<Action>/<Action>.npz        positions_3d: (T,17,3) world metres, z up
      Occlusions/<Action>/occluded_kpt.npz      Cam_0..Cam_3: (T,17) 1 = visible, 0 = occluded

from which :mod:`.builder` makes two configs:

- ``sequences`` (default): one row per subject, action and camera;
- ``multiview``: one row per subject and action, the four cameras stacked on axis 1 (time first,
  because ``datasets`` arrays allow only their first dimension to vary).

Splits follow the paper: ``train`` = SS1 + SS2, ``test`` = SS3. Joints are Human3.6M-17 in the
anatomical convention unless ``joint_convention="upstream"`` (the upstream files are mirrored
left/right, see :data:`modeling_gcnrefine.skeleton.BLENDMIMIC3D_UPSTREAM_TO_ANATOMICAL`).

"""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ..skeleton import H36M, mirror_blendmimic3d
from ..utils.geometry import project, world_to_camera
from ..utils.io import set_default_mode
from .upstream_sha256 import UPSTREAM_SHA256

try:  # the ``data`` extra; the plain readers below work without it
    import datasets
except ImportError:  # pragma: no cover - exercised only without the extra
    datasets = None


UPSTREAM_REPO = "FilipaLino/BlendMimic3D"


UPSTREAM_COMMIT = "8e6127196dc9d42fd6a07b45c35bb3d118594229"


HOMEPAGE = "https://blendmimic3d.github.io/BlendMimic3D/"


ENV_VAR = "GCNREFINE_BLENDMIMIC3D_DIR"


# Bump when the produced rows change, so cached builds are not reused across versions.
BUILDER_VERSION = "1.0.0"


NUM_JOINTS = 17


NUM_CAMERAS = 4


JOINT_CONVENTIONS = ("anatomical", "upstream")


CONFIG_NAMES = ("sequences", "multiview")


# Upstream folder name -> the paper's subject name.
SUBJECTS: dict[str, str] = {"S1": "SS1", "S2": "SS2", "S3": "SS3"}


SPLIT_SUBJECTS: dict[str, tuple[str, ...]] = {"train": ("SS1", "SS2"), "test": ("SS3",)}


# What each subject's scenes test, as the upstream README describes them.
SCENARIOS: dict[str, str] = {
    "SS1": "self_occlusion",
    "SS2": "object_and_out_of_frame_occlusion",
    "SS3": "retail",
}


_HUMAN_ACTIONS = (
    "Arguing", "Directions", "GatheringObjects", "Greeting", "Phone", "PhonePacing", "PickingObjects",
    "Reactions", "ShoppingBag", "SittingCheering", "SittingTalk", "StandingArguing", "Thinking", "WalkCircle",
)  # fmt: skip


# The actions at the pinned commit: the download list (a local folder is read as it is).
UPSTREAM_ACTIONS: dict[str, tuple[str, ...]] = {
    "S1": _HUMAN_ACTIONS,
    "S2": _HUMAN_ACTIONS,
    "S3": ("Focus", "Focus_multi", "TakesItem", "TakesItem_multi"),
}


# Largest reprojection error (px) tolerated between the camera-frame 3D we compute and the
# upstream 2D; the real files agree to 1e-12 px, so anything near this means wrong cameras.
REPROJECTION_TOLERANCE_PX = 0.5


CITATION = """@inproceedings{lino20243d,
  title={3D Human Pose Estimation with Occlusions: Introducing BlendMimic3D Dataset and GCN Refinement},
  author={Lino, Filipa and Santiago, Carlos and Marques, Manuel},
  booktitle={Proceedings of the IEEE/CVF Conference on Computer Vision and Pattern Recognition},
  pages={4646--4656},
  year={2024}
}"""


LICENSE_NOTE = (
    "The upstream repository states no license at the pinned commit; its README asks users to cite "
    "the paper. No rights beyond the upstream terms are granted by this conversion."
)


class BlendMimic3DFileError(ValueError):
    """An upstream file is missing, corrupt or inconsistent; the message names the file."""


def _load_plain_npz(path: Path) -> dict[str, np.ndarray]:
    """All arrays of a plain (pickle-free) ``.npz``; any failure names the file."""
    if not path.is_file():
        raise BlendMimic3DFileError(f"{path}: file is missing")
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError) as error:
        raise BlendMimic3DFileError(f"{path}: cannot read as a plain .npz ({error})") from error


def _take(arrays: dict[str, np.ndarray], key: str, path: Path, shape: tuple[int | None, ...]) -> np.ndarray:
    """``arrays[key]`` as float64, checked for presence, shape (None = any size) and finiteness."""
    if key not in arrays:
        raise BlendMimic3DFileError(f"{path}: missing key {key!r} (found {sorted(arrays)})")
    array = arrays[key]
    if array.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, array.shape)):
        expected = "(" + ", ".join("T" if s is None else str(s) for s in shape) + ")"
        raise BlendMimic3DFileError(f"{path}: {key!r} expected shape {expected}, got {array.shape}")
    if not np.issubdtype(array.dtype, np.number) and array.dtype != np.bool_:
        raise BlendMimic3DFileError(f"{path}: {key!r} expected numbers, got dtype {array.dtype}")
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        bad = int((~np.isfinite(array)).sum())
        raise BlendMimic3DFileError(f"{path}: {key!r} holds {bad} NaN or infinite values")
    return array


def _numpy_pickle_classes() -> dict[tuple[str, str], Any]:
    """The only classes a pickled numpy object array needs, under numpy 1 and numpy 2 names."""
    allowed: dict[tuple[str, str], Any] = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    reconstruct = np.empty(0).__reduce__()[0]  # numpy's array rebuild function, whatever its module
    scalar = np.float64(0).__reduce__()[0]
    for package in ("numpy.core", "numpy._core"):
        allowed[(f"{package}.multiarray", "_reconstruct")] = reconstruct
        allowed[(f"{package}.multiarray", "scalar")] = scalar
    return allowed


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that rebuilds numpy arrays and builtin containers and refuses every other class.

    ``camera_params_*.npz`` stores lists of dicts as object arrays (pickle). Plain ``pickle``
    would run any callable a tampered file names; this one only allows numpy's own array
    reconstruction, so reading a source folder can never execute code.
    """

    _allowed = _numpy_pickle_classes()

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._allowed:
            return self._allowed[(module, name)]
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} (only numpy arrays are allowed)")


def _load_object_npz_member(path: Path, key: str) -> Any:
    """One member of an ``.npz`` that holds a pickled object array, unpickled with numpy-only classes."""
    if not path.is_file():
        raise BlendMimic3DFileError(f"{path}: file is missing")
    try:
        with zipfile.ZipFile(path) as archive, archive.open(f"{key}.npy") as stream:
            version = np.lib.format.read_magic(stream)
            if version == (1, 0):
                _, _, dtype = np.lib.format.read_array_header_1_0(stream)
            else:
                _, _, dtype = np.lib.format.read_array_header_2_0(stream)
            if dtype.hasobject:
                return _NumpyOnlyUnpickler(stream).load()
        return _read_plain(archive_path=path, key=key)
    except KeyError as error:
        raise BlendMimic3DFileError(f"{path}: missing key {key!r}") from error
    except (pickle.UnpicklingError, zipfile.BadZipFile, ValueError, OSError, EOFError, TypeError,
            AttributeError, IndexError) as error:  # fmt: skip
        # A tampered pickle can also fail inside numpy's rebuild functions: name the file either way.
        raise BlendMimic3DFileError(f"{path}: cannot read {key!r} ({error})") from error


def _read_plain(archive_path: Path, key: str) -> np.ndarray:
    with np.load(archive_path, allow_pickle=False) as archive:
        return archive[key]


@dataclass(frozen=True)
class SubjectCameras:
    """The four cameras of one subject. ``extrinsics`` is world-to-camera ``[R | t]``."""

    intrinsics: np.ndarray  # (4, 3, 3) K, pixels
    extrinsics: np.ndarray  # (4, 3, 4) [R | t], X_cam = R X_world + t, metres
    camera_ids: tuple[str, ...]  # upstream ids, e.g. "Camera_3"
    image_sizes: tuple[tuple[int, int], ...]  # (width, height) per camera, pixels


def read_cameras(raw_dir: str | os.PathLike, subject_folder: str) -> SubjectCameras:
    """Cameras of ``subject_folder`` ("S1".."S3"): matrices from ``matrices_S?.npz`` (plain arrays);
    camera ids and image sizes from ``camera_params_S?.npz`` (``res_w``/``res_h``), whose focal
    lengths and principal points must match ``K`` so that the two files are known to be in the same
    camera order."""
    cameras_dir = Path(raw_dir) / subject_folder / "Cameras"
    matrices_path = cameras_dir / f"matrices_{subject_folder}.npz"
    matrices = _load_plain_npz(matrices_path)
    intrinsics = _take(matrices, "K", matrices_path, (NUM_CAMERAS, 3, 3))
    extrinsics = _take(matrices, "RT", matrices_path, (NUM_CAMERAS, 3, 4))
    rotations = extrinsics[:, :, :3]
    if not np.allclose(rotations @ np.swapaxes(rotations, 1, 2), np.eye(3), atol=1e-4):
        raise BlendMimic3DFileError(f"{matrices_path}: 'RT' rotations are not orthonormal")

    params_path = cameras_dir / f"camera_params_{subject_folder}.npz"
    params = _load_object_npz_member(params_path, "intrinsic_params")
    params = list(np.asarray(params, dtype=object).reshape(-1))
    if len(params) != NUM_CAMERAS or not all(isinstance(p, dict) for p in params):
        raise BlendMimic3DFileError(
            f"{params_path}: 'intrinsic_params' expected {NUM_CAMERAS} dicts, got {len(params)} entries"
        )
    ids, sizes = [], []
    for index, entry in enumerate(params):
        missing = {"id", "center", "focal_length", "res_w", "res_h"} - set(entry)
        if missing:
            raise BlendMimic3DFileError(
                f"{params_path}: camera {index} lacks {sorted(missing)} in 'intrinsic_params'"
            )
        focal = np.asarray(entry["focal_length"], dtype=np.float64)
        centre = np.asarray(entry["center"], dtype=np.float64)
        k = intrinsics[index]
        if not np.allclose([k[0, 0], k[1, 1], k[0, 2], k[1, 2]], [*focal, *centre], atol=1e-3):
            raise BlendMimic3DFileError(
                f"{params_path}: camera {index} focal/centre {focal.tolist()}/{centre.tolist()} do not "
                f"match K in {matrices_path.name}"
            )
        width, height = int(entry["res_w"]), int(entry["res_h"])
        if width <= 0 or height <= 0:
            raise BlendMimic3DFileError(f"{params_path}: camera {index} has image size {width}x{height}")
        ids.append(str(entry["id"]))
        sizes.append((width, height))
    return SubjectCameras(intrinsics, extrinsics, tuple(ids), tuple(sizes))


@dataclass(frozen=True)
class ActionData:
    """Upstream arrays of one action, upstream joint labels, float64."""

    world: np.ndarray  # (T, 17, 3) metres, z up
    pixels: np.ndarray  # (4, T, 17, 2)
    visible: np.ndarray  # (4, T, 17) bool
    files: tuple[Path, Path, Path]  # the 3D, 2D and occlusion files, for error messages


def list_actions(raw_dir: str | os.PathLike, subject_folder: str) -> list[str]:
    """Actions of a subject, from its ``D3_Positions`` folders (sorted)."""
    folder = Path(raw_dir) / subject_folder / "D3_Positions"
    if not folder.is_dir():
        raise BlendMimic3DFileError(f"{folder}: folder is missing")
    actions = sorted(p.name for p in folder.iterdir() if p.is_dir())
    if not actions:
        raise BlendMimic3DFileError(f"{folder}: holds no action folders")
    return actions


def read_action(raw_dir: str | os.PathLike, subject_folder: str, action: str) -> ActionData:
    """Read and cross-check the 3D, 2D and occlusion files of one action."""
    subject_dir = Path(raw_dir) / subject_folder
    path_3d = subject_dir / "D3_Positions" / action / f"{action}.npz"
    path_2d = subject_dir / "D2_Positions" / action / "2D_positions.npz"
    path_occ = subject_dir / "Occlusions" / action / "occluded_kpt.npz"
    world = _take(_load_plain_npz(path_3d), "positions_3d", path_3d, (None, NUM_JOINTS, 3))
    num_frames = world.shape[0]
    if num_frames == 0:
        raise BlendMimic3DFileError(f"{path_3d}: 'positions_3d' has no frames")
    arrays_2d, arrays_occ = _load_plain_npz(path_2d), _load_plain_npz(path_occ)
    pixels, visible = [], []
    for camera in range(NUM_CAMERAS):
        key = f"Cam_{camera}"
        xy = _take(arrays_2d, key, path_2d, (None, NUM_JOINTS, 2))
        occ = _take(arrays_occ, key, path_occ, (None, NUM_JOINTS))
        for path, array in ((path_2d, xy), (path_occ, occ)):
            if array.shape[0] != num_frames:
                raise BlendMimic3DFileError(
                    f"{path}: {key!r} has {array.shape[0]} frames but {path_3d} has {num_frames}"
                )
        if not np.isin(occ, (0.0, 1.0)).all():
            raise BlendMimic3DFileError(f"{path_occ}: {key!r} expected only 0 and 1, got other values")
        pixels.append(xy)
        visible.append(occ == 1.0)
    return ActionData(world, np.stack(pixels), np.stack(visible), (path_3d, path_2d, path_occ))


def _check_reprojection(camera_points: np.ndarray, pixels: np.ndarray, intrinsics: np.ndarray, path: Path,
                        camera: int, tolerance_px: float) -> None:  # fmt: skip
    """Raise if ``camera_points`` (T,17,3) do not project onto ``pixels`` (T,17,2)."""
    if (camera_points[..., 2] <= 0).any():
        raise BlendMimic3DFileError(f"{path}: camera {camera} sees joints behind it (depth <= 0)")
    error = float(np.abs(project(camera_points, intrinsics) - pixels).max())
    if error > tolerance_px:
        raise BlendMimic3DFileError(
            f"{path}: 'Cam_{camera}' differs from the projected 3D by up to {error:.3f} px "
            f"(tolerance {tolerance_px} px): the cameras do not match the keypoints"
        )


def knee_forward_offset(world: np.ndarray) -> float:
    """Median over frames and both legs of how far (metres) each knee lies in front of the line from
    its hip to its ankle, for anatomically labelled world poses ``(T, 17, 3)`` with z up.

    Facing = (left hip - right hip) x up. Positive for real people (knees bend forward); the same
    poses with left/right labels swapped give the negative value.
    """
    world = np.asarray(world, dtype=np.float64)
    left, right = H36M.joints_left, H36M.joints_right  # (hip, knee, ankle, shoulder, elbow, wrist)
    facing = np.cross(world[:, left[0]] - world[:, right[0]], [0.0, 0.0, 1.0])  # (T, 3)
    facing /= np.maximum(np.linalg.norm(facing, axis=-1, keepdims=True), 1e-9)
    offsets = [
        np.einsum("tk,tk->t", world[:, leg[1]] - (world[:, leg[0]] + world[:, leg[2]]) / 2, facing)
        for leg in (left[:3], right[:3])
    ]
    return float(np.median(np.concatenate(offsets)))


def _check_convention(joint_convention: str) -> None:
    if joint_convention not in JOINT_CONVENTIONS:
        raise ValueError(f"joint_convention: expected one of {JOINT_CONVENTIONS}, got {joint_convention!r}")


def iter_actions(
    raw_dir: str | os.PathLike,
    subjects: Sequence[str] = ("SS1", "SS2", "SS3"),
    joint_convention: str = "anatomical",
    tolerance_px: float = REPROJECTION_TOLERANCE_PX,
) -> Iterator[dict[str, Any]]:
    """Yield one multi-camera record per subject and action (numpy, time first).

    Keys: subject, action, scenario, multi_person, num_frames, camera (4,), camera_id (4,),
    image_width (4,), image_height (4,), keypoints_2d (T,4,17,2), keypoints_3d_world (T,17,3),
    keypoints_3d_camera (T,4,17,3), visibility (T,4,17), intrinsics (4,3,3), extrinsics (4,3,4),
    joint_convention.
    """
    _check_convention(joint_convention)
    folders = {paper: folder for folder, paper in SUBJECTS.items()}
    for subject in subjects:
        if subject not in folders:
            raise ValueError(f"subjects: expected names from {sorted(folders)}, got {subject!r}")
        folder = folders[subject]
        cameras = read_cameras(raw_dir, folder)
        for action in list_actions(raw_dir, folder):
            data = read_action(raw_dir, folder, action)
            camera_points = []
            for camera in range(NUM_CAMERAS):
                rotation, translation = cameras.extrinsics[camera, :, :3], cameras.extrinsics[camera, :, 3]
                points = world_to_camera(data.world, rotation, translation)  # (T, 17, 3)
                _check_reprojection(points, data.pixels[camera], cameras.intrinsics[camera], data.files[1],
                                    camera, tolerance_px)  # fmt: skip
                camera_points.append(points)
            world, pixels, points, visible = data.world, data.pixels, np.stack(camera_points), data.visible
            if knee_forward_offset(mirror_blendmimic3d(world, axis=-2)) <= 0:
                # The mirroring fix assumes upstream's swapped labels; refuse files that are not.
                raise BlendMimic3DFileError(
                    f"{data.files[0]}: after swapping left/right the knees bend backwards, so these "
                    "files are not in the mirrored upstream labelling this converter expects"
                )
            if joint_convention == "anatomical":
                # Same slot permutation on every array keeps 2D, 3D and visibility aligned.
                world = mirror_blendmimic3d(world, axis=-2)
                pixels = mirror_blendmimic3d(pixels, axis=-2)
                points = mirror_blendmimic3d(points, axis=-2)
                visible = mirror_blendmimic3d(visible, axis=-1)
            yield {
                "subject": subject,
                "action": action,
                "scenario": SCENARIOS[subject],
                "multi_person": action.endswith("_multi"),
                "num_frames": int(world.shape[0]),
                "camera": np.arange(NUM_CAMERAS, dtype=np.int32),
                "camera_id": list(cameras.camera_ids),
                "image_width": np.array([w for w, _ in cameras.image_sizes], dtype=np.int32),
                "image_height": np.array([h for _, h in cameras.image_sizes], dtype=np.int32),
                # (C, T, 17, k) -> (T, C, 17, k): datasets arrays may vary only in their first axis.
                "keypoints_2d": np.ascontiguousarray(pixels.transpose(1, 0, 2, 3), dtype=np.float32),
                "keypoints_3d_world": world.astype(np.float32),
                "keypoints_3d_camera": np.ascontiguousarray(points.transpose(1, 0, 2, 3), dtype=np.float32),
                "visibility": np.ascontiguousarray(visible.transpose(1, 0, 2)),  # (T, C, 17)
                "intrinsics": cameras.intrinsics.astype(np.float32),
                "extrinsics": cameras.extrinsics.astype(np.float32),
                "joint_convention": joint_convention,
            }


def iter_camera_sequences(
    raw_dir: str | os.PathLike,
    subjects: Sequence[str] = ("SS1", "SS2", "SS3"),
    joint_convention: str = "anatomical",
    tolerance_px: float = REPROJECTION_TOLERANCE_PX,
) -> Iterator[dict[str, Any]]:
    """Yield one record per subject, action and camera (the ``sequences`` row layout, numpy)."""
    for record in iter_actions(raw_dir, subjects, joint_convention, tolerance_px):
        for camera in range(NUM_CAMERAS):
            yield {
                "subject": record["subject"],
                "action": record["action"],
                "camera": camera,
                "camera_id": record["camera_id"][camera],
                "scenario": record["scenario"],
                "multi_person": record["multi_person"],
                "num_frames": record["num_frames"],
                "image_width": int(record["image_width"][camera]),
                "image_height": int(record["image_height"][camera]),
                "keypoints_2d": np.ascontiguousarray(record["keypoints_2d"][:, camera]),  # (T, 17, 2)
                "keypoints_3d_world": record["keypoints_3d_world"],  # (T, 17, 3)
                "keypoints_3d_camera": np.ascontiguousarray(record["keypoints_3d_camera"][:, camera]),
                "visibility": np.ascontiguousarray(record["visibility"][:, camera]),  # (T, 17)
                "intrinsics": record["intrinsics"][camera],  # (3, 3)
                "extrinsics": record["extrinsics"][camera],  # (3, 4)
                "joint_convention": record["joint_convention"],
            }


def upstream_files() -> list[str]:
    """Repository paths, at the pinned commit, of the annotation files the builder needs (no videos,
    no ``data3D.txt`` duplicates)."""
    paths = []
    for folder, actions in UPSTREAM_ACTIONS.items():
        paths += [f"{folder}/Cameras/matrices_{folder}.npz", f"{folder}/Cameras/camera_params_{folder}.npz"]
        for action in actions:
            paths += [
                f"{folder}/D2_Positions/{action}/2D_positions.npz",
                f"{folder}/D3_Positions/{action}/{action}.npz",
                f"{folder}/Occlusions/{action}/occluded_kpt.npz",
            ]
    return paths


def upstream_url(path: str, commit: str = UPSTREAM_COMMIT) -> str:
    """Plain-HTTP URL of one upstream file at ``commit`` (GitHub redirects LFS files to their media host)."""
    return f"https://github.com/{UPSTREAM_REPO}/raw/{commit}/{path}"


def default_download_dir() -> Path:
    """Where the upstream files are kept: ``$HF_HOME/gcnrefine/blendmimic3d-<commit>``."""
    hf_home = os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
    return Path(hf_home) / "gcnrefine" / f"blendmimic3d-{UPSTREAM_COMMIT[:12]}"


def _http_fetch(url: str, destination: Path) -> None:
    with urllib.request.urlopen(url, timeout=60) as response, open(destination, "wb") as out:
        shutil.copyfileobj(response, out)


# The variables huggingface_hub and datasets read, with their notion of "set".
OFFLINE_ENV_VARS = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
_TRUE = {"1", "ON", "YES", "TRUE"}


def offline_env_var() -> str | None:
    """The first of :data:`OFFLINE_ENV_VARS` that is set to a true value, read now (not at import)."""
    for name in OFFLINE_ENV_VARS:
        if os.environ.get(name, "").strip().upper() in _TRUE:
            return name
    return None


def _sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download_upstream(
    dest: str | os.PathLike | None = None,
    *,
    commit: str = UPSTREAM_COMMIT,
    fetch: Callable[[str, Path], None] | None = None,
    checksums: Mapping[str, str] | None = None,
) -> Path:
    """Download the annotation files at ``commit`` into ``dest`` (upstream layout) and return it.

    Files already there are kept, so an interrupted download resumes. Each file is written to a
    temporary name, checked against its SHA-256 (``checksums``, path -> hex digest; default the table
    pinned for :data:`UPSTREAM_COMMIT`, needed for another commit) and renamed when it matches; a
    mismatch is deleted and refused. With ``HF_HUB_OFFLINE`` or ``HF_DATASETS_OFFLINE`` set, missing
    files are refused (ValueError) before anything is fetched. ``fetch(url, path)`` replaces the HTTP
    client (tests).
    """
    if checksums is None:
        if commit != UPSTREAM_COMMIT:
            raise ValueError(
                f"checksums: expected SHA-256 digests of the files at commit {commit!r}; only "
                f"{UPSTREAM_COMMIT} has a pinned table"
            )
        checksums = UPSTREAM_SHA256
    dest = Path(dest) if dest is not None else default_download_dir()
    paths = upstream_files()
    unpinned = sorted(set(paths) - set(checksums))
    if unpinned:
        raise ValueError(f"checksums: expected a SHA-256 for every upstream file, {unpinned[:3]} ... missing")
    missing = [path for path in paths if not (dest / path).is_file()]
    offline = offline_env_var()
    if missing and offline:
        raise ValueError(
            f"BlendMimic3D: {len(missing)} of {len(paths)} upstream files are not in {dest} and {offline} is "
            f"set, so they are not downloaded; pass --data with a BlendMimic3D folder or Hub id, or set "
            f"{ENV_VAR} to one"
        )
    fetch = fetch or _http_fetch
    for path in tqdm(missing, desc="Downloading BlendMimic3D annotations", unit="file"):
        target = dest / path
        url = upstream_url(path, commit)
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, partial = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        os.close(handle)
        try:
            fetch(url, Path(partial))
            with open(partial, "rb") as stream:
                head = stream.read(64)
            if head.startswith(b"version https://git-lfs"):
                raise BlendMimic3DFileError(f"{url}: got a Git LFS pointer, not the file")
            if not head.startswith(b"PK"):
                raise BlendMimic3DFileError(f"{url}: download is not an .npz archive")
            digest = _sha256(partial)
            if digest != checksums[path].lower():
                raise BlendMimic3DFileError(
                    f"{url}: SHA-256 {digest} differs from the pinned {checksums[path]}; the download was "
                    "deleted (a changed upstream file or a broken transfer)"
                )
            set_default_mode(partial)
            os.replace(partial, target)
        finally:
            if os.path.exists(partial):
                os.remove(partial)
    return dest
