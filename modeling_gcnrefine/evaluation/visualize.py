"""Plotly figures of 3D pose sequences: an animated skeleton overlay and a per-frame error plot.

Poses follow the package's array contract: ``(T, 17, 3)`` camera frame (x right, y down, z forward),
Human3.6M-17 order. Figures show them upright: plot x = camera x, plot y = depth z, plot z = -y, so
plotly's default z-up camera sees a standing person. Coordinates are shown in millimetres.

``plotly`` is in the ``demo`` extra; it is imported when a figure is built, not with this module.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..skeleton import H36M_PARENTS

if TYPE_CHECKING:
    import plotly.graph_objects as go


# Colours per sequence, in insertion order (grey first reads as "reference" when ground truth is first).
DEFAULT_COLORS: tuple[str, ...] = ("#e4572e", "#2e86ab", "#6c757d", "#7b2cbf", "#2a9d8f", "#f4a261")


OCCLUDED_COLOR = "#d00000"


ANIMATION_META_KEY = "gcnrefine_animation"


# Frames shown by default: 200 frames of 3 skeletons stay well under 1 MB of figure JSON
# (HF_NOTES: 1000 frames at stride 1 is 3.2 MB and 2 s to build).
DEFAULT_MAX_FRAMES = 200


def skeleton_tour(parents: Sequence[int] = H36M_PARENTS) -> list[int]:
    """Joint indices of a depth-first walk over the skeleton tree that returns along each bone.

    Drawing one polyline through these joints draws every bone (each twice, on top of itself) with no
    gaps, so one trace per skeleton needs no ``None`` separators and stays a plain float array.
    """
    children: dict[int, list[int]] = {j: [] for j in range(len(parents))}
    roots = []
    for joint, parent in enumerate(parents):
        if parent < 0:
            roots.append(joint)
        elif not 0 <= parent < len(parents):
            raise ValueError(f"parents: expected indices in [-1, {len(parents)}), got {parent} for joint {joint}")
        else:
            children[parent].append(joint)
    if len(roots) != 1:
        raise ValueError(f"parents: expected exactly one root (-1), got {len(roots)}")

    tour: list[int] = []

    def visit(joint: int) -> None:
        tour.append(joint)
        for child in children[joint]:
            visit(child)
            tour.append(joint)

    visit(roots[0])
    if len(set(tour)) != len(parents):
        raise ValueError("parents: expected a tree reaching every joint from the root, got a cycle or a split")
    return tour


def _check_sequences(sequences: Mapping[str, np.ndarray], num_joints: int) -> dict[str, np.ndarray]:
    if not sequences:
        raise ValueError("sequences: expected at least one named (T, J, 3) array, got none")
    out = {}
    length = None
    for name, poses in sequences.items():
        array = np.asarray(poses, dtype=np.float64)
        if array.ndim == 4 and array.shape[1] == 1:  # (T, 1, J, 3), VideoPose3D's layout
            array = array[:, 0]
        if array.ndim != 3 or array.shape[1:] != (num_joints, 3) or array.shape[0] < 1:
            raise ValueError(f"sequences[{name!r}]: expected shape (T, {num_joints}, 3) with T >= 1, got {array.shape}")
        if length is None:
            length = array.shape[0]
        elif array.shape[0] != length:
            raise ValueError(f"sequences[{name!r}]: expected {length} frames like the first sequence, got {array.shape[0]}")
        out[str(name)] = array
    return out


def frame_indices(length: int, stride: int | None = None, max_frames: int | None = DEFAULT_MAX_FRAMES) -> np.ndarray:
    """Frames to show: every ``stride``-th frame; with ``stride=None`` the smallest stride that keeps at
    most ``max_frames`` frames (``max_frames=None``: every frame)."""
    if stride is None:
        if max_frames is not None and (not isinstance(max_frames, int) or max_frames < 1):
            raise ValueError(f"max_frames: expected a positive integer or None, got {max_frames!r}")
        stride = 1 if max_frames is None else max(1, -(-length // max_frames))
    elif not isinstance(stride, int) or stride < 1:
        raise ValueError(f"stride: expected a positive integer or None, got {stride!r}")
    return np.arange(0, length, stride)


def _upright_mm(poses: np.ndarray) -> np.ndarray:
    """Camera frame (y down) metres -> plot axes (x, depth, up) in millimetres."""
    return np.stack([poses[..., 0], poses[..., 2], -poses[..., 1]], axis=-1) * 1000.0


def skeleton_animation(
    sequences: Mapping[str, np.ndarray],
    occluded: np.ndarray | None = None,
    *,
    occluded_on: str | None = None,
    stride: int | None = None,
    max_frames: int | None = DEFAULT_MAX_FRAMES,
    parents: Sequence[int] = H36M_PARENTS,
    colors: Sequence[str] = DEFAULT_COLORS,
    frame_duration_ms: int | None = None,
    fps: float = 30.0,
    title: str | None = None,
) -> go.Figure:
    """An animated 3D overlay of skeletons, with Play/Pause buttons and a frame slider.

    Args:
        sequences: name -> poses ``(T, J, 3)`` (or ``(T, 1, J, 3)``) in metres, camera frame, all with
            the same ``T``; drawn in order, one colour each. Show them root-relative to overlay them.
        occluded: ``(T, J)`` bool, True where a joint is hidden in the image; marked with red rings on
            the skeleton ``occluded_on`` (default: the first sequence).
        stride / max_frames: frames to show (see :func:`frame_indices`); every frame is still counted
            in the slider labels, which give the original frame numbers.
        parents: the joint tree (default Human3.6M-17).
        frame_duration_ms: delay between shown frames when playing (default: real time at ``fps``).
        title: figure title.

    Returns:
        a ``plotly.graph_objects.Figure``; axes are in millimetres with z up (see the module docstring).
    """
    import plotly.graph_objects as go

    num_joints = len(parents)
    arrays = _check_sequences(sequences, num_joints)
    names = list(arrays)
    length = next(iter(arrays.values())).shape[0]
    if occluded is not None:
        occluded = np.asarray(occluded)
        if occluded.dtype != np.bool_ or occluded.shape != (length, num_joints):
            raise ValueError(
                f"occluded: expected a bool array of shape ({length}, {num_joints}), got {occluded.dtype} {occluded.shape}"
            )
    occluded_on = names[0] if occluded_on is None else occluded_on
    if occluded is not None and occluded_on not in arrays:
        raise ValueError(f"occluded_on: expected one of {names}, got {occluded_on!r}")
    frames = frame_indices(length, stride, max_frames)
    tour = skeleton_tour(parents)
    plotted = {name: _upright_mm(a) for name, a in arrays.items()}
    # Fixed, equal-scale axes over every shown frame, so the view does not rescale while playing.
    stacked = np.concatenate([p[frames].reshape(-1, 3) for p in plotted.values()])
    finite = stacked[np.isfinite(stacked).all(axis=1)]
    if len(finite) == 0:
        raise ValueError("sequences: expected some finite joints in the shown frames, got only NaN/inf")
    low, high = finite.min(axis=0), finite.max(axis=0)
    centre, half = (low + high) / 2, max(float((high - low).max()) / 2 * 1.1, 100.0)
    ranges = [[float(c - half), float(c + half)] for c in centre]

    def traces(t: int) -> list:
        out = []
        for k, name in enumerate(names):
            points = plotted[name][t, tour].astype(np.float32)  # plotly sends float32 as half the base64
            out.append(
                go.Scatter3d(
                    x=points[:, 0], y=points[:, 1], z=points[:, 2],
                    mode="lines+markers",
                    name=name,
                    legendgroup=name,
                    line={"color": colors[k % len(colors)], "width": 6},
                    marker={"color": colors[k % len(colors)], "size": 3},
                    hoverinfo="name",
                )
            )  # fmt: skip
        if occluded is not None:
            hidden = plotted[occluded_on][t, occluded[t]].astype(np.float32)
            out.append(
                go.Scatter3d(
                    x=hidden[:, 0], y=hidden[:, 1], z=hidden[:, 2],
                    mode="markers",
                    name=f"occluded joints ({occluded_on})",
                    marker={"color": OCCLUDED_COLOR, "size": 7, "symbol": "circle-open", "line": {"width": 3}},
                    hoverinfo="name",
                )
            )  # fmt: skip
        return out

    if frame_duration_ms is None:
        step = int(frames[1] - frames[0]) if len(frames) > 1 else 1
        frame_duration_ms = round(1000 * step / fps)
    figure = go.Figure(
        data=traces(int(frames[0])),
        frames=[go.Frame(data=traces(int(t)), name=str(int(t))) for t in frames],
    )
    play = {"frame": {"duration": frame_duration_ms, "redraw": True}, "fromcurrent": True, "transition": {"duration": 0}}
    pause = {"frame": {"duration": 0, "redraw": False}, "mode": "immediate", "transition": {"duration": 0}}
    jump = {**pause, "frame": {"duration": 0, "redraw": True}}  # a slider step must redraw a 3D scene
    axis = {"showbackground": True, "backgroundcolor": "#f4f4f4", "zeroline": False}
    figure.update_layout(
        # A token per figure, so gradio_frames_js can tell when the browser shows this figure.
        meta={ANIMATION_META_KEY: uuid.uuid4().hex},
        title=title,
        height=560,
        margin={"l": 0, "r": 0, "t": 40 if title else 10, "b": 0},
        legend={"x": 0.01, "y": 0.99, "bgcolor": "rgba(255,255,255,0.7)"},
        scene={
            "xaxis": {**axis, "title": "x (mm)", "range": ranges[0]},
            "yaxis": {**axis, "title": "depth (mm)", "range": ranges[1]},
            "zaxis": {**axis, "title": "up (mm)", "range": ranges[2]},
            "aspectmode": "cube",
            # Looking from behind the camera, slightly above: the person faces the viewer.
            "camera": {"eye": {"x": 0.3, "y": -1.8, "z": 0.5}, "up": {"x": 0, "y": 0, "z": 1}},
        },
        updatemenus=[
            {
                "type": "buttons",
                "direction": "left",
                "x": 0.01,
                "y": 0.02,
                "xanchor": "left",
                "yanchor": "bottom",
                "pad": {"r": 10, "t": 10},
                "buttons": [
                    {"label": "▶ Play", "method": "animate", "args": [None, play]},
                    {"label": "❚❚ Pause", "method": "animate", "args": [[None], pause]},
                ],
            }
        ],
        sliders=[
            {
                "active": 0,
                "x": 0.2,
                "len": 0.78,
                "y": 0.02,
                "yanchor": "bottom",
                "currentvalue": {"prefix": "frame ", "visible": True, "font": {"size": 13, "color": "#444"}},
                # Hundreds of steps: tick labels would overlap, the current frame is shown above instead.
                "font": {"color": "rgba(0,0,0,0)"},
                "ticklen": 2,
                "steps": [
                    {"label": str(int(t)), "method": "animate", "args": [[str(int(t))], jump]} for t in frames
                ],
            }
        ],
    )
    return figure


def per_frame_error_figure(
    errors: Mapping[str, np.ndarray],
    occluded: np.ndarray | None = None,
    *,
    unit: str = "mm",
    colors: Sequence[str] = DEFAULT_COLORS,
    title: str | None = None,
) -> go.Figure:
    """Per-frame error curves (e.g. MPJPE of backbone vs refined), with occluded-joint counts as bars.

    Args:
        errors: name -> per-frame errors ``(T,)``, all of one length (NaN frames leave gaps).
        occluded: optional ``(T, J)`` bool; its per-frame count is drawn as grey bars on a right axis.
        unit: the errors' unit, for the axis title.
    """
    import plotly.graph_objects as go

    if not errors:
        raise ValueError("errors: expected at least one named (T,) array, got none")
    curves = {}
    for name, values in errors.items():
        array = np.asarray(values, dtype=np.float64)
        if array.ndim != 1 or len(array) < 1:
            raise ValueError(f"errors[{name!r}]: expected shape (T,) with T >= 1, got {array.shape}")
        if curves and len(array) != len(next(iter(curves.values()))):
            raise ValueError(f"errors[{name!r}]: expected {len(next(iter(curves.values())))} frames, got {len(array)}")
        curves[str(name)] = array
    length = len(next(iter(curves.values())))
    frames = np.arange(length)
    figure = go.Figure()
    if occluded is not None:
        occluded = np.asarray(occluded)
        if occluded.dtype != np.bool_ or occluded.ndim != 2 or occluded.shape[0] != length:
            raise ValueError(f"occluded: expected a bool array of shape ({length}, J), got {occluded.dtype} {occluded.shape}")
        figure.add_trace(
            go.Bar(
                x=frames, y=occluded.sum(axis=1), name="occluded joints", yaxis="y2",
                marker={"color": "rgba(120,120,120,0.25)"}, hovertemplate="frame %{x}: %{y} occluded<extra></extra>",
            )
        )  # fmt: skip
    for k, (name, values) in enumerate(curves.items()):
        figure.add_trace(
            go.Scatter(
                x=frames, y=np.round(values, 2), mode="lines", name=name,
                line={"color": colors[k % len(colors)], "width": 2},
                hovertemplate=f"{name}, frame %{{x}}: %{{y:.1f}} {unit}<extra></extra>",
            )
        )  # fmt: skip
    layout = {
        "title": title,
        "height": 300,
        "margin": {"l": 60, "r": 60 if occluded is not None else 20, "t": 40 if title else 10, "b": 40},
        "xaxis": {"title": "frame"},
        "yaxis": {"title": f"error ({unit})", "rangemode": "tozero"},
        "legend": {"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
        "bargap": 0,
    }
    if occluded is not None:
        layout["yaxis2"] = {
            "title": "occluded joints", "overlaying": "y", "side": "right", "range": [0, occluded.shape[1]],
            "showgrid": False,
        }  # fmt: skip
    figure.update_layout(**layout)
    return figure


def gradio_frames_js(elem_id: str, timeout_ms: int = 20_000) -> str:
    """Client-side JavaScript that gives a ``gr.Plot`` its animation frames.

    Gradio's Plot component draws a plotly figure with ``Plotly.react(div, data, layout, config)`` and
    drops ``frames``, so Play and the slider would do nothing. Run this after the Plot's value changes,
    e.g. ``event.then(None, plot, None, js=gradio_frames_js("my-plot"))`` for a
    ``gr.Plot(elem_id="my-plot")`` showing a :func:`skeleton_animation`: it waits until the browser
    draws that figure (matched by its ``layout.meta`` token) and adds its frames.
    """
    selector = json.dumps(f"#{elem_id} .js-plotly-plot")
    key = json.dumps(ANIMATION_META_KEY)
    return f"""async (value) => {{
  if (!value || !value.plot) return;
  const figure = JSON.parse(value.plot);
  const token = (figure.layout.meta || {{}})[{key}];
  if (!figure.frames || !figure.frames.length || !token) return;
  const deadline = Date.now() + {int(timeout_ms)};
  while (Date.now() < deadline) {{
    const plot = document.querySelector({selector});
    if (plot && window.Plotly && plot.layout && (plot.layout.meta || {{}})[{key}] === token) {{
      // Calls for one plot run one after another (two events can show the same figure at once).
      const replace = async () => {{
        if (plot._gcnrefineToken === token && plot._transitionData._frames.length === figure.frames.length) return;
        await window.Plotly.deleteFrames(plot);
        await window.Plotly.addFrames(plot, figure.frames);
        plot._gcnrefineToken = token;
      }};
      plot._gcnrefineQueue = (plot._gcnrefineQueue || Promise.resolve()).then(replace, replace);
      await plot._gcnrefineQueue;
      return;
    }}
    await new Promise((resolve) => setTimeout(resolve, 100));
  }}
}}"""
