"""Virtual cameras: new viewpoints of the training motions, for refiner training data.

Why: a lifter trained on a few fixed cameras is biased on a viewpoint it has not seen, and a refiner
trained only on its predictions from those cameras never sees that kind of error. BlendMimic3D's
SS1/SS2 cameras all stand high and look down; SS3 has low, level cameras (the README's viewpoint
diagnosis measures what that costs).

Here each training motion (world coordinates, SS1/SS2 only) is filmed again by random pinhole
cameras placed around the subject (`VirtualCameraSettings`: height, distance, aim, roll, focal
length and image size drawn uniformly from broad ranges, knee height to ceiling mount). The ranges
were set once from the camera heights alone and were not tuned on any SS3 result. The 2D keypoints are the exact projections; occlusion labels are borrowed from
the real camera nearest in azimuth (Blender's ray casting cannot be rerun here) and anything outside
the image is marked occluded. The out-of-fold lifters then predict these views, so the refiner
learns to correct a lifter on viewpoints the lifter never saw. Views are a pure function of the
settings and the motion's name: they are regenerated, never stored.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from ..utils.geometry import project, world_to_camera
from .sequences import CameraSequence

IMAGE_SIZES = ((1000, 1000), (1280, 720), (1920, 1080), (720, 1280))


@dataclass
class VirtualCameraSettings:
    """How virtual cameras are drawn around each motion.

    views_per_action: virtual cameras per action (its ``_multi`` variant gets its own draw).
    height_range: camera centre height above the floor, metres (z up; the floor is z = 0).
    distance_range: horizontal distance from the subject's mean pelvis position, metres.
    aim_height_range: height of the point the optical axis goes through, metres.
    aim_offset: horizontal jitter of that point, metres (the subject is not always centred).
    roll_std_degrees: standard deviation of the roll about the optical axis.
    focal_range: focal length over half the image width (SS1-SS3 use 1.39-1.67).
    min_in_frame: a view is redrawn unless this share of pelvis positions projects inside the image.
    seed: base of every draw; a view depends only on it and (subject, action, view index).
    """

    views_per_action: int = 8
    height_range: tuple[float, float] = (0.6, 2.8)
    distance_range: tuple[float, float] = (2.5, 6.5)
    aim_height_range: tuple[float, float] = (0.5, 1.4)
    aim_offset: float = 0.6
    roll_std_degrees: float = 3.0
    focal_range: tuple[float, float] = (1.2, 2.0)
    min_in_frame: float = 0.95
    seed: int = 0

    def __post_init__(self):
        if not (isinstance(self.views_per_action, int) and self.views_per_action >= 1):
            raise ValueError(f"views_per_action: expected an integer >= 1, got {self.views_per_action!r}")
        for name in ("height_range", "distance_range", "aim_height_range", "focal_range"):
            low, high = getattr(self, name)
            if not (np.isfinite(low) and np.isfinite(high) and 0 < low <= high):
                raise ValueError(f"{name}: expected (low, high) with 0 < low <= high, got {getattr(self, name)!r}")
        if not 0 <= self.min_in_frame <= 1:
            raise ValueError(f"min_in_frame: expected a share in [0, 1], got {self.min_in_frame!r}")
        if self.aim_offset < 0 or self.roll_std_degrees < 0:
            raise ValueError(
                f"aim_offset / roll_std_degrees: expected >= 0, got {self.aim_offset!r} / {self.roll_std_degrees!r}"
            )


def look_at(centre: np.ndarray, target: np.ndarray, roll_degrees: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """World-to-camera ``(R, t)`` (``X_cam = R X_world + t``, x right, y down, z forward) of a camera
    at ``centre`` looking at ``target`` with the world z axis up, then rolled about its optical axis."""
    centre, target = np.asarray(centre, np.float64), np.asarray(target, np.float64)
    forward = target - centre
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    if np.linalg.norm(right) < 1e-6:
        raise ValueError(f"target: the camera at {centre} looks straight up or down at {target}")
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    rotation = np.stack([right, down, forward])  # rows: camera axes in world coordinates
    rotation = Rotation.from_rotvec([0.0, 0.0, np.radians(roll_degrees)]).as_matrix() @ rotation
    return rotation, -rotation @ centre


def _view_seed(settings: VirtualCameraSettings, subject: str, action: str, view: int) -> int:
    return (settings.seed * 1_000_003 + zlib.crc32(f"{subject}/{action}/{view}".encode())) % (2**32)


def draw_view(
    world: np.ndarray, real_centres: np.ndarray, real_visibility: np.ndarray, settings: VirtualCameraSettings,
    rng: np.random.Generator, tries: int = 100,
) -> dict[str, np.ndarray]:
    """One virtual view of world poses ``(T, 17, 3)``.

    ``real_centres`` ``(C, 3)`` and ``real_visibility`` ``(C, T, 17)`` are the real cameras of the action;
    the view borrows the occlusion labels of the real camera nearest in azimuth.
    Returns ``poses_3d`` (camera frame), ``keypoints_2d``, ``visibility``, ``image_size``, ``rotation``,
    ``translation`` and ``intrinsics``.
    """
    pelvis = world[:, 0]
    middle = pelvis[:, :2].mean(0)
    for _ in range(tries):
        azimuth = rng.uniform(0, 2 * np.pi)
        distance = rng.uniform(*settings.distance_range)
        centre = np.array([*(middle + distance * np.array([np.cos(azimuth), np.sin(azimuth)])), rng.uniform(*settings.height_range)])
        target = np.array([*(middle + rng.uniform(-settings.aim_offset, settings.aim_offset, 2)), rng.uniform(*settings.aim_height_range)])
        rotation, translation = look_at(centre, target, rng.normal(0, settings.roll_std_degrees))
        width, height = IMAGE_SIZES[rng.integers(len(IMAGE_SIZES))]
        focal = rng.uniform(*settings.focal_range) * width / 2
        intrinsics = np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]])
        poses = world_to_camera(world, rotation, translation)
        if poses[..., 2].min() < 0.5:  # a joint at or behind the camera
            continue
        pixels = project(poses, intrinsics)
        inside = (pixels[..., 0] >= 0) & (pixels[..., 0] < width) & (pixels[..., 1] >= 0) & (pixels[..., 1] < height)
        if inside[:, 0].mean() < settings.min_in_frame:
            continue
        # Occlusion labels of the real camera seen from the most similar direction.
        directions = real_centres[:, :2] - middle
        nearest = int(np.argmax(directions @ np.array([np.cos(azimuth), np.sin(azimuth)]) / np.linalg.norm(directions, axis=1)))
        return {
            "poses_3d": poses.astype(np.float32),
            "keypoints_2d": pixels.astype(np.float32),
            "visibility": real_visibility[nearest] & inside,
            "image_size": (int(width), int(height)),
            "rotation": rotation,
            "translation": translation,
            "intrinsics": intrinsics,
        }
    raise ValueError(f"settings: no view with the subject in frame after {tries} draws ({settings})")


@dataclass
class ActionFilming:
    """World poses of one action and its real cameras (what virtual views are drawn from)."""

    subject: str
    action: str
    world: np.ndarray  # (T, 17, 3) metres, z up
    centres: np.ndarray  # (C, 3) real camera centres, world
    visibility: np.ndarray  # (C, T, 17) bool

    @property
    def motion(self) -> tuple[str, str]:
        return (self.subject, self.action.removesuffix("_multi"))


def action_filmings(dataset: Any, limit: int | None = None) -> list[ActionFilming]:
    """One :class:`ActionFilming` per action of a ``sequences`` split (rows are camera sequences)."""
    if limit is not None:
        dataset = dataset.select(range(min(limit, len(dataset))))
    arrays = dataset.with_format("numpy", columns=["keypoints_3d_world", "visibility", "extrinsics"])
    meta = dataset.select_columns(["subject", "action", "camera"])
    grouped: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for i, row in enumerate(meta):
        grouped.setdefault((row["subject"], row["action"]), []).append((int(row["camera"]), i))
    out = []
    for (subject, action), rows in sorted(grouped.items()):
        rows.sort()
        items = [arrays[i] for _, i in rows]
        extrinsics = np.stack([np.asarray(item["extrinsics"], np.float64) for item in items])
        centres = -np.einsum("cji,cj->ci", extrinsics[:, :, :3], extrinsics[:, :, 3])  # C = -R^T t
        out.append(
            ActionFilming(
                subject=subject,
                action=action,
                world=np.asarray(items[0]["keypoints_3d_world"], np.float64),
                centres=centres,
                visibility=np.stack([np.asarray(item["visibility"], bool) for item in items]),
            )
        )
    return out


def virtual_sequences(filmings: Sequence[ActionFilming], settings: VirtualCameraSettings) -> list[CameraSequence]:
    """``views_per_action`` virtual :class:`CameraSequence` per action, numbered 0..n-1 as cameras."""
    out = []
    for film in filmings:
        for view in range(settings.views_per_action):
            rng = np.random.default_rng(_view_seed(settings, film.subject, film.action, view))
            drawn = draw_view(film.world, film.centres, film.visibility, settings, rng)
            out.append(
                CameraSequence(
                    subject=film.subject,
                    action=film.action,
                    camera=view,
                    keypoints_2d=drawn["keypoints_2d"],
                    poses_3d=drawn["poses_3d"],
                    visibility=drawn["visibility"],
                    image_size=drawn["image_size"],
                )
            )
    return out


def settings_path(backbone_dir) -> Path:
    return Path(backbone_dir) / "predictions" / "virtual_views.json"


def load_settings(backbone_dir) -> VirtualCameraSettings | None:
    """The settings virtual prediction files of ``backbone_dir`` were written with (None if none were)."""

    path = settings_path(backbone_dir)
    if not path.exists():
        return None
    saved = json.loads(path.read_text())
    return VirtualCameraSettings(**{k: tuple(v) if isinstance(v, list) else v for k, v in saved.items()})
