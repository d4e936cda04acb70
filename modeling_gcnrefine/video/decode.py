"""Reading videos with PyAV (the ``video`` extra): probing, iterating frames as RGB arrays, and choosing
an output codec; plus the argument checks the video modules share.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

# Encoders tried in order for the MP4; PyAV's bundled FFmpeg has libx264, mpeg4 is the fallback.
VIDEO_CODECS = ("libx264", "mpeg4")


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


def _is_number(value) -> bool:
    # bool is an int subclass, but True where a threshold is expected is a mistake.
    return isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value)


def _check_optional_positive(name: str, value) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"{name}: expected a positive int or None, got {value!r}")



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
