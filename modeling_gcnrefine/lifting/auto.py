"""One loader for every built-in lifter: a ``save_pretrained`` folder or Hub id of either model
(chosen by the config's ``model_type``), or a published SemGCN checkpoint file, converted in memory.

Used wherever a command takes ``--pretrained-lifter``, so SemGCN and the temporal lifter are
interchangeable there: both take Human3.6M-17 pixels and ``image_size`` and return root-relative
camera-frame metres through ``lift``.
"""

from __future__ import annotations

import os
from pathlib import Path

from transformers import AutoConfig

from .configuration_lifter import LifterConfig
from .configuration_semgcn import SemGCNConfig
from .convert_semgcn import load_semgcn_checkpoint
from .modeling_lifter import TemporalLifterModel
from .modeling_semgcn import SemGCNModel

# Suffixes of a torch.save'd training checkpoint (read with weights_only=True, never unpickled).
CHECKPOINT_SUFFIXES = (".pth", ".pt", ".tar", ".ckpt")
LIFTERS = {LifterConfig.model_type: TemporalLifterModel, SemGCNConfig.model_type: SemGCNModel}


def load_lifter(name: str | os.PathLike):
    """The lifter ``name`` (eval mode): a folder or Hub id of a :class:`TemporalLifterModel` or a
    :class:`SemGCNModel`, or a SemGCN training checkpoint file (``.pth``, ``.pth.tar``, ...).

    Raises:
        ValueError: ``name`` holds another kind of model, or a checkpoint this cannot read.
    """
    path = Path(name)
    if path.is_file() and path.name.endswith(CHECKPOINT_SUFFIXES):
        return load_semgcn_checkpoint(path)
    config = AutoConfig.from_pretrained(name)
    model_class = LIFTERS.get(config.model_type)
    if model_class is None:
        raise ValueError(
            f"pretrained_lifter: expected a lifter of model type {sorted(LIFTERS)} (or a SemGCN checkpoint "
            f"file ending in {CHECKPOINT_SUFFIXES}), got model type {config.model_type!r} in {str(name)!r}"
        )
    return model_class.from_pretrained(name).eval()
