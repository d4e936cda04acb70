"""The ``gcnrefine`` command line: one module per subcommand, each a thin wrapper over the library.

Each module has ``add_cli(subparsers)``; this one builds the parser from them and runs the chosen
subcommand. Errors the library raises for bad input (``ValueError``, ``FileExistsError``) are printed
as one line and exit with code 2.
"""

from __future__ import annotations

import argparse
import sys

from . import backbone, data, demo, detect, evaluate, lift, refine, train, video

SUBCOMMANDS = (refine, detect, lift, data, backbone, train, evaluate, video, demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gcnrefine", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module in SUBCOMMANDS:
        module.add_cli(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileExistsError) as error:
        print(f"gcnrefine {args.command}: error: {error}", file=sys.stderr)
        return 2
