"""Virtual cameras: geometry of the drawn views, determinism, and the settings' checks."""

from __future__ import annotations

import numpy as np
import pytest

from modeling_gcnrefine.data.virtual_cameras import (
    ActionFilming,
    VirtualCameraSettings,
    draw_view,
    look_at,
    virtual_sequences,
)
from modeling_gcnrefine.utils.geometry import project


def _standing_motion(frames=40):
    """A 1.7 m stick figure walking along x at the origin of a z-up world (17 joints)."""
    rng = np.random.default_rng(0)
    base = np.zeros((17, 3))
    base[:, 2] = np.linspace(0.1, 1.7, 17)
    base[:, 0] = rng.normal(0, 0.1, 17)
    base[:, 1] = rng.normal(0, 0.1, 17)
    base[0] = [0.0, 0.0, 1.0]  # pelvis
    walk = np.linspace(0, 1.0, frames)[:, None, None] * np.array([1.0, 0.0, 0.0])
    return base[None] + walk


def _filming(frames=40):
    world = _standing_motion(frames)
    centres = np.array([[5.0, 0.0, 1.8], [0.0, 5.0, 1.8], [-5.0, 0.0, 1.8], [0.0, -5.0, 1.8]])
    visibility = np.ones((4, frames, 17), bool)
    visibility[1, :, 5] = False  # only the camera at +y loses joint 5
    return ActionFilming("SS1", "Walking", world, centres, visibility)


def test_look_at_points_the_optical_axis_at_the_target_with_world_up_up():
    rotation, translation = look_at([0.0, -5.0, 1.5], [0.0, 0.0, 1.0], roll_degrees=0.0)
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(rotation) == pytest.approx(1.0)
    target = rotation @ np.array([0.0, 0.0, 1.0]) + translation
    np.testing.assert_allclose(target[:2], 0.0, atol=1e-12)  # on the optical axis
    assert target[2] == pytest.approx(np.hypot(5.0, 0.5))
    up = rotation @ np.array([0.0, 0.0, 1.0])
    assert up[1] < -0.99  # world up is image up (camera y points down)
    right = rotation @ np.array([1.0, 0.0, 0.0])
    assert right[0] > 0.99  # looking along +y, world +x is image right
    rolled, _ = look_at([0.0, -5.0, 1.5], [0.0, 0.0, 1.0], roll_degrees=90.0)
    assert abs((rolled @ np.array([0.0, 0.0, 1.0]))[1]) < 0.2  # rolled 90°: up is sideways


def test_look_at_refuses_a_vertical_view():
    with pytest.raises(ValueError, match="straight up or down"):
        look_at([0.0, 0.0, 3.0], [0.0, 0.0, 1.0])


def test_drawn_view_projects_exactly_and_marks_out_of_frame_joints():
    film = _filming()
    settings = VirtualCameraSettings()
    view = draw_view(film.world, film.centres, film.visibility, settings, np.random.default_rng(3))
    np.testing.assert_allclose(project(view["poses_3d"], view["intrinsics"]), view["keypoints_2d"], atol=1e-3)
    width, height = view["image_size"]
    pixels = view["keypoints_2d"]
    outside = (pixels[..., 0] < 0) | (pixels[..., 0] >= width) | (pixels[..., 1] < 0) | (pixels[..., 1] >= height)
    assert not view["visibility"][outside].any()
    assert (view["poses_3d"][..., 2] > 0.5).all()
    centre = -view["rotation"].T @ view["translation"]
    low, high = settings.height_range
    assert low <= centre[2] <= high
    # Pelvis in frame in at least min_in_frame of the frames.
    pelvis = pixels[:, 0]
    inside = (pelvis[:, 0] >= 0) & (pelvis[:, 0] < width) & (pelvis[:, 1] >= 0) & (pelvis[:, 1] < height)
    assert inside.mean() >= settings.min_in_frame


def test_views_borrow_occlusion_of_the_nearest_real_camera():
    film = _filming()
    settings = VirtualCameraSettings(aim_offset=0.0)
    middle = film.world[:, 0, :2].mean(0)
    seen = set()
    for seed in range(40):
        view = draw_view(film.world, film.centres, film.visibility, settings, np.random.default_rng(seed))
        centre = -view["rotation"].T @ view["translation"]
        direction = centre[:2] - middle
        real = film.centres[:, :2] - middle
        nearest = int(np.argmax(real @ direction / np.linalg.norm(real, axis=1)))  # smallest angle
        assert (~view["visibility"][:, 5]).all() == (nearest == 1)
        seen.add(nearest)
    assert len(seen) == 4  # views all around the subject


def test_virtual_sequences_are_deterministic_and_numbered_like_cameras():
    film = _filming()
    settings = VirtualCameraSettings(views_per_action=3, seed=7)
    first, again = virtual_sequences([film], settings), virtual_sequences([film], settings)
    assert [s.camera for s in first] == [0, 1, 2]
    assert all(s.subject == "SS1" and s.action == "Walking" for s in first)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a.keypoints_2d, b.keypoints_2d)
    other = virtual_sequences([film], VirtualCameraSettings(views_per_action=3, seed=8))
    assert not np.allclose(first[0].keypoints_2d, other[0].keypoints_2d)
    # Root-relative target bones keep their world lengths (a rigid change of frame).
    world_bone = np.linalg.norm(film.world[:, 16] - film.world[:, 0], axis=-1)
    camera_bone = np.linalg.norm(first[0].poses_3d[:, 16] - first[0].poses_3d[:, 0], axis=-1)
    np.testing.assert_allclose(camera_bone, world_bone, rtol=1e-5)


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("views_per_action", 0, "views_per_action: expected an integer >= 1, got 0"),
        ("height_range", (2.0, 1.0), r"height_range: expected \(low, high\) with 0 < low <= high, got \(2.0, 1.0\)"),
        ("focal_range", (0.0, 1.0), r"focal_range: .* got \(0.0, 1.0\)"),
        ("min_in_frame", 1.5, "min_in_frame: expected a share in \\[0, 1\\], got 1.5"),
        ("aim_offset", -1.0, "aim_offset / roll_std_degrees: expected >= 0, got -1.0"),
    ],
)
def test_settings_name_the_bad_value(field, value, match):
    with pytest.raises(ValueError, match=match):
        VirtualCameraSettings(**{field: value})


def test_impossible_settings_fail_with_a_clear_error():
    film = _filming()
    settings = VirtualCameraSettings(distance_range=(0.1, 0.2), min_in_frame=1.0)
    with pytest.raises(ValueError, match="no view with the subject in frame"):
        draw_view(film.world, film.centres, film.visibility, settings, np.random.default_rng(0), tries=5)
