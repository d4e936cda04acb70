"""Prediction files: 3D pose predictions per subject, action and camera, on disk and as a dataset.

In memory the reference tools (VideoPose3D, the BlendMimic3D evaluation scripts) use::

    positions_3d[subject][action] -> list over cameras of (T, 17, 3) float arrays

and store that dict as a pickled object array in an ``.npz``. Unpickling a user's file can run
code, so this module stores the same dict as plain float32 arrays, one per sequence, under keys::

    positions_3d/<subject>/<action>/<camera index>

(``positions_3d/S1/Walking/0`` is camera 0 of action "Walking" of subject "S1"). Subject and action
names must be non-empty and may not contain "/"; camera indices run 0..n-1 in list order. Files are
read with ``np.load(allow_pickle=False)``; a file in the pickled reference format is refused with a
message saying how to export plain arrays instead.

``predictions_to_dataset``/``dataset_to_predictions`` convert to and from a ``datasets.Dataset`` with
one row per sequence: ``subject``, ``action``, ``camera`` (int) and ``poses_3d_pred``
(``Array3D((None, 17, 3), float32)``), the key columns of the BlendMimic3D sequence rows.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..utils.io import write_atomic

if TYPE_CHECKING:  # datasets is the optional "data" extra: imported only where it is used
    import datasets


NUM_JOINTS = 17


PREFIX = "positions_3d"


_KEY = re.compile(rf"^{PREFIX}/([^/]+)/([^/]+)/(0|[1-9][0-9]*)$")


Predictions = dict[str, dict[str, list[np.ndarray]]]


_CONVERSION_HINT = (
    "Export it from the tool that computed it instead: pass its positions_3d dict (subject -> action -> "
    "list over cameras of (T, 17, 3) arrays) to modeling_gcnrefine.predictions.save_predictions, or write one "
    "float array per sequence under keys 'positions_3d/<subject>/<action>/<camera>'."
)


def _check_name(what: str, name: object) -> str:
    if not isinstance(name, str) or not name or "/" in name:
        raise ValueError(f"{what}: expected a non-empty string without '/', got {name!r}")
    return name


def _check_poses(what: str, poses: object, missing_cameras: bool = False) -> np.ndarray:
    """``poses`` as float32 ``(T, 17, 3)`` with T >= 1 and finite values (or, with ``missing_cameras``,
    all NaN), else ValueError."""
    array = np.asarray(poses)
    if array.ndim != 3 or array.shape[1:] != (NUM_JOINTS, 3) or array.shape[0] < 1:
        raise ValueError(f"{what}: expected shape (T, {NUM_JOINTS}, 3) with T >= 1, got {array.shape}")
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise ValueError(f"{what}: expected a float array, got dtype {array.dtype}")
    array = array.astype(np.float32)
    if not np.isfinite(array).all() and not (missing_cameras and np.isnan(array).all()):
        raise ValueError(f"{what}: expected finite values, got NaN or inf")
    return array


def _check_predictions(positions_3d: object, missing_cameras: bool = False) -> Predictions:
    """Validated copy of the nested dict, arrays as float32."""
    if not isinstance(positions_3d, Mapping) or not positions_3d:
        raise ValueError(
            f"positions_3d: expected a non-empty dict subject -> action -> list, got {positions_3d!r:.80}"
        )
    checked: Predictions = {}
    for subject, actions in positions_3d.items():
        _check_name("positions_3d subject", subject)
        if not isinstance(actions, Mapping) or not actions:
            raise ValueError(
                f"positions_3d[{subject!r}]: expected a non-empty dict action -> list, got {actions!r:.80}"
            )
        checked[subject] = {}
        for action, cameras in actions.items():
            _check_name(f"positions_3d[{subject!r}] action", action)
            where = f"positions_3d[{subject!r}][{action!r}]"
            if not isinstance(cameras, Sequence) or isinstance(cameras, str) or not cameras:
                raise ValueError(
                    f"{where}: expected a non-empty list over cameras, got {type(cameras).__name__}"
                )
            checked[subject][action] = [
                _check_poses(f"{where}[{i}]", p, missing_cameras) for i, p in enumerate(cameras)
            ]
    return checked


def save_predictions(
    path: str | os.PathLike,
    positions_3d: Mapping[str, Mapping[str, Sequence[np.ndarray]]],
    overwrite: bool = False,
    missing_cameras: bool = False,
) -> Path:
    """Write predictions to an ``.npz`` of plain float32 arrays (key scheme in the module docstring).

    ``missing_cameras``: an all-NaN entry stands for a camera with no prediction (cameras are numbered
    by list position, so one in the middle cannot be left out); refused otherwise.

    Never overwrites an existing file unless ``overwrite``; writes a temporary file in the same folder
    and moves it into place with ``os.replace``, so readers never see a half-written file.
    Returns the path written.
    """
    path = Path(path)
    checked = _check_predictions(positions_3d, missing_cameras)
    arrays = {
        f"{PREFIX}/{subject}/{action}/{camera}": poses
        for subject, actions in checked.items()
        for action, cameras in actions.items()
        for camera, poses in enumerate(cameras)
    }

    def writer(temp: str) -> None:
        with open(temp, "wb") as fh:  # a file object: np.savez appends no ".npz" to it
            np.savez(fh, **arrays)

    return write_atomic(path, writer, overwrite=overwrite)


def load_predictions(path: str | os.PathLike, missing_cameras: bool = False) -> Predictions:
    """Read a file written by :func:`save_predictions` (``np.load(allow_pickle=False)``).

    ``missing_cameras``: accept all-NaN entries (cameras without a prediction, see :func:`save_predictions`).

    Returns ``{subject: {action: [camera 0 (T, 17, 3) float32, camera 1, ...]}}`` in file order.
    Raises ValueError naming the path for pickled or object-array files (with the one-time
    conversion for the reference tools' format), unknown keys, gaps in camera indices or bad arrays.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: no such file {str(path)!r}")
    try:
        archive = np.load(path, allow_pickle=False)
    except ValueError as err:  # numpy treats anything that is neither .npy nor .npz as a pickle
        raise ValueError(
            f"path {str(path)!r}: expected a plain .npz of arrays, got a file numpy reads as pickled "
            f"data, which is never unpickled here ({err}). {_CONVERSION_HINT}"
        ) from err
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(
            f"path {str(path)!r}: expected an .npz archive of predictions, got a single .npy array"
        )
    cameras: dict[str, dict[str, dict[int, np.ndarray]]] = {}
    with archive:
        for key in archive.files:
            match = _KEY.match(key)
            if match is None:
                if key == PREFIX:
                    raise ValueError(
                        f"path {str(path)!r}: holds the reference tools' pickled '{PREFIX}' object array, "
                        f"which is never unpickled here. {_CONVERSION_HINT}"
                    )
                raise ValueError(
                    f"path {str(path)!r}: expected keys '{PREFIX}/<subject>/<action>/<camera>', got {key!r}"
                )
            try:
                array = archive[key]
            except ValueError as err:  # an object array inside an otherwise valid key scheme
                raise ValueError(
                    f"path {str(path)!r}: entry {key!r} is a pickled object array. {_CONVERSION_HINT}"
                ) from err
            subject, action, camera = match.group(1), match.group(2), int(match.group(3))
            cameras.setdefault(subject, {}).setdefault(action, {})[camera] = _check_poses(
                f"{path}:{key}", array, missing_cameras
            )
    if not cameras:
        raise ValueError(
            f"path {str(path)!r}: expected at least one '{PREFIX}/...' array, got an empty archive"
        )
    return _ordered(cameras, f"path {str(path)!r}")


def _ordered(cameras: dict[str, dict[str, dict[int, np.ndarray]]], where: str) -> Predictions:
    """Per-camera dicts to lists, refusing gaps (list index == camera index)."""
    result: Predictions = {}
    for subject, actions in cameras.items():
        result[subject] = {}
        for action, by_camera in actions.items():
            if sorted(by_camera) != list(range(len(by_camera))):
                raise ValueError(
                    f"{where}: expected cameras 0..{len(by_camera) - 1} for {subject}/{action}, got {sorted(by_camera)}"
                )
            result[subject][action] = [by_camera[i] for i in range(len(by_camera))]
    return result


def prediction_features() -> datasets.Features:
    """The ``datasets`` features of a predictions dataset (one row per subject/action/camera)."""
    from datasets import Array3D, Features, Value

    return Features(
        {
            "subject": Value("string"),
            "action": Value("string"),
            "camera": Value("int32"),
            "poses_3d_pred": Array3D(shape=(None, NUM_JOINTS, 3), dtype="float32"),
        }
    )


def predictions_to_dataset(
    positions_3d: Mapping[str, Mapping[str, Sequence[np.ndarray]]],
) -> datasets.Dataset:
    """One row per sequence: ``subject``, ``action``, ``camera`` (int32), ``poses_3d_pred`` (T, 17, 3)."""
    from datasets import Dataset

    checked = _check_predictions(positions_3d)
    rows = [
        (subject, action, camera, poses)
        for subject, actions in checked.items()
        for action, cams in actions.items()
        for camera, poses in enumerate(cams)
    ]
    subjects, actions, cams, poses = zip(*rows)
    return Dataset.from_dict(
        {
            "subject": list(subjects),
            "action": list(actions),
            "camera": list(cams),
            "poses_3d_pred": list(poses),
        },
        features=prediction_features(),
    )


def dataset_to_predictions(ds: datasets.Dataset) -> Predictions:
    """Inverse of :func:`predictions_to_dataset`; rows may come in any order.

    Needs the columns ``subject``, ``action``, ``camera`` and ``poses_3d_pred`` (others are ignored);
    refuses duplicate rows and gaps in camera indices.
    """
    columns = ["subject", "action", "camera", "poses_3d_pred"]
    missing = [c for c in columns if c not in ds.column_names]
    if missing:
        raise ValueError(f"ds: expected columns {columns}, missing {missing} (has {ds.column_names})")
    cameras: dict[str, dict[str, dict[int, np.ndarray]]] = {}
    for i, row in enumerate(ds.select_columns(columns).with_format("numpy")):
        subject = _check_name(f"ds row {i} subject", str(row["subject"]))
        action = _check_name(f"ds row {i} action", str(row["action"]))
        camera = int(row["camera"])
        by_camera = cameras.setdefault(subject, {}).setdefault(action, {})
        if camera in by_camera:
            raise ValueError(
                f"ds row {i}: expected one row per subject/action/camera, got a second {subject}/{action}/{camera}"
            )
        by_camera[camera] = _check_poses(f"ds row {i} poses_3d_pred", row["poses_3d_pred"])
    if not cameras:
        raise ValueError("ds: expected at least one row, got an empty dataset")
    return _ordered(cameras, "ds")
