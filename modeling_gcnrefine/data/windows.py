"""Torch datasets of fixed-length windows over per-sequence arrays: centred, edge-replicated windows
for the refiner (`PoseWindows`, `RefinerWindows`) and receptive-field chunks for the lifter
(`LifterChunks`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from .sequences import root_relative


class LifterChunks(Dataset):
    """Training chunks for the temporal lifter: ``chunk`` output frames with their receptive field.

    Item: ``keypoints_2d`` ``(chunk + RF - 1, 17, 2)`` normalised 2D (edges replicated) and ``labels``
    ``(chunk, 17, 3)`` root-relative camera-frame 3D. Chunks tile every sequence; the last one of a
    sequence is shifted back so all chunks are full (sequences shorter than ``chunk`` are padded by
    edge replication on the label side too).
    """

    def __init__(self, inputs: Sequence[np.ndarray], targets: Sequence[np.ndarray], receptive_field: int, chunk: int = 32):
        if chunk < 1:
            raise ValueError(f"chunk: expected a positive integer, got {chunk!r}")
        self.pad = receptive_field // 2
        self.chunk = chunk
        self.inputs = [torch.from_numpy(np.pad(x, ((self.pad, self.pad), (0, 0), (0, 0)), mode="edge").astype(np.float32)) for x in inputs]
        self.targets = [torch.from_numpy(root_relative(y).astype(np.float32)) for y in targets]
        self.index = []
        for i, y in enumerate(self.targets):
            length = len(y)
            starts = list(range(0, max(length - chunk, 0) + 1, chunk))
            if starts[-1] + chunk < length:
                starts.append(length - chunk)
            self.index.extend((i, s) for s in starts)

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, item: int) -> dict[str, torch.Tensor]:
        i, start = self.index[item]
        target = self.targets[i]
        frames = torch.arange(start, start + self.chunk).clamp_(max=len(target) - 1)  # short sequences: hold
        window = torch.arange(start, start + self.chunk + 2 * self.pad).clamp_(max=len(self.inputs[i]) - 1)
        return {"keypoints_2d": self.inputs[i][window], "labels": target[frames]}


def _as_sequences(name: str, arrays: Sequence[Any], ndim: int) -> list[np.ndarray]:
    if isinstance(arrays, np.ndarray | torch.Tensor) and arrays.ndim == ndim:
        arrays = [arrays]  # one sequence given bare
    out = []
    for i, array in enumerate(arrays):
        array = array.detach().cpu().numpy() if isinstance(array, torch.Tensor) else np.asarray(array)
        if array.ndim != ndim or array.shape[0] == 0:
            expected = "(T, J, C)" if ndim == 3 else "(T, J)"
            raise ValueError(f"{name}[{i}]: expected shape {expected} with T >= 1, got {array.shape}")
        if array.dtype != np.bool_ and not np.isfinite(array).all():
            raise ValueError(f"{name}[{i}]: expected finite values, got NaN or infinity")
        out.append(array)
    if not out:
        raise ValueError(f"{name}: expected at least one sequence, got none")
    return out


class PoseWindows(torch.utils.data.Dataset):
    """Centred windows of ``window`` frames over per-sequence arrays, with edge replication.

    Item ``k`` is a dict with ``inputs`` (window, J, C_in) float32, ``targets`` (window, J, C_out)
    float32, ``visibility`` (window, J) bool, ``sequence`` (index of the source sequence) and
    ``frame`` (the centre frame, at ``window // 2`` in the window). Centres run over every
    ``stride``-th frame of every sequence; frames beyond a sequence's ends repeat its first/last
    frame, so every frame can be a centre. Inputs and targets are whatever the caller passes (2D
    keypoints, a lifter's predictions, ground truth), aligned frame by frame.
    """

    def __init__(
        self,
        inputs: Sequence[Any],
        targets: Sequence[Any],
        visibility: Sequence[Any] | None = None,
        *,
        window: int,
        stride: int = 1,
    ) -> None:
        if not isinstance(window, int | np.integer) or window < 1:
            raise ValueError(f"window: expected an integer >= 1, got {window!r}")
        if not isinstance(stride, int | np.integer) or stride < 1:
            raise ValueError(f"stride: expected an integer >= 1, got {stride!r}")
        inputs = _as_sequences("inputs", inputs, 3)
        targets = _as_sequences("targets", targets, 3)
        if visibility is None:
            visibility = [np.ones(t.shape[:2], dtype=bool) for t in targets]
        visibility = _as_sequences("visibility", visibility, 2)
        if not len(inputs) == len(targets) == len(visibility):
            raise ValueError(
                f"targets/visibility: expected {len(inputs)} sequences like inputs, got {len(targets)} "
                f"and {len(visibility)}"
            )
        for i, (x, y, v) in enumerate(zip(inputs, targets, visibility)):
            if x.shape[:2] != y.shape[:2] or v.shape != y.shape[:2]:
                raise ValueError(
                    f"sequence {i}: expected inputs, targets and visibility with the same (T, J), got "
                    f"{x.shape}, {y.shape} and {v.shape}"
                )
        self.window, self.stride = int(window), int(stride)
        lengths = np.array([len(x) for x in inputs], dtype=np.int64)
        self._starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        self._lengths = lengths
        # All frames of all sequences in one tensor each: (sum T, J, C), indexed by gather.
        self._inputs = torch.from_numpy(np.concatenate(inputs).astype(np.float32))
        self._targets = torch.from_numpy(np.concatenate(targets).astype(np.float32))
        self._visibility = torch.from_numpy(np.concatenate(visibility).astype(bool))
        centres = [np.arange(0, n, self.stride) for n in lengths]
        self._sequence = np.concatenate([np.full(len(c), i) for i, c in enumerate(centres)])  # (K,)
        self._centre = np.concatenate(centres)  # (K,)
        self._offsets = np.arange(self.window) - self.window // 2  # (window,)

    def __len__(self) -> int:
        return len(self._centre)

    def frame_indices(self, index: int) -> np.ndarray:
        """Rows of the concatenated frames that make up window ``index`` (edges clipped)."""
        sequence, centre = self._sequence[index], self._centre[index]
        local = np.clip(centre + self._offsets, 0, self._lengths[sequence] - 1)
        return self._starts[sequence] + local

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index: expected a value in [0, {len(self)}), got {index}")
        index = int(index) % len(self)
        rows = torch.from_numpy(self.frame_indices(index))
        return {
            "inputs": self._inputs[rows],
            "targets": self._targets[rows],
            "visibility": self._visibility[rows],
            "sequence": torch.tensor(int(self._sequence[index])),
            "frame": torch.tensor(int(self._centre[index])),
        }


def sequence_arrays(dataset: Any, columns: Sequence[str]) -> dict[str, list[np.ndarray]]:
    """Per-row numpy arrays of ``columns`` from a ``datasets.Dataset`` (one list entry per row)."""
    missing = [c for c in columns if c not in dataset.column_names]
    if missing:
        raise ValueError(f"columns: expected names from {dataset.column_names}, got unknown {missing}")
    formatted = dataset.with_format("numpy", columns=list(columns))
    return {column: [np.asarray(a) for a in formatted[column]] for column in columns}


def windows_from_dataset(
    dataset: Any,
    *,
    window: int,
    stride: int = 1,
    inputs: str = "keypoints_2d",
    targets: str = "keypoints_3d_camera",
    visibility: str | None = "visibility",
) -> PoseWindows:
    """:class:`PoseWindows` over the ``sequences`` rows of ``dataset`` (column names chosen by the caller)."""
    columns = [inputs, targets] + ([visibility] if visibility else [])
    arrays = sequence_arrays(dataset, columns)
    return PoseWindows(
        arrays[inputs],
        arrays[targets],
        arrays[visibility] if visibility else None,
        window=window,
        stride=stride,
    )


@dataclass
class RefinerSequences:
    """Aligned per-sequence arrays for windows: inputs (predictions), targets, visibility, confidence."""

    inputs: list[np.ndarray] = field(default_factory=list)
    targets: list[np.ndarray] = field(default_factory=list)
    visibility: list[np.ndarray] = field(default_factory=list)
    confidence: list[np.ndarray] = field(default_factory=list)
    keys: list[tuple[str, str, int, str, int]] = field(default_factory=list)


class RefinerWindows(torch.utils.data.Dataset):
    """Centred windows ``(T, 17, 3)`` of predictions and targets (edges replicated), as the model's kwargs."""

    def __init__(self, sequences: RefinerSequences, num_frames: int, stride: int = 1, with_confidence: bool = False):

        inputs = sequences.inputs
        if with_confidence:
            inputs = [np.concatenate([x, c[..., None]], axis=-1) for x, c in zip(sequences.inputs, sequences.confidence)]
        self.windows = PoseWindows(inputs, sequences.targets, sequences.visibility, window=num_frames, stride=stride)
        self.with_confidence = with_confidence

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        item = self.windows[index]
        out = {"poses_3d": item["inputs"][..., :3], "labels": item["targets"]}
        if self.with_confidence:
            out["confidence"] = item["inputs"][..., 3]
        return out
