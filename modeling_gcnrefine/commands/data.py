"""``gcnrefine data``: BlendMimic3D as a Hugging Face dataset: ``export`` writes parquet shards and
a dataset card (optionally pushed to the Hub), ``info`` prints rows, frames and visibility per split."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any

from dataset_scripts.export_blendmimic3d import export_blendmimic3d, push_to_hub

from ..data import upstream
from ..data.blendmimic3d import dataset_summary, load_blendmimic3d
from ..utils.checks import check_choice, check_path, check_sequence
from .config import add_dataclass_arguments, dataclass_from_namespace


@dataclass(kw_only=True)
class ExportOptions:
    """Options of ``gcnrefine data export``: what to read, which configs to write where, and the
    optional upload."""

    source: str | None = field(
        default=None,
        metadata={"help": f"raw upstream folder (none: ${upstream.ENV_VAR}, else download)"},
    )
    out: str = field(metadata={"help": "folder to write (parquet shards + README.md)"})
    config: tuple[str, ...] = field(
        default=upstream.CONFIG_NAMES,
        metadata={"help": "configs to export (repeatable)", "choices": upstream.CONFIG_NAMES},
    )
    joint_convention: str = field(
        default="anatomical",
        metadata={
            "help": "joint left/right labels: anatomical, or upstream (the original files, mirrored left/right)",
            "choices": upstream.JOINT_CONVENTIONS,
        },
    )
    cache_dir: str | None = field(
        default=None, metadata={"help": "where built Arrow files are cached (none: HF_DATASETS_CACHE)"}
    )
    max_shard_size: str = field(default="500MB", metadata={"help": "largest parquet shard"})
    force: bool = field(default=False, metadata={"help": "replace --out if it exists"})
    push_to_hub: str | None = field(
        default=None, metadata={"help": "upload the folder to this Hub dataset repo", "metavar": "REPO_ID"}
    )
    private: bool = field(default=False, metadata={"help": "create the Hub repo as private"})

    def __post_init__(self) -> None:
        check_path("source", self.source, optional=True)
        check_path("out", self.out)
        check_sequence("config", self.config, non_empty=True, choices=upstream.CONFIG_NAMES)
        check_choice("joint_convention", self.joint_convention, upstream.JOINT_CONVENTIONS)
        check_path("cache_dir", self.cache_dir, optional=True)
        if not self.max_shard_size:
            raise ValueError(f"max_shard_size: expected a size such as 500MB, got {self.max_shard_size!r}")


@dataclass(kw_only=True)
class InfoOptions:
    """Options of ``gcnrefine data info``: which dataset and config to summarise."""

    source: str | None = field(
        default=None,
        metadata={"help": "raw folder, exported folder or Hub repo id (none: env, else download)"},
    )
    config: str = field(
        default="sequences", metadata={"help": "config to summarise", "choices": upstream.CONFIG_NAMES}
    )
    cache_dir: str | None = field(default=None, metadata={"help": "where built Arrow files are cached"})

    def __post_init__(self) -> None:
        check_path("source", self.source, optional=True)
        check_choice("config", self.config, upstream.CONFIG_NAMES)
        check_path("cache_dir", self.cache_dir, optional=True)


def run_export(args: argparse.Namespace) -> int:
    """CLI handler for ``export``."""
    options = dataclass_from_namespace(ExportOptions, args)
    out = export_blendmimic3d(
        options.source,
        options.out,
        configs=options.config,
        joint_convention=options.joint_convention,
        overwrite=options.force,
        cache_dir=options.cache_dir,
        max_shard_size=options.max_shard_size,
    )
    print(f"wrote {out}")
    if options.push_to_hub:
        info = push_to_hub(out, options.push_to_hub, private=options.private or None)
        print(f"pushed to {getattr(info, 'commit_url', options.push_to_hub)}")
    return 0


def run_info(args: argparse.Namespace) -> int:
    """CLI handler for ``info``: rows, frames and visible fraction per split."""
    options = dataclass_from_namespace(InfoOptions, args)
    dataset = load_blendmimic3d(options.source, options.config, cache_dir=options.cache_dir)
    summary = dataset_summary(dataset)
    for split, entry in summary.items():
        print(
            f"{options.config}/{split}: {entry['rows']} rows, {entry['frames']:,} frames, "
            f"{entry['camera_frames']:,} camera-frames, visible {entry['visible_fraction']:.3f}"
        )
    return 0


def add_cli(subparsers: Any) -> None:
    """Add ``data export`` and ``data info`` to a CLI's argparse subparsers."""
    data = subparsers.add_parser("data", help="BlendMimic3D as a Hugging Face dataset")
    commands = data.add_subparsers(dest="data_command", required=True)
    export = commands.add_parser(
        "export", help="write parquet + dataset card (and optionally push to the Hub)"
    )
    add_dataclass_arguments(export, ExportOptions)
    export.set_defaults(func=run_export)
    info = commands.add_parser("info", help="print rows, frames and visibility per split")
    add_dataclass_arguments(info, InfoOptions)
    info.set_defaults(func=run_info)
