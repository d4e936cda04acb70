"""Plotly figures for looking at one frame, and at what a refiner moved: a single-frame 3D skeleton
overlay that keeps its axes and view while a slider moves through a sequence, and a per-frame,
per-joint map of how far the refiner moved each joint.

Axes and units follow :mod:`.visualize` (camera frame shown upright, millimetres). ``plotly`` (the
``demo`` extra) is imported when a figure is built.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..skeleton import H36M_JOINT_NAMES, H36M_PARENTS
from .visualize import DEFAULT_COLORS, OCCLUDED_COLOR, skeleton_tour

if TYPE_CHECKING:
    import plotly.graph_objects as go


def _upright_mm(poses: np.ndarray) -> np.ndarray:
    # Camera frame (y down) metres -> plot axes (x, depth, up) in millimetres, as visualize.py shows them.
    return np.stack([poses[..., 0], poses[..., 2], -poses[..., 1]], axis=-1) * 1000.0


def _check_poses(sequences: Mapping[str, np.ndarray], num_joints: int) -> dict[str, np.ndarray]:
    if not sequences:
        raise ValueError("sequences: expected at least one named (T, J, 3) array, got none")
    arrays: dict[str, np.ndarray] = {}
    for name, poses in sequences.items():
        array = np.asarray(poses, dtype=np.float64)
        if array.ndim == 4 and array.shape[1] == 1:
            array = array[:, 0]
        if array.ndim != 3 or array.shape[1:] != (num_joints, 3) or len(array) < 1:
            raise ValueError(f"sequences[{name!r}]: expected shape (T, {num_joints}, 3) with T >= 1, got {array.shape}")
        if arrays and len(array) != len(next(iter(arrays.values()))):
            raise ValueError(f"sequences[{name!r}]: expected {len(next(iter(arrays.values())))} frames, got {len(array)}")
        arrays[str(name)] = array
    return arrays


def skeleton_frame_figure(
    sequences: Mapping[str, np.ndarray],
    frame: int,
    occluded: np.ndarray | None = None,
    *,
    occluded_on: str | None = None,
    parents: Sequence[int] = H36M_PARENTS,
    colors: Sequence[str] = DEFAULT_COLORS,
    title: str | None = None,
    height: int = 480,
) -> go.Figure:
    """Frame ``frame`` of several skeleton sequences overlaid in 3D.

    The axes span every frame of every sequence, not just this one, and ``layout.uirevision`` is the
    same for every frame of the same sequences: moving from frame to frame (a new figure each time)
    neither rescales the axes nor resets a view the user rotated.

    Args:
        sequences: name -> poses ``(T, J, 3)`` in metres, camera frame, all of one ``T``.
        frame: the frame shown, 0 to ``T - 1``.
        occluded: ``(T, J)`` bool, True where a joint is hidden; ringed in red on ``occluded_on``
            (default the first sequence).
    """
    import plotly.graph_objects as go

    num_joints = len(parents)
    arrays = _check_poses(sequences, num_joints)
    names = list(arrays)
    length = len(arrays[names[0]])
    if isinstance(frame, bool) or not isinstance(frame, int | np.integer) or not 0 <= frame < length:
        raise ValueError(f"frame: expected an int from 0 to {length - 1}, got {frame!r}")
    if occluded is not None:
        occluded = np.asarray(occluded)
        if occluded.dtype != np.bool_ or occluded.shape != (length, num_joints):
            raise ValueError(f"occluded: expected a bool array of shape ({length}, {num_joints}), got {occluded.dtype} {occluded.shape}")
    occluded_on = names[0] if occluded_on is None else occluded_on
    if occluded_on not in arrays:
        raise ValueError(f"occluded_on: expected one of {names}, got {occluded_on!r}")
    plotted = {name: _upright_mm(a) for name, a in arrays.items()}
    stacked = np.concatenate([p.reshape(-1, 3) for p in plotted.values()])
    finite = stacked[np.isfinite(stacked).all(axis=1)]
    if len(finite) == 0:
        raise ValueError("sequences: expected some finite joints, got only NaN/inf")
    low, high = finite.min(axis=0), finite.max(axis=0)
    centre, half = (low + high) / 2, max(float((high - low).max()) / 2 * 1.1, 100.0)
    tour = skeleton_tour(parents)
    traces = []
    for k, name in enumerate(names):
        points = plotted[name][frame, tour].astype(np.float32)
        traces.append(
            go.Scatter3d(
                x=points[:, 0], y=points[:, 1], z=points[:, 2], mode="lines+markers", name=name,
                line={"color": colors[k % len(colors)], "width": 6}, marker={"color": colors[k % len(colors)], "size": 3},
                hoverinfo="name",
            )
        )  # fmt: skip
    if occluded is not None:
        hidden = plotted[occluded_on][frame, occluded[frame]].astype(np.float32)
        traces.append(
            go.Scatter3d(
                x=hidden[:, 0], y=hidden[:, 1], z=hidden[:, 2], mode="markers", name=f"occluded joints ({occluded_on})",
                marker={"color": OCCLUDED_COLOR, "size": 7, "symbol": "circle-open", "line": {"width": 3}},
                hoverinfo="name",
            )
        )  # fmt: skip
    axis = {"showbackground": True, "backgroundcolor": "#f4f4f4", "zeroline": False}
    figure = go.Figure(data=traces)
    figure.update_layout(
        title=title,
        height=height,
        # Same sequences, same revision: plotly keeps the user's camera when the next frame replaces this.
        uirevision="|".join(names) + f"|{length}",
        margin={"l": 0, "r": 0, "t": 40 if title else 10, "b": 0},
        legend={"x": 0.01, "y": 0.99, "bgcolor": "rgba(255,255,255,0.7)"},
        scene={
            "xaxis": {**axis, "title": "x (mm)", "range": [float(centre[0] - half), float(centre[0] + half)]},
            "yaxis": {**axis, "title": "depth (mm)", "range": [float(centre[1] - half), float(centre[1] + half)]},
            "zaxis": {**axis, "title": "up (mm)", "range": [float(centre[2] - half), float(centre[2] + half)]},
            "aspectmode": "cube",
            "camera": {"eye": {"x": 0.3, "y": -1.8, "z": 0.5}, "up": {"x": 0, "y": 0, "z": 1}},
        },
    )
    return figure


def joint_displacement(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """How far each joint moved between ``before`` and ``after`` (``(T, J, 3)`` metres): ``(T, J)`` mm,
    NaN where ``before`` has no position (a missing joint the refiner filled)."""
    before = np.asarray(before, dtype=np.float64)
    after = np.asarray(after, dtype=np.float64)
    if before.ndim == 4 and before.shape[1] == 1:
        before = before[:, 0]
    if after.ndim == 4 and after.shape[1] == 1:
        after = after[:, 0]
    if before.ndim != 3 or before.shape[-1] != 3:
        raise ValueError(f"before: expected shape (T, J, 3), got {before.shape}")
    if after.shape != before.shape:
        raise ValueError(f"after: expected the shape of before {before.shape}, got {after.shape}")
    return np.linalg.norm(after - before, axis=-1) * 1000.0


def joint_displacement_figure(
    before: np.ndarray,
    after: np.ndarray,
    *,
    joint_names: Sequence[str] = H36M_JOINT_NAMES,
    title: str | None = None,
) -> go.Figure:
    """A heatmap of how far (mm) each joint moved in each frame from ``before`` to ``after``, with the
    per-frame mean over joints as a line beneath: where the refiner changed something, and what.

    Missing joints of ``before`` (NaN) are blank cells.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    moved = joint_displacement(before, after)
    length, joints = moved.shape
    if len(joint_names) != joints:
        raise ValueError(f"joint_names: expected {joints} names (one per joint), got {len(joint_names)}")
    frames = np.arange(length)
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.72, 0.28], vertical_spacing=0.04)
    figure.add_trace(
        go.Heatmap(
            z=np.round(moved.T, 1), x=frames, y=list(joint_names), colorscale="Viridis", zmin=0,
            colorbar={"title": {"text": "mm"}, "len": 0.7, "y": 0.64},
            hovertemplate="frame %{x}, %{y}: moved %{z:.1f} mm<extra></extra>",
        ),
        row=1, col=1,
    )  # fmt: skip
    with warnings.catch_warnings():  # a frame with no joint at all: NaN, without "Mean of empty slice"
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(moved, axis=1)
    figure.add_trace(
        go.Scatter(
            x=frames, y=np.round(mean, 2), mode="lines", name="mean over joints", line={"color": DEFAULT_COLORS[1], "width": 2},
            hovertemplate="frame %{x}: %{y:.1f} mm on average<extra></extra>",
        ),
        row=2, col=1,
    )  # fmt: skip
    figure.update_layout(
        title=title,
        height=520,
        margin={"l": 110, "r": 20, "t": 40 if title else 10, "b": 40},
        showlegend=False,
    )
    figure.update_yaxes(autorange="reversed", row=1, col=1)  # pelvis at the top, as the joints are listed
    figure.update_yaxes(title_text="mean (mm)", rangemode="tozero", row=2, col=1)
    figure.update_xaxes(title_text="frame", row=2, col=1)
    return figure

