"""Single-frame 3D figure and the per-joint displacement map (modeling_gcnrefine.evaluation.pose_figures)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("plotly")

from modeling_gcnrefine.evaluation.pose_figures import (
    joint_displacement,
    joint_displacement_figure,
    skeleton_frame_figure,
)
from modeling_gcnrefine.evaluation.visualize import skeleton_tour


def test_frame_figure_keeps_axes_and_view_from_frame_to_frame():
    rng = np.random.default_rng(0)
    poses = rng.normal(0, 0.3, (40, 17, 3))
    poses[30] *= 3  # one wide frame: the axes must already cover it at frame 0
    occluded = rng.random((40, 17)) < 0.3
    first = skeleton_frame_figure({"a": poses, "b": poses + 0.05}, 0, occluded, occluded_on="b")
    later = skeleton_frame_figure({"a": poses, "b": poses + 0.05}, 12, occluded, occluded_on="b")
    assert [t.name for t in first.data] == ["a", "b", "occluded joints (b)"]
    assert first.layout.scene.xaxis.range == later.layout.scene.xaxis.range
    assert first.layout.uirevision == later.layout.uirevision  # plotly keeps a rotated view
    x_range = first.layout.scene.xaxis.range
    assert x_range[0] <= poses[30, :, 0].min() * 1000 and x_range[1] >= poses[30, :, 0].max() * 1000
    # Frame 12, upright in mm: plot (x, y, z) = (x, depth, -y), along the skeleton tour.
    expected = poses[12, skeleton_tour()] * 1000
    np.testing.assert_allclose(later.data[0].x, expected[:, 0], rtol=1e-5)
    np.testing.assert_allclose(later.data[0].z, -expected[:, 1], rtol=1e-5)
    np.testing.assert_allclose(later.data[2].y, (poses[12] + 0.05)[occluded[12], 2] * 1000, rtol=1e-5)
    other = skeleton_frame_figure({"c": poses}, 0)
    assert other.layout.uirevision != first.layout.uirevision  # other sequences: a fresh view


def test_frame_figure_rejects_bad_input():
    poses = np.zeros((10, 17, 3))
    with pytest.raises(ValueError, match="frame: expected an int from 0 to 9, got 10"):
        skeleton_frame_figure({"a": poses}, 10)
    with pytest.raises(ValueError, match=r"sequences\['b'\]: expected 10 frames, got 5"):
        skeleton_frame_figure({"a": poses, "b": poses[:5]}, 0)
    with pytest.raises(ValueError, match="occluded: expected a bool array of shape"):
        skeleton_frame_figure({"a": poses}, 0, np.zeros((10, 17)))
    with pytest.raises(ValueError, match="occluded_on: expected one of"):
        skeleton_frame_figure({"a": poses}, 0, occluded_on="x")


def test_joint_displacement_map():
    before = np.zeros((6, 17, 3))
    after = before.copy()
    after[2, 5, 0] = 0.010  # left knee moved 10 mm in frame 2
    before[4, 3] = np.nan  # a missing joint the refiner filled
    moved = joint_displacement(before, after)
    assert moved.shape == (6, 17) and moved[2, 5] == pytest.approx(10.0)
    assert np.isnan(moved[4, 3]) and np.nansum(moved) == pytest.approx(10.0)
    figure = joint_displacement_figure(before[:, None], after)  # (T, 1, 17, 3) is accepted too
    heatmap, mean = figure.data
    assert list(heatmap.y)[5] == "left_knee" and len(heatmap.x) == 6
    assert np.asarray(heatmap.z)[5, 2] == pytest.approx(10.0)  # joints as rows, frames as columns
    assert mean.y[2] == pytest.approx(10.0 / 17, abs=0.01)
    with pytest.raises(ValueError, match=r"after: expected the shape of before \(6, 17, 3\), got \(5, 17, 3\)"):
        joint_displacement(before, after[:5])
    with pytest.raises(ValueError, match="joint_names: expected 17 names"):
        joint_displacement_figure(before, after, joint_names=["a"])
