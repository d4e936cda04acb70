"""Tests for modeling_gcnrefine.evaluation.detector_errors: the statistics the detector calibration uses."""

from __future__ import annotations

import math

import numpy as np
import pytest

from modeling_gcnrefine.data.sequences import CameraSequence
from modeling_gcnrefine.evaluation.detector_errors import (
    detector_errors,
    error_statistics,
    normalised_errors,
    pooled,
    statistic_ratios,
    within,
)


def test_errors_are_per_1000_px_of_the_mean_image_side():
    truth = np.zeros((1, 2, 2))
    detected = np.array([[[3.0, 4.0], [0.0, 0.0]]])
    np.testing.assert_allclose(normalised_errors(detected, truth, (1280, 720)), [[5.0, 0.0]])
    np.testing.assert_allclose(normalised_errors(detected, truth, (500, 500)), [[10.0, 0.0]])


def test_statistics_ratios_and_tolerance():
    stats = error_statistics(np.arange(1, 101, dtype=float))
    assert stats == pytest.approx({"mean": 50.5, "median": 50.5, "p90": 90.1, "over_50": 50.0})
    assert all(math.isnan(v) for v in error_statistics([]).values())
    ratios = statistic_ratios({"mean": 11, "median": 9, "p90": 20, "over_50": 0}, {"mean": 10, "median": 10, "p90": 20, "over_50": 0})
    assert ratios == pytest.approx({"mean": 1.1, "median": 0.9, "p90": 1.0, "over_50": 1.0})
    assert within(ratios, 0.2) and not within(ratios, 0.05)
    assert statistic_ratios({"mean": 1, "median": 1, "p90": 1, "over_50": 1}, {"mean": 1, "median": 1, "p90": 1, "over_50": 0})["over_50"] == math.inf


def test_detector_errors_use_the_frames_the_real_detector_found(tmp_path):
    frames = 20
    rng = np.random.default_rng(0)
    truth = (500 + rng.normal(scale=40, size=(1, 17, 2)) + rng.normal(scale=1, size=(frames, 17, 2))).astype(np.float32)
    visible = np.ones((frames, 17), bool)
    visible[:, 3] = False
    sequence = CameraSequence("SS1", "Walk", 0, truth, np.zeros((frames, 17, 3), np.float32), visible, (1000, 1000))
    found = np.arange(frames) >= 5
    detected = truth + np.array([3.0, 4.0], np.float32)
    detected[~found] = np.nan
    path = tmp_path / "real.npz"
    np.savez(
        path,
        **{"S1/Walk/0|kp2d": detected, "S1/Walk/0|score": np.ones((frames, 17), np.float32), "S1/Walk/0|found": found},
    )
    real = detector_errors([sequence], "real", real_path=path)
    assert set(real) == {"SS1"}
    assert real["SS1"]["visible"].shape == (15 * 16,) and real["SS1"]["occluded"].shape == (15,)
    np.testing.assert_allclose(real["SS1"]["visible"], 5.0, rtol=1e-4)
    simulated = detector_errors([sequence], "none", seeds=(0, 1), real_path=path)
    assert simulated["SS1"]["visible"].shape == (2 * 15 * 16,)  # each seed's frames, pooled
    np.testing.assert_allclose(simulated["SS1"]["visible"], 0.0, atol=1e-6)
    both = pooled(real, ("SS1", "SS2"))
    np.testing.assert_array_equal(both["occluded"], real["SS1"]["occluded"])
    assert pooled(real, ("SS3",))["visible"].size == 0
