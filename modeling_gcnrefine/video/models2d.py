"""The 2D models of the video pipeline, loaded from the Hub through transformers: RT-DETR person boxes
and ViTPose COCO-17 keypoints per frame.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from transformers import AutoImageProcessor, AutoModelForObjectDetection, VitPoseForPoseEstimation

from .tracking import _centres, nms

DEFAULT_DETECTOR = "PekingU/rtdetr_r50vd_coco_o365"


DEFAULT_POSE_MODEL = "usyd-community/vitpose-base-simple"


def default_device() -> str:
    """``cuda`` when a GPU is visible, else ``cpu``."""

    return "cuda" if torch.cuda.is_available() else "cpu"


@functools.lru_cache(maxsize=2)
def load_detector(model_id: str, device: str):
    """(image processor, object detector in eval mode on ``device``, label id of "person"); cached."""

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
