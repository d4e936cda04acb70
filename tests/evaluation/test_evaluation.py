"""Evaluation protocol on synthetic sequences whose errors are known by construction."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d
from scipy.signal import savgol_filter

from modeling_gcnrefine.evaluation.filters import (
    DEFAULT_GRIDS,
    FILTERS,
    gaussian_smooth,
    one_euro_smooth,
    savgol_smooth,
    smooth_records,
    tune_filter,
)
from modeling_gcnrefine.evaluation.records import (
    SequenceRecord,
    compare_methods,
    evaluate_records,
    root_relative,
)
from modeling_gcnrefine.recipes.goals import GOALS, check_goals
from modeling_gcnrefine.recipes.report import write_report
from modeling_gcnrefine.utils.metrics import mpjpe

J = 17
NON_ROOT = 16 / 17  # shifting every joint but the root by e gives a per-frame MPJPE of e * 16 / 17


def motion(frames: int, seed: int = 0) -> np.ndarray:
    """Smooth synthetic poses (T, 17, 3): a fixed skeleton swaying and walking, in metres."""
    rng = np.random.default_rng(seed)
    base = rng.normal(scale=0.3, size=(1, J, 3))
    t = np.arange(frames)[:, None, None] / 50.0
    phase = rng.uniform(0, 2 * np.pi, size=(1, J, 3))
    poses = base + 0.1 * np.sin(2 * np.pi * 0.7 * t + phase)
    poses += np.array([0.5, 0.0, 3.0]) + t * np.array([0.4, 0.0, 0.0])  # walking away from the camera
    return poses


def shifted(poses: np.ndarray, shift) -> np.ndarray:
    """Poses with every non-root joint moved by ``shift`` metres along x (per frame or scalar)."""
    out = poses.copy()
    out[:, 1:, 0] += np.broadcast_to(np.asarray(shift, dtype=float), (len(poses),))[:, None]
    return out


def record(
    action: str, camera: int, predicted, target, visibility=None, subject: str = "S3"
) -> SequenceRecord:
    if visibility is None:
        visibility = np.ones(target.shape[:2], dtype=bool)
    return SequenceRecord(subject, action, camera, predicted, target, visibility)


# --------------------------------------------------------------------------------------------------
# evaluate_records


def test_mpjpe_per_action_and_unweighted_mean():
    a0, a1, b0 = motion(10, 1), motion(10, 2), motion(30, 3)
    records = [
        record("A", 0, shifted(a0, 0.017), a0),
        record("A", 1, shifted(a1, 0.017), a1),
        record("B", 0, shifted(b0, 0.034), b0),
    ]
    result = evaluate_records(records)
    rows = result["per_action"]
    assert rows["A"]["mpjpe"] == pytest.approx(17 * NON_ROOT)
    assert rows["B"]["mpjpe"] == pytest.approx(34 * NON_ROOT)
    assert rows["A"]["frames"] == 20 and rows["B"]["frames"] == 30
    assert rows["A"]["sequences"] == 2
    # Unweighted over actions (25.5 * 16/17), not over frames ((20 * 17 + 30 * 34) / 50 * 16/17).
    assert result["mean"]["mpjpe"] == pytest.approx(25.5 * NON_ROOT)
    assert result["mean"]["frames"] == 50 and result["mean"]["actions"] == 2
    # A pure translation of joints is a zero velocity error and a zero Procrustes error.
    assert result["mean"]["mpjve"] == pytest.approx(0.0, abs=1e-9)
    assert rows["A"]["p_mpjpe"] < rows["A"]["mpjpe"]
    assert json.loads(json.dumps(result)) == result  # JSON-native values


def test_root_relative_global_offsets_do_not_count():
    target = motion(12)
    predicted = shifted(target, 0.01)
    base = evaluate_records([record("A", 0, predicted, target)])["mean"]
    drift = np.linspace(0, 2, 12)[:, None, None] * np.array([1.0, -0.5, 3.0])  # per-frame translation
    moved = evaluate_records([record("A", 0, predicted + drift + 5.0, target)])["mean"]
    for metric in ("mpjpe", "p_mpjpe", "mpjve"):
        assert moved[metric] == pytest.approx(base[metric], abs=1e-9)
    assert base["mpjpe"] == pytest.approx(10 * NON_ROOT)


def test_p_mpjpe_ignores_rotation_and_scale():
    target = motion(5) - motion(5)[:, :1]
    angle = 0.4
    rotation = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    result = evaluate_records([record("A", 0, 1.3 * target @ rotation.T, target)])["mean"]
    assert result["mpjpe"] > 50
    assert result["p_mpjpe"] == pytest.approx(0.0, abs=1e-6)


def test_occluded_and_visible_joint_views():
    target = motion(4)
    visibility = np.ones((4, J), dtype=bool)
    visibility[0, [3, 5]] = False
    visibility[1, [2]] = False
    visibility[3, 0] = False  # only the root hidden: no occluded joint is scored in this frame
    predicted = target.copy()
    predicted[..., 0] += np.where(visibility, 0.005, 0.020)
    predicted[:, 0] = target[:, 0]  # root-relative: give the root no error of its own
    rows = evaluate_records([record("A", 0, predicted, target, visibility)])["mean"]
    assert rows["mpjpe_occluded"] == pytest.approx(20.0)
    assert rows["mpjpe_visible"] == pytest.approx(5.0)
    assert rows["occluded_fraction"] == pytest.approx(4 / (4 * J))
    # Frame 0: 2 joints at 20 mm and 14 at 5 mm over 17 joints, frame 1: 1 at 20 and 15 at 5.
    expected = np.mean([(2 * 20 + 14 * 5) / 17, (20 + 15 * 5) / 17, 16 * 5 / 17, 16 * 5 / 17])
    assert rows["mpjpe"] == pytest.approx(expected)


def test_no_occlusion_gives_none_not_nan():
    target = motion(6)
    result = evaluate_records([record("A", 0, shifted(target, 0.01), target)])
    assert result["per_action"]["A"]["mpjpe_occluded"] is None
    assert result["mean"]["mpjpe_occluded"] is None
    assert result["mean"]["mpjpe_visible"] == pytest.approx(10.0)


def test_by_occluded_count_hand_computed():
    target = motion(4)
    visibility = np.ones((4, J), dtype=bool)
    visibility[1, [4, 9]] = False
    visibility[2, [1, 2]] = False
    visibility[3, [1, 2, 3, 11, 12]] = False
    errors_mm = np.array([17.0, 34.0, 68.0, 51.0])  # per-frame shifts of the non-root joints
    other = motion(3, 5)
    result = evaluate_records(
        [
            record("A", 0, shifted(target, errors_mm / 1000), target, visibility),
            record("B", 2, shifted(other, 0.017), other),  # 3 more frames with none hidden
        ]
    )
    groups = result["by_occluded_count"]
    assert list(groups) == ["0", "2", "5"]
    assert groups["0"] == {"mpjpe": pytest.approx(17 * NON_ROOT), "frames": 4}
    assert groups["2"] == {"mpjpe": pytest.approx(51 * NON_ROOT), "frames": 2}
    assert groups["5"] == {"mpjpe": pytest.approx(51 * NON_ROOT), "frames": 1}


def test_mpjve_never_crosses_sequences():
    one, two = motion(20, 1), motion(20, 2)
    # Each sequence is off by its own constant: zero velocity error inside each, a jump between them.
    records = [record("A", 0, shifted(one, 0.05), one), record("A", 1, shifted(two, -0.05), two)]
    result = evaluate_records(records)["mean"]
    assert result["mpjve"] == pytest.approx(0.0, abs=1e-9)
    assert result["mpjpe"] == pytest.approx(50 * NON_ROOT)
    joined = evaluate_records(
        [
            record(
                "A", 0, np.concatenate([shifted(one, 0.05), shifted(two, -0.05)]), np.concatenate([one, two])
            )
        ]
    )["mean"]
    assert joined["mpjve"] > 1.0  # what mixing would have looked like


def test_single_frame_sequence_has_no_velocity():
    target = motion(1)
    result = evaluate_records([record("A", 0, shifted(target, 0.01), target)])["mean"]
    assert result["mpjve"] is None and result["mpjpe"] == pytest.approx(10 * NON_ROOT)


def test_acceleration_error_and_ground_truth_free_figures_hand_computed():
    # One skeleton: every joint at the root but the left wrist, 30 mm above it (left forearm 30 mm,
    # its right partner 0). Sequence 0 (4 frames) lifts the predicted wrist 1 mm on odd frames;
    # sequence 1 (6 frames) is exact. Both are moved by 2 m, which root-relative poses ignore.
    pose = np.zeros((J, 3))
    pose[13, 2] = 0.03
    still, longer = np.repeat(pose[None], 4, axis=0), np.repeat(pose[None], 6, axis=0)
    wobbly = still.copy()
    wobbly[1::2, 13, 2] += 0.001
    result = evaluate_records([record("A", 0, wobbly + 2.0, still), record("A", 1, longer + 2.0, longer)])
    row = result["per_action"]["A"]
    # Sequence 0: second differences of +-2 mm at 1 of 17 joints in its 2 acceleration frames, 0 in
    # sequence 1's 4; the truth does not move, so the acceleration error equals the jitter.
    assert row["accel_error"] == pytest.approx(2 * (2 / 17) / 6)
    assert row["jitter"] == pytest.approx(2 * (2 / 17) / 6)
    # Asymmetry per frame: 30 or 31 mm over 6 pairs in sequence 0 (mean 61 / 12), 5 mm in sequence 1.
    assert row["asymmetry"] == pytest.approx((4 * 61 / 12 + 6 * 5.0) / 10)
    # Bone-length spread: the forearm's std (0.5 mm) over 16 bones in sequence 0, counted per frame.
    assert row["bone_spread"] == pytest.approx(4 * (0.5 / 16) / 10)
    assert result["mean"]["jitter"] == row["jitter"]
    # Refining the wobble away: the ground-truth-free figures drop with no ground truth involved.
    table = compare_methods({"backbone": result, "gcn": evaluate_records([record("A", 0, still, still)])})
    assert table["gcn"]["jitter"] == 0.0 and table["gcn"]["jitter_change"] == pytest.approx(-1.0)
    assert table["gcn"]["asymmetry"] == pytest.approx(5.0)
    short = evaluate_records([record("A", 0, still[:2], still[:2])])["mean"]
    assert short["accel_error"] is None and short["jitter"] is None and short["bone_spread"] == 0.0


def test_bad_input_is_rejected():
    target = motion(5)
    with pytest.raises(ValueError, match="records"):
        evaluate_records([])
    with pytest.raises(ValueError, match="target"):
        record("A", 0, target, target[:4])
    with pytest.raises(ValueError, match="visibility"):
        record("A", 0, target, target, np.ones((5, 16), dtype=bool))
    with pytest.raises(ValueError, match="visibility"):
        record("A", 0, target, target, np.full((5, J), 0.5))
    with pytest.raises(ValueError, match="predicted"):
        record("A", 0, np.where(np.isnan(target), 0, np.nan), target)
    with pytest.raises(ValueError, match="duplicate"):
        evaluate_records([record("A", 0, target, target), record("A", 0, target, target)])
    # Upstream visibility is stored as 0/1 floats: accepted.
    assert record("A", 0, target, target, np.ones((5, J))).visibility.dtype == bool


# --------------------------------------------------------------------------------------------------
# Filters


def noisy(frames: int = 200, seed: int = 0, scale: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
    target = motion(frames, seed)
    return target + np.random.default_rng(seed + 100).normal(scale=scale, size=target.shape), target


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("savgol", {"window_length": 15, "polyorder": 2}),
        ("gaussian", {"sigma": 3.0}),
        ("one_euro", {"min_cutoff": 3.0, "beta": 3.0}),
    ],
)
def test_filters_reduce_error_on_noisy_smooth_motion(name, params):
    predicted, target = noisy()
    before = mpjpe(root_relative(predicted), root_relative(target))
    after = mpjpe(root_relative(FILTERS[name](predicted, **params)), root_relative(target))
    assert after < 0.7 * before
    assert FILTERS[name](predicted.astype(np.float32), **params).dtype == np.float32


def test_savgol_and_gaussian_match_scipy():
    predicted, _ = noisy(50)
    np.testing.assert_allclose(
        savgol_smooth(predicted, 9, 3), savgol_filter(predicted, 9, 3, axis=0, mode="interp")
    )
    np.testing.assert_allclose(
        gaussian_smooth(predicted, 2.5), gaussian_filter1d(predicted, 2.5, axis=0, mode="nearest")
    )
    np.testing.assert_array_equal(gaussian_smooth(predicted, 0), predicted)


def test_savgol_short_sequences():
    predicted, _ = noisy(6)
    np.testing.assert_allclose(savgol_smooth(predicted, 31, 2), savgol_filter(predicted, 5, 2, axis=0))
    np.testing.assert_array_equal(savgol_smooth(predicted[:2], 31, 2), predicted[:2])
    with pytest.raises(ValueError, match="polyorder"):
        savgol_smooth(predicted, 5, 5)


def test_one_euro_constant_stays_constant():
    constant = np.broadcast_to(motion(1), (40, J, 3)).copy()
    np.testing.assert_allclose(one_euro_smooth(constant, 0.5, 1.0), constant, atol=1e-12)


def test_one_euro_ramp_lag_shrinks_with_beta():
    frames, speed = 400, 1.0  # 1 m/s along every coordinate, 50 fps
    ramp = np.broadcast_to((np.arange(frames) / 50.0 * speed)[:, None, None], (frames, 2, 3)).copy()
    lags = [
        float(np.abs(ramp[-1] - one_euro_smooth(ramp, 1.0, beta)[-1]).max()) for beta in (0.0, 0.5, 2.0, 10.0)
    ]
    assert lags == sorted(lags, reverse=True) and lags[-1] < lags[0] / 3
    # With beta = 0 it is a first-order low-pass: steady lag v * tau = v / (2 pi f_c).
    assert lags[0] == pytest.approx(speed / (2 * np.pi * 1.0), rel=1e-6)
    # The output follows the ramp monotonically (no overshoot).
    smoothed = one_euro_smooth(ramp, 1.0, 2.0)
    assert (np.diff(smoothed[:, 0, 0]) > 0).all() and (smoothed <= ramp + 1e-12).all()


def test_filters_never_mix_sequences():
    first, target_first = noisy(40, 1)
    second, target_second = noisy(40, 2)
    second = second + 10.0  # far away: any mixing would drag the end of the first sequence
    records = [record("A", 0, first, target_first), record("A", 1, second, target_second)]
    for name, grid in DEFAULT_GRIDS.items():
        params = grid[len(grid) // 2]
        smoothed = smooth_records(records, name, params)
        np.testing.assert_array_equal(smoothed[0].predicted, FILTERS[name](first, **params))
        np.testing.assert_array_equal(smoothed[1].predicted, FILTERS[name](second, **params))
        assert smoothed[0].target is records[0].target


def test_tune_filter_picks_the_best_of_the_grid():
    pairs = [noisy(120, seed) for seed in (1, 2)]
    predictions, targets = [p for p, _ in pairs], [t for _, t in pairs]
    grid = [{"sigma": 0.3}, {"sigma": 3.0}, {"sigma": 40.0}]
    params, score = tune_filter("gaussian", predictions, targets, grid)
    scores = []
    for candidate in grid:
        errors = [
            mpjpe(
                gaussian_smooth(p, **candidate) - gaussian_smooth(p, **candidate)[:, :1],
                t - t[:, :1],
                reduction="none",
            )
            for p, t in zip(predictions, targets)
        ]
        scores.append(np.concatenate(errors).mean() * 1000)
    assert params == grid[int(np.argmin(scores))] == {"sigma": 3.0}
    assert score == pytest.approx(min(scores))
    with pytest.raises(ValueError, match="name"):
        tune_filter("kalman", predictions, targets)
    with pytest.raises(ValueError, match="targets"):
        tune_filter("gaussian", predictions, targets[:1])


def test_default_grids_run():
    predicted, target = noisy(30)
    for name in FILTERS:
        params, score = tune_filter(name, [predicted], [target])
        assert params in DEFAULT_GRIDS[name] and np.isfinite(score)


# --------------------------------------------------------------------------------------------------
# Goals


def fake(mpjpe_mm: float, occluded_mm: float | None = None) -> dict:
    row = {
        "mpjpe": mpjpe_mm,
        "p_mpjpe": mpjpe_mm / 2,
        "mpjve": 1.0,
        "mpjpe_occluded": occluded_mm,
        "mpjpe_visible": mpjpe_mm,
        "frames": 10,
        "sequences": 1,
        "occluded_fraction": 0.3,
    }
    return {"per_action": {"Focus": row}, "mean": {**row, "actions": 1}, "by_occluded_count": {}}


def goal_report(gcn=(65.0, 60.0), clean=(50.0, 50.4), filters=(90.0, 85.0), compact=66.5, speed=(100, 600)):
    return {
        "presets": {
            "occluded": {
                "backbone": fake(100.0, 100.0),
                "gcn": fake(*gcn),
                "savgol": fake(filters[0]),
                "one_euro": fake(filters[1]),
                "gcn_compact": fake(compact),
            },
            "visible_only": {"backbone": fake(clean[0]), "gcn": fake(clean[1])},
        },
        "meta": {"throughput": {"gcn": speed[0], "gcn_compact": speed[1]}},
    }


def outcome(report) -> dict:
    return {g["name"]: g["passed"] for g in check_goals(report)}


def test_goals_pass():
    rows = {g["name"]: g for g in check_goals(goal_report())}
    assert all(g["passed"] for g in rows.values())
    assert rows["occluded_mpjpe_reduction"]["measured"] == pytest.approx(35.0)
    assert rows["occluded_joint_mpjpe_reduction"]["measured"] == pytest.approx(40.0)
    assert rows["clean_input_do_no_harm"]["measured"] == pytest.approx(0.8)
    assert rows["beats_best_filter"]["measured"] == pytest.approx(100 * (1 - 65 / 85))  # one_euro is best
    assert rows["compact_speedup"]["measured"] == pytest.approx(6.0)
    assert rows["compact_mpjpe_gap"]["measured"] == pytest.approx(1.5)
    assert len(rows) == len(GOALS)


def test_goals_fail_and_borders():
    assert outcome(goal_report(gcn=(71.0, 60.0)))["occluded_mpjpe_reduction"] is False
    assert outcome(goal_report(gcn=(70.0, 60.0)))["occluded_mpjpe_reduction"] is True  # exactly 30 %
    assert outcome(goal_report(gcn=(65.0, 66.0)))["occluded_joint_mpjpe_reduction"] is False
    # Do no harm: 1 % worse passes, 1.2 % worse fails, better always passes.
    assert outcome(goal_report(clean=(50.0, 50.5)))["clean_input_do_no_harm"] is True
    assert outcome(goal_report(clean=(50.0, 50.6)))["clean_input_do_no_harm"] is False
    assert outcome(goal_report(clean=(50.0, 40.0)))["clean_input_do_no_harm"] is True
    # The best filter decides: 65 mm is 23.5 % below 85 but only 18.75 % below 80.
    assert outcome(goal_report(filters=(80.0, 85.0)))["beats_best_filter"] is False
    assert outcome(goal_report(filters=(95.0, 85.0)))["beats_best_filter"] is True
    assert outcome(goal_report(speed=(100, 400)))["compact_speedup"] is False
    assert outcome(goal_report(compact=67.5))["compact_mpjpe_gap"] is False
    assert outcome(goal_report(compact=50.0))["compact_mpjpe_gap"] is True  # better than paper-size is fine


def test_goals_not_measurable():
    report = goal_report()
    del report["presets"]["visible_only"]
    del report["meta"]
    for method in ("savgol", "one_euro", "gcn_compact"):
        del report["presets"]["occluded"][method]
    result = outcome(report)
    assert result["occluded_mpjpe_reduction"] is True
    for name in ("clean_input_do_no_harm", "beats_best_filter", "compact_speedup", "compact_mpjpe_gap"):
        assert result[name] is None
    with pytest.raises(ValueError, match="report"):
        check_goals({"meta": {}})


def test_occlusion_headroom_hand_computed():
    from modeling_gcnrefine.recipes.goals import occlusion_headroom

    report = goal_report(gcn=(90.0, 80.0), clean=(80.0, 79.0))
    report["presets"]["visible_only"]["backbone"] = fake(80.0, 70.0)
    headroom = occlusion_headroom(report)
    # All joints: occlusion adds 100 - 80 = 20 mm, so removing it all cuts MPJPE by 20 %.
    assert headroom["mpjpe"]["added_by_occlusion"] == pytest.approx(20.0)
    assert headroom["mpjpe"]["bound_pct"] == pytest.approx(20.0)
    assert headroom["mpjpe"]["methods"]["gcn"]["removed_pct"] == pytest.approx(50.0)  # 10 of 20 mm
    assert headroom["mpjpe"]["methods"]["savgol"]["removed_pct"] == pytest.approx(50.0)
    assert headroom["mpjpe"]["methods"]["one_euro"]["removed_pct"] == pytest.approx(75.0)
    # Occluded joints: 100 vs 70 on clean detections; the GCN removes 20 of those 30 mm.
    assert headroom["mpjpe_occluded"]["bound_pct"] == pytest.approx(30.0)
    assert headroom["mpjpe_occluded"]["methods"]["gcn"]["removed_pct"] == pytest.approx(200 / 3)
    assert "savgol" not in headroom["mpjpe_occluded"]["methods"]  # no occluded-joint value to compare
    # The GCN makes clean input 1 mm better: occluded 90 vs clean 79 leaves a gap of 11 of 20 mm.
    assert headroom["mpjpe"]["methods"]["gcn"]["gap_closed_pct"] == pytest.approx(45.0)
    assert "gap_closed_pct" not in headroom["mpjpe"]["methods"]["savgol"]  # not run on clean input
    assert headroom["mpjpe_occluded"]["methods"]["gcn"]["value"] == pytest.approx(80.0)  # the metric of its row
    del report["presets"]["visible_only"]
    assert occlusion_headroom(report) is None
    with pytest.raises(ValueError, match=r"report: expected a mapping with a 'presets' mapping"):
        occlusion_headroom({"occluded": {}})


def test_compare_methods_changes():
    table = compare_methods({"backbone": fake(100.0, 80.0), "gcn": fake(70.0, 40.0)})
    assert table["gcn"]["mpjpe_change"] == pytest.approx(-0.3)
    assert table["gcn"]["mpjpe_occluded_change"] == pytest.approx(-0.5)
    assert table["backbone"]["mpjpe_change"] == pytest.approx(0.0)
    assert compare_methods({"gcn": fake(70.0)})["gcn"]["mpjpe_change"] is None


# --------------------------------------------------------------------------------------------------
# Report


def synthetic_report() -> dict:
    rng = np.random.default_rng(7)
    presets: dict = {}
    for preset, noise in (
        ("occluded", 0.03),
        ("visible_only", 0.005),
        ("severity_0.01", 0.02),
        ("severity_0", 0.004),
        ("severity_0.05", 0.06),
    ):
        targets = {("Focus", c): motion(30, c) for c in range(2)} | {("TakesItem", 0): motion(45, 9)}
        visibility = {k: rng.random(t.shape[:2]) > 0.3 for k, t in targets.items()}
        backbone = [
            record(a, c, t + rng.normal(scale=noise, size=t.shape), t, visibility[(a, c)])
            for (a, c), t in targets.items()
        ]
        gcn = [
            record(r.action, r.camera, r.target + 0.5 * (r.predicted - r.target), r.target, r.visibility)
            for r in backbone
        ]
        presets[preset] = {
            "backbone": evaluate_records(backbone),
            "gcn": evaluate_records(gcn),
            "gaussian": evaluate_records(smooth_records(backbone, "gaussian", {"sigma": 2.0})),
        }
    return {"presets": presets, "meta": {"backbone": "synthetic", "seeds": [0, 1], "sigma": np.float32(2.0)}}


def test_write_report(tmp_path):
    report = synthetic_report()
    out = write_report(report, tmp_path / "report")
    names = {p.name for p in out.iterdir()}
    assert names == {"report.md", "report.json", "mpjpe_by_occluded_count.png", "severity_sweep.png"}
    for figure in ("mpjpe_by_occluded_count.png", "severity_sweep.png"):
        data = (out / figure).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 5000
    loaded = json.loads((out / "report.json").read_text())
    assert loaded["presets"] == report["presets"]  # evaluations round-trip exactly
    assert loaded["meta"]["sigma"] == 2.0
    assert [g["name"] for g in loaded["goals"]] == [g.name for g in GOALS]
    text = (out / "report.md").read_text()
    for needle in (
        "## Goals",
        ">= 30 %",
        "PASS",
        "n/a",
        "TakesItem",
        "Severity sweep",
        "Occluded keypoints",
        "P-MPJPE per action",
        "visible_only",
        "## Occlusion headroom",
        "Bound on the cut",
        "Acceleration error (mm/frame²)",
        "Bone-length spread †",
        "Left/right asymmetry †",
        "Jitter (mm/frame²) †",
        "† needs no ground truth",
    ):
        assert needle in text, needle
    assert loaded["occlusion_headroom"]["mpjpe"]["bound_pct"] == pytest.approx(
        100 * (1 - loaded["occlusion_headroom"]["mpjpe"]["backbone_clean"] / loaded["occlusion_headroom"]["mpjpe"]["backbone_occluded"])
    )
    # Rows of the severity table are in level order.
    assert text.index("| 0 |") < text.index("| 0.01 |") < text.index("| 0.05 |")

    with pytest.raises(FileExistsError):
        write_report(report, out)
    report["meta"]["backbone"] = "second"
    write_report(report, out, overwrite=True)
    assert json.loads((out / "report.json").read_text())["meta"]["backbone"] == "second"
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp files left


def test_write_report_rejects_bad_input(tmp_path):
    report = synthetic_report()
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="out_dir"):
        write_report(report, tmp_path / "file")
    with pytest.raises(ValueError, match="report"):
        write_report({"presets": {"occluded": {"gcn": {"mean": {}}}}}, tmp_path / "x")
    # Without severity presets there is no sweep figure.
    small = {"presets": {"occluded": report["presets"]["occluded"]}}
    out = write_report(small, tmp_path / "small")
    assert not (out / "severity_sweep.png").exists() and (out / "mpjpe_by_occluded_count.png").exists()
