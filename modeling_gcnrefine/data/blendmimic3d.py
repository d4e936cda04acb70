"""BlendMimic3D for training and evaluation: loading, validation splits and summaries.

``load_blendmimic3d`` returns the ``datasets.DatasetDict`` from a raw upstream folder (built once
and cached), an exported folder (parquet + dataset card), or a Hub repository id. ``datasets`` (the
``data`` extra) is needed by every function here.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from huggingface_hub import snapshot_download
from huggingface_hub.errors import LocalEntryNotFoundError, RepositoryNotFoundError

from .builder import build_blendmimic3d, is_raw_layout
from .upstream import CONFIG_NAMES, ENV_VAR, JOINT_CONVENTIONS, SPLIT_SUBJECTS, download_upstream

# Human3.6M's standard split (S9 is the test subject here, as in the paper's protocol).
H36M_SPLITS: dict[str, tuple[str, ...]] = {"train": ("S1", "S5", "S6", "S7", "S8", "S11"), "test": ("S9",)}
# Subjects the paper keeps for testing (BlendMimic3D SS3, Human3.6M S9): never train or select models on them.
TEST_SUBJECTS: tuple[str, ...] = SPLIT_SUBJECTS["test"] + H36M_SPLITS["test"]


_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


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
        source = os.environ.get(ENV_VAR) or download_upstream()
    path = Path(source).expanduser()
    if path.is_dir():
        if is_raw_layout(path):
            return build_blendmimic3d(
                path, config, joint_convention=joint_convention or "anatomical", cache_dir=cache_dir
            )
        if not _is_exported(path, config):
            raise ValueError(
                f"source: expected a raw BlendMimic3D folder (S1/Cameras ...) or an exported one "
                f"(README.md, {config}/*.parquet), got {str(path)!r}"
            )
        local = path
    elif isinstance(source, str) and _REPO_ID.match(source) and not path.exists():

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


