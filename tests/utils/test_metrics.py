"""Tests for modeling_gcnrefine.metrics: known values, masks, numpy/torch agreement, invariances."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from modeling_gcnrefine.utils.metrics import acceleration_error, joint_errors, mpjpe, mpjve, n_mpjpe, p_mpjpe


def _poses(seed: int, shape=(2, 5, 17, 3)) -> np.ndarray:
    return np.random.default_rng(seed).normal(scale=0.3, size=shape)


# ---------------------------------------------------------------- known values


def test_mpjpe_known_value():
    target = np.zeros((2, 3, 3))
    predicted = target.copy()
    # Frame 0: errors 3, 0, 0 -> 1. Frame 1: errors 5, 1, 0 -> 2. Mean over frames 1.5.
    predicted[0, 0] = [3.0, 0.0, 0.0]
    predicted[1, 0] = [3.0, 4.0, 0.0]
    predicted[1, 1] = [0.0, 0.0, 1.0]
    assert mpjpe(predicted, target) == pytest.approx(1.5)
    np.testing.assert_allclose(mpjpe(predicted, target, reduction="none"), [1.0, 2.0])
    np.testing.assert_allclose(joint_errors(predicted, target), [[3, 0, 0], [5, 1, 0]])


def test_mpjpe_returns_numpy_float64_for_numpy_input():
    value = mpjpe(_poses(0), _poses(1))
    assert isinstance(value, np.floating)
    assert value.dtype == np.float64


def test_mpjpe_zero_for_identical_poses():
    poses = _poses(2)
    assert mpjpe(poses, poses) == 0.0


# ---------------------------------------------------------------- masks


def test_mask_selects_joints_per_frame():
    target = np.zeros((2, 3, 3))
    predicted = target.copy()
    predicted[0, 0] = [3.0, 0.0, 0.0]
    predicted[1, 0] = [3.0, 4.0, 0.0]
    predicted[1, 1] = [0.0, 0.0, 1.0]
    mask = np.array([[True, False, False], [True, True, False]])
    np.testing.assert_allclose(mpjpe(predicted, target, mask=mask, reduction="none"), [3.0, 3.0])
    assert mpjpe(predicted, target, mask=mask) == pytest.approx(3.0)


def test_frames_without_selected_joints_are_nan_and_skipped_by_mean():
    target = np.zeros((3, 2, 3))
    predicted = np.ones((3, 2, 3))
    mask = np.array([[True, True], [False, False], [True, False]])
    per_frame = mpjpe(predicted, target, mask=mask, reduction="none")
    assert np.isnan(per_frame[1]) and np.isfinite(per_frame[[0, 2]]).all()
    assert mpjpe(predicted, target, mask=mask) == pytest.approx(np.sqrt(3))


def test_mean_is_nan_when_no_joint_is_selected():
    poses = _poses(3)
    with np.errstate(all="raise"):
        assert np.isnan(mpjpe(poses, poses + 1, mask=np.zeros(poses.shape[:-1], dtype=bool)))


def test_mean_is_frame_weighted():
    # Frame 0 has one selected joint with error 1, frame 1 three selected joints with error 3:
    # frame-weighted mean 2 (a joint-weighted mean would be 2.5).
    target = np.zeros((2, 3, 3))
    predicted = target.copy()
    predicted[0, :, 0] = 1.0
    predicted[1, :, 0] = 3.0
    mask = np.array([[True, False, False], [True, True, True]])
    assert mpjpe(predicted, target, mask=mask) == pytest.approx(2.0)


def test_unselected_nan_joints_are_ignored_but_selected_nan_propagates():
    target = np.zeros((2, 3, 3))
    predicted = np.ones((2, 3, 3))
    predicted[0, 2] = np.nan
    mask = np.array([True, True, False])
    assert mpjpe(predicted, target, mask=mask) == pytest.approx(np.sqrt(3))
    assert np.isnan(mpjpe(predicted, target))


def test_mask_broadcasts_over_frames():
    predicted, target = _poses(4), _poses(5)
    joint_mask = np.zeros(17, dtype=bool)
    joint_mask[[3, 6, 13, 16]] = True
    full = np.broadcast_to(joint_mask, predicted.shape[:-1])
    assert mpjpe(predicted, target, mask=joint_mask) == pytest.approx(mpjpe(predicted, target, mask=full))
    expected = joint_errors(predicted, target)[..., [3, 6, 13, 16]].mean()
    assert mpjpe(predicted, target, mask=joint_mask) == pytest.approx(expected)


def test_visible_and_occluded_split_covers_all_joints():
    predicted, target = _poses(6, (40, 17, 3)), _poses(7, (40, 17, 3))
    visibility = np.random.default_rng(8).random((40, 17)) > 0.3
    visibility[:, 0] = True  # every frame has a visible and an occluded joint
    visibility[:, 1] = False
    errors = joint_errors(predicted, target)
    assert mpjpe(predicted, target, mask=~visibility, reduction="none") == pytest.approx(
        np.array([e[~v].mean() for e, v in zip(errors, visibility)])
    )


# ---------------------------------------------------------------- numpy / torch


@pytest.mark.parametrize("metric", [mpjpe, p_mpjpe, n_mpjpe, mpjve, acceleration_error])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_numpy_and_torch_agree(metric, reduction):
    predicted, target = _poses(9), _poses(10)
    mask = np.random.default_rng(11).random(predicted.shape[:-1]) > 0.4
    expected = metric(predicted, target, mask=mask, reduction=reduction)
    result = metric(
        torch.tensor(predicted, dtype=torch.float64),
        torch.tensor(target, dtype=torch.float64),
        mask=torch.tensor(mask),
        reduction=reduction,
    )
    assert isinstance(result, torch.Tensor)
    np.testing.assert_allclose(result.numpy(), expected, rtol=1e-9, atol=1e-12)


def test_torch_keeps_float32_and_accepts_numpy_target():
    predicted = torch.tensor(_poses(12), dtype=torch.float32)
    result = mpjpe(predicted, _poses(13))
    assert isinstance(result, torch.Tensor) and result.dtype == torch.float32 and result.ndim == 0


def test_gradient_flows_through_torch_mpjpe():
    target = torch.tensor(_poses(14), dtype=torch.float32)
    predicted = torch.tensor(_poses(15), dtype=torch.float32, requires_grad=True)
    mask = torch.rand(predicted.shape[:-1], generator=torch.Generator().manual_seed(0)) > 0.5
    loss = mpjpe(predicted, target, mask=mask)
    loss.backward()
    grad = predicted.grad
    assert torch.isfinite(grad).all()
    # Unselected joints get no gradient; selected ones do.
    assert (grad[~mask] == 0).all()
    assert (grad[mask].abs().sum(dim=-1) > 0).all()
    # One gradient step lowers the loss.
    with torch.no_grad():
        stepped = predicted - 0.01 * grad
    assert mpjpe(stepped, target, mask=mask) < loss


def test_gradient_is_finite_where_error_is_zero():
    # Root-relative poses have an exactly zero root error on both sides: norm'(0) must not be NaN.
    target = torch.tensor(_poses(16), dtype=torch.float32)
    target[..., 0, :] = 0
    predicted = (target + 0.1).detach()
    predicted[..., 0, :] = 0
    predicted.requires_grad_(True)
    mpjpe(predicted, target).backward()
    assert torch.isfinite(predicted.grad).all()


def test_gradient_flows_through_n_mpjpe_mpjve_and_acceleration_error():
    target = torch.tensor(_poses(17), dtype=torch.float32)
    for metric in (n_mpjpe, mpjve, acceleration_error):
        predicted = torch.tensor(_poses(18), dtype=torch.float32, requires_grad=True)
        metric(predicted, target).backward()
        assert torch.isfinite(predicted.grad).all() and predicted.grad.abs().sum() > 0


# ---------------------------------------------------------------- alignments


def test_p_mpjpe_invariant_to_similarity_transform_of_prediction():
    rng = np.random.default_rng(19)
    target = _poses(20, (6, 17, 3))
    predicted = target + rng.normal(scale=0.02, size=target.shape)
    base = p_mpjpe(predicted, target, reduction="none")
    rotations = Rotation.random(6, random_state=21).as_matrix()
    moved = 1.7 * np.einsum("tij,tkj->tki", rotations, predicted) + rng.normal(size=(6, 1, 3))
    np.testing.assert_allclose(p_mpjpe(moved, target, reduction="none"), base, atol=1e-10)
    assert mpjpe(moved, target) > 10 * base.mean()


def test_p_mpjpe_zero_for_exact_similarity_copy():
    target = _poses(22, (4, 17, 3))
    rotation = Rotation.from_euler("xyz", [0.3, -1.0, 2.0]).as_matrix()
    predicted = 0.5 * target @ rotation.T + np.array([1.0, 2.0, 3.0])
    assert p_mpjpe(predicted, target) == pytest.approx(0.0, abs=1e-10)


def test_p_mpjpe_does_not_undo_a_reflection():
    target = _poses(23, (4, 17, 3))
    mirrored = target * np.array([-1.0, 1.0, 1.0])
    assert p_mpjpe(mirrored, target) > 0.01


def test_n_mpjpe_scale_invariant_and_bounded_by_mpjpe():
    target = _poses(24)
    predicted = target + np.random.default_rng(25).normal(scale=0.05, size=target.shape)
    base = n_mpjpe(predicted, target)
    assert n_mpjpe(3.0 * predicted, target) == pytest.approx(base)
    assert n_mpjpe(0.2 * predicted, target) == pytest.approx(base)
    assert n_mpjpe(2.5 * target, target) == pytest.approx(0.0, abs=1e-12)


def test_n_mpjpe_all_zero_prediction_keeps_scale_one():
    target = _poses(26)
    predicted = np.zeros_like(target)
    assert n_mpjpe(predicted, target) == pytest.approx(mpjpe(predicted, target))


# ---------------------------------------------------------------- MPJVE


def test_mpjve_zero_for_constant_offset():
    target = _poses(27)
    assert mpjve(target + np.array([0.5, -0.2, 1.0]), target) == pytest.approx(0.0, abs=1e-12)


def test_mpjve_known_value_and_per_step_shape():
    target = np.zeros((4, 2, 3))
    predicted = np.zeros((4, 2, 3))
    predicted[2] = 1.0  # a spike at frame 2: steps 1->2 and 2->3 are wrong by sqrt(3)
    per_step = mpjve(predicted, target, reduction="none")
    assert per_step.shape == (3,)
    np.testing.assert_allclose(per_step, [0.0, np.sqrt(3), np.sqrt(3)])


def test_mpjve_never_crosses_sequences():
    # Two sequences each constant in time but with different offsets: no velocity error anywhere.
    target = np.zeros((2, 5, 17, 3))
    predicted = target.copy()
    predicted[0] += 1.0
    predicted[1] -= 1.0
    assert mpjve(predicted, target) == 0.0
    assert mpjve(predicted, target, reduction="none").shape == (2, 4)


def test_mpjve_mask_needs_both_frames():
    target = np.zeros((3, 1, 3))
    predicted = np.zeros((3, 1, 3))
    predicted[1] = 1.0
    mask = np.array([[True], [False], [True]])
    assert np.isnan(mpjve(predicted, target, mask=mask, reduction="none")).all()


# ---------------------------------------------------------------- acceleration error


def test_acceleration_error_zero_for_an_offset_plus_constant_velocity():
    target = _poses(28)
    drift = 0.01 * np.arange(5)[:, None, None] * np.array([1.0, -2.0, 0.5])
    assert acceleration_error(target + 0.3 + drift, target) == pytest.approx(0.0, abs=1e-12)


def test_acceleration_error_known_value_and_per_frame_shape():
    target = np.zeros((5, 2, 3))
    predicted = np.zeros((5, 2, 3))
    predicted[2, 0] = [0.003, 0.004, 0.0]  # a 5 mm spike on joint 0 at frame 2
    # Second differences of joint 0: frame 1 -> +s, frame 2 -> -2s, frame 3 -> +s (|s| = 5 mm);
    # joint 1 is exact, so the per-frame means are 2.5, 5 and 2.5 mm, their mean 10/3 mm.
    per_frame = acceleration_error(predicted, target, reduction="none")
    assert per_frame.shape == (3,)
    np.testing.assert_allclose(per_frame, [0.0025, 0.005, 0.0025])
    assert acceleration_error(predicted, target) == pytest.approx(0.01 / 3)
    # Only the difference of the two accelerations counts: the same spike in both scores 0.
    assert acceleration_error(predicted, predicted.copy()) == 0.0


def test_acceleration_error_never_crosses_sequences_and_masks_need_three_frames():
    target = np.zeros((2, 4, 17, 3))
    predicted = target.copy()
    predicted[0] += 1.0
    predicted[1] -= 1.0
    assert acceleration_error(predicted, target) == 0.0
    assert acceleration_error(predicted, target, reduction="none").shape == (2, 2)
    spike = np.zeros((4, 1, 3))
    spike[1] = 1.0
    mask = np.array([[True], [True], [False], [True]])  # frame 2 unselected: no triple is complete
    assert np.isnan(acceleration_error(spike, np.zeros_like(spike), mask=mask, reduction="none")).all()
    assert np.isnan(acceleration_error(spike, np.zeros_like(spike), mask=mask))


def test_acceleration_error_wants_three_frames():
    with pytest.raises(ValueError, match=r"predicted: expected at least 3 frames.*\(2, 17, 3\)"):
        acceleration_error(np.zeros((2, 17, 3)), np.zeros((2, 17, 3)))
    with pytest.raises(ValueError, match="target: expected the shape of predicted"):
        acceleration_error(np.zeros((4, 17, 3)), np.zeros((5, 17, 3)))


# ---------------------------------------------------------------- validation


def test_errors_on_mismatched_shapes():
    with pytest.raises(ValueError, match="target"):
        mpjpe(np.zeros((5, 17, 3)), np.zeros((5, 16, 3)))
    with pytest.raises(ValueError, match="predicted"):
        mpjpe(np.zeros((5, 17, 4)), np.zeros((5, 17, 4)))
    with pytest.raises(ValueError, match="predicted"):
        mpjpe(np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match="predicted"):
        mpjve(np.zeros((17, 3)), np.zeros((17, 3)))
    with pytest.raises(ValueError, match="at least 2 frames"):
        mpjve(np.zeros((1, 17, 3)), np.zeros((1, 17, 3)))
    with pytest.raises(ValueError, match="3D poses"):
        p_mpjpe(np.zeros((5, 17, 2)), np.zeros((5, 17, 2)))


def test_errors_on_bad_mask_and_reduction():
    poses = np.zeros((5, 17, 3))
    with pytest.raises(ValueError, match=r"mask.*\(5, 17\).*\(5, 16\)"):
        mpjpe(poses, poses, mask=np.ones((5, 16), dtype=bool))
    with pytest.raises(ValueError, match=r"mask.*\(5, 17\)"):
        mpjpe(poses, poses, mask=np.ones((2, 5, 17), dtype=bool))
    with pytest.raises(ValueError, match="mask: expected a bool"):
        mpjpe(poses, poses, mask=np.ones((5, 17)))
    with pytest.raises(ValueError, match="reduction"):
        mpjpe(poses, poses, reduction="sum")


# ---------------------------------------------------------------- properties


_small = st.integers(min_value=0, max_value=2**31 - 1)


@settings(max_examples=25, deadline=None)
@given(seed=_small, shift=st.floats(-5, 5), scale=st.floats(0.1, 10))
def test_property_alignment_invariances(seed, shift, scale):
    target = _poses(seed, (3, 17, 3))
    predicted = target + np.random.default_rng(seed + 1).normal(scale=0.1, size=target.shape)
    rotation = Rotation.random(random_state=seed).as_matrix()
    # P-MPJPE ignores any similarity transform of the prediction, N-MPJPE any positive scale.
    moved = scale * predicted @ rotation.T + shift
    assert p_mpjpe(moved, target) == pytest.approx(p_mpjpe(predicted, target), rel=1e-7, abs=1e-9)
    assert n_mpjpe(scale * predicted, target) == pytest.approx(n_mpjpe(predicted, target), rel=1e-7)
    assert mpjpe(predicted, target) >= 0


@settings(max_examples=25, deadline=None)
@given(seed=_small, shift=st.floats(-5, 5))
def test_property_mpjve_translation_invariant(seed, shift):
    target = _poses(seed, (6, 17, 3))
    predicted = target + np.random.default_rng(seed + 2).normal(scale=0.1, size=target.shape)
    assert mpjve(predicted + shift, target) == pytest.approx(mpjve(predicted, target), abs=1e-9)
