"""Following one person through a video: box IoU, non-maximum suppression, and a tracker that keeps the
chosen target across frames.
"""

from __future__ import annotations

import numpy as np

from .decode import _check_optional_positive, _is_number


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
