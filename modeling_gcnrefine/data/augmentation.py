"""Batch augmentation shared by the lifter's and the refiner's training: a random left/right mirror and
a random viewpoint rotation (yaw about the vertical axis, a small tilt), applied identically to inputs
and targets.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from ..skeleton import H36M, SkeletonLayout


def rotation_matrices(yaw: torch.Tensor, tilt: torch.Tensor) -> torch.Tensor:
    """Camera-frame rotations ``(B, 3, 3)`` from angles in radians: ``R = R_y(yaw) @ R_x(tilt)``.

    The same convention as :func:`geometry.random_rotation` (scipy ``from_euler("xy", [tilt, yaw])``):
    y is the camera's down axis, x its right axis.
    """
    if yaw.shape != tilt.shape or yaw.ndim != 1:
        raise ValueError(f"tilt: expected the 1-D shape of yaw {tuple(yaw.shape)}, got {tuple(tilt.shape)}")
    dtype = torch.promote_types(yaw.dtype, tilt.dtype)
    yaw, tilt = yaw.to(dtype), tilt.to(dtype)
    cy, sy, cx, sx = torch.cos(yaw), torch.sin(yaw), torch.cos(tilt), torch.sin(tilt)
    zero, one = torch.zeros_like(yaw), torch.ones_like(yaw)
    r_y = torch.stack([cy, zero, sy, zero, one, zero, -sy, zero, cy], dim=-1).reshape(-1, 3, 3)
    r_x = torch.stack([one, zero, zero, zero, cx, -sx, zero, sx, cx], dim=-1).reshape(-1, 3, 3)
    return r_y @ r_x


def random_flip_and_rotate(
    batch: Mapping[str, Any],
    generator: torch.Generator,
    keys: Sequence[str] = ("poses_3d", "labels"),
    flip_prob: float = 0.5,
    rotate: bool = True,
    max_tilt_degrees: float = 20.0,
    layout: SkeletonLayout = H36M,
) -> dict[str, Any]:
    """Random mirror and viewpoint change per sample, the same for every key of that sample.

    Each sample is mirrored with probability ``flip_prob`` (negate camera-frame x, swap left/right
    joints of ``layout``), then, if ``rotate``, turned by a random yaw over the full circle about the
    camera's y axis and a tilt within ``±max_tilt_degrees`` about its x axis (see
    :func:`rotation_matrices`). Rotation is about the camera-frame origin, which is the root joint for
    the root-relative poses the refiner uses; absolute poses would swing about the camera instead.

    Arrays under ``keys`` are ``(B, ..., J, 3)`` (or ``(B, ..., J, 2)`` normalised 2D with
    ``rotate=False``). Random numbers come from ``generator`` (any device) and the work runs on the
    tensors' device, so it fits as ``train(batch_transform=...)``. Returns a new dict; other keys are
    passed through.
    """
    if not isinstance(batch, Mapping):
        raise ValueError(f"batch: expected a mapping of tensors, got {type(batch).__name__}")
    if not 0.0 <= flip_prob <= 1.0:
        raise ValueError(f"flip_prob: expected a probability in [0, 1], got {flip_prob!r}")
    if not 0.0 <= max_tilt_degrees <= 90.0:
        raise ValueError(f"max_tilt_degrees: expected a value in [0, 90], got {max_tilt_degrees!r}")
    if isinstance(keys, str) or not keys:
        raise ValueError(f"keys: expected a non-empty sequence of batch keys, got {keys!r}")
    size = None
    for key in keys:
        if key not in batch:
            raise ValueError(f"keys: {key!r} is not in the batch (keys {sorted(batch)})")
        x = batch[key]
        if not torch.is_tensor(x) or not x.is_floating_point():
            raise ValueError(f"batch[{key!r}]: expected a floating-point tensor, got {type(x).__name__}")
        # 2D keypoints can be mirrored but not rotated without a camera, so rotate needs 3D.
        if x.ndim < 3 or x.shape[-2] != layout.num_joints or x.shape[-1] not in ((3,) if rotate else (2, 3)):
            want = f"(B, ..., {layout.num_joints}, {3 if rotate else '2 or 3'})"
            raise ValueError(f"batch[{key!r}]: expected shape {want}, got {tuple(x.shape)}")
        if size is not None and x.shape[0] != size:
            raise ValueError(
                f"batch[{key!r}]: expected batch size {size} like the other keys, got {x.shape[0]}"
            )
        size = x.shape[0]

    # Draw in a fixed order from the generator's own device: the same seed gives the same
    # augmentation on CPU and GPU, and a CPU generator also serves CUDA tensors.
    gen_device = generator.device
    flip = torch.rand(size, generator=generator, device=gen_device) < flip_prob
    if rotate:
        yaw = (
            torch.rand(size, generator=generator, device=gen_device, dtype=torch.float64) * 2 - 1
        ) * math.pi
        tilt = torch.rand(size, generator=generator, device=gen_device, dtype=torch.float64) * 2 - 1
        rotation = rotation_matrices(yaw, tilt * math.radians(max_tilt_degrees))
    perm = torch.tensor(layout.flip_permutation)
    out = dict(batch)
    for key in keys:
        x = batch[key]
        mirrored = x[..., perm.to(x.device), :]
        mirrored[..., 0] = -mirrored[..., 0]
        mask = flip.to(x.device).reshape((size,) + (1,) * (x.ndim - 1))
        x = torch.where(mask, mirrored, x)
        if rotate:  # row vectors: x' = x R^T, one R per sample broadcast over frames and joints
            r_t = rotation.to(device=x.device, dtype=x.dtype).transpose(1, 2)
            x = x @ r_t.reshape((size,) + (1,) * (x.ndim - 3) + (3, 3))
        out[key] = x
    return out
