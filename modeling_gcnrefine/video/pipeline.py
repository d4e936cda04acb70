"""From an in-the-wild video to refined 3D poses of one person, with transformers' own 2D models.

The pipeline, each step streaming over the video so memory stays bounded by one batch of frames:

1. decode the video with PyAV (``iter_frames``);
2. detect people with an object detector (``RTDetrForObjectDetection``, default
   ``PekingU/rtdetr_r50vd_coco_o365``), batched over frames, on GPU when present; besides the whole
   frame, the detector also sees a crop around where the target is expected, which helps with small
   and partly hidden people (as in the BlendMimic3D paper);
3. follow one target person (``PersonTracker``): largest person by default, or an index on the first
   frame; keep its identity by overlap with its motion-predicted box; when it is lost, take the box
   closest to its last centroid, preferring confident boxes;
4. estimate the target's COCO-17 keypoints with ``VitPoseForPoseEstimation`` (default
   ``usyd-community/vitpose-base-simple``), batched;
5. convert to Human3.6M-17 (``coco_to_h36m``), fill frames without a detection by linear interpolation
   in time (the saved raw 2D keeps NaN there, with confidence 0), lift to 3D with a
   ``TemporalLifterModel`` (the built-in lifter or a converted VideoPose3D checkpoint), refine with the
   ``GCNRefineModel`` (the shipped checkpoint by default);
6. write an ``.npz`` (2D keypoints, scores, boxes, 3D before and after refinement) and, optionally, an
   MP4 with the 2D overlay on the video beside the 3D skeleton before and after (second decoding pass).

Nothing is downloaded at import time: models load in ``process_video`` (and are cached per process,
so a demo that calls it repeatedly loads them once). ``process_video`` is what the Space's Video tab
calls; ``gcnrefine video`` is its command line.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..lifting.modeling_lifter import TemporalLifterModel
from ..modeling_gcnrefine import GCNRefineModel
from ..utils.coco import coco_to_h36m
from ..utils.hub import resolve_model
from ..utils.io import set_default_mode, write_atomic
from ..utils.missing import interpolate_missing
from .decode import VideoInfo, iter_frames, probe_video
from .models2d import (
    DEFAULT_DETECTOR,
    DEFAULT_POSE_MODEL,
    _crop_region,
    default_device,
    detect_people,
    estimate_keypoints,
    load_detector,
    load_pose_model,
)
from .render import render_video
from .result import VideoResult
from .tracking import PersonTracker, _check_optional_positive, _is_number

LIFTER_LAYOUTS = ("h36m", "coco")


@dataclass
class Tracked2D:
    """The target's 2D track: NaN keypoints/boxes (and 0 scores) where it was not found."""

    keypoints_coco: np.ndarray  # (T, 17, 2) pixels
    scores_coco: np.ndarray  # (T, 17)
    boxes: np.ndarray  # (T, 4) xyxy pixels
    box_scores: np.ndarray  # (T,)
    info: VideoInfo
    truncated: bool  # the video had more than max_frames frames


def track_keypoints(
    path: str | os.PathLike,
    detector: str = DEFAULT_DETECTOR,
    pose_model: str = DEFAULT_POSE_MODEL,
    *,
    target: str | int = "largest",
    tracker: PersonTracker | None = None,
    device: str | None = None,
    batch_size: int = 8,
    threshold: float = 0.3,
    crop_detection: bool = True,
    crop_scale: float = 2.0,
    max_frames: int | None = None,
    progress: bool = True,
) -> Tracked2D:
    """Steps 1-4: decode, detect, track the target and estimate its COCO-17 keypoints, ``batch_size``
    frames at a time. ``tracker`` overrides ``target`` with a configured :class:`PersonTracker`."""

    _check_optional_positive("batch_size", batch_size)
    _check_optional_positive("max_frames", max_frames)
    if not _is_number(threshold) or not 0 <= threshold <= 1:
        raise ValueError(f"threshold: expected a detection score threshold in [0, 1], got {threshold!r}")
    if not _is_number(crop_scale) or crop_scale < 1:
        raise ValueError(f"crop_scale: expected a number >= 1 (box sides), got {crop_scale!r}")
    info = probe_video(path)
    tracker = tracker if tracker is not None else PersonTracker(target=target)
    device = device or default_device()
    det = load_detector(str(detector), device)
    pose = load_pose_model(str(pose_model), device)

    keypoints, scores, boxes, box_scores = [], [], [], []

    def run(batch: list[np.ndarray]) -> None:
        crops = None
        if crop_detection and tracker.box is not None:
            # Around where the target should be; once lost, around its last box (no extrapolation).
            crops = [
                _crop_region(
                    tracker.box if tracker.lost else tracker.predicted_box(i + 1),
                    info.width,
                    info.height,
                    crop_scale,
                )
                for i in range(len(batch))
            ]
        targets = []
        for frame_boxes, frame_scores in detect_people(batch, det, threshold, crops):
            index = tracker.update(frame_boxes, frame_scores)
            targets.append(None if index is None else (frame_boxes[index], frame_scores[index]))
        seen = [i for i, t in enumerate(targets) if t is not None]
        kp = np.full((len(batch), 17, 2), np.nan, np.float32)
        sc = np.zeros((len(batch), 17), np.float32)
        if seen:
            kp[seen], sc[seen] = estimate_keypoints(
                [batch[i] for i in seen], [targets[i][0] for i in seen], pose
            )
        keypoints.append(kp)
        scores.append(sc)
        boxes.append(np.array([t[0] if t else np.full(4, np.nan) for t in targets], np.float32))
        box_scores.append(np.array([t[1] if t else 0.0 for t in targets], np.float32))

    total = info.num_frames if max_frames is None else min(info.num_frames or max_frames, max_frames)
    batch: list[np.ndarray] = []
    count, truncated = 0, False
    # One frame beyond max_frames is decoded only to tell whether the video was cut.
    limit = None if max_frames is None else max_frames + 1
    with tqdm(total=total, desc="detect and track", unit="frame", disable=not progress) as bar:
        for frame in iter_frames(path, limit):
            if count == max_frames:
                truncated = True
                break
            batch.append(frame)
            count += 1
            if len(batch) == batch_size:
                run(batch)
                bar.update(len(batch))
                batch = []
        if batch:
            run(batch)
            bar.update(len(batch))
    if count == 0:
        raise ValueError(f"path: expected a video with at least one frame, got none in {str(path)!r}")
    return Tracked2D(
        keypoints_coco=np.concatenate(keypoints),
        scores_coco=np.concatenate(scores),
        boxes=np.concatenate(boxes),
        box_scores=np.concatenate(box_scores),
        info=info,
        truncated=truncated,
    )


def _load_lifter(lifter):
    if isinstance(lifter, TemporalLifterModel):
        return lifter
    if lifter is None or isinstance(lifter, str | os.PathLike):
        return TemporalLifterModel.from_pretrained(resolve_model(lifter, "lifter"))
    raise ValueError(
        f"lifter: expected a TemporalLifterModel, a shipped name, a folder or a Hub id, got {type(lifter).__name__}"
    )


def _load_refiner(refiner):
    if isinstance(refiner, GCNRefineModel):
        return refiner
    if refiner is None or isinstance(refiner, str | os.PathLike):
        return GCNRefineModel.from_pretrained(resolve_model(refiner, "refiner"))
    raise ValueError(
        f"refiner: expected a GCNRefineModel, a shipped name, a folder, a Hub id or None, got {type(refiner).__name__}"
    )


def process_video(
    path: str | os.PathLike,
    lifter,
    *,
    refiner=None,
    out_dir: str | os.PathLike | None = None,
    detector: str = DEFAULT_DETECTOR,
    pose_model: str = DEFAULT_POSE_MODEL,
    lifter_layout: str = "h36m",
    target: str | int = "largest",
    tracker: PersonTracker | None = None,
    device: str | None = None,
    batch_size: int = 8,
    threshold: float = 0.3,
    crop_detection: bool = True,
    max_frames: int | None = None,
    lift_flip_test: bool | None = None,
    refine_flip_test: bool | None = None,
    write_video: bool = True,
    overwrite: bool = False,
    progress: bool = True,
) -> VideoResult:
    """Turn a video of a person into refined 3D poses; write ``<stem>_poses.npz`` and ``<stem>_overlay.mp4``.

    Args:
        path: the video (anything FFmpeg decodes: mp4, mov, webm, ...).
        lifter: a :class:`~modeling_gcnrefine.lifting.TemporalLifterModel`, or its folder / Hub id (the
            built-in lifter, or a VideoPose3D checkpoint converted with ``gcnrefine lift convert``).
        refiner: a ``GCNRefineModel``, its folder / Hub id, or None for the shipped checkpoint.
        out_dir: where the files go (created if needed); None: a new temporary folder.
        detector, pose_model: transformers model ids or folders (downloaded on first use, then cached by
            the Hub client; nothing is downloaded at import).
        lifter_layout: the lifter's 2D input order: ``"h36m"`` (the built-in lifter, VideoPose3D's CPN
            model) gets the converted Human3.6M-17 keypoints; ``"coco"`` (VideoPose3D's
            ``pretrained_h36m_detectron_coco``) gets the COCO-17 keypoints as they come.
        target: ``"largest"`` or the index (left to right) of a person on the first frame with people.
        tracker: a configured :class:`PersonTracker`, overriding ``target``.
        device: torch device for every model; default ``cuda`` when present, else ``cpu``.
        batch_size: frames per detector / pose-model forward pass (bounds memory).
        threshold: detector score below which boxes are dropped.
        crop_detection: also detect in a crop around the target's predicted box (2x its longer side).
        max_frames: process at most this many frames from the start (the Space's length limit); the
            result's ``truncated`` says whether the video was longer.
        lift_flip_test: flip test-time augmentation in the lifter; default True for ``"h36m"``. Not
            available for ``"coco"`` (the lifter's left/right joint lists describe its output only).
        refine_flip_test: flip test-time augmentation in the refiner; default: the refiner's config.
        write_video: also render the MP4 (2D overlay | 3D before | 3D after); about 0.1 s per frame on CPU.
        overwrite: replace existing output files (otherwise FileExistsError before any work).
        progress: tqdm progress bars.

    Frames where the target is not found keep NaN 2D in the result and the ``.npz``; before lifting,
    their 2D is linearly interpolated in time from the neighbouring frames (held at the ends).

    Raises:
        ValueError: bad arguments, an unreadable video, or no person found in any frame.
        FileExistsError: an output file exists and ``overwrite`` is False.
    """
    if lifter_layout not in LIFTER_LAYOUTS:
        raise ValueError(f"lifter_layout: expected one of {LIFTER_LAYOUTS}, got {lifter_layout!r}")
    if lifter_layout == "coco" and lift_flip_test:
        raise ValueError(
            "lift_flip_test: expected False or None with lifter_layout='coco' (flipping needs one left/right "
            "layout for input and output), got True"
        )
    lift_flip = lifter_layout == "h36m" if lift_flip_test is None else bool(lift_flip_test)
    if not Path(path).is_file():
        raise ValueError(f"path: expected an existing video file, got {str(path)!r}")
    if out_dir is not None:
        out = Path(out_dir)
    else:
        out = Path(tempfile.mkdtemp(prefix="gcnrefine-video-"))
        set_default_mode(out)
    stem = Path(path).stem
    npz_path, video_path = out / f"{stem}_poses.npz", out / f"{stem}_overlay.mp4"
    for target_path in (npz_path, video_path) if write_video else (npz_path,):
        if target_path.exists() and not overwrite:
            raise FileExistsError(f"{target_path} exists; pass overwrite=True (CLI: --force) to replace it")
    # Load the 3D models first: a bad path fails before minutes of detection.
    lift_model = _load_lifter(lifter)
    refine_model = _load_refiner(refiner)
    if lift_model.config.num_joints != 17:
        raise ValueError(f"lifter: expected a 17-joint lifter, got num_joints={lift_model.config.num_joints}")
    device = device or default_device()
    lift_model.to(device)
    refine_model.to(device)

    tracked = track_keypoints(
        path,
        detector,
        pose_model,
        target=target,
        tracker=tracker,
        device=device,
        batch_size=batch_size,
        threshold=threshold,
        crop_detection=crop_detection,
        max_frames=max_frames,
        progress=progress,
    )
    found = ~np.isnan(tracked.boxes[:, 0])
    if not found.any():
        raise ValueError(
            f"path: no person found in any of the {len(found)} frames of {str(path)!r} "
            f"(detector {detector}, threshold {threshold})"
        )
    keypoints_2d, confidence = coco_to_h36m(tracked.keypoints_coco, tracked.scores_coco)
    info = tracked.info
    lift_input = keypoints_2d if lifter_layout == "h36m" else tracked.keypoints_coco
    poses_3d = lift_model.lift(
        interpolate_missing(lift_input).astype(np.float32), (info.width, info.height), flip_test=lift_flip
    )
    kwargs = {"confidence": confidence} if refine_model.config.in_channels == 4 else {}
    # The video's frame rate keeps the model's smoothing at the same cut-off in seconds.
    fps = info.fps if info.fps > 0 else None  # a container without a rate: the model's own
    refined = refine_model.refine(poses_3d, flip_test=refine_flip_test, fps=fps, **kwargs)

    result = VideoResult(
        npz_path=npz_path,
        video_path=video_path if write_video else None,
        keypoints_coco=tracked.keypoints_coco,
        scores_coco=tracked.scores_coco,
        keypoints_2d=keypoints_2d.astype(np.float32),
        confidence=confidence.astype(np.float32),
        boxes=tracked.boxes,
        box_scores=tracked.box_scores,
        poses_3d=np.asarray(poses_3d, np.float32),
        poses_3d_refined=np.asarray(refined, np.float32),
        fps=info.fps,
        image_size=(info.width, info.height),
        truncated=tracked.truncated,
    )
    save_result(result, npz_path, overwrite=overwrite)
    if write_video:
        render_video(path, video_path, result, rate=info.rate, overwrite=overwrite, progress=progress)
    return result


NPZ_KEYS = (
    "keypoints_coco",
    "scores_coco",
    "keypoints_2d",
    "confidence",
    "boxes",
    "box_scores",
    "poses_3d",
    "poses_3d_refined",
)


def save_result(result: VideoResult, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write the arrays of ``result`` (``NPZ_KEYS`` plus ``fps``, ``image_size``, ``truncated``) to an
    ``.npz`` of plain arrays (loads with ``allow_pickle=False``), atomically."""
    arrays = {key: np.ascontiguousarray(getattr(result, key)) for key in NPZ_KEYS}
    arrays["fps"] = np.float64(result.fps)
    arrays["image_size"] = np.asarray(result.image_size, np.int64)
    arrays["truncated"] = np.bool_(result.truncated)

    def writer(temp: str) -> None:
        with open(temp, "wb") as f:
            np.savez_compressed(f, **arrays)

    return write_atomic(path, writer, overwrite=overwrite)
