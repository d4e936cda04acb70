"""BlendMimic3D for training and evaluation: loading, validation splits and torch windows.

``load_blendmimic3d`` returns the ``datasets.DatasetDict`` from a raw upstream folder (built once
and cached), an exported folder (parquet + dataset card), or a Hub repository id. The windowing
helpers are generic: they take per-sequence numpy arrays from the caller (2D keypoints, a
lifter's 3D predictions, ...) and serve centred, edge-replicated windows as float32 tensors.

``datasets`` (the ``data`` extra) is needed by the loading and split functions only; the windows
work on plain arrays.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dataset_scripts import blendmimic3d_builder as builder
from dataset_scripts.blendmimic3d_builder import CONFIG_NAMES, ENV_VAR, JOINT_CONVENTIONS
from dataset_scripts.h36m import H36M_SPLITS

__all__ = [
    "CONFIG_NAMES",
    "ENV_VAR",
    "TEST_SUBJECTS",
    "PoseWindows",
    "dataset_summary",
    "load_blendmimic3d",
    "sequence_arrays",
    "split_by_action",
    "split_by_subject",
    "windows_from_dataset",
]
# Subjects the paper keeps for testing (BlendMimic3D SS3, Human3.6M S9): never train or select models on them.
TEST_SUBJECTS: tuple[str, ...] = builder.SPLIT_SUBJECTS["test"] + H36M_SPLITS["test"]
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


# --------------------------------------------------------------------------- loading


def _is_exported(path: Path, config: str) -> bool:
    """An exported folder: a dataset card or ``<config>/*.parquet`` at the top."""
    return (path / "README.md").is_file() or any((path / config).glob("*.parquet"))


def load_blendmimic3d(
    source: str | os.PathLike | None = None,
    config: str = "sequences",
    *,
    joint_convention: str | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> Any:
    """BlendMimic3D as a ``DatasetDict`` with ``train`` (SS1 + SS2) and ``test`` (SS3) splits.

    Args:
        source: a raw upstream folder (built into Arrow under ``cache_dir`` on first use and read
            from there afterwards), a folder written by ``dataset_scripts.export_blendmimic3d``, or
            a Hub dataset repo id ("owner/name"). Default: ``$GCNREFINE_BLENDMIMIC3D_DIR``, else
            the upstream files downloaded once at the pinned commit.
        config: "sequences" (one row per subject, action, camera) or "multiview" (per action).
        joint_convention: "anatomical" or "upstream". Raw folders are built in it (default
            anatomical); exported or Hub data are checked against it (None accepts what is there).
        cache_dir: where built Arrow files go (default ``HF_DATASETS_CACHE``).
    """
    import datasets

    if config not in CONFIG_NAMES:
        raise ValueError(f"config: expected one of {CONFIG_NAMES}, got {config!r}")
    if joint_convention is not None and joint_convention not in JOINT_CONVENTIONS:
        raise ValueError(
            f"joint_convention: expected one of {JOINT_CONVENTIONS} or None, got {joint_convention!r}"
        )
    if source is None:
        source = os.environ.get(ENV_VAR) or builder.download_upstream()
    path = Path(source).expanduser()
    if path.is_dir():
        if builder.is_raw_layout(path):
            return builder.build_blendmimic3d(
                path, config, joint_convention=joint_convention or "anatomical", cache_dir=cache_dir
            )
        if not _is_exported(path, config):
            raise ValueError(
                f"source: expected a raw BlendMimic3D folder (S1/Cameras ...) or an exported one "
                f"(README.md, {config}/*.parquet), got {str(path)!r}"
            )
        local = path
    elif isinstance(source, str) and _REPO_ID.match(source) and not path.exists():
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError, RepositoryNotFoundError

        try:
            # The whole repo: datasets resolves every config of the card, not only the one asked for.
            local = Path(snapshot_download(source, repo_type="dataset"))
        except (RepositoryNotFoundError, LocalEntryNotFoundError) as error:
            raise ValueError(
                f"source: {source!r} is neither an existing folder nor a Hub dataset repo available here "
                f"(offline mode needs it in the Hub cache): {error}"
            ) from error
    else:
        raise ValueError(f"source: expected an existing folder or a Hub repo id 'owner/name', got {source!r}")
    dataset = datasets.load_dataset(
        str(local), config, cache_dir=None if cache_dir is None else str(cache_dir)
    )
    if joint_convention is not None:
        for split, part in dataset.items():
            found = set(part.unique("joint_convention"))
            if found != {joint_convention}:
                raise ValueError(
                    f"joint_convention: expected {joint_convention!r}, but {source}'s {split} split "
                    f"holds {sorted(found)}; rebuild from the raw files with that convention"
                )
    return dataset


def dataset_summary(dataset: Any) -> dict[str, dict[str, float]]:
    """Per split: rows, frames, camera-frames and the visible fraction of keypoint observations.

    Works for both configs (``multiview`` rows count every camera's frames).
    """
    import datasets

    summary = {}
    for split, part in dataset.items():
        frames = np.asarray(part["num_frames"], dtype=np.int64)
        if isinstance(part.features["camera"], datasets.Value):  # sequences: one camera per row
            cameras = np.ones_like(frames)
        else:  # multiview: a list of cameras per row
            cameras = np.array([len(c) for c in part["camera"]], dtype=np.int64)
        visible = total = 0
        for mask in part.with_format("numpy")["visibility"]:
            visible += int(mask.sum())
            total += int(mask.size)
        summary[split] = {
            "rows": len(part),
            "frames": int(frames.sum()),
            "camera_frames": int((frames * cameras).sum()),
            "visible_fraction": visible / total if total else float("nan"),
        }
    return summary


# --------------------------------------------------------------------------- validation splits


def _group_columns(dataset: Any) -> tuple[list[str], list[str]]:
    for column in ("subject", "action"):
        if column not in dataset.column_names:
            raise ValueError(f"dataset: expected a '{column}' column, got columns {dataset.column_names}")
    return list(dataset["subject"]), list(dataset["action"])


def _guard_test_subjects(subjects: Sequence[str], allow_test_subjects: bool) -> None:
    leaked = sorted(set(subjects) & set(TEST_SUBJECTS))
    if leaked and not allow_test_subjects:
        raise ValueError(
            f"dataset: expected training subjects only, got test subjects {leaked} (the paper's test set "
            "must not be used for training or model selection); pass the train split"
        )


def split_by_subject(dataset: Any, val_subjects: Sequence[str], *, allow_test_subjects: bool = False) -> Any:
    """Hold out whole subjects: ``DatasetDict(train=..., validation=...)`` of ``dataset``'s rows."""
    import datasets

    subjects, _ = _group_columns(dataset)
    _guard_test_subjects(subjects, allow_test_subjects)
    present = sorted(set(subjects))
    val = set(val_subjects)
    if not val or not val <= set(present) or val == set(present):
        raise ValueError(
            f"val_subjects: expected a non-empty proper subset of {present}, got {sorted(val_subjects)}"
        )
    is_val = np.array([s in val for s in subjects])
    return datasets.DatasetDict(
        train=dataset.select(np.flatnonzero(~is_val)), validation=dataset.select(np.flatnonzero(is_val))
    )


def split_by_action(
    dataset: Any, val_fraction: float = 0.2, *, seed: int = 0, allow_test_subjects: bool = False
) -> Any:
    """Hold out whole (subject, action) groups, all cameras together, never single frames.

    An action and its ``_multi`` variant share the same motion, so they stay on one side.
    Returns ``DatasetDict(train=..., validation=...)``.
    """
    import datasets

    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction: expected a value in (0, 1), got {val_fraction}")
    subjects, actions = _group_columns(dataset)
    _guard_test_subjects(subjects, allow_test_subjects)
    keys = [(s, a.removesuffix("_multi")) for s, a in zip(subjects, actions)]
    groups = sorted(set(keys))
    if len(groups) < 2:
        raise ValueError(f"dataset: expected at least 2 (subject, action) groups to split, got {len(groups)}")
    num_val = min(len(groups) - 1, max(1, round(val_fraction * len(groups))))
    order = np.random.default_rng(seed).permutation(len(groups))
    val = {groups[i] for i in order[:num_val]}
    is_val = np.array([k in val for k in keys])
    return datasets.DatasetDict(
        train=dataset.select(np.flatnonzero(~is_val)), validation=dataset.select(np.flatnonzero(is_val))
    )


# --------------------------------------------------------------------------- torch windows


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
