"""``gcnrefine refine``: refine a .npy/.npz file of 3D poses with a saved refiner."""

from __future__ import annotations

import argparse

from ..recipes.files import refine_file


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


def add_cli(subparsers) -> None:
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
