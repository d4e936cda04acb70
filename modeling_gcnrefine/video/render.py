"""The overlay video: each frame with its 2D keypoints beside the 3D skeleton before and after
refinement (matplotlib, encoded with PyAV).
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from tqdm.auto import tqdm

from ..skeleton import H36M, H36M_JOINTS_LEFT, H36M_JOINTS_RIGHT
from ..utils.io import write_atomic
from .decode import iter_frames, pick_codec
from .result import VideoResult

# Height in pixels of the rendered MP4 (the video panel keeps its aspect ratio; 3D panels are square).
RENDER_HEIGHT = 360


_BONE_COLOURS = [
    "tab:blue" if child in H36M_JOINTS_LEFT else "tab:red" if child in H36M_JOINTS_RIGHT else "0.25"
    for _, child in H36M.bones
]


def _axes_3d(fig, rect, title: str, radius: float):
    ax = fig.add_axes(rect, projection="3d")
    ax.set_title(title, fontsize=9)
    ax.set_xlim(-radius, radius)
    ax.set_ylim(-radius, radius)
    ax.set_zlim(-radius, radius)
    ax.set_box_aspect((1, 1, 1))
    ax.view_init(elev=15, azim=-70)
    ax.set_xticklabels([])
    ax.set_yticklabels([])
    ax.set_zticklabels([])
    lines = [ax.plot([0, 0], [0, 0], [0, 0], color=c, lw=2)[0] for c in _BONE_COLOURS]
    return lines


def _update_3d(lines, pose: np.ndarray) -> None:
    # Camera frame (x right, y down, z forward) to the plot's (x, depth, up).
    p = pose - pose[H36M.root]
    xs, ys, zs = p[:, 0], p[:, 2], -p[:, 1]
    for line, (parent, child) in zip(lines, H36M.bones):
        line.set_data_3d([xs[parent], xs[child]], [ys[parent], ys[child]], [zs[parent], zs[child]])


def render_video(
    path: str | os.PathLike,
    out_path: str | os.PathLike,
    result: VideoResult,
    rate: Fraction | float | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Render ``result`` over the video at ``path`` into an MP4: the frame with the target's box and
    Human3.6M 2D skeleton (joints coloured by confidence) | 3D before refinement | 3D after.

    Streams: decodes, draws and encodes one frame at a time (matplotlib Agg, no pyplot; PyAV). The
    output is written atomically and refused if it exists unless ``overwrite``.
    """
    import av

    width, height = result.image_size
    frames = result.num_frames
    rate = Fraction(rate if rate is not None else result.fps).limit_denominator(100000)
    panel_w = RENDER_HEIGHT * width / height
    total_w = panel_w + 2 * RENDER_HEIGHT
    dpi = 100
    fig = Figure(figsize=(total_w / dpi, RENDER_HEIGHT / dpi), dpi=dpi)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, panel_w / total_w, 1))
    ax.set_axis_off()
    image = ax.imshow(np.zeros((height, width, 3), np.uint8))
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    bones_2d = [ax.plot([], [], color=c, lw=1.5)[0] for c in _BONE_COLOURS]
    joints_2d = ax.scatter(
        np.zeros(17), np.zeros(17), c=np.zeros(17), cmap="viridis", vmin=0, vmax=1, s=10, zorder=3
    )
    rect = ax.add_patch(Rectangle((0, 0), 0, 0, fill=False, edgecolor="yellow", lw=1))
    label = ax.text(4, 4, "", color="white", fontsize=8, va="top", ha="left")
    both = np.concatenate([result.poses_3d, result.poses_3d_refined])
    relative = both - both[:, H36M.root : H36M.root + 1]
    radius = float(np.nanpercentile(np.abs(relative), 99)) * 1.1 if np.isfinite(relative).any() else 1.0
    radius = max(radius, 0.5) if np.isfinite(radius) else 1.0
    side = RENDER_HEIGHT / total_w
    before = _axes_3d(fig, (panel_w / total_w, 0, side, 0.94), "lifted (before)", radius)
    after = _axes_3d(fig, (panel_w / total_w + side, 0, side, 0.94), "refined (after)", radius)

    def draw(index: int, frame: np.ndarray) -> np.ndarray:
        image.set_data(frame)
        kp, conf = result.keypoints_2d[index], result.confidence[index]
        for line, (parent, child) in zip(bones_2d, H36M.bones):
            line.set_data([kp[parent, 0], kp[child, 0]], [kp[parent, 1], kp[child, 1]])
        joints_2d.set_offsets(np.nan_to_num(kp, nan=-1e4))  # off-canvas when missing
        joints_2d.set_array(conf)
        box = result.boxes[index]
        rect.set_visible(bool(np.isfinite(box).all()))
        if rect.get_visible():
            rect.set_xy((box[0], box[1]))
            rect.set_width(box[2] - box[0])
            rect.set_height(box[3] - box[1])
        label.set_text(f"frame {index}" + ("" if rect.get_visible() else " (target not found)"))
        _update_3d(before, result.poses_3d[index])
        _update_3d(after, result.poses_3d_refined[index])
        canvas.draw()
        rgb = np.asarray(canvas.buffer_rgba())[..., :3]
        return np.ascontiguousarray(
            rgb[: rgb.shape[0] // 2 * 2, : rgb.shape[1] // 2 * 2]
        )  # yuv420p: even sides

    codec = pick_codec()

    def writer(temp: str) -> None:
        with av.open(temp, "w", format="mp4") as container:
            stream = None
            for index, frame in enumerate(
                tqdm(
                    iter_frames(path, frames), total=frames, desc="render", unit="frame", disable=not progress
                )
            ):
                rgb = draw(index, frame)
                if stream is None:
                    stream = container.add_stream(codec, rate=rate)
                    stream.height, stream.width = rgb.shape[:2]
                    stream.pix_fmt = "yuv420p"
                for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                    container.mux(packet)
            if stream is not None:
                for packet in stream.encode():
                    container.mux(packet)

    return write_atomic(out_path, writer, overwrite=overwrite)
