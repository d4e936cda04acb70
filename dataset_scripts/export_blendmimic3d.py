"""Export BlendMimic3D as parquet shards plus a dataset card that ``load_dataset`` reads with no code.

    gcnrefine data export --source DIR --out DIR [--push-to-hub REPO_ID]

writes ``OUT/README.md`` (card with the ``configs:`` YAML) and
``OUT/<config>/<split>-0000i-of-0000n.parquet`` for the ``sequences`` and ``multiview`` configs.
The folder is assembled under a temporary name beside ``OUT`` and renamed into place at the end,
so an interrupted export never leaves a half-written dataset; an existing ``OUT`` is replaced
only with ``overwrite=True`` (``--force``).
"""

from __future__ import annotations

import math
import os
import shutil
import string
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from huggingface_hub import DatasetCardData, HfApi
from tqdm.auto import tqdm

import modeling_gcnrefine
from modeling_gcnrefine.data import builder, upstream
from modeling_gcnrefine.data.blendmimic3d import dataset_summary, load_blendmimic3d
from modeling_gcnrefine.skeleton import BLENDMIMIC3D_UPSTREAM_TO_ANATOMICAL, H36M
from modeling_gcnrefine.utils.geometry import project
from modeling_gcnrefine.utils.io import set_default_mode

CARD_TEMPLATE = "dataset_card_template.md"


# One-line meaning of every ``sequences`` column, for the card.
COLUMN_DOCS: dict[str, str] = {
    "subject": "synthetic subject, `SS1`..`SS3` (upstream folders `S1`..`S3`)",
    "action": "upstream action name, e.g. `WalkCircle`, `Focus_multi`",
    "camera": "camera index 0-3 (upstream `Cam_0`..`Cam_3`)",
    "camera_id": "upstream camera name, e.g. `Camera_3`",
    "scenario": "`self_occlusion` (SS1), `object_and_out_of_frame_occlusion` (SS2), `retail` (SS3)",
    "multi_person": "other people in the scene (actions ending in `_multi`)",
    "num_frames": "T, frames in the sequence",
    "image_width": "image width in pixels, from the upstream camera file",
    "image_height": "image height in pixels, from the upstream camera file",
    "keypoints_2d": "(T, 17, 2) pixels, x right, y down",
    "keypoints_3d_world": "(T, 17, 3) metres, world frame, z up",
    "keypoints_3d_camera": "(T, 17, 3) metres, camera frame (x right, y down, z forward)",
    "visibility": "(T, 17) True = visible, False = occluded or out of frame",
    "intrinsics": "K (3, 3), pixels",
    "extrinsics": "world-to-camera [R | t] (3, 4): X_cam = R X_world + t",
    "joint_convention": "`anatomical` or `upstream` (see Joints)",
}


def _feature_type(feature: Any) -> str:
    """Short type name of a ``datasets`` feature for the card."""
    shape = getattr(feature, "shape", None)
    if shape is not None:
        dims = ", ".join("T" if d is None else str(d) for d in shape)
        return f"{type(feature).__name__}(({dims}), {feature.dtype})"
    return getattr(feature, "dtype", type(feature).__name__)


def render_card(
    stats: dict[str, dict[str, dict[str, float]]],
    *,
    joint_convention: str,
    reprojection_px: float,
) -> str:
    """The dataset card (README.md): YAML header with ``configs:`` and ``dataset_info``, then the body.

    ``stats`` maps config -> split -> :func:`modeling_gcnrefine.data.dataset_summary` entries.
    """
    import datasets
    from datasets.info import DatasetInfosDict


    configs = [name for name in upstream.CONFIG_NAMES if name in stats]
    card_data = DatasetCardData(
        license="unknown",
        pretty_name="BlendMimic3D",
        task_categories=["keypoint-detection"],
        tags=["3d-human-pose-estimation", "occlusion", "synthetic", "multi-view", "human3.6m", "blender"],
        size_categories=["n<1K"],
        configs=[
            {
                "config_name": name,
                **({"default": True} if name == "sequences" else {}),
                "data_files": [
                    {"split": split, "path": f"{name}/{split}-*.parquet"} for split in stats[name]
                ],
            }
            for name in configs
        ],
    )
    infos = DatasetInfosDict(
        {
            name: datasets.DatasetInfo(
                features=builder.features_for(name),
                splits=datasets.SplitDict(
                    {
                        split: datasets.SplitInfo(
                            name=split,
                            num_examples=int(entry["rows"]),
                            num_bytes=int(entry.get("num_bytes", 0)),
                        )
                        for split, entry in stats[name].items()
                    }
                ),
            )
            for name in configs
        }
    )
    infos.to_dataset_card_data(card_data)

    rows = [
        f"| `{name}` | `{split}` | {int(e['rows']):,} | {int(e['frames']):,} | {int(e['camera_frames']):,} "
        f"| {e['visible_fraction']:.3f} |"
        for name in configs
        for split, e in stats[name].items()
    ]
    features = builder.sequence_features()
    columns = [f"| `{c}` | `{_feature_type(f)}` | {COLUMN_DOCS.get(c, '')} |" for c, f in features.items()]
    joints = [
        f"| {i} | {name} | {parent} |" for i, (name, parent) in enumerate(zip(H36M.joint_names, H36M.parents))
    ]
    if joint_convention == "anatomical":
        sentence = (
            "The joint called `left_hip` is the person's left hip, as in Human3.6M and COCO; the "
            "upstream files store these slots mirrored, and this copy swaps them back (see below)."
        )
    else:
        sentence = (
            "The joint slots are kept as the upstream files store them, which is mirrored against "
            "Human3.6M: the slot called `left_hip` holds the person's right hip (see below)."
        )
    template = Path(__file__).with_name(CARD_TEMPLATE).read_text(encoding="utf-8")
    body = string.Template(template).substitute(
        upstream_repo=upstream.UPSTREAM_REPO,
        upstream_commit=upstream.UPSTREAM_COMMIT,
        homepage=upstream.HOMEPAGE,
        tool_version=modeling_gcnrefine.__version__,
        joint_convention=joint_convention,
        convention_sentence=sentence,
        stats_table="\n".join(rows),
        sequence_features="\n".join(columns),
        joint_table="\n".join(joints),
        parents=list(H36M.parents),
        permutation=list(BLENDMIMIC3D_UPSTREAM_TO_ANATOMICAL),
        reprojection_px=f"{max(reprojection_px, 1e-6):.1e}",
        license_note=upstream.LICENSE_NOTE,
        citation=upstream.CITATION,
    )
    return f"---\n{card_data.to_yaml()}\n---\n\n{body}"


def max_reprojection_error(dataset: Any) -> float:
    """Largest distance (px, per axis) between projected ``keypoints_3d_camera`` and ``keypoints_2d``
    over every row of a ``sequences`` DatasetDict."""


    worst = 0.0
    for part in dataset.values():
        columns = ["keypoints_2d", "keypoints_3d_camera", "intrinsics"]
        for row in part.with_format("numpy", columns=columns):
            error = np.abs(project(row["keypoints_3d_camera"], row["intrinsics"]) - row["keypoints_2d"])
            worst = max(worst, float(error.max()))
    return worst


def _write_shards(part: Any, folder: Path, split: str, max_shard_bytes: int) -> list[Path]:
    """``part`` as ``folder/<split>-0000i-of-0000n.parquet`` shards of at most ~``max_shard_bytes``."""
    num_shards = max(1, math.ceil(part.data.nbytes / max_shard_bytes))
    paths = []
    for index in range(num_shards):
        path = folder / f"{split}-{index:05d}-of-{num_shards:05d}.parquet"
        # to_parquet keeps the features (Array3D etc.) in the parquet schema metadata.
        part.shard(num_shards, index, contiguous=True).to_parquet(str(path))
        paths.append(path)
    return paths


def export_blendmimic3d(
    source: str | os.PathLike | None,
    out_dir: str | os.PathLike,
    *,
    configs: Sequence[str] = upstream.CONFIG_NAMES,
    joint_convention: str = "anatomical",
    overwrite: bool = False,
    cache_dir: str | os.PathLike | None = None,
    max_shard_size: str | int = "500MB",
) -> Path:
    """Write the parquet shards of ``configs`` and the dataset card into ``out_dir``; return it.

    ``source`` is anything :func:`modeling_gcnrefine.data.load_blendmimic3d` accepts (usually the
    raw upstream folder; None: ``$GCNREFINE_BLENDMIMIC3D_DIR`` or the upstream download).
    """
    import datasets


    configs = list(configs)
    if not configs or any(c not in upstream.CONFIG_NAMES for c in configs):
        raise ValueError(f"configs: expected a non-empty subset of {upstream.CONFIG_NAMES}, got {configs}")
    out_dir = Path(out_dir).expanduser().resolve()
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"out_dir: expected a folder path, got the file {str(out_dir)!r}")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
        raise FileExistsError(f"out_dir: {out_dir} exists and is not empty; pass overwrite=True (--force)")
    max_shard_bytes = datasets.utils.py_utils.convert_file_size_to_int(max_shard_size)

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.partial-"))
    try:
        stats: dict[str, dict[str, dict[str, float]]] = {}
        reprojection = 0.0
        for config in configs:
            dataset = load_blendmimic3d(
                source, config, joint_convention=joint_convention, cache_dir=cache_dir
            )
            stats[config] = dataset_summary(dataset)
            for split, entry in stats[config].items():
                entry["num_bytes"] = dataset[split].data.nbytes  # in-memory Arrow size, for the card
            if config == "sequences":
                reprojection = max_reprojection_error(dataset)
            (staging / config).mkdir()
            for split in tqdm(list(dataset), desc=f"Writing {config} parquet", unit="split"):
                _write_shards(dataset[split], staging / config, split, max_shard_bytes)
        card = render_card(stats, joint_convention=joint_convention, reprojection_px=reprojection)
        (staging / "README.md").write_text(card, encoding="utf-8")
        # Swap the finished folder into place; the old one is removed only after the rename.
        old = None
        if out_dir.exists():
            old = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.old-"))
            os.replace(out_dir, old / "data")
        set_default_mode(staging)
        os.replace(staging, out_dir)
        if old is not None:
            shutil.rmtree(old)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return out_dir


def push_to_hub(
    out_dir: str | os.PathLike,
    repo_id: str,
    *,
    private: bool | None = None,
    token: str | None = None,
    revision: str | None = None,
    commit_message: str = "Upload BlendMimic3D (parquet + dataset card)",
) -> Any:
    """Upload an exported folder to the Hub dataset repo ``repo_id`` (created if needed)."""

    out_dir = Path(out_dir)
    if not (out_dir / "README.md").is_file():
        raise ValueError(f"out_dir: expected an exported folder with README.md, got {str(out_dir)!r}")
    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    return api.upload_folder(
        repo_id=repo_id,
        folder_path=str(out_dir),
        repo_type="dataset",
        revision=revision,
        commit_message=commit_message,
    )
