"""The video pipeline: decoding, the tracker on scripted boxes, and the whole run offline on a synthetic
clip with tiny randomly initialised RT-DETR / ViTPose / lifter / refiner models saved to tmp folders."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
from _video_fixtures import FPS, FRAMES, HEIGHT, WIDTH, build_tiny_models, write_clip

from modeling_gcnrefine import GCNRefineModel
from modeling_gcnrefine.commands.video import add_cli
from modeling_gcnrefine.lifting import TemporalLifterModel
from modeling_gcnrefine.video.decode import iter_frames, probe_video
from modeling_gcnrefine.video.models2d import _crop_region, detect_people, load_detector
from modeling_gcnrefine.video.pipeline import NPZ_KEYS, interpolate_missing, process_video
from modeling_gcnrefine.video.tracking import PersonTracker, box_iou, nms


def box(cx: float, cy: float, w: float, h: float) -> list[float]:
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]


# ---------------------------------------------------------------------------------------------- the clip


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return write_clip(tmp_path_factory.mktemp("clip") / "walk.mp4")


def test_decode_streams_rgb_frames(clip):
    info = probe_video(clip)
    assert (info.width, info.height, info.fps) == (WIDTH, HEIGHT, FPS)
    frames = list(iter_frames(clip))
    assert len(frames) == FRAMES
    assert all(f.shape == (HEIGHT, WIDTH, 3) and f.dtype == np.uint8 for f in frames)
    # The tall rectangle moved right by 8 px a frame: its colour is where the test drew it.
    assert frames[5][30, 20 + 40 + 12, 0] > 180 and frames[0][30, 20 + 40 + 12, 0] < 140
    assert len(list(iter_frames(clip, max_frames=3))) == 3


def test_decode_rejects_what_is_not_a_video(tmp_path):
    (tmp_path / "x.mp4").write_bytes(b"not a video")
    with pytest.raises(ValueError, match="path: expected a readable video"):
        probe_video(tmp_path / "x.mp4")
    with pytest.raises(ValueError, match="path: expected an existing video file"):
        list(iter_frames(tmp_path / "missing.mp4"))


# ------------------------------------------------------------------------------------------ boxes, tracker


def test_iou_and_nms():
    a = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [100, 100, 110, 110]], float)
    np.testing.assert_allclose(box_iou(a[:1], a)[0], [1.0, 50 / 150, 0.0])
    keep = nms(a, np.array([0.5, 0.9, 0.3]), iou_threshold=0.3)
    assert keep.tolist() == [1, 2]  # box 0 overlaps the better box 1 by 1/3 > 0.3
    assert nms(a, np.array([0.5, 0.9, 0.3]), iou_threshold=0.5).tolist() == [1, 0, 2]


def test_tracker_chooses_largest_or_index_left_to_right():
    boxes = [box(100, 50, 20, 60), box(30, 50, 30, 80), box(60, 50, 10, 30)]
    scores = [0.9, 0.9, 0.9]
    assert PersonTracker().update(boxes, scores) == 1
    assert PersonTracker(target=0).update(boxes, scores) == 1  # leftmost
    assert PersonTracker(target=1).update(boxes, scores) == 2
    assert PersonTracker(target=2).update(boxes, scores) == 0
    # "largest" prefers confident boxes: a huge low-score box is not the person.
    assert PersonTracker().update([*boxes, box(60, 50, 100, 90)], [*scores, 0.2]) == 1
    with pytest.raises(ValueError, match="target: expected a person index below 3"):
        PersonTracker(target=3).update(boxes, scores)
    with pytest.raises(ValueError, match="target: expected 'largest' or a person index"):
        PersonTracker(target="smallest")
    with pytest.raises(ValueError, match="iou_threshold: expected a number in"):
        PersonTracker(iou_threshold=True)
    with pytest.raises(ValueError, match=r"boxes: expected shape \(N, 4\)"):
        PersonTracker().update([[1, 2, 3]], [0.5])
    with pytest.raises(ValueError, match="scores: expected 1 finite scores"):
        PersonTracker().update([box(1, 1, 1, 1)], [0.5, 0.4])


def crossing(frames: int = 16):
    """A (target, 40x100) walks right 6 px/frame, B (40x96) walks left 6 px/frame; they cross between
    frames 8 and 9."""
    a = [box(60 + 6 * t, 100, 40, 100) for t in range(frames)]
    b = [box(160 - 6 * t, 100, 40, 96) for t in range(frames)]
    return a, b


def follow(tracker: PersonTracker, a, b) -> list[bool]:
    hits = []
    for t in range(len(a)):
        order = [b[t], a[t]] if t % 2 else [a[t], b[t]]  # detector order carries no identity
        index = tracker.update(order, [0.9, 0.9])
        hits.append(index is not None and order[index] == a[t])
    return hits


def test_tracker_keeps_identity_when_a_second_person_crosses():
    a, b = crossing()
    assert all(follow(PersonTracker(), a, b))
    # The test is not trivial: at the crossing B's centre is nearer A's last centre than A's own (the
    # paper's closest-centroid rule alone would switch), and B overlaps A's last box more than A does,
    # so overlap without motion switches too (smoothing near 1 keeps the velocity near 0).
    centre = lambda x: np.mean(np.reshape(x, (2, 2)), axis=0)  # noqa: E731
    assert np.linalg.norm(centre(b[9]) - centre(a[8])) < np.linalg.norm(centre(a[9]) - centre(a[8]))
    assert (
        box_iou(np.array([a[8]]), np.array([b[9]]))[0, 0] > box_iou(np.array([a[8]]), np.array([a[9]]))[0, 0]
    )
    assert not all(follow(PersonTracker(smoothing=0.999), a, b))


def test_tracker_loses_and_finds_the_target():
    far = box(400, 100, 40, 100)  # someone else, far away, always there
    tracker = PersonTracker(target=0)  # the leftmost person
    found = []
    for t in range(12):
        boxes, scores = [far], [0.95]
        if not 4 <= t < 8:  # the target is hidden in frames 4-7...
            # ...and comes back shifted and shrunk (partly occluded): no overlap with its prediction.
            boxes.append(box(100 + 2 * t, 100, 40, 100) if t < 4 else box(150, 120, 25, 60))
            scores.append(0.9)
        index = tracker.update(boxes, scores)
        found.append(None if index is None else index == 1)
    assert found == [True] * 4 + [None] * 4 + [True] * 4
    assert tracker.lost == 0


def test_tracker_prefers_confident_boxes_when_lost():
    candidates = [box(110, 100, 40, 100), box(60, 100, 40, 100)]
    for scores, expected in (([0.3, 0.8], 1), ([0.3, 0.4], 0)):
        # iou_threshold 0.99: neither candidate overlaps enough, so the lost rule decides.
        tracker = PersonTracker(confident_score=0.5, iou_threshold=0.99)
        tracker.update([box(100, 100, 40, 100)], [0.9])
        assert tracker.update([], []) is None
        # Confident and farther beats closer; with none confident, the closest.
        assert tracker.update(candidates, scores) == expected


def test_tracker_gives_up_the_distance_limit_after_max_lost():
    tracker = PersonTracker(max_lost=3)
    tracker.update([box(100, 100, 40, 100)], [0.9])
    elsewhere = [box(400, 100, 40, 100)]
    assert [tracker.update(elsewhere, [0.9]) for _ in range(4)] == [None, None, None, 0]


def test_crop_region():
    # A square of twice the longer side around the centre...
    assert _crop_region(np.array(box(200, 150, 20, 50)), 640, 480, 2.0) == (150, 100, 250, 200)
    # ...moved inside the image at the border...
    assert _crop_region(np.array(box(10, 150, 20, 50)), 640, 480, 2.0) == (0, 100, 100, 200)
    # ...and skipped when it would cover most of the frame anyway.
    assert _crop_region(np.array(box(320, 240, 100, 300)), 640, 480, 2.0) is None


def test_crop_detections_map_back_to_the_frame(clip, models):
    detector = load_detector(models["det"], "cpu")
    frame = next(iter_frames(clip))
    region = (40, 20, 104, 84)
    ((full_boxes, _),) = detect_people([frame], detector, threshold=0.0)
    ((boxes, scores),) = detect_people([frame], detector, threshold=0.0, crops=[region])
    assert len(full_boxes) and boxes.shape == (len(scores), 4)
    assert (np.diff(scores) <= 0).all()  # best first after merging
    new = [b for b in boxes if not (np.abs(full_boxes - b).max(axis=1) < 1e-3).any()]
    assert new, "the crop found nothing the full frame did not"
    centres = (np.array(new)[:, :2] + np.array(new)[:, 2:]) / 2
    x0, y0, x1, y1 = region
    assert ((centres >= [x0 - 1, y0 - 1]) & (centres <= [x1 + 1, y1 + 1])).all()


def test_interpolate_missing():
    kp = np.arange(5 * 2 * 2, dtype=float).reshape(5, 2, 2)
    kp[[0, 2, 4], 1] = np.nan
    filled = interpolate_missing(kp)
    assert not np.isnan(filled).any() and np.isnan(kp).sum() == 6  # input untouched
    np.testing.assert_allclose(filled[2, 1], (kp[1, 1] + kp[3, 1]) / 2)
    np.testing.assert_allclose(filled[0, 1], kp[1, 1])  # held at the ends
    np.testing.assert_allclose(filled[4, 1], kp[3, 1])
    kp[:, 0, 0] = np.nan
    with pytest.raises(ValueError, match="joint 0 is missing"):
        interpolate_missing(kp)


# ------------------------------------------------------------------------------------------ whole pipeline


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Tiny random models saved with save_pretrained, passed to the pipeline as model ids (folders)."""
    return build_tiny_models(tmp_path_factory.mktemp("models"))


def run(clip, models, out_dir, **kwargs):
    kwargs = {"device": "cpu", "batch_size": 4, "threshold": 0.0, "progress": False, **kwargs}
    kwargs.setdefault("refiner", models["refiner"])
    return process_video(
        clip,
        models["lifter"],
        out_dir=out_dir,
        detector=models["det"],
        pose_model=models["pose"],
        **kwargs,
    )


def test_whole_pipeline_writes_npz_and_mp4(clip, models, tmp_path):
    result = run(clip, models, tmp_path)
    t = FRAMES
    assert (
        result.npz_path == tmp_path / "walk_poses.npz" and result.video_path == tmp_path / "walk_overlay.mp4"
    )
    assert result.keypoints_coco.shape == (t, 17, 2) and result.scores_coco.shape == (t, 17)
    assert result.keypoints_2d.shape == (t, 17, 2) and result.confidence.shape == (t, 17)
    assert result.boxes.shape == (t, 4) and result.box_scores.shape == (t,)
    assert result.poses_3d.shape == result.poses_3d_refined.shape == (t, 17, 3)
    assert result.image_size == (WIDTH, HEIGHT) and result.fps == FPS and not result.truncated
    # With a threshold of 0 the random detector always returns boxes: the target is found everywhere.
    assert np.isfinite(result.boxes).all() and np.isfinite(result.keypoints_2d).all()
    assert np.isfinite(result.poses_3d).all() and np.isfinite(result.poses_3d_refined).all()
    # Keypoints are in frame pixels around the target's box (ViTPose's crop is 1.25x the box, padded to
    # its aspect ratio): within one box size of the box centre.
    centre = (result.boxes[:, None, :2] + result.boxes[:, None, 2:]) / 2
    size = (result.boxes[:, 2:] - result.boxes[:, :2]).max(axis=1)[:, None, None]
    assert (np.abs(result.keypoints_coco - centre) <= size + 1).all()

    with np.load(result.npz_path, allow_pickle=False) as saved:
        assert set(saved.files) == {*NPZ_KEYS, "fps", "image_size", "truncated"}
        for key in NPZ_KEYS:
            np.testing.assert_array_equal(saved[key], getattr(result, key), err_msg=key)
        assert saved["image_size"].tolist() == [WIDTH, HEIGHT] and float(saved["fps"]) == FPS

    info = probe_video(result.video_path)
    rendered = list(iter_frames(result.video_path))
    assert len(rendered) == t and info.fps == FPS
    assert (
        info.width % 2 == 0 and info.height % 2 == 0 and info.width > info.height
    )  # three panels side by side
    assert rendered[3].std() > 5  # drawn, not blank

    with pytest.raises(FileExistsError, match=r"walk_poses\.npz exists"):
        run(clip, models, tmp_path)


class DropFrame(PersonTracker):
    """A tracker that misses the target in scripted frames (what a failed detection looks like)."""

    def __init__(self, missed, **kwargs):
        super().__init__(**kwargs)
        self.frame, self.missed = -1, set(missed)

    def update(self, boxes, scores):
        self.frame += 1
        return None if self.frame in self.missed else super().update(boxes, scores)


def test_missing_frames_stay_nan_in_2d_and_are_filled_before_lifting(clip, models, tmp_path):
    result = run(
        clip,
        models,
        tmp_path,
        tracker=DropFrame({0, 3}),
        max_frames=6,
        write_video=False,
        refiner=models["refiner4"],
    )
    assert result.num_frames == 6 and result.truncated and result.video_path is None
    assert not (tmp_path / "walk_overlay.mp4").exists()
    missing = np.isnan(result.boxes[:, 0])
    assert missing.tolist() == [True, False, False, True, False, False]
    for array in (result.keypoints_coco, result.keypoints_2d):
        assert np.isnan(array[missing]).all() and np.isfinite(array[~missing]).all()
    assert (result.confidence[missing] == 0).all() and (result.scores_coco[missing] == 0).all()
    assert np.isfinite(result.poses_3d).all() and np.isfinite(result.poses_3d_refined).all()
    # Lifting saw the interpolated 2D: the same as lifting that by hand.
    lifter = TemporalLifterModel.from_pretrained(models["lifter"])
    expected = lifter.lift(interpolate_missing(result.keypoints_2d).astype(np.float32), (WIDTH, HEIGHT))
    np.testing.assert_allclose(result.poses_3d, expected, atol=1e-5)
    # The refiner read the H36M confidence (0 in the missed frames) next to the lifted poses.
    refiner = GCNRefineModel.from_pretrained(models["refiner4"])
    refined = refiner.refine(result.poses_3d, confidence=result.confidence)
    np.testing.assert_allclose(result.poses_3d_refined, refined, atol=1e-5)
    other = refiner.refine(result.poses_3d, confidence=np.ones_like(result.confidence))
    assert not np.allclose(refined, other, atol=1e-6)


def test_bad_arguments(clip, models, tmp_path):
    with pytest.raises(ValueError, match="lifter_layout: expected one of"):
        run(clip, models, tmp_path, lifter_layout="openpose")
    with pytest.raises(ValueError, match="lift_flip_test: expected False or None with lifter_layout='coco'"):
        run(clip, models, tmp_path, lifter_layout="coco", lift_flip_test=True)
    with pytest.raises(ValueError, match="path: expected an existing video file"):
        run(tmp_path / "none.mp4", models, tmp_path)
    with pytest.raises(ValueError, match="max_frames: expected a positive int"):
        run(clip, models, tmp_path, max_frames=0, write_video=False)
    with pytest.raises(ValueError, match="no person found in any of the 2 frames"):
        run(clip, models, tmp_path, threshold=1.0, max_frames=2, write_video=False)


def test_cli(clip, models, tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="gcnrefine")
    add_cli(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(
        [
            "video",
            str(clip),
            "--lifter",
            models["lifter"],
            "--model",
            models["refiner"],
            "--detector",
            models["det"],
            "--pose-model",
            models["pose"],
            "--lifter-layout",
            "coco",
            "--target",
            "0",
            "--max-frames",
            "4",
            "--threshold",
            "0",
            "--device",
            "cpu",
            "--no-video",
            "-o",
            str(tmp_path),
        ]
    )
    assert args.func(args) == 0
    assert f"wrote {tmp_path / 'walk_poses.npz'}" in capsys.readouterr().out
    with np.load(tmp_path / "walk_poses.npz", allow_pickle=False) as saved:
        assert saved["poses_3d"].shape == (4, 17, 3) and bool(saved["truncated"])
    with pytest.raises(SystemExit):
        parser.parse_args(["video", str(clip), "--lifter", "x", "--target", "tallest"])
