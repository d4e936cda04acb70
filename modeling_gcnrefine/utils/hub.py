"""Where a model reference points: a shipped checkpoint name, a local folder, or a Hub id.

Every place that takes a ``--model``/``--lifter`` (the CLI, the video pipeline, the Space) resolves it
here, so ``"gcnrefine-blendmimic3d-compact"``, ``"./my-refiner"`` and ``"owner/name"`` mean the same
everywhere. The shipped checkpoints are package data (``modeling_gcnrefine/checkpoints/``), so a wheel
install finds them offline.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..modeling_gcnrefine import DEFAULT_CHECKPOINT_ENV, DEFAULT_CHECKPOINT_NAME, SHIPPED_CHECKPOINTS_DIR

DEFAULT_LIFTER_ENV = "GCNREFINE_LIFTER_CHECKPOINT"
DEFAULT_LIFTER_NAME = "lifter-blendmimic3d"
KINDS = {"refiner": (DEFAULT_CHECKPOINT_ENV, DEFAULT_CHECKPOINT_NAME), "lifter": (DEFAULT_LIFTER_ENV, DEFAULT_LIFTER_NAME)}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def shipped_checkpoints() -> list[str]:
    """Names of the checkpoints inside the package (``modeling_gcnrefine/checkpoints/<name>``)."""
    if not SHIPPED_CHECKPOINTS_DIR.is_dir():
        return []
    return sorted(p.name for p in SHIPPED_CHECKPOINTS_DIR.iterdir() if (p / "config.json").is_file())


def resolve_model(reference: str | os.PathLike | None = None, kind: str = "refiner") -> Path | str:
    """The folder (``Path``) or Hub id (``str``) that ``from_pretrained`` should load.

    Args:
        reference: ``None`` (the default for ``kind``: ``$GCNREFINE_CHECKPOINT`` /
            ``$GCNREFINE_LIFTER_CHECKPOINT`` when set, else the shipped checkpoint), a shipped name
            (see :func:`shipped_checkpoints`), a folder holding ``config.json``, or a Hub id "owner/name".
        kind: "refiner" or "lifter" (which default and environment variable apply).
    """
    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {sorted(KINDS)}, got {kind!r}")
    env, default_name = KINDS[kind]
    if reference is None:
        reference = os.environ.get(env) or default_name
    text = os.fspath(reference)
    if text in shipped_checkpoints():
        return SHIPPED_CHECKPOINTS_DIR / text
    path = Path(text).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise ValueError(f"{kind}: expected a folder holding config.json, got {text!r}")
        return path
    if isinstance(reference, str) and _HUB_ID.match(text):
        return text
    raise ValueError(
        f"{kind}: expected a shipped checkpoint name {shipped_checkpoints()}, an existing folder or a Hub id "
        f"'owner/name', got {text!r}"
    )


def default_lifter_checkpoint() -> Path | str:
    """The shipped lifter (trained on BlendMimic3D SS1 + SS2), or ``$GCNREFINE_LIFTER_CHECKPOINT``."""
    return resolve_model(None, "lifter")
