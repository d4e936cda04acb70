"""The built-in temporal lifter (VideoPose3D architecture), the converter for official checkpoints and the
``gcnrefine lift`` command group (``convert``, ``train``, ``run``: :mod:`.cli`).

Importing this package registers ``LifterConfig``/``TemporalLifterModel`` with ``AutoConfig`` and
``AutoModel`` (model type ``gcnrefine_lifter``), and marks both for ``auto_map`` so that
``save_pretrained`` copies the two model files next to the weights and
``AutoModel.from_pretrained(folder, trust_remote_code=True)`` works without this package.
"""

from __future__ import annotations

import os
from pathlib import Path

from transformers import AutoConfig, AutoModel

from .cli import add_cli
from .configuration_lifter import LifterConfig
from .convert_videopose3d import convert_videopose3d, load_videopose3d_checkpoint
from .modeling_lifter import LifterOutput, TemporalLifterModel

AutoConfig.register(LifterConfig.model_type, LifterConfig, exist_ok=True)
AutoModel.register(LifterConfig, TemporalLifterModel, exist_ok=True)
LifterConfig.register_for_auto_class()
TemporalLifterModel.register_for_auto_class("AutoModel")

DEFAULT_LIFTER_ENV = "GCNREFINE_LIFTER_CHECKPOINT"


def default_lifter_checkpoint() -> Path:
    """The shipped lifter (trained on BlendMimic3D SS1 + SS2): ``$GCNREFINE_LIFTER_CHECKPOINT``, else the
    repository's ``checkpoints/lifter-blendmimic3d``."""
    override = os.environ.get(DEFAULT_LIFTER_ENV)
    path = Path(override) if override else Path(__file__).resolve().parents[2] / "checkpoints" / "lifter-blendmimic3d"
    if not (path / "config.json").is_file():
        raise ValueError(f"lifter: no default lifter checkpoint at {path}; pass a folder or set {DEFAULT_LIFTER_ENV}")
    return path


__all__ = [
    "DEFAULT_LIFTER_ENV",
    "LifterConfig",
    "LifterOutput",
    "TemporalLifterModel",
    "add_cli",
    "convert_videopose3d",
    "default_lifter_checkpoint",
    "load_videopose3d_checkpoint",
]
