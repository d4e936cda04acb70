"""2D-to-3D lifters: the built-in temporal lifter (VideoPose3D architecture), the single-frame SemGCN
lifter, and the converters for their published checkpoints (``gcnrefine lift convert --format
videopose3d|semgcn``; the command lives in ``commands/lift.py``).

Importing this package registers ``LifterConfig``/``TemporalLifterModel`` (model type
``gcnrefine_lifter``) and ``SemGCNConfig``/``SemGCNModel`` (``gcnrefine_semgcn``) with ``AutoConfig`` and
``AutoModel``, and marks them for ``auto_map`` so that ``save_pretrained`` copies each model's two files
next to the weights and ``AutoModel.from_pretrained(folder, trust_remote_code=True)`` works without this
package.
"""

from __future__ import annotations

from transformers import AutoConfig, AutoModel

from .auto import load_lifter
from .configuration_lifter import LifterConfig
from .configuration_semgcn import SemGCNConfig
from .convert_semgcn import SemGCNConversion, convert_semgcn, load_semgcn_checkpoint
from .convert_videopose3d import convert_videopose3d, load_videopose3d_checkpoint
from .modeling_lifter import LifterOutput, TemporalLifterModel
from .modeling_semgcn import SemGCNModel, SemGCNOutput

AutoConfig.register(LifterConfig.model_type, LifterConfig, exist_ok=True)
AutoModel.register(LifterConfig, TemporalLifterModel, exist_ok=True)
LifterConfig.register_for_auto_class()
TemporalLifterModel.register_for_auto_class("AutoModel")
AutoConfig.register(SemGCNConfig.model_type, SemGCNConfig, exist_ok=True)
AutoModel.register(SemGCNConfig, SemGCNModel, exist_ok=True)
SemGCNConfig.register_for_auto_class()
SemGCNModel.register_for_auto_class("AutoModel")


__all__ = [
    "LifterConfig",
    "LifterOutput",
    "SemGCNConfig",
    "SemGCNConversion",
    "SemGCNModel",
    "SemGCNOutput",
    "TemporalLifterModel",
    "convert_semgcn",
    "convert_videopose3d",
    "load_lifter",
    "load_semgcn_checkpoint",
    "load_videopose3d_checkpoint",
]
