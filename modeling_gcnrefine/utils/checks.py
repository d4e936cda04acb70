"""Validation helpers for settings dataclasses: each raises ``ValueError`` as ``"<field>: expected
<what>, got <value>"``, the one message format the library and the ``gcnrefine`` command line share.
"""

from __future__ import annotations

import math
import os
from collections.abc import Collection, Sequence
from typing import Any

import numpy as np


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


def check_int(name: str, value: Any, minimum: int | None = None, *, optional: bool = False) -> None:
    """``value`` is an integer (``>= minimum``), or None where ``optional``."""
    if optional and value is None:
        return
    if not _is_int(value) or (minimum is not None and value < minimum):
        bound = f" >= {minimum}" if minimum is not None else ""
        raise ValueError(f"{name}: expected an integer{bound}{' or none' if optional else ''}, got {value!r}")


def check_number(
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    *,
    low_inclusive: bool = True,
    optional: bool = False,
) -> None:
    """``value`` is a finite number in ``[low, high]`` (``(low, high]`` unless ``low_inclusive``)."""
    if optional and value is None:
        return
    ok = _is_number(value) and math.isfinite(value)
    if ok and low is not None:
        ok = value >= low if low_inclusive else value > low
    if ok and high is not None:
        ok = value <= high
    if not ok:
        if low is not None and high is not None:
            bound = f" in {'[' if low_inclusive else '('}{low:g}, {high:g}]"
        elif low is not None:
            bound = f" {'>=' if low_inclusive else '>'} {low:g}"
        elif high is not None:
            bound = f" <= {high:g}"
        else:
            bound = ""
        raise ValueError(
            f"{name}: expected a finite number{bound}{' or none' if optional else ''}, got {value!r}"
        )


def check_choice(name: str, value: Any, choices: Collection[Any], *, optional: bool = False) -> None:
    """``value`` is one of ``choices`` (or None where ``optional``)."""
    if optional and value is None:
        return
    if value not in choices:
        extra = " or none" if optional else ""
        raise ValueError(f"{name}: expected one of {', '.join(map(str, choices))}{extra}, got {value!r}")


def check_sequence(
    name: str,
    values: Any,
    *,
    non_empty: bool = False,
    choices: Collection[Any] | None = None,
    minimum: int | None = None,
    length: int | None = None,
) -> None:
    """``values`` is a list or tuple (not a string) of integers ``>= minimum`` (when ``minimum`` is
    given) or of ``choices`` (when given), non-empty or of exactly ``length`` items where asked."""
    if isinstance(values, str | bytes) or not isinstance(values, Sequence):
        raise ValueError(f"{name}: expected a list of values, got {values!r}")
    if non_empty and not values:
        raise ValueError(f"{name}: expected at least one value, got none")
    if length is not None and len(values) != length:
        raise ValueError(f"{name}: expected {length} values, got {len(values)}: {tuple(values)!r}")
    for value in values:
        if choices is not None and value not in choices:
            raise ValueError(f"{name}: expected values from {', '.join(map(str, choices))}, got {value!r}")
        if minimum is not None and (not _is_int(value) or value < minimum):
            raise ValueError(f"{name}: expected integers >= {minimum}, got {value!r} in {tuple(values)!r}")


def check_path(name: str, value: Any, *, optional: bool = False) -> None:
    """``value`` is a non-empty path (str or ``os.PathLike``), or None where ``optional``."""
    if optional and value is None:
        return
    if not isinstance(value, str | os.PathLike) or not os.fspath(value):
        raise ValueError(f"{name}: expected a non-empty path{' or none' if optional else ''}, got {value!r}")
