"""Refining a pose file end to end: load it safely, run a refiner, write the result atomically; and
the up-front checks of where a command's output goes."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..modeling_gcnrefine import GCNRefineModel
from ..utils.hub import resolve_model
from ..utils.io import POSE_SUFFIXES, load_poses_file, save_poses_file

# Package data, so `gcnrefine refine --example` works from a wheel without ../shared (made by
# tools/make_example.py: the shipped lifter on real BlazePose detections of an SS3 video).
EXAMPLE_POSES = Path(__file__).resolve().parents[1] / "examples" / "ss3_takesitem_multi_cam1_lifted.npy"


def _existing_ancestor(path: Path) -> Path:
    """The nearest folder of ``path`` that exists: the writers create the missing ones below it."""
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    return ancestor


def _check_writable_below(path: Path, name: str) -> None:
    ancestor = _existing_ancestor(path)
    if not ancestor.is_dir():
        raise ValueError(f"{name}: expected a path inside a folder, but {str(ancestor)!r} is a file")
    # Root passes os.access on any mode, so this only catches what would fail for this user anyway.
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise PermissionError(
            f"{name}: cannot write {str(path)!r}: the folder {str(ancestor)!r} is not writable"
        )


def check_output_path(
    path: str | os.PathLike,
    overwrite: bool = False,
    *,
    suffixes: Sequence[str] = POSE_SUFFIXES,
    name: str = "output",
) -> Path:
    """Refuse an output file that could not be written, before the work that would produce it.

    ``path`` must end in one of ``suffixes``, must not be a folder, must not exist unless
    ``overwrite``, and the nearest existing folder above it must be writable (missing folders are
    created when the file is written). Raises ValueError, FileExistsError or PermissionError; returns
    ``path`` as a ``Path``.
    """
    path = Path(path)
    if path.suffix not in suffixes:
        raise ValueError(f"{name}: expected a {' or '.join(suffixes)} file, got {str(path)!r}")
    if path.is_dir():
        raise ValueError(f"{name}: expected a file, got the folder {str(path)!r}")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True (CLI: --force) to replace it")
    _check_writable_below(path, name)
    return path


def check_output_dir(path: str | os.PathLike, *, refuse_non_empty: bool = False, name: str = "out") -> Path:
    """Refuse an output folder that could not be written, before the work that fills it.

    ``path`` must not be a file and the nearest existing folder (itself, or one above it) must be
    writable. ``refuse_non_empty`` also refuses a folder that holds files (FileExistsError), for
    writers that would otherwise replace them. Returns ``path`` as a ``Path``.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{name}: expected a folder, got the file {str(path)!r}")
    if path.is_dir():
        if refuse_non_empty and any(path.iterdir()):
            raise FileExistsError(f"{path} is not empty; pass overwrite=True (CLI: --force) to write into it")
        if not os.access(path, os.W_OK | os.X_OK):
            raise PermissionError(f"{name}: the folder {str(path)!r} is not writable")
        return path
    _check_writable_below(path, name)
    return path


@dataclass(frozen=True)
class RefinedFile:
    """What :func:`refine_poses_file` wrote: the output path and both pose arrays as ``(T, 17, 3)``."""

    path: Path
    before: np.ndarray
    after: np.ndarray


def refine_poses_file(
    input_path: str | Path,
    output_path: str | Path,
    model: str | Path | None = None,
    flip_test: bool = False,
    batch_size: int = 1024,
    overwrite: bool = False,
    key: str | None = None,
    device: str | None = None,
    fps: float | None = None,
    smoothing_sigma: float | None = None,
    change_weight: float | None = None,
) -> RefinedFile:
    """Refine the poses in ``input_path``, write them to ``output_path`` with the input's shape.

    Returns the poses before and after too, so a caller can report what the refiner changed. A bad
    ``output_path`` (:func:`check_output_path`) is refused before anything is loaded or refined.
    ``fps``, ``smoothing_sigma`` and ``change_weight`` go to `GCNRefineModel.refine` (None: the model's
    defaults).
    """
    output_path = check_output_path(output_path, overwrite)
    poses = load_poses_file(input_path, key=key)
    refiner = GCNRefineModel.from_pretrained(resolve_model(model, "refiner"))
    if device:
        refiner = refiner.to(device)
    shape = poses.shape
    before = poses.reshape(shape[0], 17, 3)
    refined = np.asarray(
        refiner.refine(
            before,
            flip_test=flip_test,
            batch_size=batch_size,
            fps=fps,
            smoothing_sigma=smoothing_sigma,
            change_weight=change_weight,
        )
    )
    path = save_poses_file(output_path, refined.reshape(shape), overwrite=overwrite)
    return RefinedFile(path=path, before=before, after=refined.reshape(shape[0], 17, 3))


def refine_file(
    input_path: str | Path,
    output_path: str | Path,
    model: str | Path | None = None,
    flip_test: bool = False,
    batch_size: int = 1024,
    overwrite: bool = False,
    key: str | None = None,
    device: str | None = None,
) -> Path:
    """Refine the poses in ``input_path`` and write them to ``output_path`` with the input's shape."""
    return refine_poses_file(
        input_path, output_path, model, flip_test, batch_size, overwrite, key, device
    ).path
