"""Single frames of a video on demand, and 2D keypoints drawn on them.

:class:`VideoFrames` gives random access to a video's frames for a viewer that follows a frame slider:
a frame is decoded when asked for (a seek to the keyframe before it, then decoding forward; or just
decoding forward when it comes shortly after the last one decoded, as when playing), optionally scaled
down, and kept in a small cache. The whole video is never held in memory: at most ``cache_size``
frames are, so a 720p clip at the default 640 px width costs about 17 MB.

:func:`draw_keypoints` draws a Human3.6M-17 skeleton in pixel coordinates on such a frame, with the
occluded joints marked apart from the visible ones.

PyAV (the ``video`` extra) is imported when a video is opened; drawing needs Pillow (a dependency of
matplotlib, in the same extra).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..skeleton import H36M_PARENTS
from .decode import _open

DEFAULT_CACHE_FRAMES = 24
# When the frame asked for lies at most this many frames after the next one the decoder would give,
# decoding on is cheaper than a seek (which decodes from the keyframe before it: up to a GOP, 18
# frames in BlendMimic3D's videos); beyond it, seek.
FORWARD_DECODE_FRAMES = 24


def _check_positive(name: str, value, optional: bool = False, minimum: int = 1) -> None:
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        expected = f"an int >= {minimum}" + (" or None" if optional else "")
        raise ValueError(f"{name}: expected {expected}, got {value!r}")


class VideoFrames:
    """Random access to the frames of one video, decoded on demand with PyAV.

    Args:
        path: the video file.
        width: width in pixels of the frames returned (height keeps the aspect ratio); ``None``: the
            video's own size. Scaling happens while converting to RGB, so the cache holds small frames.
        cache_size: most decoded frames kept (least recently used dropped first); 0 keeps none.

    Frames are numbered from 0 in presentation order, from the container's packets (read once when
    opening, without decoding), so frame ``i`` is the ``i``-th frame a player shows. Thread-safe; close
    it (or use it as a context manager) to release the file.

    Raises:
        ValueError: not a readable video, no video stream, or no frames (the message names the path).
    """

    def __init__(self, path: str | os.PathLike, *, width: int | None = None, cache_size: int = DEFAULT_CACHE_FRAMES):
        _check_positive("width", width, optional=True, minimum=16)
        _check_positive("cache_size", cache_size, minimum=0)
        self.path = Path(path)
        self._container = _open(self.path)
        try:
            self._stream = self._container.streams.video[0]
            # Presentation timestamps of every frame, from the packets alone: the frame numbering.
            pts = sorted({p.pts for p in self._container.demux(self._stream) if p.pts is not None and p.size})
            if not pts:
                raise ValueError(f"path: expected a video with frames, got {str(self.path)!r} (no frames)")
            context = self._stream.codec_context
            self.source_size: tuple[int, int] = (int(context.width), int(context.height))
        except BaseException:
            self._container.close()
            raise
        self._pts = pts
        self._index_of = {p: i for i, p in enumerate(pts)}
        source_width, source_height = self.source_size
        if width is None or width >= source_width:
            self.size = self.source_size
        else:  # even sizes: what most encoders and viewers expect
            self.size = (int(width) // 2 * 2, max(2, round(source_height * width / source_width / 2) * 2))
        self.cache_size = int(cache_size)
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._decoder = None
        self._next: int | None = None  # the frame the decoder gives next without a seek
        self._lock = threading.Lock()
        self.decoded = 0  # frames decoded so far (seeks decode some that are not asked for)
        self.seeks = 0

    @property
    def num_frames(self) -> int:
        return len(self._pts)

    def __len__(self) -> int:
        return len(self._pts)

    @property
    def scale(self) -> float:
        """Returned width over the video's width: multiply the video's pixel coordinates by it."""
        return self.size[0] / self.source_size[0]

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` as RGB ``(height, width, 3)`` uint8 at :attr:`size` (read-only: it may be
        cached and shared)."""
        if isinstance(index, bool) or not isinstance(index, int | np.integer) or not 0 <= index < len(self._pts):
            raise ValueError(f"index: expected a frame number from 0 to {len(self._pts) - 1}, got {index!r}")
        index = int(index)
        with self._lock:
            if self._container is None:
                raise ValueError(f"{self.path.name}: the video was closed")
            cached = self._cache.get(index)
            if cached is not None:
                self._cache.move_to_end(index)
                return cached
            if self._next is None or not self._next <= index <= self._next + FORWARD_DECODE_FRAMES:
                self._seek(index)
            return self._decode_until(index)

    def _seek(self, index: int) -> None:
        # backward + any_frame=False: the keyframe at or before the frame; PyAV flushes the decoder.
        self._container.seek(self._pts[index], stream=self._stream, backward=True, any_frame=False)
        self._decoder = self._container.decode(self._stream)
        self._next = None
        self.seeks += 1

    def _decode_until(self, index: int) -> np.ndarray:
        for frame in self._decoder:
            self.decoded += 1
            found = self._index_of.get(frame.pts)
            if found is None:  # a timestamp the packets did not announce: cannot be numbered
                continue
            self._next = found + 1
            if found < index and index - found > self.cache_size:
                continue  # would be dropped from the cache before the frame asked for arrives
            if found > index:
                break
            image = frame.to_ndarray(format="rgb24", width=self.size[0], height=self.size[1])
            image.setflags(write=False)
            self._remember(found, image)
            if found == index:
                return image
        self._next = None  # the end, or a frame the decoder skipped: the next call seeks afresh
        raise ValueError(f"{self.path.name}: frame {index} of {len(self._pts)} could not be decoded")

    def _remember(self, index: int, image: np.ndarray) -> None:
        if self.cache_size == 0:
            return
        self._cache[index] = image
        self._cache.move_to_end(index)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def close(self) -> None:
        with self._lock:
            if self._container is not None:
                self._container.close()
            self._container, self._decoder, self._next = None, None, None
            self._cache.clear()

    def __enter__(self) -> VideoFrames:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def draw_keypoints(
    image: np.ndarray,
    keypoints: np.ndarray,
    *,
    color: Sequence[int],
    occluded: np.ndarray | None = None,
    occluded_color: Sequence[int] | None = None,
    scale: float = 1.0,
    line_width: int = 2,
    radius: int = 3,
    parents: Sequence[int] = H36M_PARENTS,
) -> np.ndarray:
    """A copy of ``image`` with a 2D skeleton drawn on it.

    Args:
        image: RGB ``(H, W, 3)`` uint8.
        keypoints: ``(J, 2)`` pixel coordinates (of the video; ``scale`` maps them onto ``image``).
            Joints with a NaN coordinate, and the bones touching them, are not drawn (a frame where the
            detector found no person draws nothing).
        color: RGB of the bones and joints.
        occluded: ``(J,)`` bool, True where a joint is hidden in the image: drawn as an open ring (in
            ``occluded_color``, default ``color``) instead of a filled dot, so hidden joints stand apart.
        scale: factor from video pixels to ``image`` pixels (:attr:`VideoFrames.scale`).
        parents: each joint's parent (-1 for the root); Human3.6M-17 by default.
    """
    from PIL import Image, ImageDraw

    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"image: expected an RGB uint8 array (H, W, 3), got {image.dtype} {image.shape}")
    points = np.asarray(keypoints, dtype=np.float64)
    joints = len(parents)
    if points.shape != (joints, 2):
        raise ValueError(f"keypoints: expected shape ({joints}, 2), got {points.shape}")
    if occluded is not None:
        occluded = np.asarray(occluded)
        if occluded.dtype != np.bool_ or occluded.shape != (joints,):
            raise ValueError(f"occluded: expected a bool array of shape ({joints},), got {occluded.dtype} {occluded.shape}")
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"scale: expected a positive number, got {scale!r}")
    color = tuple(int(c) for c in color)
    ring = color if occluded_color is None else tuple(int(c) for c in occluded_color)
    points = points * scale
    drawn = np.isfinite(points).all(axis=1)
    canvas = Image.fromarray(image)
    draw = ImageDraw.Draw(canvas)
    for child, parent in enumerate(parents):
        if parent >= 0 and drawn[child] and drawn[parent]:
            draw.line([tuple(points[parent]), tuple(points[child])], fill=color, width=line_width)
    for joint in np.flatnonzero(drawn):
        x, y = points[joint]
        if occluded is not None and occluded[joint]:
            r = radius + 2
            draw.ellipse([x - r, y - r, x + r, y + r], outline=ring, width=2)
        else:
            draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=color)
    return np.asarray(canvas)
