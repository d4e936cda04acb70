"""The `gcnrefine` command line: thin wrappers over the package's functions.

Subcommands:
    refine    refine a .npy/.npz file of 3D poses with a saved refiner
    (others are added by the modules that own them, see `_SUBCOMMAND_MODULES`)
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

# Modules that contribute subcommands through an `add_cli(subparsers)` function. Imported lazily so
# `gcnrefine refine` does not pay for datasets/accelerate/gradio imports it does not need.
_SUBCOMMAND_MODULES: dict[str, str] = {
    "detect": "modeling_gcnrefine.detections",
    "lift": "modeling_gcnrefine.lifting",
    "data": "dataset_scripts.export_blendmimic3d",
    "backbone": "modeling_gcnrefine.backbone",
    "train": "modeling_gcnrefine.train_refiner",
    "evaluate": "modeling_gcnrefine.evaluate_blendmimic3d",
    "video": "modeling_gcnrefine.video",
    "demo": "modeling_gcnrefine.demo",
}


def refine_file(
    input_path: str | Path,
    output_path: str | Path,
    model: str | Path | None = None,
    flip_test: bool = False,
    batch_size: int = 1024,
    overwrite: bool = False,
    key: str | None = None,
    device: str | None = None,
) -> Path:
    """Refine the poses in ``input_path`` and write them to ``output_path`` with the input's shape."""
    import numpy as np

    from .io import load_poses_file, save_poses_file
    from .modeling_gcnrefine import GCNRefineModel

    output_path = Path(output_path)
    if output_path.exists() and not overwrite:
        raise FileExistsError(f"{output_path} exists; pass --force to replace it")
    poses = load_poses_file(input_path, key=key)
    refiner = GCNRefineModel.from_pretrained(model) if model is not None else GCNRefineModel.from_pretrained()
    if device:
        refiner = refiner.to(device)
    shape = poses.shape
    refined = refiner.refine(poses.reshape(shape[0], 17, 3), flip_test=flip_test, batch_size=batch_size)
    return save_poses_file(output_path, np.asarray(refined).reshape(shape), overwrite=overwrite)


def _run_refine(args: argparse.Namespace) -> int:
    path = refine_file(
        args.input,
        args.output,
        model=args.model,
        flip_test=args.flip_test,
        batch_size=args.batch_size,
        overwrite=args.force,
        key=args.key,
        device=args.device,
    )
    print(f"wrote {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gcnrefine", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)

    refine = subparsers.add_parser(
        "refine",
        help="refine 3D poses in a .npy/.npz file",
        description="Refine (T, 17, 3) or (T, 1, 17, 3) poses (metres, camera frame, Human3.6M-17 order).",
    )
    refine.add_argument("input", help="input .npy or .npz file (read without pickle)")
    refine.add_argument("-o", "--output", required=True, help="output .npy or .npz file")
    refine.add_argument("--model", default=None, help="refiner folder or Hub id (default: the shipped checkpoint)")
    refine.add_argument("--key", default=None, help="array name inside an .npz input with several arrays")
    refine.add_argument("--flip-test", action="store_true", help="average with the mirrored input's refinement")
    refine.add_argument("--batch-size", type=int, default=1024, help="windows per forward pass")
    refine.add_argument("--device", default=None, help="torch device, e.g. cuda (default: cpu)")
    refine.add_argument("--force", action="store_true", help="replace the output file if it exists")
    refine.set_defaults(func=_run_refine)

    for module_name in _SUBCOMMAND_MODULES.values():
        importlib.import_module(module_name).add_cli(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileExistsError) as error:
        print(f"gcnrefine {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
