"""Refining a pose file end to end: load it safely, run a refiner, write the result atomically."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..modeling_gcnrefine import GCNRefineModel
from ..utils.hub import resolve_model
from ..utils.io import load_poses_file, save_poses_file

# Package data, so `gcnrefine refine --example` works from a wheel without ../shared (made by
# tools/make_example.py: the shipped lifter on real BlazePose detections of an SS3 video).
EXAMPLE_POSES = Path(__file__).resolve().parents[1] / "examples" / "ss3_takesitem_multi_cam1_lifted.npy"


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
) -> RefinedFile:
    """Refine the poses in ``input_path``, write them to ``output_path`` with the input's shape.

    Returns the poses before and after too, so a caller can report what the refiner changed.
    """
    output_path = Path(output_path)
    if output_path.exists() and not overwrite:
        raise FileExistsError(f"{output_path} exists; pass --force to replace it")
    poses = load_poses_file(input_path, key=key)
    refiner = GCNRefineModel.from_pretrained(resolve_model(model, "refiner"))
    if device:
        refiner = refiner.to(device)
    shape = poses.shape
    before = poses.reshape(shape[0], 17, 3)
    refined = np.asarray(refiner.refine(before, flip_test=flip_test, batch_size=batch_size))
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
