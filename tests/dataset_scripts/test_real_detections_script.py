"""The script that regenerates the real detections file: its pure parts without MediaPipe (CI has none),
the whole pipeline with a stand-in detector on a real video, and MediaPipe itself where installed."""

from __future__ import annotations

import contextlib
import os
import sys

import numpy as np
import pytest

from dataset_scripts import real_detections as rd
from modeling_gcnrefine.data.real_detections import load_real_detections
from modeling_gcnrefine.skeleton import H36M_JOINT_NAMES, H36M_JOINTS_LEFT, H36M_JOINTS_RIGHT
from modeling_gcnrefine.utils.io import current_umask

J = {name: index for index, name in enumerate(H36M_JOINT_NAMES)}

# BlazePose's landmark indices, written out here rather than taken from the module under test.
NOSE, LEFT_EAR, RIGHT_EAR = 0, 7, 8
LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_ELBOW, RIGHT_ELBOW, LEFT_WRIST, RIGHT_WRIST = 11, 12, 13, 14, 15, 16
LEFT_HIP, RIGHT_HIP, LEFT_KNEE, RIGHT_KNEE, LEFT_ANKLE, RIGHT_ANKLE = 23, 24, 25, 26, 27, 28


def hand_made_landmarks() -> tuple[np.ndarray, np.ndarray]:
    """33 distinct landmarks and visibilities, so any wrong index shows."""
    index = np.arange(33, dtype=np.float64)
    landmarks = np.stack([10.0 + 3.0 * index, 500.0 - 7.0 * index**1.1], axis=-1)
    visibility = 0.2 + 0.6 * ((index * 7) % 33) / 32  # all different, in (0, 1)
    return landmarks, visibility


def test_landmark_mapping_direct_joints_keep_anatomical_sides():
    landmarks, visibility = hand_made_landmarks()
    keypoints, score = rd.blazepose_to_h36m(landmarks, visibility)
    assert keypoints.shape == (17, 2) and score.shape == (17,)
    assert keypoints.dtype == np.float32 and score.dtype == np.float32
    direct = {
        "right_hip": RIGHT_HIP, "right_knee": RIGHT_KNEE, "right_ankle": RIGHT_ANKLE,
        "left_hip": LEFT_HIP, "left_knee": LEFT_KNEE, "left_ankle": LEFT_ANKLE,
        "left_shoulder": LEFT_SHOULDER, "left_elbow": LEFT_ELBOW, "left_wrist": LEFT_WRIST,
        "right_shoulder": RIGHT_SHOULDER, "right_elbow": RIGHT_ELBOW, "right_wrist": RIGHT_WRIST,
        "neck": NOSE,
    }  # fmt: skip
    for joint, landmark in direct.items():
        np.testing.assert_allclose(keypoints[J[joint]], landmarks[landmark], rtol=1e-6, err_msg=joint)
        assert score[J[joint]] == pytest.approx(visibility[landmark], abs=1e-6), joint


def test_landmark_mapping_derived_joints_and_min_scores():
    landmarks, visibility = hand_made_landmarks()
    keypoints, score = rd.blazepose_to_h36m(landmarks, visibility)
    pelvis = (landmarks[LEFT_HIP] + landmarks[RIGHT_HIP]) / 2
    thorax = (landmarks[LEFT_SHOULDER] + landmarks[RIGHT_SHOULDER]) / 2
    expected = {
        "pelvis": (pelvis, min(visibility[LEFT_HIP], visibility[RIGHT_HIP])),
        "thorax": (thorax, min(visibility[LEFT_SHOULDER], visibility[RIGHT_SHOULDER])),
        "spine": (
            (pelvis + thorax) / 2,
            visibility[[LEFT_HIP, RIGHT_HIP, LEFT_SHOULDER, RIGHT_SHOULDER]].min(),
        ),
        "head": (
            (landmarks[LEFT_EAR] + landmarks[RIGHT_EAR]) / 2,
            min(visibility[LEFT_EAR], visibility[RIGHT_EAR]),
        ),
    }
    for joint, (position, confidence) in expected.items():
        np.testing.assert_allclose(keypoints[J[joint]], position, rtol=1e-6, err_msg=joint)
        assert score[J[joint]] == pytest.approx(confidence, abs=1e-6), joint


def test_person_facing_the_camera_has_left_joints_on_the_image_right():
    # A person facing the camera: their own left (BlazePose's "left_*") is on the image's right.
    landmarks = np.zeros((33, 2))
    landmarks[[LEFT_SHOULDER, LEFT_ELBOW, LEFT_WRIST, LEFT_HIP, LEFT_KNEE, LEFT_ANKLE], 0] = 600.0
    landmarks[[RIGHT_SHOULDER, RIGHT_ELBOW, RIGHT_WRIST, RIGHT_HIP, RIGHT_KNEE, RIGHT_ANKLE], 0] = 400.0
    keypoints, _ = rd.blazepose_to_h36m(landmarks, np.ones(33))
    assert (keypoints[list(H36M_JOINTS_LEFT), 0] == 600).all()
    assert (keypoints[list(H36M_JOINTS_RIGHT), 0] == 400).all()


def test_landmark_mapping_batches_clips_scores_and_checks_shapes():
    landmarks, visibility = hand_made_landmarks()
    batch = np.stack([landmarks, landmarks + 5])
    visibility = np.stack([visibility, np.full(33, 1.5)])
    keypoints, score = rd.blazepose_to_h36m(batch, visibility)
    assert keypoints.shape == (2, 17, 2)
    np.testing.assert_allclose(keypoints[1] - keypoints[0], 5.0, rtol=1e-5)
    assert (score[1] == 1.0).all()
    with pytest.raises(ValueError, match=r"landmarks: expected shape \(\.\.\., 33, 2\), got \(17, 2\)"):
        rd.blazepose_to_h36m(np.zeros((17, 2)), np.zeros(17))
    with pytest.raises(ValueError, match=r"visibility: expected shape \(33,\), got \(17,\)"):
        rd.blazepose_to_h36m(np.zeros((33, 2)), np.zeros(17))


def _keypoints(x_range, y_range) -> np.ndarray:
    points = np.zeros((17, 2))
    points[:, 0] = np.linspace(*x_range, 17)
    points[:, 1] = np.linspace(*y_range, 17)[::-1]
    return points


def test_crop_box_enlarges_1_4_times_about_the_centre():
    points = _keypoints((100, 200), (50, 250))  # 100 x 200 box centred on (150, 150)
    # Square (the default): the longer side, 200, times 1.4 = 280.
    assert rd.crop_box(points, (1000, 1000)) == (10, 10, 290, 290)
    # The box's own aspect: 140 x 280.
    assert rd.crop_box(points, (1000, 1000), square=False) == (80, 10, 220, 290)
    # Fractional edges widen to whole pixels.
    assert rd.crop_box(_keypoints((100.3, 200.3), (50, 250)), (1000, 1000)) == (10, 10, 291, 290)


def test_crop_box_clips_to_the_image_and_ignores_missing_points():
    # 100 x 100 around (0, 450) in a 640x480 image: the 140-pixel square is cut at the left and bottom.
    assert rd.crop_box(_keypoints((-50, 50), (400, 500)), (640, 480)) == (0, 380, 70, 480)
    assert rd.crop_box(_keypoints((600, 700), (-30, 30)), (640, 480)) == (580, 0, 640, 70)
    with_nan = _keypoints((100, 200), (50, 250))
    with_nan[3] = (5000, np.nan)
    assert rd.crop_box(with_nan, (1000, 1000)) == (10, 10, 290, 290)
    assert rd.crop_box(np.full((17, 2), np.nan), (1000, 1000)) is None
    assert rd.crop_box(_keypoints((2000, 2100), (50, 60)), (1000, 1000)) is None  # all right of the image


def test_crop_to_image_maps_normalised_crop_points_to_pixels():
    box = (10, 20, 110, 220)  # 100 wide, 200 high
    points = np.array([[0.0, 0.0], [1.0, 1.0], [0.5, 0.25], [-0.1, 1.2]])
    np.testing.assert_allclose(rd.crop_to_image(points, box), [[10, 20], [110, 220], [60, 70], [0, 260]])
    assert rd.crop_to_image(np.zeros((4, 17, 2)), box).shape == (4, 17, 2)


class FakeDetector:
    """Finds the hand-made landmarks (normalised to the crop) except in the frames listed."""

    def __init__(self, missing=()):
        self.missing, self.calls, self.shapes = set(missing), 0, []
        landmarks, self.visibility = hand_made_landmarks()
        self.normalised = (landmarks - landmarks.min(0)) / np.ptp(landmarks, axis=0)

    def __call__(self, image):
        self.shapes.append(image.shape)
        self.calls += 1
        if self.calls - 1 in self.missing:
            return None
        assert image.flags["C_CONTIGUOUS"]
        return self.normalised, self.visibility


def test_detect_frames_assembles_arrays_and_marks_frames_without_a_person():
    width, height, frames = 320, 240, 4
    truth = np.stack([_keypoints((100, 150), (60, 160))] * frames)  # square box 140: (55, 40, 195, 180)
    truth[2] = np.nan  # no ground truth: no crop, no detector call
    detector = FakeDetector(missing={1})  # the second call finds nobody
    images = (np.zeros((height, width, 3), np.uint8) for _ in range(frames))
    out = rd.detect_frames(images, truth, (width, height), detector)
    assert detector.calls == 3 and detector.shapes[0] == (140, 140, 3)
    assert out["kp2d"].shape == (4, 17, 2) and out["kp2d"].dtype == np.float32
    assert out["score"].dtype == np.float32 and out["found"].dtype == np.bool_
    np.testing.assert_array_equal(out["found"], [True, False, False, True])
    for frame in (1, 2):
        assert np.isnan(out["kp2d"][frame]).all() and (out["score"][frame] == 0).all()
    expected, score = rd.blazepose_to_h36m(detector.normalised, detector.visibility)
    np.testing.assert_allclose(out["kp2d"][0], rd.crop_to_image(expected, (55, 40, 195, 180)), rtol=1e-6)
    np.testing.assert_allclose(out["kp2d"][3], out["kp2d"][0])
    np.testing.assert_allclose(out["score"][0], score)


def test_detect_frames_checks_frame_count_and_size():
    truth = np.stack([_keypoints((10, 50), (10, 50))] * 3)
    frames = [np.zeros((60, 80, 3), np.uint8)] * 3
    with pytest.raises(ValueError, match=r"expected 3 frames \(the annotations'\), got 2"):
        rd.detect_frames(frames[:2], truth, (80, 60), FakeDetector())
    with pytest.raises(ValueError, match=r"expected 3 frames \(the annotations'\), got more"):
        rd.detect_frames(frames * 2, truth, (80, 60), FakeDetector())
    with pytest.raises(
        ValueError, match=r"expected 80x60 images \(the camera's size\), got 60x80 at frame 0"
    ):
        rd.detect_frames([np.zeros((80, 60, 3), np.uint8)] * 3, truth, (80, 60), FakeDetector())
    assert len(rd.detect_frames(frames * 2, truth, (80, 60), FakeDetector(), max_frames=2)["found"]) == 2


def test_only_accepts_file_keys_of_the_videos():
    assert len(rd.parse_only(None)) == 27
    assert rd.parse_only(["S3/TakesItem/0", "S1/PickingObjects/0", "S3/TakesItem/0"]) == [
        ("SS3", "TakesItem", 0),
        ("SS1", "PickingObjects", 0),
    ]
    for bad in ("S3/TakeItem/0", "SS3/Focus/0", "S1/Arguing/0", "S3/Focus/4"):
        with pytest.raises(ValueError, match=rf"--only: expected sequences .*S3/Focus/0.*got {bad!r}"):
            rd.parse_only([bad])


def test_main_refuses_bad_only_and_existing_output_before_loading_anything(tmp_path, capsys):
    output = tmp_path / "out.npz"
    assert rd.main(["--data", str(tmp_path), "-o", str(output), "--only", "S3/Nope/0"]) == 2
    assert "--only: expected sequences" in capsys.readouterr().err
    output.write_bytes(b"keep me")
    assert rd.main(["--data", str(tmp_path), "-o", str(output), "--only", "S3/Focus/0"]) == 2
    err = capsys.readouterr().err
    assert "--output" in err and "exists; pass --force" in err
    assert output.read_bytes() == b"keep me"
    # With --force it goes on, and stops at the missing video (nothing written, nothing loaded).
    assert rd.main(["--data", str(tmp_path), "-o", str(output), "--only", "S3/Focus/0", "--force"]) == 2
    err = capsys.readouterr().err
    assert "--data: expected the video of S3/Focus/0 at" in err and "S3/Videos/Focus_0.mp4" in err
    assert output.read_bytes() == b"keep me"
    assert rd.main(["--data", str(tmp_path), "-o", str(tmp_path / "out.npy")]) == 2
    assert "--output: expected a path ending in .npz" in capsys.readouterr().err
    assert rd.main(["--data", str(tmp_path / "nowhere"), "-o", str(tmp_path / "new.npz")]) == 2
    assert "--data: expected the BlendMimic3D folder" in capsys.readouterr().err
    assert rd.main(["--data", str(tmp_path), "-o", str(tmp_path / "new.npz"), "--max-frames", "0"]) == 2
    assert "--max-frames: expected an int >= 1, got 0" in capsys.readouterr().err


def test_missing_mediapipe_names_the_extra(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "mediapipe", None)  # import mediapipe raises ImportError
    with pytest.raises(ImportError, match=r'pip install -e "\.\[detect\]"'):
        rd.blazepose_detector()
    video = tmp_path / "S3" / "Videos" / "TakeItem_1.mp4"  # SS3's file name for TakesItem
    video.parent.mkdir(parents=True)
    video.touch()
    assert rd.main(["--data", str(tmp_path), "-o", str(tmp_path / "o.npz"), "--only", "S3/TakesItem/1"]) == 2
    assert 'pip install -e ".[detect]"' in capsys.readouterr().err
    assert not (tmp_path / "o.npz").exists()


def test_whole_pipeline_with_a_stand_in_detector_writes_a_loadable_file(
    blendmimic3d_dir, tmp_path, monkeypatch
):
    detector = FakeDetector(missing={1})
    monkeypatch.setattr(rd, "blazepose_detector", lambda: contextlib.nullcontext(detector))
    output = tmp_path / "sub" / "two.npz"
    argv = ["--data", str(blendmimic3d_dir), "-o", str(output), "--max-frames", "3",
            "--only", "S3/TakesItem_multi/2", "S1/PickingObjects/0"]  # fmt: skip
    assert rd.main(argv) == 0
    assert os.stat(output).st_mode & 0o777 == 0o666 & ~current_umask()
    assert [p.name for p in output.parent.iterdir()] == ["two.npz"]  # no temporary left behind
    with np.load(output, allow_pickle=False) as archive:
        assert sorted(archive.files) == sorted(
            f"{key}|{field}" for key in ("S3/TakesItem_multi/2", "S1/PickingObjects/0")
            for field in ("kp2d", "score", "found")
        )  # fmt: skip
        assert archive["S3/TakesItem_multi/2|kp2d"].shape == (3, 17, 2)
        np.testing.assert_array_equal(archive["S3/TakesItem_multi/2|found"], [True, False, True])
    loaded = load_real_detections(output)
    assert set(loaded) == {("SS3", "TakesItem_multi", 2), ("SS1", "PickingObjects", 0)}
    # Crops of the 1280x720 (SS3) and 1000x1002 (SS1) frames.
    assert detector.shapes[0][0] <= 720 and detector.shapes[3][0] <= 1002
    assert rd.main(argv) == 2  # exists now
    assert rd.main([*argv, "--force"]) == 0


def test_blazepose_reproduces_the_shared_file(blendmimic3d_dir, real_detections_path, tmp_path):
    pytest.importorskip("mediapipe")
    output = tmp_path / "focus.npz"
    assert rd.main(["--data", str(blendmimic3d_dir), "-o", str(output), "--only", "S3/Focus/0",
                    "--max-frames", "10"]) == 0  # fmt: skip
    with np.load(output) as new, np.load(real_detections_path) as shared:
        found = new["S3/Focus/0|found"]
        np.testing.assert_array_equal(found, shared["S3/Focus/0|found"][:10])
        distance = np.linalg.norm(new["S3/Focus/0|kp2d"] - shared["S3/Focus/0|kp2d"][:10], axis=-1)[found]
        score = np.abs(new["S3/Focus/0|score"] - shared["S3/Focus/0|score"][:10])[found]
    assert np.median(distance) < 3.0 and np.percentile(distance, 90) < 8.0  # px on 1280x720 frames
    assert np.median(score) < 0.01
