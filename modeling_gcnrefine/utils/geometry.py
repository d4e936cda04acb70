"""Cameras and rigid geometry: the one place that knows BlendMimic3D's camera convention.

BlendMimic3D (checked on the real files): ``X_cam = R @ X_world + t`` with
``R, t = RT[:, :3], RT[:, 3]``; pixels are ``K @ X_cam`` divided by depth; ``P = K @ RT``.
``t`` is *not* the camera centre. VideoPose3D's Human3.6M helpers use
``X_cam = R^T (X_world - C)`` instead, and give wrong coordinates on these files.
Camera frame: x right, y down, z forward (depth), metres.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation


def world_to_camera(points_world: np.ndarray, rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """World points ``(..., 3)`` to camera frame with BlendMimic3D's ``X_cam = R X_world + t``."""
    rotation = np.asarray(rotation, dtype=np.float64)
    translation = np.asarray(translation, dtype=np.float64).reshape(3)
    if rotation.shape != (3, 3):
        raise ValueError(f"rotation: expected shape (3, 3), got {rotation.shape}")
    return np.asarray(points_world, dtype=np.float64) @ rotation.T + translation


def camera_to_world(points_camera: np.ndarray, rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """Inverse of :func:`world_to_camera`: ``X_world = R^T (X_cam - t)``."""
    rotation = np.asarray(rotation, dtype=np.float64)
    translation = np.asarray(translation, dtype=np.float64).reshape(3)
    return (np.asarray(points_camera, dtype=np.float64) - translation) @ rotation


def project(points_camera: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """Pinhole projection of camera-frame points ``(..., 3)`` to pixels ``(..., 2)`` (no distortion)."""
    intrinsics = np.asarray(intrinsics, dtype=np.float64)
    if intrinsics.shape != (3, 3):
        raise ValueError(f"intrinsics: expected shape (3, 3), got {intrinsics.shape}")
    homogeneous = np.asarray(points_camera, dtype=np.float64) @ intrinsics.T
    return homogeneous[..., :2] / homogeneous[..., 2:3]


def normalize_screen_coordinates(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """Map pixels to [-1, 1] along x keeping the aspect ratio (VideoPose3D's normalisation)."""
    pixels = np.asarray(pixels)
    return pixels / width * 2 - np.array([1.0, height / width], dtype=pixels.dtype)


def image_coordinates(normalized: np.ndarray, width: int, height: int) -> np.ndarray:
    """Inverse of :func:`normalize_screen_coordinates`."""
    normalized = np.asarray(normalized)
    return (normalized + np.array([1.0, height / width], dtype=normalized.dtype)) * width / 2


def random_rotation(rng: np.random.Generator, max_tilt_degrees: float = 20.0) -> np.ndarray:
    """A random camera-frame viewpoint change: yaw about the camera's vertical axis over the full
    circle, then a tilt about its horizontal axis within ``±max_tilt_degrees``. Returns ``(3, 3)``.

    Used to augment viewpoints, so a refiner does not learn the training cameras.
    """

    yaw = rng.uniform(-np.pi, np.pi)
    tilt = np.deg2rad(rng.uniform(-max_tilt_degrees, max_tilt_degrees))
    # Camera frame is y-down: yaw turns about y, tilt about x.
    return Rotation.from_euler("xy", [tilt, yaw]).as_matrix()


def procrustes_align(predicted: np.ndarray, target: np.ndarray, scale: bool = True) -> np.ndarray:
    """Align each pose of ``predicted`` to ``target`` (both ``(..., J, 3)``) with the similarity
    transform (rotation, translation and, if ``scale``, uniform scale) that minimises the squared
    error. Reflections are excluded. Returns the aligned predictions (float64).
    """
    predicted = np.asarray(predicted, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if predicted.shape != target.shape:
        raise ValueError(f"predicted: expected the shape of target {target.shape}, got {predicted.shape}")
    mu_p = predicted.mean(axis=-2, keepdims=True)
    mu_t = target.mean(axis=-2, keepdims=True)
    p0 = predicted - mu_p
    t0 = target - mu_t
    # Rows are points: find R minimising |t0 - a p0 R|. With p0^T t0 = U S V^T, R = U D V^T where
    # D = diag(1, 1, sign det(U V^T)) rules out reflections (Umeyama 1991).
    u, s, vt = np.linalg.svd(np.swapaxes(p0, -1, -2) @ t0)
    d = np.sign(np.linalg.det(u @ vt))
    d = np.where(d == 0, 1.0, d)
    u = u.copy()
    u[..., :, -1] *= d[..., None]
    rotation = u @ vt
    aligned = p0 @ rotation
    if scale:
        s = s.copy()
        s[..., -1] *= d
        var_p = (p0**2).sum(axis=(-2, -1))
        factor = np.where(var_p > 0, s.sum(axis=-1) / np.where(var_p > 0, var_p, 1.0), 1.0)
        aligned = aligned * factor[..., None, None]
    return aligned + mu_t
