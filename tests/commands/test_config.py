"""One CLI style: every subcommand's flags come from one documented dataclass (commands/config.py)."""

from __future__ import annotations

import argparse
import dataclasses
import re
import typing
from dataclasses import dataclass, field
from typing import Literal

import pytest

from modeling_gcnrefine.commands import (
    backbone,
    build_parser,
    data,
    demo,
    detect,
    evaluate,
    inspect,
    lift,
    main,
    refine,
    train,
    video,
)
from modeling_gcnrefine.commands.config import (
    add_dataclass_arguments,
    dataclass_from_namespace,
    show_default,
)
from modeling_gcnrefine.data.virtual_cameras import VirtualCameraSettings
from modeling_gcnrefine.recipes.backbone import BackboneSettings
from modeling_gcnrefine.training.arguments import TrainingArguments

# Each subcommand (as typed) and the dataclass its options come from.
OPTIONS = {
    ("refine",): refine.RefineOptions,
    ("inspect",): inspect.InspectOptions,
    ("detect",): detect.DetectOptions,
    ("lift", "convert"): lift.ConvertOptions,
    ("lift", "train"): lift.LiftTrainOptions,
    ("lift", "run"): lift.LiftRunOptions,
    ("data", "export"): data.ExportOptions,
    ("data", "info"): data.InfoOptions,
    ("backbone",): backbone.BackboneOptions,
    ("train",): train.TrainOptions,
    ("evaluate",): evaluate.EvaluateOptions,
    ("video",): video.VideoOptions,
    ("demo",): demo.DemoOptions,
}

# Smallest valid command lines (required arguments only) and the options they mean.
MINIMAL = {
    ("refine",): (
        ["--example", "-o", "out.npy"],
        lambda: refine.RefineOptions(example=True, output="out.npy"),
    ),
    ("inspect",): (["poses.npy"], lambda: inspect.InspectOptions(input="poses.npy")),
    ("detect",): (
        ["in.npz", "-o", "out.npz", "--image-size", "10", "10"],
        lambda: detect.DetectOptions(input="in.npz", output="out.npz", image_size=(10.0, 10.0)),
    ),
    ("lift", "convert"): (
        ["ckpt.bin", "out"],
        lambda: lift.ConvertOptions(checkpoint="ckpt.bin", out_dir="out"),
    ),
    ("lift", "train"): (["--out", "run"], lambda: lift.LiftTrainOptions(out="run")),
    ("lift", "run"): (
        ["--detections", "d.npz", "-o", "p.npz"],
        lambda: lift.LiftRunOptions(detections="d.npz", output="p.npz"),
    ),
    ("data", "export"): (["--out", "x"], lambda: data.ExportOptions(out="x")),
    ("data", "info"): ([], data.InfoOptions),
    ("backbone",): ([], backbone.BackboneOptions),
    ("train",): ([], train.TrainOptions),
    ("evaluate",): ([], evaluate.EvaluateOptions),
    ("video",): (["clip.mp4"], lambda: video.VideoOptions(input="clip.mp4")),
    ("demo",): ([], demo.DemoOptions),
}


def _leaf_commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    found = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found |= _leaf_commands(sub, (*path, name))
            return found
    return {path}


def _expected(cls, prefix="", defaults=None, include=None, exclude=()):
    """(flag, shown default) of every field, walked from the dataclass itself (not from config.py)."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in exclude or (include is not None and f.name not in include):
            continue
        if defaults is not None:
            default = getattr(defaults, f.name)
        elif f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = dataclasses.MISSING
        if dataclasses.is_dataclass(hints[f.name]):
            meta = f.metadata
            yield from _expected(
                hints[f.name],
                prefix + meta.get("prefix", ""),
                default,
                meta.get("include"),
                meta.get("exclude", ()),
            )
            continue
        name = (prefix + f.name).replace("_", "-")
        if f.metadata.get("positional"):
            flag = name.replace("-", "_")
        elif default is True:
            flag = f"--no-{name}"
        else:
            flag = f"--{name}"
        yield flag, "(required)" if default is dataclasses.MISSING else f"(default: {show_default(default)}"


def _help_entries(text: str) -> dict[str, str]:
    """Option string -> its help text (whitespace collapsed) in an argparse ``--help`` output."""
    entries: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if re.match(r"^  \S", line):
            invocation, *rest = re.split(r"\s{2,}", line.strip(), maxsplit=1)
            current = list(rest)
            for part in invocation.split(", "):
                entries[part.split(" ")[0]] = current
        elif line.startswith("   ") and current is not None:
            current.append(line.strip())
        else:
            current = None
    return {k: " ".join(v) for k, v in entries.items()}


def _help(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--help"])
    assert exit_info.value.code == 0
    return capsys.readouterr().out


def test_every_subcommand_has_an_options_dataclass():
    assert _leaf_commands(build_parser()) == set(OPTIONS)
    for cls in OPTIONS.values():
        assert dataclasses.is_dataclass(cls) and cls.__doc__ and "__post_init__" in vars(cls)
        for f in dataclasses.fields(cls):
            hint = typing.get_type_hints(cls)[f.name]
            assert dataclasses.is_dataclass(hint) or f.metadata.get("help"), (
                f"{cls.__name__}.{f.name} has no help"
            )


@pytest.mark.parametrize("command", list(OPTIONS), ids=" ".join)
def test_help_lists_every_field_with_its_default(command, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # one line per entry; nothing wrapped mid-default
    entries = _help_entries(_help(list(command), capsys))
    expected = list(_expected(OPTIONS[command]))
    assert expected
    for flag, default in expected:
        assert flag in entries, f"{' '.join(command)} --help has no {flag}"
        assert default in entries[flag], f"{flag}: {entries[flag]!r} does not show {default!r}"
        assert entries[flag].split(default)[0].strip(), f"{flag} has no help text: {entries[flag]!r}"


@pytest.mark.parametrize("command", list(OPTIONS), ids=" ".join)
def test_defaults_on_the_command_line_are_the_dataclass_defaults(command):
    argv, expected = MINIMAL[command]
    parsed = dataclass_from_namespace(OPTIONS[command], build_parser().parse_args([*command, *argv]))
    assert parsed == expected()


def _error(argv: list[str], capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err  # one line, no traceback
    return err.strip()


def _message(factory) -> str:
    with pytest.raises(ValueError) as error:
        factory()
    return str(error.value)


def test_bad_values_get_the_dataclass_message_and_exit_code_2(capsys):
    cases = [
        (["train", "--epochs", "-1"], lambda: TrainingArguments(output_dir="o", epochs=-1)),
        (["backbone", "--epochs", "0"], lambda: BackboneSettings(epochs=0)),
        (["lift", "train", "--out", "run", "--limit", "0"], lambda: BackboneSettings(limit=0)),
        (["backbone", "--virtual-views", "2", "--virtual-min-in-frame", "2"], lambda: VirtualCameraSettings(min_in_frame=2.0)),
        (["detect", "in.npz", "-o", "o.npz", "--image-size", "9", "9", "--preset", "bogus"],
         lambda: detect.DetectOptions(input="in.npz", output="o.npz", image_size=(9, 9), preset="bogus")),
        (["train", "--mixed-precision", "fp8"], lambda: TrainingArguments(output_dir="o", mixed_precision="fp8")),
        (["demo", "--port", "70000"], lambda: demo.DemoOptions(port=70000)),
        (["video", "clip.mp4", "--batch-size", "0"], lambda: video.VideoOptions(input="clip.mp4", batch_size=0)),
    ]  # fmt: skip
    for argv, factory in cases:
        message = _message(factory)
        assert _error(argv, capsys) == f"gcnrefine {argv[0]}: error: {message}"
    assert "preset: expected one of" in _message(cases[4][1]) and "'bogus'" in _message(cases[4][1])
    assert _message(cases[0][1]) == "epochs: expected an integer >= 1, got -1"


def test_command_level_checks_name_the_field(capsys):
    assert "train: error: config: expected GCNRefineConfig fields" in _error(
        ["train", "--config", '{"bogus": 1}'], capsys
    )
    assert "train: error: config: num_frames: expected" in _error(
        ["train", "--config", '{"num_frames": 0}'], capsys
    )
    assert "detect: error: split: expected train or test" in _error(
        ["detect", "--data", "x", "-o", "o.npz"], capsys
    )
    assert "lift: error: actions_fold: expected" in _error(
        ["lift", "train", "--out", "run", "--actions-fold", "2"], capsys
    )
    assert "refine: error: input: expected exactly one" in _error(["refine", "-o", "o.npy"], capsys)


def test_deprecated_bool_halves_still_work_and_warn(capsys):
    parser = build_parser()
    options = dataclass_from_namespace(
        train.TrainOptions, parser.parse_args(["train", "--rotate", "--amsgrad", "--no-resume"])
    )
    assert options.data_settings.rotate and options.training.amsgrad and not options.training.resume
    err = capsys.readouterr().err
    for old, new in (("--rotate", "--no-rotate"), ("--amsgrad", "--no-amsgrad"), ("--no-resume", "--resume")):
        assert f"{old} is deprecated" in err and new in err
    # Hidden from --help, which shows only the flag that changes the default.
    assert not re.search(r"(?<![\w-])--(rotate|amsgrad|no-resume)\b", _help(["train"], capsys))
    options = dataclass_from_namespace(
        train.TrainOptions, parser.parse_args(["train", "--no-rotate", "--resume"])
    )
    assert not options.data_settings.rotate and options.training.resume
    assert "deprecated" not in capsys.readouterr().err


# --------------------------------------------------------------------------- the generator itself


@dataclass
class _Inner:
    """Nested settings.

    width: how wide.
    tag: a label
        on two lines.
    """

    width: float = 1.5
    tag: str = "x"
    hidden: int = 3

    def __post_init__(self):
        if self.width <= 0:
            raise ValueError(f"width: expected a number > 0, got {self.width!r}")


@dataclass(kw_only=True)
class _Toy:
    """A toy."""

    path: str = field(metadata={"positional": True, "help": "a path"})
    count: int | None = field(default=2, metadata={"help": "how many", "deprecated": ("--number",)})
    names: tuple[str, ...] = field(default=("a", "b"), metadata={"help": "names"})
    pair: tuple[int, int] = field(default=(1, 2), metadata={"help": "two ints"})
    mode: Literal["fast", "slow"] = field(default="fast", metadata={"help": "speed"})
    on: bool = field(default=True, metadata={"help": "switch"})
    off: bool = field(default=False, metadata={"help": "other switch"})
    inner: _Inner = field(
        default_factory=lambda: _Inner(tag="y"), metadata={"prefix": "in-", "exclude": ("hidden",)}
    )

    def __post_init__(self):
        if self.mode not in ("fast", "slow"):
            raise ValueError(f"mode: expected fast or slow, got {self.mode!r}")


def _toy(argv: list[str]) -> _Toy:
    parser = argparse.ArgumentParser(prog="toy")
    add_dataclass_arguments(parser, _Toy)
    return dataclass_from_namespace(_Toy, parser.parse_args(argv))


def test_generator_types_nesting_and_aliases(capsys):
    assert _toy(["p"]) == _Toy(path="p")
    toy = _toy(["p", "--count", "none", "--names", "c", "--names", "d", "e", "--pair", "3", "4", "--mode", "slow",
                "--no-on", "--off", "--in-width", "2", "--in-tag", "z"])  # fmt: skip
    assert toy == _Toy(path="p", count=None, names=("c", "d", "e"), pair=(3, 4), mode="slow", on=False, off=True,
                       inner=_Inner(width=2.0, tag="z"))  # fmt: skip
    assert _toy(["p", "--names"]).names == ()
    assert _toy(["p", "--number", "7"]).count == 7
    assert (
        "toy: warning: --number is deprecated and will be removed in the next release; use --count"
        in capsys.readouterr().err
    )
    with pytest.raises(ValueError, match="mode: expected fast or slow, got 'medium'"):
        _toy(["p", "--mode", "medium"])
    with pytest.raises(ValueError, match="width: expected a number > 0"):
        _toy(["p", "--in-width", "0"])
    with pytest.raises(SystemExit):  # not a number: argparse's own error
        _toy(["p", "--count", "many"])
    parser = argparse.ArgumentParser(prog="toy")
    add_dataclass_arguments(parser, _Toy)
    text = " ".join(parser.format_help().split())
    assert "--mode {fast,slow}" in text and "--in-tag" in text and "--in-hidden" not in text
    assert "a label on two lines (default: y)" in text  # help from the class docstring
    assert "--no-on switch (default: on; this flag turns it off)" in text


def test_generator_refuses_what_it_cannot_express():
    @dataclass
    class Bad:
        table: dict[str, int] = field(default_factory=dict)

    with pytest.raises(TypeError, match=r"Bad\.table"):
        add_dataclass_arguments(argparse.ArgumentParser(), Bad)
    with pytest.raises(ValueError, match="deprecated"):
        add_dataclass_arguments(argparse.ArgumentParser(), _Inner, deprecated={"--nope": ("--old",)})
