"""The numpy side of `GCNRefineModel.refine`: input validation, the unit check, NaN filling, and
turning the refined array back into the caller's type.

A model file: it travels with a saved checkpoint (``auto_map``) and imports only its siblings.
"""

from __future__ import annotations

import numpy as np
import torch

from .configuration_gcnrefine import GCNRefineConfig

# Inputs whose median bone length exceeds this are not in metres (a human bone is 0.05 - 0.5 m).
MAX_MEDIAN_BONE_LENGTH_METRES = 10.0


def flip_permutation(config: GCNRefineConfig) -> list[int]:
    perm = list(range(config.num_joints))
    for left, right in zip(config.joints_left, config.joints_right):
        perm[left], perm[right] = right, left
    return perm


def _validated_poses(poses, config: GCNRefineConfig) -> np.ndarray:
    """Check type, shape, dtype and content of `refine`'s input; return float64 numpy."""
    joints = config.num_joints
    if isinstance(poses, torch.Tensor):
        if not poses.is_floating_point():
            raise ValueError(f"poses: expected a floating-point tensor, got dtype {poses.dtype}")
        array = poses.detach().to("cpu", torch.float64).numpy()
    elif isinstance(poses, np.ndarray):
        if not np.issubdtype(poses.dtype, np.floating):
            raise ValueError(f"poses: expected a floating-point array, got dtype {poses.dtype}")
        array = poses.astype(np.float64)
    else:
        raise ValueError(f"poses: expected a numpy array or torch tensor, got {type(poses).__name__}")
    if array.ndim not in (3, 4):
        raise ValueError(f"poses: expected shape (T, {joints}, 3) or (B, T, {joints}, 3), got {array.shape}")
    if array.shape[-2] != joints:
        raise ValueError(f"poses: expected {joints} joints in axis -2 (shape (..., {joints}, 3)), got {array.shape}")
    if array.shape[-1] != 3:
        raise ValueError(f"poses: expected 3 coordinates in the last axis (shape (..., {joints}, 3)), got {array.shape}")
    if array.shape[-3] < 1 or (array.ndim == 4 and array.shape[0] < 1):
        raise ValueError(f"poses: expected at least one sequence of at least one frame, got {array.shape}")
    if np.isinf(array).any():
        raise ValueError("poses: expected finite values or NaN for missing keypoints, got +-inf")
    batch = array if array.ndim == 4 else array[None]
    empty = [i for i in range(batch.shape[0]) if np.isnan(batch[i]).all()]
    if empty:
        raise ValueError(f"poses: expected at least one observed keypoint per sequence, got all-NaN sequence(s) {empty}")
    return array


def _check_metres(array: np.ndarray, parents) -> None:
    children = [c for c, p in enumerate(parents) if p >= 0]
    lengths = np.linalg.norm(array[..., children, :] - array[..., [parents[c] for c in children], :], axis=-1)
    median = float(np.median(lengths))
    if median > MAX_MEDIAN_BONE_LENGTH_METRES:
        raise ValueError(
            f"poses: expected metres (median bone length 0.05-0.5), got median bone length {median:.1f}; "
            "the input looks like millimetres: divide by 1000 to convert to metres"
        )


def fill_missing(poses: np.ndarray, parents) -> np.ndarray:
    """Fill NaN keypoints of ``(B, T, V, 3)`` poses: linear interpolation over time per joint and
    coordinate (nearest value held at the ends); a joint missing in every frame takes its parent's
    position (the root, the mean of the observed joints). Returns a new array without NaN."""
    filled = poses.copy()
    num_sequences, length, joints, _ = filled.shape
    time = np.arange(length)
    for b in range(num_sequences):
        for v in range(joints):
            observed = ~np.isnan(filled[b, :, v, 0])
            if observed.all() or not observed.any():
                continue
            for c in range(3):
                filled[b, :, v, c] = np.interp(time, time[observed], filled[b, observed, v, c])
        for v in range(joints):  # parents come before children in the layout
            if np.isnan(filled[b, :, v]).all():
                if parents[v] >= 0:
                    filled[b, :, v] = filled[b, :, parents[v]]
                else:
                    filled[b, :, v] = np.nanmean(filled[b], axis=1)
    # Partially observed coordinates (NaN in x only, say) are rare; settle them the same way.
    if np.isnan(filled).any():
        filled = np.where(np.isnan(filled), np.nanmean(filled, axis=(1, 2), keepdims=True), filled)
    return filled


def prepare_sequences(poses, confidence, config: GCNRefineConfig) -> tuple[np.ndarray, np.ndarray | None, bool]:
    """Validate ``refine``'s input and return ``(poses (B, T, V, 3) float64 without NaN, confidence
    (B, T, V) float32 or None, whether the input was a single sequence)``."""
    array = _validated_poses(poses, config)  # float64 numpy, (B, T, V, 3) or (T, V, 3)
    single = array.ndim == 3
    if single:
        array = array[None]
    if np.isnan(array).any():
        array = fill_missing(array, config.joint_parents)
    _check_metres(array, config.joint_parents)
    conf = None
    if config.in_channels == 4:
        if confidence is None:
            raise ValueError("confidence: expected an array of shape poses.shape[:-1] with in_channels=4, got None")
        conf = np.asarray(confidence.detach().cpu() if isinstance(confidence, torch.Tensor) else confidence, np.float32)
        conf = conf[None] if single else conf
        if conf.shape != array.shape[:-1]:
            raise ValueError(f"confidence: expected shape {array.shape[:-1]}, got {conf.shape}")
        conf = np.nan_to_num(conf, nan=0.0)
    return array, conf, single


def restore_output(refined: np.ndarray, poses, single: bool):
    """``refined (B, T, V, 3)`` in the type, shape, dtype and device of ``refine``'s input ``poses``."""
    refined = refined[0] if single else refined
    if isinstance(poses, torch.Tensor):
        return torch.from_numpy(refined).to(device=poses.device, dtype=poses.dtype)
    return refined.astype(np.asarray(poses).dtype, copy=False)
