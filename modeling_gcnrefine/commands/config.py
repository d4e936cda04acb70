"""Command-line flags generated from a documented dataclass, and the dataclass built back from them.

Every ``gcnrefine`` subcommand declares its options as one dataclass (a small ``*Options`` class in
the command module that nests the library's own settings, e.g. ``BackboneSettings`` or
``TrainingArguments``) and calls :func:`add_dataclass_arguments` to make the flags and
:func:`dataclass_from_namespace` to get the options back. The flags follow from the fields:

- ``some_name`` becomes ``--some-name``; a nested dataclass's fields are flattened into an argument
  group, their flags prefixed with the nesting field's ``metadata["prefix"]`` (none by default).
- ``bool``: ``--x`` turns on a field that defaults to False, ``--no-x`` turns off one that defaults
  to True.
- ``int`` / ``float`` / ``str``: one value; ``X | None`` also takes ``none``.
- ``tuple[X, ...]`` / ``list[X]``: any number of values; repeating the flag adds to them (the first
  use replaces the default). ``tuple[X, X]``: exactly two values.
- ``Literal[...]`` or ``metadata["choices"]``: the choices are shown in the usage; the dataclass
  checks them.
- help: ``metadata["help"]``, else the class docstring's ``name: text`` entry; the default is always
  appended as ``(default: ...)``.

Other metadata keys: ``positional`` (an argument, not a flag), ``aliases`` (e.g. ``("-o",)``),
``metavar``, ``type`` (a parse function, for annotations such as ``str | int``), ``deprecated``
(old flag names, accepted for one release with a warning on stderr), ``cli=False`` (no flag), and
for nested dataclasses ``prefix``, ``include`` / ``exclude`` (field names) and ``title``.

Values are not checked here: argparse only converts text to the annotated type, and the dataclass's
``__post_init__`` refuses a bad value, so the library and the command line refuse the same values with
the same ``<field>: expected ..., got ...`` message (printed by ``gcnrefine`` as one line, exit code 2).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import inspect
import re
import sys
import types
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from ..training.arguments import TrainingArguments

NONE = "none"  # how ``None`` is written on the command line

_SCALARS = (int, float, str)

_TURNS_OFF = "; this flag turns it off"  # a --no-x flag's help describes what x does

_METAVARS = {int: "N", float: "X", str: "NAME", Path: "PATH"}


@dataclasses.dataclass(frozen=True)
class _Leaf:
    """One field that becomes one argument, with where its value lives in the namespace."""

    field: dataclasses.Field
    hint: Any
    dest: str
    flag: str  # the flag (or the positional's name) as it appears in --help
    default: Any  # dataclasses.MISSING: required


def _nested_default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def _resolve_defaults(cls: type, defaults: Any) -> dict[str, Any]:
    """Field name -> default override, from an instance of ``cls`` or a mapping of field names."""
    if defaults is None:
        return {}
    if dataclasses.is_dataclass(defaults) and not isinstance(defaults, type):
        return {f.name: getattr(defaults, f.name) for f in dataclasses.fields(defaults) if f.init}
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(defaults) - names)
    if unknown:
        raise ValueError(f"defaults: expected {cls.__name__} field names, got unknown {unknown}")
    return dict(defaults)


def _selected(f: dataclasses.Field, include: Sequence[str] | None, exclude: Sequence[str]) -> bool:
    if not f.init or f.metadata.get("cli", True) is False or f.name in exclude:
        return False
    return include is None or f.name in include


def _walk(
    cls: type,
    prefix: str = "",
    defaults: Any = None,
    include: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
) -> Iterator[tuple[str, Any]]:
    """Yield ``("leaf", _Leaf)`` for each argument in field order; a nested dataclass's leaves come
    between ``("group", (cls, field, title))`` and ``("end", None)``."""
    overrides = _resolve_defaults(cls, defaults)
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if not _selected(f, include, exclude):
            continue
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            nested = overrides[f.name] if f.name in overrides else _nested_default(f)
            title = f.metadata.get("title") or _first_line(hint.__doc__) or hint.__name__
            yield "group", (hint, f, title)
            yield from _walk(
                hint,
                prefix + f.metadata.get("prefix", ""),
                nested,
                f.metadata.get("include"),
                f.metadata.get("exclude", ()),
            )
            yield "end", None
            continue
        if f.name in overrides:
            default = overrides[f.name]
        elif f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = dataclasses.MISSING
        name = (prefix + f.name).replace("_", "-")
        dest = name.replace("-", "_")
        if f.metadata.get("positional"):
            flag = dest
        elif _bare(hint)[0] is bool and default is True:
            flag = f"--no-{name}"
        else:
            flag = f"--{name}"
        yield "leaf", _Leaf(f, hint, dest, flag, default)


def _first_line(doc: str | None) -> str:
    return inspect.cleandoc(doc).splitlines()[0].rstrip(".") if doc else ""


@functools.cache
def _docstring_help(cls: type) -> dict[str, str]:
    """``name: text`` entries of a class docstring (``a / b: text`` documents both), continuation lines
    joined; the help of fields without ``metadata["help"]``."""
    doc = inspect.cleandoc(cls.__doc__ or "")
    entries: dict[str, str] = {}
    names: list[str] = []
    entry = re.compile(r"^([a-z_][a-z0-9_]*(?:\s*/\s*[a-z_][a-z0-9_]*)*)\s*:\s+(.*)$")
    for line in doc.splitlines():
        match = entry.match(line)
        if match:
            names = [n.strip() for n in match.group(1).split("/")]
            for n in names:
                entries[n] = match.group(2).strip()
        elif names and line.startswith((" ", "\t")) and line.strip():
            for n in names:
                entries[n] += " " + line.strip()
        else:
            names = []
    return entries


def _bare(hint: Any) -> tuple[Any, bool]:
    """(annotation without ``None``, whether ``None`` is allowed) of e.g. ``int | None``."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        members = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = len(members) < len(typing.get_args(hint))
        if len(members) == 1:
            return members[0], optional
        return hint, optional
    return hint, False


def show_default(value: Any) -> str:
    """A default as ``--help`` writes it: values as typed on the command line."""
    if value is dataclasses.MISSING:
        return "required"
    if value is None:
        return NONE
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple | list):
        return " ".join(show_default(v) for v in value) if value else "empty"
    if isinstance(value, str) and not value:
        return '""'
    return str(value)


def _scalar_parser(base: type, optional: bool) -> Callable[[str], Any]:
    convert = str if base is Path else base

    def parse(text: str) -> Any:
        if optional and text.lower() == NONE:
            return None
        return convert(text)

    parse.__name__ = getattr(base, "__name__", "value")  # argparse names the type in its errors
    return parse


class _Values(argparse.Action):
    """A sequence flag: the first use replaces the default, later uses add to it, so ``--x a b`` and
    ``--x a --x b`` mean the same."""

    def __call__(self, parser, namespace, values, option_string=None):
        current = getattr(namespace, self.dest, None)
        fresh = current is self.default or current is None
        setattr(namespace, self.dest, ([] if fresh else list(current)) + list(values))


class _Deprecated(argparse.Action):
    """A hidden old flag name: warns on stderr, then does what the new flag (or ``const``) does."""

    def __init__(self, option_strings, dest, target=None, replacement="", **kwargs):
        self.target = target
        self.replacement = replacement
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(
            f"{parser.prog}: warning: {option_string} is deprecated and will be removed in the next "
            f"release; {self.replacement}",
            file=sys.stderr,
        )
        if self.target is None:
            setattr(namespace, self.dest, self.const)
        else:
            self.target(parser, namespace, values, option_string)


def _argument(leaf: _Leaf, owner: type) -> tuple[list[str], dict[str, Any]]:
    f, metadata = leaf.field, leaf.field.metadata
    base, optional = _bare(leaf.hint)
    # Sentences end where "(default: ...)" begins.
    text = (metadata.get("help") or _docstring_help(owner).get(f.name, "")).strip().rstrip(".")
    kwargs: dict[str, Any] = {}
    if "metavar" in metadata:
        kwargs["metavar"] = metadata["metavar"]
    origin = typing.get_origin(base)
    choices = metadata.get("choices")
    element = base
    if "type" in metadata:
        kwargs["type"] = metadata["type"]
    elif base is bool:
        kwargs["action"] = "store_false" if leaf.default is True else "store_true"
    elif origin in (tuple, list, Sequence):
        args = typing.get_args(base)
        element = args[0] if args else str
        if origin is tuple and args and args[-1] is not Ellipsis:
            kwargs["nargs"] = len(args)
        else:
            # An optional list is unset when absent; a plain one may be set to nothing at all.
            kwargs["nargs"] = "+" if optional else "*"
            kwargs["action"] = _Values
    if "type" not in kwargs and base is not bool:
        if typing.get_origin(element) is Literal:
            choices = choices or typing.get_args(element)
            element = type(typing.get_args(element)[0])
        if element not in (*_SCALARS, Path):
            raise TypeError(
                f"{owner.__name__}.{f.name}: no command-line form for {leaf.hint!r}; give metadata type=..."
            )
        kwargs["type"] = _scalar_parser(element, optional and "nargs" not in kwargs)
    if choices is not None and "metavar" not in kwargs:
        shown = [str(c) for c in choices] + ([NONE] if optional and "nargs" not in kwargs else [])
        kwargs["metavar"] = "{" + ",".join(shown) + "}"
    elif "nargs" in kwargs and "metavar" not in kwargs and not metadata.get("positional"):
        # argparse would repeat the dest's name once per value.
        if kwargs["nargs"] == 2 and f.name.endswith("_range"):
            kwargs["metavar"] = ("LOW", "HIGH")
        else:
            word = _METAVARS.get(element, "VALUE")
            kwargs["metavar"] = word if isinstance(kwargs["nargs"], str) else (word,) * kwargs["nargs"]
    if leaf.default is dataclasses.MISSING:
        if not metadata.get("positional"):
            kwargs["required"] = True
        text += " (required)"
    else:
        kwargs["default"] = leaf.default
        if metadata.get("positional"):
            kwargs["nargs"] = "?"
        text += f" (default: {show_default(leaf.default)}{_TURNS_OFF if kwargs.get('action') == 'store_false' else ''})"
    kwargs["help"] = text.strip().replace("%", "%%")  # argparse %-formats help strings
    if metadata.get("positional"):
        return [leaf.dest], kwargs
    kwargs["dest"] = leaf.dest
    return [*metadata.get("aliases", ()), leaf.flag], kwargs


def _add_deprecated(container, action: argparse.Action, leaf: _Leaf, old: str) -> None:
    name = leaf.flag.removeprefix("--no-").removeprefix("--")
    if action.nargs == 0 and old in (f"--{name}", f"--no-{name}"):
        value = old == f"--{name}"
        if value == leaf.default:
            replacement = f"it only restates the default ({show_default(value)}), {leaf.flag} changes it"
        else:
            replacement = f"use {leaf.flag}"
        container.add_argument(
            old, action=_Deprecated, nargs=0, const=value, dest=leaf.dest,
            default=argparse.SUPPRESS, help=argparse.SUPPRESS, replacement=replacement,
        )  # fmt: skip
        return
    container.add_argument(
        old, action=_Deprecated, target=action, nargs=action.nargs, type=action.type, metavar=action.metavar,
        dest=leaf.dest, default=argparse.SUPPRESS, help=argparse.SUPPRESS, replacement=f"use {leaf.flag}",
    )  # fmt: skip


def add_dataclass_arguments(
    parser: argparse.ArgumentParser,
    cls: type,
    *,
    defaults: Any = None,
    deprecated: Mapping[str, Sequence[str]] | None = None,
    title: str | None = None,
) -> None:
    """Add one argument per field of the dataclass ``cls`` (rules: module docstring) to ``parser``.

    ``defaults`` (an instance of ``cls`` or a mapping of field names) replaces field defaults.
    ``deprecated`` maps a flag to old names of it (hidden, accepted with a warning), as
    ``metadata["deprecated"]`` does from the field's side; for a bool, an old ``--x`` / ``--no-x``
    sets True / False. ``title`` puts the top-level fields in an argument group of that name.
    """
    deprecated = {k: tuple(v) for k, v in (deprecated or {}).items()}
    containers: list[Any] = [parser.add_argument_group(title) if title else parser]
    owners: list[type] = [cls]
    made: set[str] = set()
    for kind, item in _walk(cls, defaults=defaults):
        if kind == "group":
            nested, _, group_title = item
            containers.append(parser.add_argument_group(group_title))
            owners.append(nested)
            continue
        if kind == "end":
            containers.pop()
            owners.pop()
            continue
        names, kwargs = _argument(item, owners[-1])
        action = containers[-1].add_argument(*names, **kwargs)
        made.add(item.flag)
        for old in (*item.field.metadata.get("deprecated", ()), *deprecated.get(item.flag, ())):
            _add_deprecated(containers[-1], action, item, old)
    unknown = sorted(set(deprecated) - made)
    if unknown:
        raise ValueError(f"deprecated: expected flags of {cls.__name__}, got {unknown}")


def dataclass_from_namespace(
    cls: type, namespace: argparse.Namespace, *, defaults: Any = None, _prefix: str = ""
):
    """Build ``cls`` from the flags :func:`add_dataclass_arguments` parsed into ``namespace``.

    Fields without a flag keep their default (or the nested default's value); other attributes of
    the namespace are ignored. The dataclass's own validation runs, so a bad value raises its
    ``ValueError``.
    """
    overrides = _resolve_defaults(cls, defaults)
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint) and _selected(f, None, ()):
            nested = overrides[f.name] if f.name in overrides else _nested_default(f)
            values[f.name] = _nested_from_namespace(
                hint, f, namespace, nested, _prefix + f.metadata.get("prefix", "")
            )
            continue
        dest = (_prefix + f.name).replace("-", "_")
        if _selected(f, None, ()) and hasattr(namespace, dest):
            value = getattr(namespace, dest)
            if isinstance(value, list) and typing.get_origin(_bare(hint)[0]) is tuple:
                value = tuple(value)
            values[f.name] = value
        elif f.name in overrides:
            values[f.name] = overrides[f.name]
    return cls(**values)


def _nested_from_namespace(cls: type, f: dataclasses.Field, namespace, nested: Any, prefix: str):
    include, exclude = f.metadata.get("include"), f.metadata.get("exclude", ())
    # Fields the nesting field leaves out have no flag: hide any same-named attribute, so they keep
    # the nested default's value.
    hidden = {
        (prefix + g.name).replace("-", "_")
        for g in dataclasses.fields(cls)
        if not _selected(g, include, exclude)
    }
    visible = argparse.Namespace(**{k: v for k, v in vars(namespace).items() if k not in hidden})
    return dataclass_from_namespace(cls, visible, defaults=nested, _prefix=prefix)


# --------------------------------------------------------------------------- TrainingArguments

# These were --x/--no-x pairs before every flag came from one generator; the half that only
# restated the default is kept hidden for one release.
TRAINING_DEPRECATED = {
    "--no-amsgrad": ("--amsgrad",),
    "--drop-last": ("--no-drop-last",),
    "--cpu": ("--no-cpu",),
    "--resume": ("--no-resume",),
}


def add_training_arguments(
    parser: argparse.ArgumentParser, defaults: Mapping[str, Any] | None = None
) -> None:
    """Add every :class:`TrainingArguments` field to ``parser`` (an argument group "training");
    ``defaults`` overrides field defaults, so several commands can share the flags."""
    add_dataclass_arguments(
        parser, TrainingArguments, defaults=defaults, deprecated=TRAINING_DEPRECATED, title="training"
    )


def training_arguments_from_namespace(namespace: argparse.Namespace) -> TrainingArguments:
    """Build :class:`TrainingArguments` from parsed flags (other attributes of the namespace are ignored)."""
    return dataclass_from_namespace(TrainingArguments, namespace)
