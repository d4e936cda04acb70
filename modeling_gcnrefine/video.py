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

import argparse
import functools
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from .coco import coco_to_h36m
from .io import write_atomic
from .skeleton import H36M, H36M_JOINTS_LEFT, H36M_JOINTS_RIGHT

DEFAULT_DETECTOR = "PekingU/rtdetr_r50vd_coco_o365"
DEFAULT_POSE_MODEL = "usyd-community/vitpose-base-simple"
# Encoders tried in order for the MP4; PyAV's bundled FFmpeg has libx264, mpeg4 is the fallback.
VIDEO_CODECS = ("libx264", "mpeg4")
LIFTER_LAYOUTS = ("h36m", "coco")
# Height in pixels of the rendered MP4 (the video panel keeps its aspect ratio; 3D panels are square).
RENDER_HEIGHT = 360


# ---------------------------------------------------------------------------------------------- decoding


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about the first video stream."""

    width: int
    height: int
    rate: Fraction  # frames per second, exact (e.g. 30000/1001)
    num_frames: int | None  # None when the container does not know

    @property
    def fps(self) -> float:
        return float(self.rate)


def _open(path: str | os.PathLike):
    import av

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"path: expected an existing video file, got {str(path)!r}")
    try:
        container = av.open(str(path))
    except av.FFmpegError as error:
        raise ValueError(f"path: expected a readable video, got {str(path)!r} ({error})") from None
    if not container.streams.video:
        container.close()
        raise ValueError(f"path: expected a file with a video stream, got {str(path)!r} (no video stream)")
    return container


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Size, frame rate and frame count (when known) of a video file."""
    with _open(path) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or Fraction(30)
        return VideoInfo(
            width=int(stream.codec_context.width),
            height=int(stream.codec_context.height),
            rate=Fraction(rate),
            num_frames=int(stream.frames) or None,
        )


def iter_frames(path: str | os.PathLike, max_frames: int | None = None) -> Iterator[np.ndarray]:
    """Decode a video frame by frame as RGB ``(H, W, 3)`` uint8 arrays (at most ``max_frames``)."""
    _check_optional_positive("max_frames", max_frames)
    with _open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"  # frame-threaded decoding: faster, same frames
        for index, frame in enumerate(container.decode(stream)):
            if max_frames is not None and index >= max_frames:
                return
            yield frame.to_ndarray(format="rgb24")


def pick_codec() -> str:
    """The first encoder of ``VIDEO_CODECS`` this PyAV build has."""
    import av

    for name in VIDEO_CODECS:
        try:
            av.codec.Codec(name, "w")
        except (av.FFmpegError, ValueError):  # unknown codec
            continue
        return name
    raise RuntimeError(f"PyAV has none of the encoders {VIDEO_CODECS}")


# ---------------------------------------------------------------------------------------------- boxes


def _check_boxes(boxes, scores) -> tuple[np.ndarray, np.ndarray]:
    b = np.asarray(boxes, dtype=np.float64)
    b = b.reshape(0, 4) if b.size == 0 else b  # "no detections" may come as [] or (0,)
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"boxes: expected shape (N, 4) as (x1, y1, x2, y2) pixels, got {b.shape}")
    if not np.isfinite(b).all() or (b[:, 2] < b[:, 0]).any() or (b[:, 3] < b[:, 1]).any():
        raise ValueError(
            f"boxes: expected finite (x1, y1, x2, y2) with x2 >= x1 and y2 >= y1, got {b.tolist()}"
        )
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if s.shape != (len(b),) or not np.isfinite(s).all():
        raise ValueError(
            f"scores: expected {len(b)} finite scores (one per box), got {np.asarray(scores).tolist()}"
        )
    return b, s


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box in ``a`` ``(N, 4)`` with every box in ``b`` ``(M, 4)``, xyxy."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=-1)
    # Clipped: a motion-extrapolated box may come out inverted.
    area_a = np.clip(a[:, 2:] - a[:, :2], 0, None).prod(axis=-1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0, None).prod(axis=-1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression; indices of the kept boxes, best score first.

    (torchvision's ``nms`` would do, but torchvision is not a dependency.)
    """
    order = np.argsort(-np.asarray(scores), kind="stable")
    keep: list[int] = []
    while order.size:
        best, order = order[0], order[1:]
        keep.append(int(best))
        if order.size:
            order = order[box_iou(boxes[best][None], boxes[order])[0] <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def _centres(boxes: np.ndarray) -> np.ndarray:
    return (boxes[..., :2] + boxes[..., 2:]) / 2


# ---------------------------------------------------------------------------------------------- tracking


class PersonTracker:
    """Follows one person through per-frame detections (the BlendMimic3D paper's rule, plus motion).

    Call :meth:`update` once per frame with that frame's person boxes; it returns the index of the
    target's box, or None when the target is not found in that frame.

    - First frame with any detection: the target is chosen by ``target``: ``"largest"`` (largest box
      area among the confident boxes, or among all when none is confident) or an int, the index of
      the person counted left to right by box centre.
    - While tracked, the identity is kept by overlap: the box with the highest IoU with the target's
      motion-predicted box (last box moved by a smoothed per-frame velocity), if that IoU is at least
      ``iou_threshold``. Motion keeps the identity when another person walks across the target.
    - Otherwise the target counts as lost and, as in the paper, the box closest to its last centroid
      is taken, preferring boxes scoring at least ``confident_score``; only boxes within ``max_jump``
      times the last box's diagonal of that centroid qualify, so a person elsewhere in the picture is
      not taken for the target. After ``max_lost`` frames without the target (None: never) that
      distance limit is dropped.

    ``predicted_box(ahead)`` tells the detector where to look (the crop around the previous box).
    """

    def __init__(
        self,
        target: str | int = "largest",
        iou_threshold: float = 0.3,
        confident_score: float = 0.5,
        max_jump: float = 1.0,
        max_lost: int | None = 60,
        smoothing: float = 0.5,
    ) -> None:
        if not (
            target == "largest" or (isinstance(target, int) and not isinstance(target, bool) and target >= 0)
        ):
            raise ValueError(
                f"target: expected 'largest' or a person index >= 0 (left to right), got {target!r}"
            )
        for name, value in (("iou_threshold", iou_threshold), ("confident_score", confident_score)):
            if not _is_number(value) or not 0 <= value <= 1:
                raise ValueError(f"{name}: expected a number in [0, 1], got {value!r}")
        if not _is_number(max_jump) or max_jump <= 0:
            raise ValueError(f"max_jump: expected a positive number (box diagonals), got {max_jump!r}")
        _check_optional_positive("max_lost", max_lost)
        if not _is_number(smoothing) or not 0 <= smoothing < 1:
            raise ValueError(f"smoothing: expected a number in [0, 1), got {smoothing!r}")
        self.target = target
        self.iou_threshold = float(iou_threshold)
        self.confident_score = float(confident_score)
        self.max_jump = float(max_jump)
        self.max_lost = max_lost
        self.smoothing = float(smoothing)
        self.box: np.ndarray | None = None  # the target's last seen box
        self.velocity = np.zeros(4)  # per-frame change of the box (xyxy), smoothed
        self.lost = 0  # frames since the target was last seen

    def predicted_box(self, ahead: int = 1) -> np.ndarray | None:
        """Where the target's box is expected ``ahead`` frames after the last update (None before any)."""
        if self.box is None:
            return None
        return self.box + self.velocity * (self.lost + ahead)

    def update(self, boxes, scores) -> int | None:
        """Take one frame's person boxes ``(N, 4)`` xyxy pixels and scores ``(N,)``; return the target's
        index, or None when it is not among them."""
        boxes, scores = _check_boxes(boxes, scores)
        if self.box is None:
            if not len(boxes):
                return None
            index = self._choose(boxes, scores)
            self.box, self.lost = boxes[index].copy(), 0
            return index
        if not len(boxes):
            self.lost += 1
            return None
        ious = box_iou(self.predicted_box()[None], boxes)[0]
        best = int(np.argmax(ious))
        if ious[best] >= self.iou_threshold:
            step = (boxes[best] - self.box) / (self.lost + 1)
            self.velocity = self.smoothing * self.velocity + (1 - self.smoothing) * step
            self.box, self.lost = boxes[best].copy(), 0
            return best
        # Lost: the paper's rule, closest to the last centroid, confident boxes first.
        distance = np.linalg.norm(_centres(boxes) - _centres(self.box), axis=-1)
        if self.max_lost is not None and self.lost >= self.max_lost:
            gate = np.inf  # lost for long: the paper's rule with no distance limit
        else:
            gate = self.max_jump * float(np.hypot(*(self.box[2:] - self.box[:2])))
        near = distance <= gate
        confident = near & (scores >= self.confident_score)
        pool = confident if confident.any() else near
        if not pool.any():
            self.lost += 1
            return None
        index = int(np.argmin(np.where(pool, distance, np.inf)))
        # A re-acquired box may be a partial one (occlusion): do not learn a velocity from the jump.
        self.box, self.lost, self.velocity = boxes[index].copy(), 0, np.zeros(4)
        return index

    def _choose(self, boxes: np.ndarray, scores: np.ndarray) -> int:
        if self.target == "largest":
            area = (boxes[:, 2:] - boxes[:, :2]).prod(axis=-1)
            confident = scores >= self.confident_score
            return int(np.argmax(np.where(confident, area, -1.0) if confident.any() else area))
        order = np.argsort(_centres(boxes)[:, 0], kind="stable")  # left to right
        if self.target >= len(boxes):
            raise ValueError(
                f"target: expected a person index below {len(boxes)} (people detected in the first frame "
                f"with detections, counted left to right), got {self.target}"
            )
        return int(order[self.target])


# ---------------------------------------------------------------------------------------------- 2D models


def default_device() -> str:
    """``cuda`` when a GPU is visible, else ``cpu``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@functools.lru_cache(maxsize=2)
def load_detector(model_id: str, device: str):
    """(image processor, object detector in eval mode on ``device``, label id of "person"); cached."""
    from transformers import AutoImageProcessor, AutoModelForObjectDetection

    processor = AutoImageProcessor.from_pretrained(model_id)
    model = AutoModelForObjectDetection.from_pretrained(model_id).to(device).eval()
    labels = {str(name).lower(): int(index) for index, name in model.config.id2label.items()}
    if "person" not in labels:
        raise ValueError(
            f"detector: expected a 'person' class in {model_id}'s config.id2label, got {sorted(labels)[:10]}"
        )
    return processor, model, labels["person"]


@functools.lru_cache(maxsize=2)
def load_pose_model(model_id: str, device: str):
    """(image processor, ``VitPoseForPoseEstimation`` in eval mode on ``device``); cached."""
    from transformers import AutoImageProcessor, VitPoseForPoseEstimation

    processor = AutoImageProcessor.from_pretrained(model_id)
    model = VitPoseForPoseEstimation.from_pretrained(model_id).to(device).eval()
    if model.config.num_labels != 17:
        raise ValueError(
            f"pose_model: expected 17 COCO keypoints, got {model.config.num_labels} in {model_id}"
        )
    return processor, model


def _crop_region(box: np.ndarray, width: int, height: int, scale: float) -> tuple[int, int, int, int] | None:
    """A square of ``scale`` times the box's longer side around its centre, inside the image; None when
    it would cover most of the image anyway (no gain over the full frame)."""
    side = scale * max(box[2] - box[0], box[3] - box[1], 16.0)
    side_x, side_y = min(side, width), min(side, height)
    if side_x * side_y > 0.5 * width * height:
        return None
    cx, cy = _centres(box)
    x0 = int(np.clip(round(cx - side_x / 2), 0, width - side_x))
    y0 = int(np.clip(round(cy - side_y / 2), 0, height - side_y))
    return x0, y0, x0 + int(side_x), y0 + int(side_y)


def detect_people(
    frames: list[np.ndarray],
    detector: tuple,
    threshold: float,
    crops: list[tuple[int, int, int, int] | None] | None = None,
    merge_iou: float = 0.6,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Person boxes ``(N, 4)`` xyxy pixels and scores ``(N,)`` in each frame, one batched forward pass.

    ``crops`` (one region or None per frame) are detected too, mapped back to the frame and merged
    with the whole-frame boxes by non-maximum suppression.
    """
    import torch

    processor, model, person = detector
    images = list(frames)
    owners, offsets = list(range(len(frames))), [(0, 0)] * len(frames)
    for index, region in enumerate(crops or []):
        if region is not None:
            x0, y0, x1, y1 = region
            images.append(np.ascontiguousarray(frames[index][y0:y1, x0:x1]))
            owners.append(index)
            offsets.append((x0, y0))
    inputs = processor(images=images, return_tensors="pt").to(model.device)
    with torch.inference_mode():
        outputs = model(**inputs)
    sizes = [image.shape[:2] for image in images]  # (height, width), what post-processing expects
    results = processor.post_process_object_detection(outputs, threshold=threshold, target_sizes=sizes)
    found: list[list[np.ndarray]] = [[] for _ in frames]
    for owner, (dx, dy), result in zip(owners, offsets, results):
        keep = result["labels"] == person
        boxes = result["boxes"][keep].float().cpu().numpy() + np.array([dx, dy, dx, dy], np.float32)
        found[owner].append(np.concatenate([boxes, result["scores"][keep].float().cpu().numpy()[:, None]], 1))
    out = []
    for parts in found:
        rows = np.concatenate(parts) if parts else np.zeros((0, 5), np.float32)
        rows = rows[nms(rows[:, :4], rows[:, 4], merge_iou)] if len(rows) else rows
        out.append((rows[:, :4].astype(np.float64), rows[:, 4].astype(np.float64)))
    return out


def estimate_keypoints(
    frames: list[np.ndarray], boxes: list[np.ndarray], pose_model: tuple
) -> tuple[np.ndarray, np.ndarray]:
    """COCO-17 keypoints ``(N, 17, 2)`` pixels and scores ``(N, 17)`` of one xyxy box per frame, batched."""
    import torch

    processor, model = pose_model
    coco_boxes = [[[b[0], b[1], b[2] - b[0], b[3] - b[1]]] for b in boxes]  # ViTPose wants x, y, w, h
    inputs = processor(list(frames), boxes=coco_boxes, return_tensors="pt").to(model.device)
    extra = {}
    if getattr(model.config.backbone_config, "num_experts", 1) > 1:
        # ViTPose+ (mixture of experts): expert 0 is the COCO head.
        extra["dataset_index"] = torch.zeros(len(frames), dtype=torch.long, device=model.device)
    with torch.inference_mode():
        outputs = model(**inputs, **extra)
    results = processor.post_process_pose_estimation(outputs, boxes=coco_boxes)
    keypoints = np.stack([r[0]["keypoints"].float().cpu().numpy() for r in results])
    scores = np.stack([r[0]["scores"].float().cpu().numpy().reshape(-1) for r in results])
    return keypoints, scores


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
    from tqdm.auto import tqdm

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


# ---------------------------------------------------------------------------------------------- 3D


def interpolate_missing(keypoints: np.ndarray) -> np.ndarray:
    """Fill NaN in ``(T, J, C)`` by linear interpolation over time per joint and coordinate, holding the
    nearest observed value before the first and after the last observation. Returns a new array.

    Raises ValueError when a joint is missing in every frame (nothing to interpolate from).
    """
    array = np.asarray(keypoints, dtype=np.float64)
    if array.ndim != 3 or array.shape[0] < 1:
        raise ValueError(f"keypoints: expected shape (T, J, C) with T >= 1, got {array.shape}")
    filled = array.copy()
    time = np.arange(array.shape[0])
    for joint in range(array.shape[1]):
        for coord in range(array.shape[2]):
            column = array[:, joint, coord]
            observed = ~np.isnan(column)
            if not observed.any():
                raise ValueError(
                    f"keypoints: joint {joint} is missing (NaN) in every one of {len(column)} frames"
                )
            if not observed.all():
                filled[:, joint, coord] = np.interp(time, time[observed], column[observed])
    return filled


def _load_lifter(lifter):
    from .lifting import TemporalLifterModel

    if isinstance(lifter, TemporalLifterModel):
        return lifter
    if lifter is None:
        from .lifting import default_lifter_checkpoint

        return TemporalLifterModel.from_pretrained(default_lifter_checkpoint())
    if isinstance(lifter, str | os.PathLike):
        return TemporalLifterModel.from_pretrained(lifter)
    raise ValueError(
        f"lifter: expected a TemporalLifterModel, a folder or a Hub id, got {type(lifter).__name__}"
    )


def _load_refiner(refiner):
    from .modeling_gcnrefine import GCNRefineModel

    if isinstance(refiner, GCNRefineModel):
        return refiner
    if refiner is None:
        return GCNRefineModel.from_pretrained()
    if isinstance(refiner, str | os.PathLike):
        return GCNRefineModel.from_pretrained(refiner)
    raise ValueError(
        f"refiner: expected a GCNRefineModel, a folder, a Hub id or None, got {type(refiner).__name__}"
    )


# ---------------------------------------------------------------------------------------------- the pipeline


@dataclass
class VideoResult:
    """What :func:`process_video` returns: the written files and every array it saved.

    2D arrays keep NaN (and score/confidence 0) in frames where the target was not found; the 3D
    arrays have no NaN (those frames' 2D was interpolated before lifting).
    """

    npz_path: Path
    video_path: Path | None
    keypoints_coco: np.ndarray  # (T, 17, 2) pixels, COCO-17 order, from the pose model
    scores_coco: np.ndarray  # (T, 17)
    keypoints_2d: np.ndarray  # (T, 17, 2) pixels, Human3.6M-17 order (coco_to_h36m)
    confidence: np.ndarray  # (T, 17)
    boxes: np.ndarray  # (T, 4) the target's box, xyxy pixels
    box_scores: np.ndarray  # (T,)
    poses_3d: np.ndarray  # (T, 17, 3) metres, camera frame, root-relative: the lifter's output
    poses_3d_refined: np.ndarray  # (T, 17, 3) after refinement
    fps: float
    image_size: tuple[int, int]  # (width, height)
    truncated: bool  # only the first max_frames frames were processed

    @property
    def num_frames(self) -> int:
        return len(self.poses_3d)


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
    out = Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix="gcnrefine-video-"))
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
    refined = refine_model.refine(poses_3d, flip_test=refine_flip_test, **kwargs)

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


# ---------------------------------------------------------------------------------------------- rendering


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
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle
    from tqdm.auto import tqdm

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


# ---------------------------------------------------------------------------------------------- CLI


def _is_number(value) -> bool:
    # bool is an int subclass, but True where a threshold is expected is a mistake.
    return isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value)


def _check_optional_positive(name: str, value) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"{name}: expected a positive int or None, got {value!r}")


def _target_arg(text: str) -> str | int:
    if text == "largest":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'largest' or a person index, got {text!r}") from None


def _run_video(args: argparse.Namespace) -> int:
    result = process_video(
        args.input,
        args.lifter,
        refiner=args.model,
        out_dir=args.out_dir,
        detector=args.detector,
        pose_model=args.pose_model,
        lifter_layout=args.lifter_layout,
        target=args.target,
        device=args.device,
        batch_size=args.batch_size,
        threshold=args.threshold,
        crop_detection=not args.no_crop,
        max_frames=args.max_frames,
        write_video=not args.no_video,
        overwrite=args.force,
    )
    found = int(np.isfinite(result.boxes[:, 0]).sum())
    cut = " (cut at --max-frames)" if result.truncated else ""
    print(f"{result.num_frames} frames{cut}, target found in {found}", file=sys.stderr)
    print(f"wrote {result.npz_path}")
    if result.video_path is not None:
        print(f"wrote {result.video_path}")
    return 0


def add_cli(subparsers: argparse._SubParsersAction) -> None:
    """Add ``gcnrefine video INPUT --lifter DIR`` to the command line."""
    video = subparsers.add_parser(
        "video",
        help="3D poses of one person in a video: detect, track, 2D keypoints, lift, refine",
        description=(
            f"Detect people ({DEFAULT_DETECTOR}), follow one, estimate its 2D keypoints "
            f"({DEFAULT_POSE_MODEL}), lift them to 3D and refine; write <input stem>_poses.npz and "
            "<input stem>_overlay.mp4 to --out-dir."
        ),
    )
    video.add_argument("input", help="video file")
    video.add_argument(
        "--lifter", default=None, help="TemporalLifterModel folder or Hub id (default: the shipped lifter)"
    )
    video.add_argument(
        "--lifter-layout",
        choices=LIFTER_LAYOUTS,
        default="h36m",
        help="the lifter's 2D input order (default h36m)",
    )
    video.add_argument(
        "--model", default=None, help="refiner folder or Hub id (default: the shipped checkpoint)"
    )
    video.add_argument("-o", "--out-dir", default=".", help="output folder (default: current)")
    video.add_argument(
        "--detector", default=DEFAULT_DETECTOR, help=f"object detector (default {DEFAULT_DETECTOR})"
    )
    video.add_argument(
        "--pose-model", default=DEFAULT_POSE_MODEL, help=f"ViTPose model (default {DEFAULT_POSE_MODEL})"
    )
    video.add_argument(
        "--target",
        type=_target_arg,
        default="largest",
        help="'largest' or a person index on the first frame, left to right",
    )
    video.add_argument("--max-frames", type=int, default=None, help="process at most this many frames")
    video.add_argument("--batch-size", type=int, default=8, help="frames per detector / pose-model pass")
    video.add_argument("--threshold", type=float, default=0.3, help="detector score threshold (default 0.3)")
    video.add_argument("--device", default=None, help="torch device (default: cuda when present, else cpu)")
    video.add_argument("--no-crop", action="store_true", help="detect on whole frames only")
    video.add_argument("--no-video", action="store_true", help="write only the .npz, no MP4")
    video.add_argument("--force", action="store_true", help="replace existing output files")
    video.set_defaults(func=_run_video)


__all__ = [
    "DEFAULT_DETECTOR",
    "DEFAULT_POSE_MODEL",
    "NPZ_KEYS",
    "PersonTracker",
    "Tracked2D",
    "VideoInfo",
    "VideoResult",
    "add_cli",
    "box_iou",
    "detect_people",
    "estimate_keypoints",
    "interpolate_missing",
    "iter_frames",
    "nms",
    "probe_video",
    "process_video",
    "render_video",
    "save_result",
    "track_keypoints",
]
