"""Tests for modeling_gcnrefine.detections: the error model's statistics, presets, validation, CLI."""

from __future__ import annotations

import dataclasses
import itertools
import time

import numpy as np
import pytest
from _real_sequences import covered_sequences
from scipy.ndimage import gaussian_filter1d

from modeling_gcnrefine.commands import main
from modeling_gcnrefine.data.detections import (
    OCCLUDED,
    OUT_OF_FRAME,
    PRESETS,
    SEVERITY_LEVELS,
    VISIBLE,
    DetectionNoiseConfig,
    keypoint_classes,
    severity_config,
    simulate_detections,
)
from modeling_gcnrefine.evaluation.detector_errors import (
    detector_errors,
    error_statistics,
    pooled,
    statistic_ratios,
    within,
)
from modeling_gcnrefine.skeleton import H36M, mirror_blendmimic3d

RAYLEIGH_MEAN = np.sqrt(np.pi / 2)  # mean Euclidean length of a 2D standard normal vector
PARTNER = np.asarray(H36M.flip_permutation)
LIMBS = np.flatnonzero(PARTNER != np.arange(17))

# A front-facing skeleton in pixels (Human3.6M-17 order); left/right partners are 80 to 200 px apart.
_TEMPLATE = np.array(
    [
        [0, 0],
        [-40, 0], [-45, 90], [-50, 180],
        [40, 0], [45, 90], [50, 180],
        [0, -60], [0, -120], [0, -140], [0, -170],
        [60, -115], [90, -50], [100, 10],
        [-60, -115], [-90, -50], [-100, 10],
    ],
    dtype=np.float64,
)  # fmt: skip


def _sequence(seed: int, frames: int = 3000, centre=(500.0, 450.0), hidden_fraction: float = 0.2):
    """Smoothly moving skeleton ``(T, 17, 2)`` and Markov-chain visibility (runs of ~12 frames)."""
    rng = np.random.default_rng(seed)
    wander = gaussian_filter1d(rng.normal(scale=8.0, size=(frames, 2)).cumsum(axis=0), 10, axis=0)
    wander -= wander.mean(axis=0)
    wander *= 60.0 / max(np.abs(wander).max(), 1e-9)  # stays within +-60 px of the centre
    wobble = gaussian_filter1d(rng.normal(scale=3.0, size=(frames, 17, 2)), 5, axis=0)
    keypoints = np.asarray(centre) + wander[:, None] + _TEMPLATE + wobble
    leave = 0.08 * hidden_fraction / (1 - hidden_fraction)  # stationary hidden fraction as asked
    visible = np.ones((frames, 17), dtype=bool)
    draws = rng.random((frames, 17))
    for t in range(1, frames):
        visible[t] = np.where(visible[t - 1], draws[t] >= leave, draws[t] < 0.08)
    visible[:5] = True  # every joint is seen before its first hidden run
    return keypoints, visible


def _errors(detected, keypoints):
    return np.linalg.norm(detected.astype(np.float64) - keypoints, axis=-1)


def _lag1_autocorrelation(detected, keypoints, hidden):
    """Correlation of the error vector between consecutive frames of the same hidden run."""
    error = detected.astype(np.float64) - keypoints
    pairs = hidden[1:] & hidden[:-1]
    a, b = error[:-1][pairs], error[1:][pairs]
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


SIZE = (1000, 1000)
DRIFT_ONLY = dataclasses.replace(
    PRESETS["occluded"], severe_run_probability=0.0, inversion_probability=0.0, stick_probability=0.0
)


# ---------------------------------------------------------------- presets and basics


def test_none_preset_returns_ground_truth_and_full_confidence():
    keypoints, visible = _sequence(0, frames=200)
    keypoints[:20, 3] += [0.0, 800.0]  # out of frame too
    detected, confidence = simulate_detections(keypoints, visible, SIZE, preset="none")
    np.testing.assert_array_equal(detected, keypoints.astype(np.float32))
    np.testing.assert_array_equal(confidence, np.ones_like(confidence))


def test_output_types_ranges_and_finiteness():
    keypoints, visible = _sequence(1, frames=300)
    detected, confidence = simulate_detections(keypoints, visible, SIZE)
    assert detected.dtype == np.float32 and detected.shape == keypoints.shape
    assert confidence.dtype == np.float32 and confidence.shape == visible.shape
    assert np.isfinite(detected).all() and np.isfinite(confidence).all()
    assert (confidence >= 0).all() and (confidence <= 1).all()


def test_deterministic_for_a_seed_and_different_across_seeds():
    keypoints, visible = _sequence(2, frames=300)
    first = simulate_detections(keypoints, visible, SIZE, seed=7)
    second = simulate_detections(keypoints, visible, SIZE, seed=7)
    other = simulate_detections(keypoints, visible, SIZE, seed=8)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0]) and not np.array_equal(first[1], other[1])
    by_tuple = simulate_detections(keypoints, visible, SIZE, seed=(1, 4, 2))
    np.testing.assert_array_equal(by_tuple[0], simulate_detections(keypoints, visible, SIZE, seed=(1, 4, 2))[0])


def test_presets_and_severity_levels_are_listed():
    assert {"none", "visible_only", "occluded"} <= set(PRESETS)
    assert SEVERITY_LEVELS == (0.0, 0.001, 0.005, 0.01, 0.03, 0.05)
    for level in SEVERITY_LEVELS:
        assert PRESETS[f"severity_{level:g}"] == severity_config(level)
        assert severity_config(level).occluded_sigma == level
    keypoints, visible = _sequence(3, frames=100)
    by_name = simulate_detections(keypoints, visible, SIZE, preset="occluded")
    by_config = simulate_detections(keypoints, visible, SIZE, preset=DetectionNoiseConfig())
    np.testing.assert_array_equal(by_name[0], by_config[0])


# ---------------------------------------------------------------- error statistics


def test_visible_error_matches_calibration_target():
    keypoints, visible = _sequence(4)
    detected, _ = simulate_detections(keypoints, visible, SIZE, preset="occluded", seed=1)
    mean_visible = _errors(detected, keypoints)[visible].mean()
    expected = RAYLEIGH_MEAN * PRESETS["occluded"].visible_sigma * 1000  # ~6.0 px at 1000 px
    assert mean_visible == pytest.approx(expected, rel=0.05)
    assert 5.4 < mean_visible < 6.6


def test_drift_error_matches_its_sigma():
    keypoints, visible = _sequence(5)
    detected, _ = simulate_detections(keypoints, visible, SIZE, preset=DRIFT_ONLY, seed=2)
    config = DRIFT_ONLY
    expected = RAYLEIGH_MEAN * np.hypot(config.visible_sigma, config.occluded_sigma) * 1000
    assert _errors(detected, keypoints)[~visible].mean() == pytest.approx(expected, rel=0.1)


def test_occluded_error_much_larger_than_visible_error():
    keypoints, visible = _sequence(6)
    detected, confidence = simulate_detections(keypoints, visible, SIZE, seed=3)
    errors = _errors(detected, keypoints)
    ratio = errors[~visible].mean() / errors[visible].mean()
    assert ratio > 2.5, ratio  # moderate drift alone gives 2x; severe runs and inversions add more
    # Heavy tail from severe runs and inversions: the occluded mean clearly exceeds its median.
    assert errors[~visible].mean() > 1.3 * np.median(errors[~visible])
    assert confidence[visible].mean() > confidence[~visible].mean() + 0.3


def test_error_persists_within_occluded_runs():
    keypoints, visible = _sequence(7)
    detected, _ = simulate_detections(keypoints, visible, SIZE, preset=DRIFT_ONLY, seed=4)
    assert _lag1_autocorrelation(detected, keypoints, ~visible) > 0.75
    # The same statistic on white noise is near zero, so the check above can fail.
    white = dataclasses.replace(DRIFT_ONLY, visible_sigma=0.0, occluded_correlation_frames=0.0)
    detected, _ = simulate_detections(keypoints, visible, SIZE, preset=white, seed=4)
    assert abs(_lag1_autocorrelation(detected, keypoints, ~visible)) < 0.1


def test_inversions_land_near_the_partner_joint():
    keypoints, visible = _sequence(8)
    config = dataclasses.replace(PRESETS["occluded"], inversion_probability=1.0, stick_probability=0.0)
    detected, _ = simulate_detections(keypoints, visible, SIZE, preset=config, seed=5)
    jitter_mean = RAYLEIGH_MEAN * config.visible_sigma * 1000
    limb_hidden = ~visible & (PARTNER != np.arange(17))
    to_partner = np.linalg.norm(detected - keypoints[:, PARTNER], axis=-1)[limb_hidden]
    to_own = _errors(detected, keypoints)[limb_hidden]
    assert to_partner.mean() == pytest.approx(jitter_mean, rel=0.15)
    assert to_own.min() > 40  # partners are >= 80 px apart in the template
    # Joints without a partner (pelvis, spine, ...) cannot invert and drift instead.
    centre_hidden = ~visible & (PARTNER == np.arange(17))
    assert _errors(detected, keypoints)[centre_hidden].mean() > 2 * jitter_mean


def test_stick_holds_the_last_visible_position():
    keypoints, visible = _sequence(9)
    visible[0, 2] = False  # a run at the start of the sequence: no position to stick to, so it drifts
    config = dataclasses.replace(PRESETS["occluded"], inversion_probability=0.0, stick_probability=1.0)
    detected, _ = simulate_detections(keypoints, visible, SIZE, preset=config, seed=6)
    frames = np.arange(len(visible))[:, None]
    last_seen = np.maximum.accumulate(np.where(visible, frames, -1), axis=0)
    hidden = ~visible & (last_seen >= 0)
    joints = np.broadcast_to(np.arange(17), visible.shape)
    held = keypoints[last_seen[hidden], joints[hidden]]
    distance = np.linalg.norm(detected[hidden] - held, axis=-1)
    assert distance.mean() == pytest.approx(RAYLEIGH_MEAN * config.visible_sigma * 1000, rel=0.15)
    assert np.isfinite(detected[0, 2]).all()


def test_out_of_frame_keypoints_are_clamped_to_the_image():
    keypoints, visible = _sequence(10, frames=400)
    keypoints[:, :, 0] += np.linspace(0, 700, 400)[:, None]  # walks out through the right edge
    keypoints[:100, 10, 1] -= 500  # head above the top edge
    width, height = 1000, 800
    classes = keypoint_classes(keypoints, visible, (width, height))
    out = classes == OUT_OF_FRAME
    assert out.sum() > 500
    detected, confidence = simulate_detections(keypoints, visible, (width, height), seed=7)
    assert (detected[..., 0] >= 0).all() and (detected[..., 0] <= width - 1).all()
    assert (detected[..., 1] >= 0).all() and (detected[..., 1] <= height - 1).all()
    assert confidence[out].mean() < confidence[classes == OCCLUDED].mean() < confidence[classes == VISIBLE].mean()
    # Out of frame counts as hidden even where the label says visible, and its error is at least the
    # ground truth's distance to the border.
    past_edge = np.clip(keypoints[..., 0] - (width - 1), 0, None)
    assert (_errors(detected, keypoints)[out] >= past_edge[out] - 1e-3).all()


def test_visible_only_has_no_occlusion_dependent_error():
    keypoints, visible = _sequence(11, frames=500)
    keypoints[:50, 3, 0] = -30.0  # out of frame: not clamped in this preset either
    with_occlusion = simulate_detections(keypoints, visible, SIZE, preset="visible_only", seed=8)
    all_visible = simulate_detections(keypoints, np.ones_like(visible), SIZE, preset="visible_only", seed=8)
    np.testing.assert_array_equal(with_occlusion[0], all_visible[0])
    np.testing.assert_array_equal(with_occlusion[1], all_visible[1])
    errors = _errors(with_occlusion[0], keypoints)
    assert errors[~visible].mean() == pytest.approx(errors[visible].mean(), rel=0.1)


def test_severity_sweep_is_monotonic_and_leaves_visible_joints_alone():
    keypoints, visible = _sequence(12)
    occluded_means, visible_outputs = [], []
    for level in SEVERITY_LEVELS:
        detected, _ = simulate_detections(keypoints, visible, SIZE, preset=f"severity_{level:g}", seed=9)
        occluded_means.append(_errors(detected, keypoints)[~visible].mean())
        visible_outputs.append(detected[visible])
    assert all(a < b for a, b in itertools.pairwise(occluded_means)), occluded_means
    for output in visible_outputs[1:]:
        np.testing.assert_array_equal(output, visible_outputs[0])
    # The top level: sigma = 0.05 * image size on top of the jitter.
    expected = RAYLEIGH_MEAN * np.hypot(0.05, PRESETS["occluded"].visible_sigma) * 1000
    assert occluded_means[-1] == pytest.approx(expected, rel=0.1)


def test_errors_scale_with_image_size():
    keypoints, visible = _sequence(13, frames=300)
    small = simulate_detections(keypoints, visible, (1000, 1000), seed=10)[0]
    large = simulate_detections(2 * keypoints, visible, (2000, 2000), seed=10)[0]
    np.testing.assert_allclose(large, 2 * small, rtol=1e-5, atol=1e-3)


def test_keypoint_classes():
    keypoints = np.array([[[10.0, 10.0], [20.0, 20.0], [-1.0, 5.0], [5.0, 100.0]]])
    visible = np.array([[True, False, True, False]])
    classes = keypoint_classes(keypoints, visible, (50, 100))
    np.testing.assert_array_equal(classes, [[VISIBLE, OCCLUDED, OUT_OF_FRAME, OUT_OF_FRAME]])


def test_fast_enough_for_the_whole_dataset():
    # 128 sequences of ~1086 frames is the size of BlendMimic3D (138,984 camera-frames).
    keypoints, visible = _sequence(14, frames=1086)
    start = time.perf_counter()
    for seed in range(128):
        simulate_detections(keypoints, visible, SIZE, seed=seed)
    assert time.perf_counter() - start < 10.0


# ---------------------------------------------------------------- real data


def test_statistics_on_a_real_blendmimic3d_sequence(blendmimic3d_dir):
    action = "GatheringObjects"
    with np.load(blendmimic3d_dir / "S1" / "D2_Positions" / action / "2D_positions.npz", allow_pickle=False) as f:
        keypoints = mirror_blendmimic3d(f["Cam_0"])
    with np.load(blendmimic3d_dir / "S1" / "Occlusions" / action / "occluded_kpt.npz", allow_pickle=False) as f:
        visible = mirror_blendmimic3d(f["Cam_0"], axis=-1) > 0.5
    with np.load(blendmimic3d_dir / "S1" / "Cameras" / "matrices_S1.npz", allow_pickle=False) as f:
        principal_point = f["K"][0, :2, 2]
    width, height = (2 * principal_point).round()  # the principal point is the image centre (DATA.md)
    assert (width, height) == (1000, 1002)
    detected, confidence = simulate_detections(keypoints, visible, (width, height), seed=11)
    classes = keypoint_classes(keypoints, visible, (width, height))
    errors = _errors(detected, keypoints)
    size = (width + height) / 2
    expected_visible = RAYLEIGH_MEAN * PRESETS["occluded"].visible_sigma * size
    assert errors[classes == VISIBLE].mean() == pytest.approx(expected_visible, rel=0.1)
    assert errors[classes == OCCLUDED].mean() > 2.5 * errors[classes == VISIBLE].mean()
    assert _lag1_autocorrelation(detected, keypoints, classes == OCCLUDED) > 0.5
    assert np.isfinite(detected).all()
    assert (detected[..., 0] <= width - 1).all() and (detected[..., 1] <= height - 1).all()
    assert (detected >= 0).all()
    assert confidence[classes == VISIBLE].mean() > confidence[classes == OCCLUDED].mean()


# ---------------------------------------------------------------- presets unchanged by new mechanisms

# Sums of |error|, error^2 and confidence on one input, recorded before the definition offsets, bursts
# and jitter-scale spread existed: with those off (every earlier preset) the output must not move.
_RECORDED = {
    "none": (0.138540, 0.000002, 6800.000000),
    "occluded": (109114.520325, 12449495.905359, 5417.198838),
    "severity_0": (68400.356669, 9730822.920030, 5417.198838),
    "severity_0.001": (68551.934240, 9732793.624629, 5417.198838),
    "severity_0.005": (73720.672971, 9808643.387097, 5417.198838),
    "severity_0.01": (84589.350475, 10056381.413994, 5417.198838),
    "severity_0.03": (134604.797420, 12746509.510249, 5417.198838),
    "severity_0.05": (185806.928550, 18155318.967879, 5417.198838),
    "visible_only": (51712.992159, 306638.759924, 6115.922025),
}


@pytest.mark.parametrize("name", sorted(_RECORDED))
def test_earlier_presets_are_unchanged(name):
    keypoints, visible = _sequence(5, frames=400)
    keypoints[:30, 3] += [0.0, 900.0]
    detected, confidence = simulate_detections(keypoints, visible, (1000, 1002), preset=name, seed=3)
    error = detected.astype(np.float64) - keypoints
    found = (np.abs(error).sum(), (error * error).sum(), confidence.astype(np.float64).sum())
    assert found == pytest.approx(_RECORDED[name], rel=1e-6, abs=1e-4)


def test_new_mechanisms_default_to_off():
    config = DetectionNoiseConfig()
    assert config.definition_offsets == ()
    assert config.visible_burst_probability == 0 and config.jitter_scale_spread == 0
    for name in ("none", "visible_only", "occluded", *(f"severity_{level:g}" for level in SEVERITY_LEVELS)):
        preset = PRESETS[name]
        assert preset.definition_offsets == () and preset.visible_burst_probability == 0
        assert preset.jitter_scale_spread == 0


# ---------------------------------------------------------------- mechanisms of the realistic preset

QUIET = dataclasses.replace(PRESETS["none"], clamp_to_image=True)  # no noise: each mechanism alone


def test_definition_offsets_move_a_joint_towards_its_reference():
    keypoints, visible = _sequence(20, frames=200)
    config = dataclasses.replace(QUIET, definition_offsets=((10, 9, 0.5), (0, 7, -0.25)))
    detected, _ = simulate_detections(keypoints, visible, SIZE, preset=config)
    np.testing.assert_allclose(detected[:, 10], (keypoints[:, 10] + keypoints[:, 9]) / 2, atol=1e-3)
    np.testing.assert_allclose(detected[:, 0], keypoints[:, 0] - 0.25 * (keypoints[:, 7] - keypoints[:, 0]), atol=1e-3)
    others = [j for j in range(17) if j not in (0, 10)]
    np.testing.assert_allclose(detected[:, others], keypoints[:, others], atol=1e-3)
    # Lists are stored as tuples: configs stay hashable and equal by value.
    assert DetectionNoiseConfig(definition_offsets=[[10, 9, 0.5]]) == DetectionNoiseConfig(definition_offsets=((10, 9, 0.5),))
    with pytest.raises(ValueError, match=r"definition_offsets.*below 17"):
        simulate_detections(keypoints, visible, SIZE, preset=dataclasses.replace(QUIET, definition_offsets=((17, 9, 0.5),)))


def _bursts(**fields):
    return dataclasses.replace(QUIET, visible_burst_probability=0.02, visible_burst_frames=5.0, **fields)


def test_bursts_touch_visible_frames_only_and_last_as_asked():
    keypoints, visible = _sequence(21)
    detected, _ = simulate_detections(keypoints, visible, SIZE, preset=_bursts(burst_sigma=0.05), seed=1)
    moved = _errors(detected, keypoints) > 1e-3
    assert not moved[~visible].any()
    # Share of visible keypoints in a burst: about p * L / (1 + p * (L - 1)) for bursts of mean L frames.
    expected = 0.02 * 5 / (1 + 0.02 * 4)
    assert moved[visible].mean() == pytest.approx(expected, rel=0.2)
    # A miss is held through its burst: one displacement, consecutive frames alike.
    pairs = moved[1:] & moved[:-1]
    steps = np.linalg.norm(np.diff(detected.astype(np.float64) - keypoints, axis=0), axis=-1)[pairs]
    assert np.median(steps) < 0.1 * np.median(_errors(detected, keypoints)[moved])


def test_burst_inversions_and_snaps_land_on_other_joints():
    keypoints, visible = _sequence(22)
    detected, _ = simulate_detections(keypoints, visible, SIZE, preset=_bursts(burst_inversion_probability=1.0), seed=2)
    moved = _errors(detected, keypoints) > 1e-3
    limbs = moved & (PARTNER != np.arange(17))
    assert limbs.sum() > 100
    np.testing.assert_allclose(detected[limbs], keypoints[:, PARTNER][limbs], atol=1e-3)
    assert not (moved & (PARTNER == np.arange(17))).any()  # nothing to invert with and burst_sigma 0
    detected, _ = simulate_detections(keypoints, visible, SIZE, preset=_bursts(burst_snap_probability=1.0), seed=2)
    moved = _errors(detected, keypoints) > 1e-3
    gaps = np.linalg.norm(detected[:, :, None].astype(np.float64) - keypoints[:, None], axis=-1)  # (T, J, J)
    assert moved.sum() > 100 and (gaps[moved].min(axis=-1) < 1e-3).all()  # on some other joint's truth


def test_jitter_scale_spread_makes_the_tail_heavier():
    keypoints, visible = _sequence(23)
    plain = dataclasses.replace(QUIET, visible_sigma=0.004)
    spread = dataclasses.replace(plain, jitter_scale_spread=0.9)
    errors = [_errors(simulate_detections(keypoints, visible, SIZE, preset=c, seed=3)[0], keypoints) for c in (plain, spread)]
    ratios = [np.percentile(e, 90) / np.median(e) for e in errors]
    assert ratios[0] == pytest.approx(1.82, rel=0.05)  # Rayleigh: p90 / median = sqrt(ln 10 / ln 2)
    assert ratios[1] > 2.5
    assert np.median(errors[1]) == pytest.approx(np.median(errors[0]), rel=0.25)


def test_the_bursts_leave_the_main_random_stream_alone():
    keypoints, visible = _sequence(24, frames=300)
    base = PRESETS["occluded"]
    with_bursts = dataclasses.replace(base, visible_burst_probability=0.01, burst_sigma=0.05)
    a, _ = simulate_detections(keypoints, visible, SIZE, preset=base, seed=4)
    b, _ = simulate_detections(keypoints, visible, SIZE, preset=with_bursts, seed=4)
    same = _errors(b, a) < 1e-4
    assert 0.9 < same[visible].mean() < 1.0 and same[~visible].all()


def test_realistic_preset_matches_the_real_detector_on_ss1_ss2(blendmimic3d_dir, real_detections_path):
    # The calibration subjects only: SS3 is the test subject and never read here.
    sequences = covered_sequences(blendmimic3d_dir, real_detections_path, ("SS1", "SS2"))
    assert len(sequences) == 11
    real = pooled(detector_errors(sequences, "real", real_path=real_detections_path), ("SS1", "SS2"))
    simulated = pooled(detector_errors(sequences, "realistic", (0, 1, 2, 3), real_detections_path), ("SS1", "SS2"))
    for joint_class in ("visible", "occluded"):
        expected = error_statistics(real[joint_class])
        ratios = statistic_ratios(error_statistics(simulated[joint_class]), expected)
        assert within(ratios, 0.2), (joint_class, ratios)
    # The real detector's figures as DATA.md gives them (same frames, same normalisation).
    visible = error_statistics(real["visible"])
    assert [round(visible[k], 1) for k in ("mean", "median", "p90", "over_50")] == [9.6, 5.8, 22.8, 0.8]
    # The occluded preset, by contrast, is far from it on visible joints.
    occluded = pooled(detector_errors(sequences, "occluded", (0,), real_detections_path), ("SS1", "SS2"))
    assert not within(statistic_ratios(error_statistics(occluded["visible"]), visible), 0.2)


# ---------------------------------------------------------------- validation


def test_config_validation_quotes_the_bad_value():
    with pytest.raises(ValueError, match=r"visible_sigma.*-0\.1"):
        DetectionNoiseConfig(visible_sigma=-0.1)
    with pytest.raises(ValueError, match=r"stick_probability.*1\.5"):
        DetectionNoiseConfig(stick_probability=1.5)
    with pytest.raises(ValueError, match=r"inversion_probability \+ stick_probability.*0\.6 \+ 0\.6"):
        DetectionNoiseConfig(inversion_probability=0.6, stick_probability=0.6)
    with pytest.raises(ValueError, match="occluded_correlation_frames"):
        DetectionNoiseConfig(occluded_correlation_frames=float("nan"))
    with pytest.raises(ValueError, match="clamp_to_image"):
        DetectionNoiseConfig(clamp_to_image="yes")
    with pytest.raises(ValueError, match="sigma_fraction"):
        severity_config(-0.01)


def test_input_validation_names_the_argument():
    keypoints, visible = _sequence(15, frames=20)
    with pytest.raises(ValueError, match=r"keypoints_2d.*\(T, 17, 2\).*\(20, 16, 2\)"):
        simulate_detections(keypoints[:, :16], visible[:, :16], SIZE)
    with pytest.raises(ValueError, match=r"keypoints_2d.*finite"):
        bad = keypoints.copy()
        bad[3, 4, 0] = np.nan
        simulate_detections(bad, visible, SIZE)
    with pytest.raises(ValueError, match=r"visibility.*\(20, 17\).*\(19, 17\)"):
        simulate_detections(keypoints, visible[1:], SIZE)
    with pytest.raises(ValueError, match=r"visibility.*0/1"):
        simulate_detections(keypoints, visible * 0.5, SIZE)
    with pytest.raises(ValueError, match="image_size"):
        simulate_detections(keypoints, visible, (1000, 0))
    with pytest.raises(ValueError, match="image_size"):
        simulate_detections(keypoints, visible, 1000)
    with pytest.raises(ValueError, match=r"preset.*'noisy'"):
        simulate_detections(keypoints, visible, SIZE, preset="noisy")
    with pytest.raises(ValueError, match="seed"):
        simulate_detections(keypoints, visible, SIZE, seed=-1)
    # Upstream float 0/1 labels are accepted and equal to the bool form.
    np.testing.assert_array_equal(
        simulate_detections(keypoints, visible.astype(np.float64), SIZE)[0],
        simulate_detections(keypoints, visible, SIZE)[0],
    )


# ---------------------------------------------------------------- command line


def _cli(argv):
    return main(argv)  # errors become exit code 2 there, in the format every command shares


def test_cli_detect_writes_atomically_and_refuses_to_overwrite(tmp_path, capsys):
    keypoints, visible = _sequence(16, frames=50)
    source = tmp_path / "gt.npz"
    np.savez(source, keypoints_2d=keypoints, visibility=visible.astype(np.float64))
    target = tmp_path / "out" / "det.npz"
    argv = [
        "detect", str(source), "-o", str(target), "--image-size", "1000", "1000",
        "--preset", "severity_0.01", "--seed", "3",
    ]  # fmt: skip
    assert _cli(argv) == 0
    with np.load(target, allow_pickle=False) as data:
        expected = simulate_detections(keypoints, visible, SIZE, preset="severity_0.01", seed=3)
        np.testing.assert_array_equal(data["keypoints_2d"], expected[0])
        np.testing.assert_array_equal(data["confidence"], expected[1])
        assert data["visibility"].dtype == np.bool_ and str(data["preset"]) == "severity_0.01"
    before = target.read_bytes()
    assert _cli([*argv[:-1], "4"]) == 2
    assert "--force" in capsys.readouterr().err
    assert target.read_bytes() == before
    assert _cli([*argv[:-1], "4", "--force"]) == 0
    assert target.read_bytes() != before
    assert sorted(p.name for p in target.parent.iterdir()) == ["det.npz"]  # no temporary left behind


def test_cli_detect_reports_bad_input(tmp_path, capsys):
    source = tmp_path / "gt.npz"
    np.savez(source, keypoints_2d=np.zeros((5, 17, 2)))
    assert _cli(["detect", str(source), "-o", str(tmp_path / "o.npz"), "--image-size", "10", "10"]) == 2
    assert "visibility" in capsys.readouterr().err
    assert not (tmp_path / "o.npz").exists()
