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
    if not 0.0 <= flip_prob <= 1.0:
        raise ValueError(f"flip_prob: expected a probability in [0, 1], got {flip_prob!r}")
    if not 0.0 <= max_tilt_degrees <= 90.0:
        raise ValueError(f"max_tilt_degrees: expected a value in [0, 90], got {max_tilt_degrees!r}")
    size = _check_batch(batch, keys, layout, (3,) if rotate else (2, 3))

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


def _check_batch(
    batch: Mapping[str, Any], keys: Sequence[str], layout: SkeletonLayout, last: tuple[int, ...] = (3,)
) -> int:
    """The batch size of ``batch[keys]``: floating-point ``(B, ..., J, C)`` tensors with C in ``last``
    and one B; a clear error naming the key otherwise."""
    if not isinstance(batch, Mapping):
        raise ValueError(f"batch: expected a mapping of tensors, got {type(batch).__name__}")
    if isinstance(keys, str) or not keys:
        raise ValueError(f"keys: expected a non-empty sequence of batch keys, got {keys!r}")
    size = None
    for key in keys:
        if key not in batch:
            raise ValueError(f"keys: {key!r} is not in the batch (keys {sorted(batch)})")
        x = batch[key]
        if not torch.is_tensor(x) or not x.is_floating_point():
            raise ValueError(f"batch[{key!r}]: expected a floating-point tensor, got {type(x).__name__}")
        if x.ndim < 3 or x.shape[-2] != layout.num_joints or x.shape[-1] not in last:
            want = f"(B, ..., {layout.num_joints}, {' or '.join(map(str, last))})"
            raise ValueError(f"batch[{key!r}]: expected shape {want}, got {tuple(x.shape)}")
        if size is not None and x.shape[0] != size:
            raise ValueError(f"batch[{key!r}]: expected batch size {size} like the other keys, got {x.shape[0]}")
        size = x.shape[0]
    return size


def _uniform(size, generator: torch.Generator, low: float, high: float) -> torch.Tensor:
    return low + (high - low) * torch.rand(size, generator=generator, device=generator.device, dtype=torch.float64)


def scale_bones(
    batch: Mapping[str, Any],
    generator: torch.Generator,
    keys: Sequence[str] = ("poses_3d", "labels"),
    std: float = 0.05,
    layout: SkeletonLayout = H36M,
) -> dict[str, Any]:
    """Random body proportions: every bone of a sample scaled by its own factor ``exp(N(0, std))``,
    the same for its left/right partner and for every key and frame of the sample.

    The poses are rebuilt down the kinematic tree (``layout.parents``, parents before children) from
    the root, which stays put. Scaling input and target alike shows the refiner other people's
    anatomy instead of the two training subjects' only. Arrays under ``keys``: ``(B, T, J, 3)``.
    """
    if not 0.0 <= std <= 1.0:
        raise ValueError(f"std: expected a log-scale standard deviation in [0, 1], got {std!r}")
    size = _check_batch(batch, keys, layout)
    joints = layout.num_joints
    if any(p >= c for c, p in enumerate(layout.parents) if p >= 0):
        raise ValueError("layout: expected every parent to come before its children")
    noise = torch.randn((size, joints), generator=generator, device=generator.device, dtype=torch.float64)
    perm = torch.tensor(layout.flip_permutation, device=noise.device)
    factors = torch.exp(std * (noise + noise[:, perm]) / 2**0.5)  # (B, J): factor of the bone ending at j
    out = dict(batch)
    for key in keys:
        x = batch[key]
        f = factors.to(device=x.device, dtype=x.dtype).reshape((size,) + (1,) * (x.ndim - 3) + (joints, 1))
        joints_out = [x[..., 0, :]]
        for child, parent in enumerate(layout.parents):
            if parent < 0:
                continue
            bone = x[..., child, :] - x[..., parent, :]
            joints_out.append(joints_out[parent] + f[..., child, :] * bone)
        out[key] = torch.stack(joints_out, dim=-2)
    return out


def change_speed(
    batch: Mapping[str, Any],
    generator: torch.Generator,
    keys: Sequence[str] = ("poses_3d", "labels"),
    speed_range: tuple[float, float] = (0.8, 1.25),
) -> dict[str, Any]:
    """Random playback speed per sample: each window is resampled about its centre frame at a speed
    drawn log-uniformly from ``speed_range`` (linear interpolation; beyond the window's ends the end
    frames are held, as at a sequence's ends). Every key of a sample gets the same resampling, so the
    target follows the input. Arrays under ``keys``: ``(B, T, ...)``.
    """
    low, high = speed_range
    if not 0.0 < low <= high:
        raise ValueError(f"speed_range: expected 0 < low <= high, got {speed_range!r}")
    if isinstance(keys, str) or not keys or any(k not in batch or not torch.is_tensor(batch[k]) for k in keys):
        raise ValueError(f"keys: expected batch keys of tensors, got {keys!r} (batch keys {sorted(batch)})")
    size, frames = batch[keys[0]].shape[:2]
    for key in keys:
        if batch[key].ndim < 2 or tuple(batch[key].shape[:2]) != (size, frames):
            raise ValueError(f"batch[{key!r}]: expected leading (B, T) = {(size, frames)}, got {tuple(batch[key].shape)}")
    speed = torch.exp(_uniform(size, generator, math.log(low), math.log(high)))  # (B,)
    centre = (frames - 1) / 2
    offsets = torch.arange(frames, dtype=torch.float64, device=speed.device) - centre
    source = (centre + offsets[None, :] * speed[:, None]).clamp(0, frames - 1)  # (B, T) fractional frames
    lower = source.floor().long().clamp(max=frames - 1)
    upper = (lower + 1).clamp(max=frames - 1)
    weight = source - lower
    out = dict(batch)
    for key in keys:
        x = batch[key]
        shape = (size, frames) + (1,) * (x.ndim - 2)
        lo = torch.take_along_dim(x, lower.to(x.device).reshape(shape), dim=1)
        hi = torch.take_along_dim(x, upper.to(x.device).reshape(shape), dim=1)
        w = weight.to(device=x.device, dtype=x.dtype).reshape(shape)
        out[key] = lo + w * (hi - lo)
    return out


def drop_joints(
    batch: Mapping[str, Any],
    generator: torch.Generator,
    probability: float = 0.5,
    max_joints: int = 4,
    span_range: tuple[int, int] = (5, 60),
    offset_std: float = 0.03,
    layout: SkeletonLayout = H36M,
) -> dict[str, Any]:
    """Simulated lost joints in the input only: with ``probability`` per sample, up to ``max_joints``
    non-root joints are frozen over one span of frames (length drawn from ``span_range``) at their
    value at the span's start plus a constant offset ``N(0, offset_std)`` metres, as a lifter's
    output drifts or sticks when a joint is hidden; their ``confidence`` (if the batch has one) is 0
    there. ``labels`` are untouched, so the refiner learns to fill the gap from context.
    Keys: ``poses_3d`` ``(B, T, J, 3)``, optional ``confidence`` ``(B, T, J)``.
    """
    if not 0.0 <= probability <= 1.0:
        raise ValueError(f"probability: expected a value in [0, 1], got {probability!r}")
    if not 1 <= max_joints < layout.num_joints:
        raise ValueError(f"max_joints: expected a value in [1, {layout.num_joints - 1}], got {max_joints!r}")
    if not 1 <= span_range[0] <= span_range[1]:
        raise ValueError(f"span_range: expected 1 <= low <= high frames, got {span_range!r}")
    size = _check_batch(batch, ("poses_3d",), layout)
    poses = batch["poses_3d"]
    if poses.ndim != 4:
        raise ValueError(f"batch['poses_3d']: expected shape (B, T, {layout.num_joints}, 3), got {tuple(poses.shape)}")
    frames, joints = poses.shape[1:3]
    device = generator.device
    chosen = torch.rand(size, generator=generator, device=device) < probability  # (B,)
    count = torch.randint(1, max_joints + 1, (size,), generator=generator, device=device)
    order = torch.argsort(torch.rand((size, joints - 1), generator=generator, device=device), dim=1) + 1
    rank = torch.empty_like(order).scatter_(1, order - 1, torch.arange(joints - 1, device=device).expand(size, -1))
    joint_mask = torch.zeros((size, joints), dtype=torch.bool, device=device)
    joint_mask[:, 1:] = (rank < count[:, None]) & chosen[:, None]  # (B, J): the root is never dropped
    span = torch.randint(span_range[0], span_range[1] + 1, (size,), generator=generator, device=device).clamp(max=frames)
    start = (torch.rand(size, generator=generator, device=device) * (frames - span + 1)).long()
    t = torch.arange(frames, device=device)
    frame_mask = (t[None, :] >= start[:, None]) & (t[None, :] < (start + span)[:, None])  # (B, T)
    mask = (frame_mask[:, :, None] & joint_mask[:, None, :]).to(poses.device)  # (B, T, J)
    offset = offset_std * torch.randn((size, 1, joints, 3), generator=generator, device=device, dtype=torch.float64)
    held = torch.take_along_dim(poses, start.to(poses.device).reshape(size, 1, 1, 1), dim=1)  # (B, 1, J, 3)
    held = held + offset.to(device=poses.device, dtype=poses.dtype)
    out = dict(batch)
    out["poses_3d"] = torch.where(mask[..., None], held, poses)
    if "confidence" in batch:
        out["confidence"] = batch["confidence"].masked_fill(mask, 0.0)
    return out
