"""The `datasets` builder for BlendMimic3D: features of the ``sequences`` and ``multiview`` configs,
the dataset description, and building (and caching) a `DatasetDict` from a raw upstream folder.

The raw files are read by :mod:`.upstream`; ``datasets`` (the ``data`` extra) is needed here only.
"""

from __future__ import annotations

import hashlib
import inspect
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..skeleton import H36M
from .upstream import (
    BUILDER_VERSION,
    CITATION,
    CONFIG_NAMES,
    HOMEPAGE,
    LICENSE_NOTE,
    NUM_CAMERAS,
    NUM_JOINTS,
    SPLIT_SUBJECTS,
    SUBJECTS,
    UPSTREAM_COMMIT,
    UPSTREAM_REPO,
    BlendMimic3DFileError,
    _check_convention,
    download_upstream,
    iter_actions,
    iter_camera_sequences,
)

try:  # the ``data`` extra; the plain readers below work without it
    import datasets
except ImportError:  # pragma: no cover - exercised only without the extra
    datasets = None


def _require_datasets() -> Any:
    if datasets is None:
        raise ImportError("the BlendMimic3D builder needs the 'data' extra: pip install 'gcnrefine[data]'")
    return datasets


def sequence_features() -> Any:
    """Features of the ``sequences`` config (also used by the Human3.6M adapter)."""
    ds = _require_datasets()
    return ds.Features(
        {
            "subject": ds.Value("string"),
            "action": ds.Value("string"),
            "camera": ds.Value("int32"),
            "camera_id": ds.Value("string"),
            "scenario": ds.Value("string"),
            "multi_person": ds.Value("bool"),
            "num_frames": ds.Value("int32"),
            "image_width": ds.Value("int32"),
            "image_height": ds.Value("int32"),
            "keypoints_2d": ds.Array3D(shape=(None, NUM_JOINTS, 2), dtype="float32"),
            "keypoints_3d_world": ds.Array3D(shape=(None, NUM_JOINTS, 3), dtype="float32"),
            "keypoints_3d_camera": ds.Array3D(shape=(None, NUM_JOINTS, 3), dtype="float32"),
            "visibility": ds.Array2D(shape=(None, NUM_JOINTS), dtype="bool"),
            "intrinsics": ds.Array2D(shape=(3, 3), dtype="float32"),
            "extrinsics": ds.Array2D(shape=(3, 4), dtype="float32"),
            "joint_convention": ds.Value("string"),
        }
    )


def multiview_features() -> Any:
    """Features of the ``multiview`` config: camera axis second, after time."""
    ds = _require_datasets()
    return ds.Features(
        {
            "subject": ds.Value("string"),
            "action": ds.Value("string"),
            "scenario": ds.Value("string"),
            "multi_person": ds.Value("bool"),
            "num_frames": ds.Value("int32"),
            "camera": ds.List(ds.Value("int32"), length=NUM_CAMERAS),
            "camera_id": ds.List(ds.Value("string"), length=NUM_CAMERAS),
            "image_width": ds.List(ds.Value("int32"), length=NUM_CAMERAS),
            "image_height": ds.List(ds.Value("int32"), length=NUM_CAMERAS),
            "keypoints_2d": ds.Array4D(shape=(None, NUM_CAMERAS, NUM_JOINTS, 2), dtype="float32"),
            "keypoints_3d_world": ds.Array3D(shape=(None, NUM_JOINTS, 3), dtype="float32"),
            "keypoints_3d_camera": ds.Array4D(shape=(None, NUM_CAMERAS, NUM_JOINTS, 3), dtype="float32"),
            "visibility": ds.Array3D(shape=(None, NUM_CAMERAS, NUM_JOINTS), dtype="bool"),
            "intrinsics": ds.Array3D(shape=(NUM_CAMERAS, 3, 3), dtype="float32"),
            "extrinsics": ds.Array3D(shape=(NUM_CAMERAS, 3, 4), dtype="float32"),
            "joint_convention": ds.Value("string"),
        }
    )


def features_for(config_name: str) -> Any:
    """Features of ``config_name`` ("sequences" or "multiview")."""
    if config_name not in CONFIG_NAMES:
        raise ValueError(f"config: expected one of {CONFIG_NAMES}, got {config_name!r}")
    return sequence_features() if config_name == "sequences" else multiview_features()


def describe(joint_convention: str = "anatomical") -> str:
    """Plain-text description with the joint names, parents and convention (goes into DatasetInfo)."""
    _check_convention(joint_convention)
    joints = ", ".join(f"{i} {name}" for i, name in enumerate(H36M.joint_names))
    meaning = (
        "anatomical (slot 'left_hip' is the person's left hip; upstream slots swapped left/right)"
        if joint_convention == "anatomical"
        else "upstream (as the files store them: mirrored, slot 'left_hip' holds the person's right hip)"
    )
    return (
        "BlendMimic3D (Lino, Santiago, Marques, CVPR 2024 workshops): synthetic multi-camera 3D human "
        "poses with per-keypoint occlusion labels, rendered in Blender. "
        f"Upstream {UPSTREAM_REPO}@{UPSTREAM_COMMIT}. "
        f"Joints: Human3.6M-17 [{joints}]; parents {list(H36M.parents)}; convention {meaning}. "
        "Cameras: X_cam = R X_world + t with extrinsics [R | t]; pixels = K X_cam / depth; no distortion. "
        "World frame z up, camera frame x right, y down, z forward, metres. "
        "visibility: True = visible (Blender viewport test plus ray casting; False = occluded or out of frame)."
    )


if datasets is not None:

    @dataclass
    class BlendMimic3DConfig(datasets.BuilderConfig):
        """Builder config; ``joint_convention`` is "anatomical" (default) or "upstream"."""

        joint_convention: str = "anatomical"

    class BlendMimic3D(datasets.GeneratorBasedBuilder):
        """BlendMimic3D from the upstream files in ``data_dir`` (downloaded at the pinned commit when
        ``data_dir`` is None)."""

        VERSION = datasets.Version(BUILDER_VERSION)
        BUILDER_CONFIG_CLASS = BlendMimic3DConfig
        BUILDER_CONFIGS = [  # noqa: RUF012 - datasets reads this class attribute as a list
            BlendMimic3DConfig(
                name="sequences", version=VERSION, description="One row per subject, action, camera."
            ),
            BlendMimic3DConfig(
                name="multiview", version=VERSION, description="One row per subject and action."
            ),
        ]
        DEFAULT_CONFIG_NAME = "sequences"
        # Rows are large arrays: small Arrow batches keep memory flat while writing.
        DEFAULT_WRITER_BATCH_SIZE = 8

        def _info(self) -> Any:
            _check_convention(self.config.joint_convention)
            return datasets.DatasetInfo(
                description=describe(self.config.joint_convention),
                features=features_for(self.config.name),
                homepage=HOMEPAGE,
                citation=CITATION,
                license=LICENSE_NOTE,
            )

        def _split_generators(self, dl_manager: Any) -> list[Any]:
            raw_dir = self.config.data_dir or str(download_upstream())
            return [
                datasets.SplitGenerator(name=split, gen_kwargs={"raw_dir": raw_dir, "subjects": subjects})
                for split, subjects in SPLIT_SUBJECTS.items()
            ]

        def _generate_examples(self, raw_dir: str, subjects: Sequence[str]) -> Iterator[tuple[str, dict]]:
            convention = self.config.joint_convention
            if self.config.name == "multiview":
                for record in iter_actions(raw_dir, subjects, convention):
                    yield f"{record['subject']}/{record['action']}", record
            else:
                for record in iter_camera_sequences(raw_dir, subjects, convention):
                    yield f"{record['subject']}/{record['action']}/{record['camera']}", record


def source_fingerprint(raw_dir: str | os.PathLike) -> str:
    """Hash of the builder's code and of the name, size and mtime of every upstream ``.npz``: a
    changed source or builder gets a new cache entry instead of stale rows."""
    digest = hashlib.sha256(BUILDER_VERSION.encode())
    digest.update(inspect.getsource(inspect.getmodule(source_fingerprint)).encode())
    root = Path(raw_dir)
    for path in sorted(root.glob("S*/**/*.npz")):
        stat = path.stat()
        digest.update(f"{path.relative_to(root).as_posix()}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def is_raw_layout(path: str | os.PathLike) -> bool:
    """True when ``path`` looks like the upstream layout (``S1/Cameras`` present)."""
    return (Path(path) / "S1" / "Cameras").is_dir()


def build_blendmimic3d(
    raw_dir: str | os.PathLike,
    config: str = "sequences",
    *,
    joint_convention: str = "anatomical",
    cache_dir: str | os.PathLike | None = None,
) -> Any:
    """Build (or reuse from the cache) one config from a raw upstream folder; returns a ``DatasetDict``.

    The Arrow files live under ``cache_dir`` (default ``HF_DATASETS_CACHE``), keyed by the config,
    the convention, the folder and :func:`source_fingerprint`, so a second call reads the cache.
    """
    _require_datasets()
    if config not in CONFIG_NAMES:
        raise ValueError(f"config: expected one of {CONFIG_NAMES}, got {config!r}")
    _check_convention(joint_convention)
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        raise ValueError(f"raw_dir: expected an existing folder in the upstream layout, got {str(raw_dir)!r}")
    for folder in SUBJECTS:
        if not (raw_dir / folder).is_dir():
            raise BlendMimic3DFileError(f"{raw_dir / folder}: subject folder is missing")
    builder = BlendMimic3D(
        config_name=config,
        data_dir=str(raw_dir.resolve()),
        cache_dir=None if cache_dir is None else str(cache_dir),
        dataset_name="blendmimic3d",
        hash=source_fingerprint(raw_dir),
        joint_convention=joint_convention,
    )
    try:
        builder.download_and_prepare()
    except datasets.exceptions.DatasetGenerationError as error:
        # datasets wraps errors raised while generating; surface ours, which name the file.
        if isinstance(error.__cause__, BlendMimic3DFileError):
            raise error.__cause__ from None
        raise
    return builder.as_dataset()
