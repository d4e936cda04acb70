"""TODO docstring (from modeling_gcnrefine/cli.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..modeling_gcnrefine import GCNRefineModel
from ..utils.hub import resolve_model
from ..utils.io import load_poses_file, save_poses_file


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


    output_path = Path(output_path)
    if output_path.exists() and not overwrite:
        raise FileExistsError(f"{output_path} exists; pass --force to replace it")
    poses = load_poses_file(input_path, key=key)
    refiner = GCNRefineModel.from_pretrained(resolve_model(model, "refiner"))
    if device:
        refiner = refiner.to(device)
    shape = poses.shape
    refined = refiner.refine(poses.reshape(shape[0], 17, 3), flip_test=flip_test, batch_size=batch_size)
    return save_poses_file(output_path, np.asarray(refined).reshape(shape), overwrite=overwrite)
