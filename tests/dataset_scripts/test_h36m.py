"""Human3.6M adapter: VideoPose3D-format files (made here, small) into BlendMimic3D's features."""

from __future__ import annotations

from pathlib import Path

import datasets
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from dataset_scripts import h36m
from modeling_gcnrefine.data.builder import sequence_features
from modeling_gcnrefine.utils.geometry import project

FRAMES = {"S1/Walking 1": 12, "S1/Directions": 9, "S9/Walking": 10}


def videopose3d_world_to_camera(points: np.ndarray, orientation_wxyz, centre_m) -> np.ndarray:
    """VideoPose3D's convention, written out: X_cam = rotate(q^-1, X_world - C)."""
    q = np.asarray(orientation_wxyz, dtype=np.float64)
    rotation = Rotation.from_quat(q[[1, 2, 3, 0]])
    return rotation.inv().apply((points - centre_m).reshape(-1, 3)).reshape(points.shape)


def _camera_dicts(rng: np.random.Generator):
    """VideoPose3D-style intrinsic (4 dicts) and extrinsic ({subject: 4 dicts}) parameters of
    cameras around the origin, looking at the person, in millimetres like VideoPose3D's file."""
    intrinsic = [
        {"id": f"5413{i}969", "center": [512.5 + i, 515.0 - i], "focal_length": [1145.0 + i, 1143.8 - i],
         "radial_distortion": [-0.2, 0.24, -0.0017], "tangential_distortion": [-0.0007, -0.0015],
         "res_w": 1000, "res_h": 1002 if i % 2 else 1000, "azimuth": 70}
        for i in range(4)
    ]  # fmt: skip
    extrinsic = {}
    for subject in ("S1", "S9", "S5"):
        cameras = []
        for i, angle in enumerate(np.deg2rad([10, 100, 190, 280]) + rng.uniform(0, 0.2)):
            centre = np.array([4.5 * np.cos(angle), 4.5 * np.sin(angle), 1.6 + 0.1 * i])  # metres
            forward = -centre / np.linalg.norm(centre)
            right = np.cross(forward, [0, 0, 1.0])
            right /= np.linalg.norm(right)
            down = np.cross(forward, right)
            camera_to_world = np.stack([right, down, forward], axis=1)  # columns: camera axes in world
            x, y, z, w = Rotation.from_matrix(camera_to_world).as_quat()
            cameras.append({"orientation": [w, x, y, z], "translation": (centre * 1000).tolist()})
        extrinsic[subject] = cameras
    return intrinsic, extrinsic


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """Plain-array files in the flattened VideoPose3D format: 3D (32 joints), 2D (4 cameras,
    2 frames longer than the mocap, as CPN tracks can be), cameras."""
    rng = np.random.default_rng(3)
    intrinsic, extrinsic = _camera_dicts(rng)
    cameras = h36m.write_cameras_npz(intrinsic, extrinsic, tmp_path / "h36m_cameras.npz")
    positions_3d, positions_2d = {}, {}
    for key, frames in FRAMES.items():
        subject = key.split("/")[0]
        world = np.array([0.0, 0.0, 0.9]) + rng.normal(0, 0.3, (frames + 2, 32, 3))
        positions_3d[key] = world[:frames].astype(np.float32)
        for index in range(4):
            cam, params = extrinsic[subject][index], intrinsic[index]
            points = videopose3d_world_to_camera(
                world, cam["orientation"], np.array(cam["translation"]) / 1000
            )
            k = np.array([[params["focal_length"][0], 0, params["center"][0]],
                          [0, params["focal_length"][1], params["center"][1]], [0, 0, 1]])  # fmt: skip
            positions_2d[f"{key}/{index}"] = project(points[:, list(h36m.H36M_32_TO_17)], k).astype(
                np.float32
            )
    np.savez(tmp_path / "data_3d_h36m.npz", **positions_3d)
    np.savez(tmp_path / "data_2d_h36m_gt.npz", **positions_2d, **{"metadata/layout_name": np.array("h36m")})
    return {"3d": tmp_path / "data_3d_h36m.npz", "2d": tmp_path / "data_2d_h36m_gt.npz", "cameras": cameras,
            "cache": tmp_path / "cache"}  # fmt: skip


def _load(files, **kwargs):
    return h36m.load_human36m(files["3d"], files["2d"], files["cameras"], cache_dir=files["cache"], **kwargs)


def test_rows_features_and_splits(files):
    loaded = _load(files)
    assert {s: len(p) for s, p in loaded.items()} == {"train": 8, "test": 4}
    assert loaded["train"].features == sequence_features()
    assert set(loaded["train"]["subject"]) == {"S1"} and set(loaded["test"]["subject"]) == {"S9"}
    row = loaded["test"].with_format("numpy")[2]
    assert row["action"] == "Walking" and row["camera"] == 2 and row["camera_id"] == "54132969"
    assert row["num_frames"] == 10 and row["keypoints_2d"].shape == (10, 17, 2)  # 2D cut to the mocap length
    assert row["keypoints_3d_world"].shape == (10, 17, 3) and row["keypoints_3d_world"].dtype == np.float32
    assert row["visibility"].all() and row["visibility"].dtype == np.bool_
    assert (row["image_width"], row["image_height"]) == (1000, 1000)
    assert (
        row["scenario"] == "human36m" and not row["multi_person"] and row["joint_convention"] == "anatomical"
    )
    with np.load(files["3d"]) as archive:
        np.testing.assert_allclose(
            row["keypoints_3d_world"], archive["S9/Walking"][:, list(h36m.H36M_32_TO_17)]
        )


def test_camera_convention_is_converted_from_videopose3d(files):
    loaded = _load(files)
    _, extrinsic = _camera_dicts(np.random.default_rng(3))
    for row in loaded["train"].with_format("numpy"):
        cam = extrinsic[row["subject"]][row["camera"]]
        expected = videopose3d_world_to_camera(
            row["keypoints_3d_world"].astype(np.float64),
            cam["orientation"],
            np.array(cam["translation"]) / 1000,
        )
        np.testing.assert_allclose(row["keypoints_3d_camera"], expected, atol=1e-4)
        rotation, translation = row["extrinsics"][:, :3], row["extrinsics"][:, 3]
        np.testing.assert_allclose(row["keypoints_3d_world"] @ rotation.T + translation, expected, atol=1e-4)
        assert (expected[..., 2] > 0).all()
        error = np.abs(project(row["keypoints_3d_camera"], row["intrinsics"]) - row["keypoints_2d"]).max()
        assert error < 0.01


def test_rows_concatenate_with_blendmimic3d_rows(files):
    loaded = _load(files)
    frames = 4
    blend_row = {
        "subject": "SS1", "action": "Walk", "camera": 0, "camera_id": "Camera_3", "scenario": "self_occlusion",
        "multi_person": False, "num_frames": frames, "image_width": 1000, "image_height": 1002,
        "keypoints_2d": np.zeros((frames, 17, 2), np.float32), "keypoints_3d_world": np.zeros((frames, 17, 3), np.float32),
        "keypoints_3d_camera": np.ones((frames, 17, 3), np.float32), "visibility": np.zeros((frames, 17), bool),
        "intrinsics": np.eye(3, dtype=np.float32), "extrinsics": np.eye(3, 4, dtype=np.float32),
        "joint_convention": "anatomical",
    }  # fmt: skip
    blend = datasets.Dataset.from_list([blend_row], features=sequence_features())
    mixed = datasets.concatenate_datasets([blend, loaded["train"]]).with_format("torch")
    assert len(mixed) == 9 and mixed[0]["keypoints_2d"].shape == (4, 17, 2)
    assert mixed[1]["keypoints_2d"].shape == (9, 17, 2)  # S1/Directions, camera 0


def test_cache_is_reused_and_refreshed(files):
    first = _load(files)
    again = _load(files)
    assert again["train"].cache_files == first["train"].cache_files
    with np.load(files["2d"]) as archive:
        arrays = {k: archive[k] for k in archive.files}
    arrays["S1/Directions/0"] = arrays["S1/Directions/0"] + 1.0
    np.savez(files["2d"], **arrays)  # changed input: a new fingerprint, rebuilt rows
    changed = _load(files)
    assert changed["train"].cache_files != first["train"].cache_files


def test_a_subject_set_with_no_data_gives_an_empty_split(files):
    loaded = _load(files, splits={"train": ["S1"], "validation": ["S5"]})
    assert len(loaded["validation"]) == 0 and loaded["validation"].features == sequence_features()


def test_pickled_files_are_refused_with_the_conversion_hint(files, tmp_path):
    nested = {"S1": {"Walking 1": np.zeros((5, 32, 3), np.float32)}}
    pickled = tmp_path / "pickled_3d.npz"
    np.savez(pickled, positions_3d=np.array(nested, dtype=object))  # VideoPose3D's own format
    with pytest.raises(h36m.Human36MFileError, match=r"pickled_3d.npz: it stores Python objects \(pickle\)"):
        h36m.load_human36m(pickled, files["2d"], files["cameras"], cache_dir=files["cache"])
    # The documented one-time conversion gives a file the loader accepts.
    flat = h36m.flatten_positions(nested)
    assert list(flat) == ["S1/Walking 1"] and flat["S1/Walking 1"].shape == (5, 32, 3)
    tracks = h36m.flatten_positions({"S1": {"Walking 1": [np.zeros((6, 17, 2))] * 4}})
    assert sorted(tracks) == [f"S1/Walking 1/{i}" for i in range(4)]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            "short-2d",
            r"data_2d_h36m_gt.npz: 'S1/Directions/1' has 8 frames, fewer than the 9 of 'S1/Directions'",
        ),
        ("nan-2d", r"data_2d_h36m_gt.npz: 'S9/Walking/3' holds NaN"),
        ("missing-camera", r"h36m_cameras.npz: missing key 'S9/2/orientation'"),
        ("orphan-2d", r"data_2d_h36m_gt.npz: key 'S7/Eating/0' has no 'subject/action' entry"),
        ("coco-layout", r"expected 2D in the 'h36m' layout, got layout 'coco'"),
        ("bad-joints", r"data_3d_h36m.npz: 'S1/Walking 1' expected shape \(T, 17, 3\), got \(12, 20, 3\)"),
    ],
)
def test_inconsistent_files_name_the_file_and_the_problem(files, edit, message):
    def rewrite(path: Path, change) -> None:
        with np.load(path) as archive:
            arrays = {k: archive[k] for k in archive.files}
        change(arrays)
        np.savez(path, **arrays)

    if edit == "short-2d":
        rewrite(files["2d"], lambda a: a.update({"S1/Directions/1": a["S1/Directions/1"][:8]}))
    elif edit == "nan-2d":
        rewrite(files["2d"], lambda a: a["S9/Walking/3"].__setitem__((0, 0, 0), np.nan))
    elif edit == "missing-camera":
        rewrite(files["cameras"], lambda a: a.pop("S9/2/orientation"))
    elif edit == "orphan-2d":
        rewrite(files["2d"], lambda a: a.update({"S7/Eating/0": np.zeros((3, 17, 2))}))
    elif edit == "coco-layout":
        rewrite(files["2d"], lambda a: a.update({"metadata/layout_name": np.array("coco")}))
    elif edit == "bad-joints":
        rewrite(files["3d"], lambda a: a.update({"S1/Walking 1": np.zeros((12, 20, 3))}))
    with pytest.raises(h36m.Human36MFileError, match=message):
        _load(files)


def test_missing_files_and_overwrite_are_guarded(files, tmp_path):
    with pytest.raises(ValueError, match=r"positions_2d: expected an existing .npz file"):
        h36m.load_human36m(files["3d"], tmp_path / "nope.npz", files["cameras"])
    with pytest.raises(FileExistsError, match="overwrite=True"):
        h36m.write_cameras_npz([], {}, files["cameras"])
    with pytest.raises(ValueError, match="missing"):
        h36m.write_cameras_npz([{"id": "x"}], {"S1": [{"orientation": [1, 0, 0, 0]}]}, tmp_path / "c.npz")
