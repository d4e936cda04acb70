"""2D-to-3D lifters: the built-in temporal lifter (VideoPose3D architecture) and the converter for
official VideoPose3D checkpoints (``gcnrefine lift convert``; the command lives in ``commands/lift.py``).

Importing this package registers ``LifterConfig``/``TemporalLifterModel`` with ``AutoConfig`` and
``AutoModel`` (model type ``gcnrefine_lifter``), and marks both for ``auto_map`` so that
``save_pretrained`` copies the two model files next to the weights and
``AutoModel.from_pretrained(folder, trust_remote_code=True)`` works without this package.
"""

from __future__ import annotations

from transformers import AutoConfig, AutoModel

from .configuration_lifter import LifterConfig
from .convert_videopose3d import convert_videopose3d, load_videopose3d_checkpoint
from .modeling_lifter import LifterOutput, TemporalLifterModel

AutoConfig.register(LifterConfig.model_type, LifterConfig, exist_ok=True)
AutoModel.register(LifterConfig, TemporalLifterModel, exist_ok=True)
LifterConfig.register_for_auto_class()
TemporalLifterModel.register_for_auto_class("AutoModel")


__all__ = [
    "LifterConfig",
    "LifterOutput",
    "TemporalLifterModel",
    "convert_videopose3d",
    "load_videopose3d_checkpoint",
]
