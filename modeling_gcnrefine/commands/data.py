"""TODO docstring (from dataset_scripts/export_blendmimic3d.py)."""

from __future__ import annotations

import argparse
from typing import Any

from dataset_scripts.export_blendmimic3d import export_blendmimic3d, push_to_hub

from ..data import upstream
from ..data.blendmimic3d import dataset_summary, load_blendmimic3d


def _add_export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", help=f"raw upstream folder (default: ${upstream.ENV_VAR}, else download)")
    parser.add_argument("--out", required=True, help="folder to write (parquet shards + README.md)")
    parser.add_argument("--config", action="append", choices=upstream.CONFIG_NAMES,
                        help="config to export (repeatable; default: all)")  # fmt: skip
    parser.add_argument("--joint-convention", choices=upstream.JOINT_CONVENTIONS, default="anatomical")
    parser.add_argument("--cache-dir", help="where built Arrow files are cached (default: HF_DATASETS_CACHE)")
    parser.add_argument("--max-shard-size", default="500MB", help="largest parquet shard (default: 500MB)")
    parser.add_argument("--force", action="store_true", help="replace --out if it exists")
    parser.add_argument("--push-to-hub", metavar="REPO_ID", help="upload the folder to this Hub dataset repo")
    parser.add_argument("--private", action="store_true", help="create the Hub repo as private")


def run_export(args: argparse.Namespace) -> int:
    """CLI handler for ``export``."""
    out = export_blendmimic3d(
        args.source,
        args.out,
        configs=args.config or upstream.CONFIG_NAMES,
        joint_convention=args.joint_convention,
        overwrite=args.force,
        cache_dir=args.cache_dir,
        max_shard_size=args.max_shard_size,
    )
    print(f"wrote {out}")
    if args.push_to_hub:
        info = push_to_hub(out, args.push_to_hub, private=args.private or None)
        print(f"pushed to {getattr(info, 'commit_url', args.push_to_hub)}")
    return 0


def run_info(args: argparse.Namespace) -> int:
    """CLI handler for ``info``: rows, frames and visible fraction per split."""

    dataset = load_blendmimic3d(args.source, args.config, cache_dir=args.cache_dir)
    summary = dataset_summary(dataset)
    for split, entry in summary.items():
        print(
            f"{args.config}/{split}: {entry['rows']} rows, {entry['frames']:,} frames, "
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
    _add_export_arguments(export)
    export.set_defaults(func=run_export)
    info = commands.add_parser("info", help="print rows, frames and visibility per split")
    info.add_argument("--source", help="raw folder, exported folder or Hub repo id (default: env, download)")
    info.add_argument("--config", choices=upstream.CONFIG_NAMES, default="sequences")
    info.add_argument("--cache-dir", help="where built Arrow files are cached")
    info.set_defaults(func=run_info)
