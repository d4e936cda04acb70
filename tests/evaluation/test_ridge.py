"""The residual ridge baseline: closed-form fit, strength chosen on validation, input checks."""

from __future__ import annotations

import numpy as np
import pytest

from modeling_gcnrefine.evaluation.ridge import fit_ridge, mpjpe_mm, windows


def _pairs(rng, count, scale=1.1, shift=(0.0, 0.02, 0.0)):
    """Targets a fixed affine map of the predictions (per joint), as a lifter's systematic error is."""
    pairs = []
    for _ in range(count):
        target = rng.normal(0, 0.2, (40, 5, 3))
        target -= target[:, :1]
        predicted = target / scale - np.asarray(shift) * (np.arange(5) > 0)[None, :, None]
        pairs.append((predicted, target))
    return pairs


def test_windows_repeat_the_edges_and_add_a_constant():
    poses = np.arange(3 * 2 * 3, dtype=float).reshape(3, 2, 3)
    features = windows(poses, 3)
    assert features.shape == (3, 3 * 6 + 1)
    np.testing.assert_array_equal(features[0, :6], poses[0].ravel())  # frame -1 is frame 0 repeated
    np.testing.assert_array_equal(features[2, 12:18], poses[2].ravel())  # frame T is frame T-1 repeated
    np.testing.assert_array_equal(features[:, -1], 1.0)


def test_fit_recovers_a_systematic_affine_error_and_chooses_on_validation():
    rng = np.random.default_rng(0)
    train, val = _pairs(rng, 30), _pairs(rng, 5)
    ridge = fit_ridge(train, val, frames=3, alphas=(1e-6, 1e-3, 10.0))
    assert mpjpe_mm(val) > 20
    assert mpjpe_mm(val, ridge) < 0.5
    assert ridge.alpha == min(ridge.validation_mpjpe_mm, key=ridge.validation_mpjpe_mm.get)
    assert ridge.validation_mpjpe_mm[10.0] > ridge.validation_mpjpe_mm[ridge.alpha]
    refined = ridge.refine(val[0][0].astype(np.float32))
    assert refined.dtype == np.float32 and refined.shape == val[0][0].shape


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"frames": 4}, r"frames: expected an odd integer >= 1, got 4"),
        ({"val_pairs": []}, r"val_pairs: expected at least one"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    rng = np.random.default_rng(1)
    arguments = {"train_pairs": _pairs(rng, 2), "val_pairs": _pairs(rng, 1)} | kwargs
    with pytest.raises(ValueError, match=message):
        fit_ridge(**arguments)


def test_non_finite_poses_are_refused():
    rng = np.random.default_rng(2)
    train = _pairs(rng, 2)
    train[0][0][3, 1] = np.nan
    with pytest.raises(ValueError, match=r"predicted: expected finite poses"):
        fit_ridge(train, _pairs(rng, 1))


def test_window_map_applies_the_ridge_map_to_every_frame_of_a_window():
    """The map the refiner's `window_linear` layer receives: each window frame corrected as `refine`
    corrects that frame of a sequence equal to the window (edges repeated)."""
    rng = np.random.default_rng(1)
    ridge = fit_ridge(_pairs(rng, 10), _pairs(rng, 2), frames=3, alphas=(1e-3,))
    ridge.weights = ridge.weights + rng.normal(0, 0.01, ridge.weights.shape)  # no special structure
    window = rng.normal(0, 0.2, (5, 5, 3))
    window -= window[:, :1]
    matrix, bias = ridge.window_map(5)
    assert matrix.shape == (75, 75) and bias.shape == (75,)
    np.testing.assert_allclose(window.ravel() + matrix @ window.ravel() + bias, ridge.refine(window).ravel(), atol=1e-12)
    with pytest.raises(ValueError, match=r"num_frames: expected an integer >= 1, got 0"):
        ridge.window_map(0)


def test_validation_is_scored_root_relative_whatever_the_targets_frame():
    """Camera-frame targets (root at several metres) score as their root-relative selves."""
    rng = np.random.default_rng(2)
    pairs = _pairs(rng, 3)
    moved = [(x + np.array([0.0, 0.0, 4.0]), y + np.array([0.5, 0.0, 4.0])) for x, y in pairs]
    assert mpjpe_mm(moved) == pytest.approx(mpjpe_mm(pairs))
    ridge = fit_ridge(pairs, pairs, frames=1, alphas=(1e-3,))
    assert mpjpe_mm(moved, ridge) == pytest.approx(mpjpe_mm(pairs, ridge))
