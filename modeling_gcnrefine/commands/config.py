"""TODO docstring (from modeling_gcnrefine/training.py)."""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

from ..training.arguments import TrainingArguments


def _flag_type(annotation: Any) -> tuple[type, bool]:
    """(base type, accepts 'none') of a field annotation such as ``int | None``."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        return members[0], True
    return annotation, False


def _optional(base: type) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        return None if text.lower() == "none" else base(text)

    parse.__name__ = base.__name__  # argparse names the type in its error messages
    return parse


def add_training_arguments(
    parser: argparse.ArgumentParser, defaults: Mapping[str, Any] | None = None
) -> None:
    """Add every :class:`TrainingArguments` field to ``parser`` as ``--dashed-name`` (bools as
    ``--x/--no-x``; optional values accept ``none``). ``defaults`` overrides field defaults, so the
    refiner and lifter commands can share the flags with different defaults.
    """
    defaults = dict(defaults or {})
    names = {f.name for f in dataclasses.fields(TrainingArguments)}
    unknown = sorted(set(defaults) - names)
    if unknown:
        raise ValueError(f"defaults: expected TrainingArguments field names, got unknown {unknown}")
    hints = typing.get_type_hints(TrainingArguments)
    group = parser.add_argument_group("training")
    for f in dataclasses.fields(TrainingArguments):
        flag = "--" + f.name.replace("_", "-")
        base, optional = _flag_type(hints[f.name])
        has_default = f.name in defaults or f.default is not dataclasses.MISSING
        default = defaults.get(f.name, f.default)
        kwargs: dict[str, Any] = {"dest": f.name, "help": f.metadata.get("help", "")}
        if base is bool:
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, **kwargs)
            continue
        if "choices" in f.metadata:
            kwargs["choices"] = [*f.metadata["choices"], *([None] if optional else [])]
            kwargs["metavar"] = (
                "{" + ",".join([*f.metadata["choices"], *(["none"] if optional else [])]) + "}"
            )
        if has_default:
            kwargs["default"] = default
            kwargs["help"] += f" (default: {default})"
        else:
            kwargs["required"] = True
        group.add_argument(flag, type=_optional(base) if optional else base, **kwargs)


def training_arguments_from_namespace(namespace: argparse.Namespace) -> TrainingArguments:
    """Build :class:`TrainingArguments` from parsed flags (other attributes of the namespace are ignored)."""
    values = {}
    for f in dataclasses.fields(TrainingArguments):
        if hasattr(namespace, f.name):
            values[f.name] = getattr(namespace, f.name)
    return TrainingArguments(**values)
