"""Pose error metrics: MPJPE, P-MPJPE, N-MPJPE, MPJVE and acceleration error, with optional joint masks.

Every metric takes ``predicted`` and ``target`` of shape ``(..., J, C)`` (C = 3 for poses; C = 2
also works for 2D keypoints except where noted) and returns values in the input's unit (metres for
poses; the evaluation converts to millimetres).

Inputs may be numpy arrays or torch tensors. If either is a tensor the result is a tensor on the
predicted tensor's device (autograd flows through :func:`mpjpe`, :func:`n_mpjpe`, :func:`mpjve` and
:func:`acceleration_error`, so they can serve as losses); otherwise the result is numpy float64 (a numpy scalar for
``reduction="mean"``).

Masks. ``mask`` is a bool array broadcastable to ``(..., J)`` that selects the joints to score, so
the error over occluded joints only is ``mpjpe(pred, target, mask=~visibility)``. Per frame, the
error is the mean over the selected joints; a frame with no selected joint has no value (NaN in
``reduction="none"``) and is left out of ``reduction="mean"``, which is the mean over the remaining
frames (each frame weighs the same, however many of its joints are selected). If no frame has a
selected joint, ``"mean"`` is NaN. Joints that are not selected never contribute, even when they
hold NaN; NaN in a selected joint propagates. Alignments (P-MPJPE, N-MPJPE) always use all joints
of the frame, the mask only chooses which joints' errors are averaged afterwards.

Definitions follow the evaluation protocol of Pavllo et al., "3D human pose estimation in video
with temporal convolutions and semi-supervised training" (CVPR 2019), which the BlendMimic3D paper
reuses: MPJPE is the mean Euclidean joint error; P-MPJPE is MPJPE after a per-frame similarity
Procrustes alignment; N-MPJPE is MPJPE after the per-frame least-squares scale; MPJVE is MPJPE of
the first differences along time (per frame, not per second). The acceleration error is the same for
the second differences, as SmoothNet (Zeng et al., ECCV 2022) and HMR-style video papers report it
(per frame², not per second²).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from .geometry import procrustes_align

Reduction = Literal["mean", "none"]


_REDUCTIONS = ("mean", "none")


def _as_array(value, name: str):
    """Return ``value`` as a torch tensor (unchanged) or a float numpy array."""
    if isinstance(value, torch.Tensor):
        return value
    array = np.asarray(value)
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise ValueError(f"{name}: expected a numeric array, got dtype {array.dtype}")
    return array.astype(np.float64, copy=False)


def _check_pair(predicted, target, min_ndim: int = 2):
    """Validate and convert ``predicted``/``target``; returns ``(predicted, target, is_torch)``."""
    predicted = _as_array(predicted, "predicted")
    target = _as_array(target, "target")
    is_torch = isinstance(predicted, torch.Tensor) or isinstance(target, torch.Tensor)
    if predicted.ndim < min_ndim or predicted.shape[-1] not in (2, 3):
        raise ValueError(
            f"predicted: expected shape (..., J, 3) or (..., J, 2) with at least {min_ndim} dimensions, "
            f"got {tuple(predicted.shape)}"
        )
    if tuple(target.shape) != tuple(predicted.shape):
        raise ValueError(
            f"target: expected the shape of predicted {tuple(predicted.shape)}, got {tuple(target.shape)}"
        )
    if is_torch:
        reference = predicted if isinstance(predicted, torch.Tensor) else target
        dtype = reference.dtype if reference.is_floating_point() else torch.float32
        predicted = torch.as_tensor(predicted, dtype=dtype, device=reference.device)
        target = torch.as_tensor(target, dtype=dtype, device=reference.device)
    return predicted, target, is_torch


def _check_mask(mask, frame_shape: tuple[int, ...], is_torch: bool, device=None):
    """Validate a bool joint mask broadcastable to ``frame_shape`` = ``(..., J)``; return it broadcast."""
    if mask is None:
        return None
    if isinstance(mask, torch.Tensor):
        if mask.dtype != torch.bool:
            raise ValueError(f"mask: expected a bool tensor (True = score this joint), got dtype {mask.dtype}")
        shape = tuple(mask.shape)
    else:
        mask = np.asarray(mask)
        if mask.dtype != np.bool_:
            raise ValueError(f"mask: expected a bool array (True = score this joint), got dtype {mask.dtype}")
        shape = mask.shape
    try:
        broadcast = np.broadcast_shapes(shape, frame_shape)
    except ValueError:
        broadcast = None
    if broadcast != tuple(frame_shape):
        raise ValueError(f"mask: expected a shape broadcastable to {tuple(frame_shape)}, got {shape}")
    if is_torch:
        return torch.as_tensor(mask, device=device).expand(frame_shape)
    return np.broadcast_to(np.asarray(mask), frame_shape)


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction: expected one of {_REDUCTIONS}, got {reduction!r}")


def _reduce(errors, mask, reduction: str, is_torch: bool):
    """Per-joint errors ``(..., J)`` -> per-frame masked means ``(...,)`` -> optional mean over frames."""
    if is_torch:
        if mask is None:
            per_frame = errors.mean(dim=-1)
            valid = torch.ones_like(per_frame, dtype=torch.bool)
        else:
            count = mask.sum(dim=-1)
            total = torch.where(mask, errors, torch.zeros_like(errors)).sum(dim=-1)
            valid = count > 0
            per_frame = torch.where(
                valid, total / count.clamp(min=1).to(errors.dtype), torch.full_like(total, float("nan"))
            )
        if reduction == "none":
            return per_frame
        n_valid = valid.sum()
        if int(n_valid) == 0:
            return torch.full((), float("nan"), dtype=errors.dtype, device=errors.device)
        # where() rather than indexing keeps NaN from selected joints and gives a clean gradient.
        return torch.where(valid, per_frame, torch.zeros_like(per_frame)).sum() / n_valid.to(errors.dtype)
    if mask is None:
        per_frame = errors.mean(axis=-1)
        valid = np.ones(per_frame.shape, dtype=bool)
    else:
        count = mask.sum(axis=-1)
        total = np.where(mask, errors, 0.0).sum(axis=-1)
        valid = count > 0
        per_frame = np.where(valid, total / np.maximum(count, 1), np.nan)
    if reduction == "none":
        return np.asarray(per_frame, dtype=np.float64)
    n_valid = int(valid.sum())
    if n_valid == 0:
        return np.float64(np.nan)
    return np.float64(np.where(valid, per_frame, 0.0).sum() / n_valid)


def joint_errors(predicted, target):
    """Euclidean error of every joint, ``(..., J)``, in the input's unit (numpy or torch)."""
    predicted, target, is_torch = _check_pair(predicted, target)
    if is_torch:
        return torch.linalg.vector_norm(predicted - target, dim=-1)
    return np.linalg.norm(predicted - target, axis=-1)


def mpjpe(predicted, target, mask=None, reduction: Reduction = "mean"):
    """Mean per-joint position error of ``(..., J, C)`` poses.

    Args:
        predicted: predicted poses ``(..., J, C)``.
        target: ground truth, same shape.
        mask: optional bool ``(..., J)`` (broadcastable), True = score this joint.
        reduction: ``"mean"`` (mean over frames with a selected joint) or ``"none"`` (per-frame
            errors ``(...,)``, NaN where a frame has no selected joint).
    """
    _check_reduction(reduction)
    predicted, target, is_torch = _check_pair(predicted, target)
    mask = _check_mask(mask, tuple(predicted.shape[:-1]), is_torch, getattr(predicted, "device", None))
    errors = (
        torch.linalg.vector_norm(predicted - target, dim=-1)
        if is_torch
        else np.linalg.norm(predicted - target, axis=-1)
    )
    return _reduce(errors, mask, reduction, is_torch)


def p_mpjpe(predicted, target, mask=None, reduction: Reduction = "mean"):
    """MPJPE after aligning each predicted frame to its target with a similarity transform.

    The alignment (rotation without reflection, uniform scale, translation; Umeyama's least squares,
    :func:`geometry.procrustes_align`) uses all joints of the frame; ``mask`` then selects the joints
    whose errors are averaged. Torch inputs are computed through numpy: the result is a tensor without
    gradient, on the device and in the dtype of the inputs.
    """
    _check_reduction(reduction)
    predicted, target, is_torch = _check_pair(predicted, target)
    if predicted.shape[-1] != 3:
        raise ValueError(f"predicted: expected 3D poses (..., J, 3), got {tuple(predicted.shape)}")
    mask = _check_mask(mask, tuple(predicted.shape[:-1]), is_torch, getattr(predicted, "device", None))
    if is_torch:
        device, dtype = predicted.device, predicted.dtype
        pred_np = predicted.detach().cpu().double().numpy()
        target_np = target.detach().cpu().double().numpy()
        mask_np = None if mask is None else mask.cpu().numpy()
        result = p_mpjpe(pred_np, target_np, mask=mask_np, reduction=reduction)
        return torch.as_tensor(np.asarray(result), dtype=dtype, device=device)
    aligned = procrustes_align(predicted, target, scale=True)
    errors = np.linalg.norm(aligned - target, axis=-1)
    return _reduce(errors, mask, reduction, is_torch)


def n_mpjpe(predicted, target, mask=None, reduction: Reduction = "mean"):
    """MPJPE after scaling each predicted frame by the least-squares factor ``<p, t> / <p, p>``.

    As in VideoPose3D's ``n_mpjpe``: no re-centring, so pass root-relative poses; the scale uses all
    joints of the frame (a frame whose prediction is all zeros keeps scale 1). Differentiable in torch.
    """
    _check_reduction(reduction)
    predicted, target, is_torch = _check_pair(predicted, target)
    mask = _check_mask(mask, tuple(predicted.shape[:-1]), is_torch, getattr(predicted, "device", None))
    if is_torch:
        norm_pred = (predicted * predicted).sum(dim=(-2, -1), keepdim=True)
        cross = (predicted * target).sum(dim=(-2, -1), keepdim=True)
        safe = torch.where(norm_pred > 0, norm_pred, torch.ones_like(norm_pred))
        scale = torch.where(norm_pred > 0, cross / safe, torch.ones_like(norm_pred))
    else:
        norm_pred = (predicted * predicted).sum(axis=(-2, -1), keepdims=True)
        cross = (predicted * target).sum(axis=(-2, -1), keepdims=True)
        scale = np.where(norm_pred > 0, cross / np.where(norm_pred > 0, norm_pred, 1.0), 1.0)
    return mpjpe(scale * predicted, target, mask=mask, reduction=reduction)


def mpjve(predicted, target, mask=None, reduction: Reduction = "mean"):
    """Mean per-joint velocity error: MPJPE of first differences along the time axis (-3).

    Shapes ``(..., T, J, C)`` with ``T >= 2``; leading axes are separate sequences, so differences
    never cross from one sequence into the next. Units are the input's unit per frame. With a mask,
    a velocity counts when the joint is selected in both of its frames. ``reduction="none"`` gives
    ``(..., T - 1)``, entry ``t`` being the error of the step from frame ``t`` to ``t + 1``.
    """
    _check_reduction(reduction)
    predicted, target, is_torch = _check_pair(predicted, target, min_ndim=3)
    if predicted.shape[-3] < 2:
        raise ValueError(
            f"predicted: expected at least 2 frames on the time axis (-3), got shape {tuple(predicted.shape)}"
        )
    mask = _check_mask(mask, tuple(predicted.shape[:-1]), is_torch, getattr(predicted, "device", None))
    if is_torch:
        velocity_pred = torch.diff(predicted, dim=-3)
        velocity_target = torch.diff(target, dim=-3)
    else:
        velocity_pred = np.diff(predicted, axis=-3)
        velocity_target = np.diff(target, axis=-3)
    if mask is not None:
        mask = mask[..., 1:, :] & mask[..., :-1, :]
    return mpjpe(velocity_pred, velocity_target, mask=mask, reduction=reduction)


def acceleration_error(predicted, target, mask=None, reduction: Reduction = "mean"):
    """Mean per-joint acceleration error: MPJPE of second differences along the time axis (-3).

    ``x[t] - 2 x[t + 1] + x[t + 2]`` of ``predicted`` against the same of ``target``; shapes
    ``(..., T, J, C)`` with ``T >= 3``, leading axes separate sequences (differences never cross
    from one into the next). Units are the input's unit per frame² (metres in, multiply by 1000 for
    mm/frame²). With a mask, an acceleration counts when the joint is selected in all three of its
    frames. ``reduction="none"`` gives ``(..., T - 2)``, entry ``t`` being centred on frame ``t + 1``.
    """
    _check_reduction(reduction)
    predicted, target, is_torch = _check_pair(predicted, target, min_ndim=3)
    if predicted.shape[-3] < 3:
        raise ValueError(
            f"predicted: expected at least 3 frames on the time axis (-3), got shape {tuple(predicted.shape)}"
        )
    mask = _check_mask(mask, tuple(predicted.shape[:-1]), is_torch, getattr(predicted, "device", None))
    if is_torch:
        accel_pred = torch.diff(predicted, n=2, dim=-3)
        accel_target = torch.diff(target, n=2, dim=-3)
    else:
        accel_pred = np.diff(predicted, n=2, axis=-3)
        accel_target = np.diff(target, n=2, axis=-3)
    if mask is not None:
        mask = mask[..., 2:, :] & mask[..., 1:-1, :] & mask[..., :-2, :]
    return mpjpe(accel_pred, accel_target, mask=mask, reduction=reduction)
