"""The ``gcnrefine`` command line: one module per subcommand, each a thin wrapper over the library.

Each module has ``add_cli(subparsers)``. The top-level parser lists the subcommands from
:data:`SUBCOMMANDS` and imports a subcommand's module only when that subcommand is parsed, so
``gcnrefine --help`` does not load what every command needs (datasets, gradio, the video models).

Errors the library raises for bad input (``ValueError``) or files (``OSError``: ``FileExistsError``,
``PermissionError``, a checkpoint transformers cannot load ...) are printed as one line,
``gcnrefine <cmd>: error: <message>``, and exit with code 2, as argparse does for bad flags. Any other
exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import NamedTuple

USAGE_ERROR = 2  # argparse's exit code for a bad command line; ours for bad input too


class Subcommand(NamedTuple):
    """A subcommand as the top-level ``--help`` lists it, and the module whose ``add_cli`` makes it."""

    name: str
    module: str  # relative to this package
    help: str  # the same as the module's add_parser(help=...), checked by the tests


SUBCOMMANDS: tuple[Subcommand, ...] = (
    Subcommand("refine", ".refine", "refine 3D poses in a .npy/.npz file"),
    Subcommand(
        "inspect",
        ".inspect",
        "how plausible the poses in a .npy/.npz file are (and their error, given ground truth)",
    ),
    Subcommand("detect", ".detect", "simulate a 2D detector (occlusion-aware) on ground-truth keypoints"),
    Subcommand("lift", ".lift", "the built-in temporal lifter (VideoPose3D architecture)"),
    Subcommand("data", ".data", "BlendMimic3D as a Hugging Face dataset"),
    Subcommand(
        "backbone",
        ".backbone",
        "train the built-in lifters (out-of-fold) and write backbone predictions for BlendMimic3D",
    ),
    Subcommand("train", ".train", "train the refiner on backbone predictions (Accelerate; CPU, GPU or many)"),
    Subcommand("evaluate", ".evaluate", "evaluate backbone, GCN and filters on BlendMimic3D SS3"),
    Subcommand(
        "video", ".video", "3D poses of one person in a video: detect, track, 2D keypoints, lift, refine"
    ),
    Subcommand("demo", ".demo", "launch the Gradio demo (the Hugging Face Space) locally"),
)


class _LazySubcommands(argparse._SubParsersAction):
    """Subparsers that hold a placeholder per :class:`Subcommand` until it is parsed (or
    :meth:`load` is called); then the module's ``add_cli`` puts the real parser in its place."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._pending: dict[str, str] = {}

    def add_placeholder(self, command: Subcommand) -> None:
        # In the choices, so argparse accepts the name and lists it; None until loaded.
        self._name_parser_map[command.name] = None
        self._choices_actions.append(self._ChoicesPseudoAction(command.name, (), command.help))
        self._pending[command.name] = command.module

    def load(self, name: str) -> argparse.ArgumentParser:
        module = self._pending.get(name)
        if module is not None:
            importlib.import_module(module, __package__).add_cli(self)
            if name in self._pending:
                raise TypeError(f"{module}.add_cli did not add the subcommand {name!r}")
        return self._name_parser_map[name]

    def add_parser(self, name: str, **kwargs) -> argparse.ArgumentParser:
        if self._pending.pop(name, None) is None:
            return super().add_parser(name, **kwargs)
        # Replace the placeholder where it stands, so --help and the choices keep SUBCOMMANDS' order.
        names = list(self._name_parser_map)
        entries = [action.dest for action in self._choices_actions]
        del self._name_parser_map[name]
        del self._choices_actions[entries.index(name)]
        parser = super().add_parser(name, **kwargs)
        if "help" in kwargs:
            self._choices_actions.insert(entries.index(name), self._choices_actions.pop())
        parsers = dict(self._name_parser_map)
        self._name_parser_map.clear()
        self._name_parser_map.update({n: parsers[n] for n in names if n in parsers})
        self._name_parser_map.update(parsers)  # aliases add_cli made come last
        return parser

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        if values and values[0] in self._pending:
            self.load(values[0])
        super().__call__(parser, namespace, values, option_string)


def _lazy_parser() -> tuple[argparse.ArgumentParser, _LazySubcommands]:
    parser = argparse.ArgumentParser(prog="gcnrefine", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True, action=_LazySubcommands)
    for command in SUBCOMMANDS:
        subparsers.add_placeholder(command)
    return parser, subparsers


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``gcnrefine`` parser with every subcommand's parser made (imports them all), or with only
    ``command``'s made (the others are still made if parsed)."""
    names = [c.name for c in SUBCOMMANDS]
    if command is not None and command not in names:
        raise ValueError(f"command: expected one of {names}, got {command!r}")
    parser, subparsers = _lazy_parser()
    for name in names if command is None else [command]:
        subparsers.load(name)
    return parser


def _one_line(error: BaseException) -> str:
    # transformers' OSErrors span lines; the contract is one line per error.
    text = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
    return text or type(error).__name__


def main(argv: list[str] | None = None) -> int:
    parser, _ = _lazy_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, OSError) as error:  # OSError includes FileExistsError and PermissionError
        print(f"gcnrefine {args.command}: error: {_one_line(error)}", file=sys.stderr)
        return USAGE_ERROR
