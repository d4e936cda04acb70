"""Frames on demand (modeling_gcnrefine.video.frames.VideoFrames) and the 2D keypoint overlay."""

from __future__ import annotations

import numpy as np
import pytest

av = pytest.importorskip("av")
from _video_fixtures import FRAMES, HEIGHT, WIDTH, write_clip  # noqa: E402

from modeling_gcnrefine.video.decode import iter_frames  # noqa: E402
from modeling_gcnrefine.video.frames import VideoFrames, draw_keypoints  # noqa: E402


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return write_clip(tmp_path_factory.mktemp("frames") / "walk.mp4")


def test_random_access_gives_the_frames_a_player_shows(clip):
    expected = list(iter_frames(clip))
    with VideoFrames(clip, cache_size=4) as frames:
        assert frames.num_frames == len(frames) == len(expected) == FRAMES
        assert frames.size == frames.source_size == (WIDTH, HEIGHT) and frames.scale == 1.0
        order = [5, 0, FRAMES - 1, 3, 4, 2, 5]
        for index in order:
            image = frames.frame(index)
            assert image.shape == (HEIGHT, WIDTH, 3) and image.dtype == np.uint8
            np.testing.assert_array_equal(image, expected[index], err_msg=f"frame {index}")
            assert not image.flags.writeable  # cached arrays are shared: nobody may draw on them
        # At most cache_size frames are kept, however many were asked for.
        assert len(frames._cache) <= 4


def test_playing_forward_decodes_each_frame_once_without_seeking(clip):
    with VideoFrames(clip, cache_size=2) as frames:
        frames.frame(0)
        seeks, decoded = frames.seeks, frames.decoded
        for index in range(1, FRAMES):
            frames.frame(index)
        assert frames.seeks == seeks  # each next frame continues the decoder
        assert frames.decoded - decoded == FRAMES - 1
        before = frames.decoded
        frames.frame(FRAMES - 1)  # cached: no decoding at all
        assert frames.decoded == before


def test_scaled_frames_and_bad_arguments(clip, tmp_path):
    expected = list(iter_frames(clip))
    with VideoFrames(clip, width=64) as frames:
        assert frames.size == (64, 48) and frames.scale == pytest.approx(0.5)
        small = frames.frame(7)
        assert small.shape == (48, 64, 3)
        # The scaled frame is the frame, smaller: close to a plain 2x2 average of the original.
        reference = expected[7].reshape(48, 2, 64, 2, 3).mean(axis=(1, 3))
        assert np.abs(small.astype(float) - reference).mean() < 12
        with pytest.raises(ValueError, match=rf"index: expected a frame number from 0 to {FRAMES - 1}, got {FRAMES}"):
            frames.frame(FRAMES)
        with pytest.raises(ValueError, match=r"index: expected a frame number from 0 to .*, got 1\.5"):
            frames.frame(1.5)
    with pytest.raises(ValueError, match="the video was closed"):
        frames.frame(0)
    with pytest.raises(ValueError, match="width: expected an int >= 16 or None, got 8"):
        VideoFrames(clip, width=8)
    with pytest.raises(ValueError, match="cache_size: expected an int >= 0, got -1"):
        VideoFrames(clip, cache_size=-1)
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    with pytest.raises(ValueError, match=r"path: expected a readable video, got '.*notes\.mp4'"):
        VideoFrames(text)
    with pytest.raises(ValueError, match="path: expected an existing video file"):
        VideoFrames(tmp_path / "missing.mp4")


def test_seeking_in_a_real_blendmimic3d_video(blendmimic3d_dir):
    """A 720p upstream video (keyframes every 18 frames): frames far apart come out exactly."""
    path = blendmimic3d_dir / "S3" / "Videos" / "TakeItem_multi_0.mp4"
    wanted = {0, 17, 18, 57, 120, 198}
    expected = {i: f for i, f in enumerate(iter_frames(path)) if i in wanted}
    with VideoFrames(path) as frames:
        assert frames.num_frames == 199 and frames.size == (1280, 720)
        for index in (120, 57, 198, 0, 18, 17):
            np.testing.assert_array_equal(frames.frame(index), expected[index], err_msg=f"frame {index}")
        assert frames.seeks >= 3 and frames.decoded < 199  # seeking, not decoding everything


def test_draw_keypoints_marks_visible_and_occluded_joints():
    image = np.zeros((100, 120, 3), np.uint8)
    points = np.full((17, 2), np.nan)
    points[0], points[1], points[2] = (20, 20), (60, 20), (60, 70)  # pelvis -> right hip -> right knee
    occluded = np.zeros(17, bool)
    occluded[2] = True
    out = draw_keypoints(image, points, color=(0, 255, 0), occluded=occluded, occluded_color=(255, 0, 0), radius=3)
    assert out is not image and not image.any()  # a copy; the input is untouched
    assert tuple(out[20, 20]) == (0, 255, 0)  # a visible joint: a filled dot
    assert tuple(out[20, 40]) == (0, 255, 0)  # the bone between two drawn joints
    assert tuple(out[70, 60 + 5]) == (255, 0, 0)  # the occluded joint: a red ring around it ...
    assert tuple(out[70, 60]) == (0, 255, 0)  # ... whose centre is only the bone ending there
    assert not out[90:, :].any()  # joints without a position draw nothing

    scaled = draw_keypoints(np.zeros((50, 60, 3), np.uint8), points, color=(0, 0, 255), scale=0.5)
    assert tuple(scaled[10, 10]) == (0, 0, 255)  # (20, 20) in the video is (10, 10) at half size
    nothing = draw_keypoints(image, np.full((17, 2), np.nan), color=(255, 255, 255))
    assert not nothing.any()  # a frame where no person was found

    with pytest.raises(ValueError, match=r"keypoints: expected shape \(17, 2\), got \(16, 2\)"):
        draw_keypoints(image, points[:16], color=(0, 0, 0))
    with pytest.raises(ValueError, match=r"image: expected an RGB uint8 array \(H, W, 3\), got float64"):
        draw_keypoints(image.astype(float), points, color=(0, 0, 0))
    with pytest.raises(ValueError, match=r"occluded: expected a bool array of shape \(17,\), got int64"):
        draw_keypoints(image, points, color=(0, 0, 0), occluded=np.zeros(17, np.int64))
