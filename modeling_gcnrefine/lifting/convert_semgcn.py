"""Load the published SemGCN checkpoint (``ckpt_semgcn.pth.tar``, Zhao et al., CVPR 2019) into SemGCNModel.

The checkpoint is a ``torch.save``'d dict ``{"state_dict": ..., "epoch": int, "error": float}`` whose state
dict has 75 tensors: per graph convolution ``W`` (2, in, out), ``e`` (1, 46) and ``bias`` (out), and per
BatchNorm its five tensors, under the upstream module names::

    gconv_input.0.gconv.*   gconv_input.0.bn.*                    -> input_layer.conv.*   input_layer.norm.*
    gconv_layers.{i}.gconv{k}.gconv.*   gconv_layers.{i}.gconv{k}.bn.*  -> blocks.{i}.layer{k}.conv.*  ....norm.*
    gconv_output.*                                                 -> output_conv.*
    W -> weight, e -> edge_logits (flattened to (46,)), bias -> bias

Hidden size, block count and feature counts are read off the shapes; the skeleton cannot be, so the
checkpoint's edge-weight count is checked against the config's (46 for the default Human3.6M graph).

Files are read with ``torch.load(weights_only=True)``, which never runs code from the file. The upstream
file is a legacy (non-zip) pickle that also pickles objects besides tensors, which that refuses; the error
says how to re-save the weights once on a trusted machine.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from .configuration_semgcn import SemGCNConfig
from .convert_videopose3d import load_weights_only
from .modeling_semgcn import SemGCNModel

_CONV_NAMES = {"W": "weight", "e": "edge_logits", "bias": "bias"}
_BN_NAMES = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
_LAYER_PREFIXES = (
    (re.compile(r"gconv_input\.0\."), "input_layer."),
    (re.compile(r"gconv_layers\.(\d+)\.gconv([12])\."), r"blocks.\1.layer\2."),
)


@dataclass(frozen=True)
class SemGCNConversion:
    """What :func:`convert_semgcn` wrote: the folder and the size of the weights it holds."""

    out_dir: Path
    num_tensors: int  # tensors in model.safetensors (75 for the published checkpoint)
    num_values: int  # their elements (269,656), BatchNorm statistics included
    num_parameters: int  # trainable parameters among them (267,343)


def _rename(key: str) -> str | None:
    """Our name for an upstream state-dict key, or None when it is not a SemGCN tensor."""
    match = re.fullmatch(r"gconv_output\.(W|e|bias)", key)
    if match:
        return f"output_conv.{_CONV_NAMES[match.group(1)]}"
    for pattern, replacement in _LAYER_PREFIXES:
        prefix = pattern.match(key)
        if not prefix:
            continue
        rest = key[prefix.end() :]
        ours = prefix.expand(replacement)
        conv = re.fullmatch(r"gconv\.(W|e|bias)", rest)
        if conv:
            return f"{ours}conv.{_CONV_NAMES[conv.group(1)]}"
        bn = re.fullmatch(r"bn\.(\w+)", rest)
        if bn and bn.group(1) in _BN_NAMES:
            return f"{ours}norm.{bn.group(1)}"
    return None


def _refusal_message(path: Path, reason: str) -> str:
    legacy = "" if zipfile.is_zipfile(path) else "is a legacy (non-zip) torch pickle that "
    return (
        f"checkpoint {str(path)!r} {legacy}holds pickled Python objects besides tensors, which "
        f"torch.load(weights_only=True) refuses (torch: {reason}). Unpickling arbitrary objects can run code, "
        "so this loader never does it. Either export the weights alone from the environment that trained the "
        "model (torch.save({'state_dict': model.state_dict()}, 'ckpt_semgcn_weights.pth.tar'), torch's default "
        "zip format) and convert that file, or, if you trust the file, allow-list exactly the refused globals "
        "with load_semgcn_checkpoint(path, safe_globals=[...])."
    )


def _select_state_dict(ckpt: object, key: str, path: Path | str) -> dict[str, torch.Tensor]:
    """The ``key`` entry of a training checkpoint, or the checkpoint itself when it is a bare state dict."""
    if not isinstance(ckpt, Mapping):
        raise ValueError(f"checkpoint {str(path)!r}: expected a dict, got {type(ckpt).__name__}")
    if key in ckpt:
        state = ckpt[key]
    elif any(str(k).removeprefix("module.") == "gconv_output.W" for k in ckpt):
        state = ckpt
    else:
        raise ValueError(
            f"checkpoint {str(path)!r}: expected a {key!r} entry or a bare SemGCN state dict, "
            f"got top-level keys {sorted(map(str, ckpt))}"
        )
    if not isinstance(state, Mapping):
        raise ValueError(
            f"checkpoint {str(path)!r}: expected {key!r} to be a state dict, got {type(state).__name__}"
        )
    # Weights saved from a DataParallel wrapper carry a "module." prefix.
    return {str(k).removeprefix("module."): v for k, v in state.items()}


def semgcn_from_state_dict(
    state_dict: Mapping[str, torch.Tensor], config: SemGCNConfig | None = None
) -> SemGCNModel:
    """Build a :class:`SemGCNModel` holding an upstream SemGCN state dict (eval mode).

    ``hidden_size``, ``num_blocks``, ``in_features`` and ``out_features`` are read from the tensor shapes
    and override ``config``'s; everything else (skeleton, joint mapping, dropout) comes from ``config``
    (default: :class:`SemGCNConfig`, the published Human3.6M model).

    Raises:
        ValueError: a value is not a tensor, keys are missing or unexpected (both listed, upstream names),
            or a shape does not fit.
    """
    state = {str(k).removeprefix("module."): v for k, v in state_dict.items()}
    for name, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise ValueError(f"state_dict[{name!r}]: expected a tensor, got {type(value).__name__}")
    for name in ("gconv_input.0.gconv.W", "gconv_output.W"):
        if name not in state or state[name].ndim != 3 or state[name].shape[0] != 2:
            found = tuple(state[name].shape) if name in state else "missing"
            raise ValueError(f"state_dict[{name!r}]: expected a (2, in, out) tensor, got {found}")
    first, last = state["gconv_input.0.gconv.W"], state["gconv_output.W"]
    blocks = {int(m.group(1)) for k in state if (m := re.match(r"gconv_layers\.(\d+)\.", k))}
    base = config if config is not None else SemGCNConfig()
    config = SemGCNConfig.from_dict(
        {
            **base.to_dict(),
            "in_features": int(first.shape[1]),
            "hidden_size": int(first.shape[2]),
            "out_features": int(last.shape[2]),
            "num_blocks": max(blocks) + 1 if blocks else 0,
        }
    )
    model = SemGCNModel(config)
    expected = model.state_dict()

    renamed, unexpected = {}, []
    for name, value in state.items():
        ours = _rename(name)
        if ours is None or ours not in expected:
            unexpected.append(name)
        else:
            renamed[ours] = (name, value)
    # Checkpoints from torch < 0.4.1 have no BatchNorm step counters; they do not affect outputs.
    missing = sorted(k for k in set(expected) - set(renamed) if not k.endswith("num_batches_tracked"))
    if unexpected or missing:
        raise ValueError(
            f"state_dict: keys do not match SemGCN: unexpected {sorted(unexpected)} (upstream names), "
            f"missing {missing} (our names)"
        )
    loaded = {}
    for ours, (name, value) in renamed.items():
        target = expected[ours]
        if ours.endswith("edge_logits") and value.ndim == 2 and value.shape[0] == 1:
            value = value.reshape(-1)  # upstream keeps e as (1, E)
        if value.shape != target.shape:
            raise ValueError(
                f"state_dict[{name!r}]: expected shape {tuple(target.shape)} for {ours} "
                f"(edge weights: {config.num_adjacency_entries} for the config's skeleton), got {tuple(value.shape)}"
            )
        loaded[ours] = value.to(target.dtype)
    model.load_state_dict(loaded, strict=False)
    return model.eval()


def load_semgcn_checkpoint(
    path: str | os.PathLike,
    *,
    key: str = "state_dict",
    safe_globals: Iterable = (),
    config: SemGCNConfig | None = None,
) -> SemGCNModel:
    """Load a SemGCN checkpoint file into a :class:`SemGCNModel` (eval mode).

    Args:
        path: a ``torch.save``'d training checkpoint (dict with ``key``) or a bare state dict.
        key: the checkpoint entry holding the weights (``"state_dict"``).
        safe_globals: globals to allow-list for this one load (``torch.serialization.safe_globals``),
            for files you trust that pickle more than tensors and plain containers.
        config: skeleton and boundary settings, see :func:`semgcn_from_state_dict`.

    Raises:
        ValueError: the file holds pickled objects that ``weights_only=True`` refuses (the message says
            how to re-save it), is not a checkpoint, or its weights do not fit.
    """
    path = Path(path)
    return semgcn_from_state_dict(_select_state_dict(load_weights_only(path, safe_globals, _refusal_message), key, path), config)


def convert_semgcn(
    src: str | os.PathLike, out: str | os.PathLike, *, overwrite: bool = False, **kwargs
) -> SemGCNConversion:
    """Convert a SemGCN checkpoint into a ``save_pretrained`` folder (``config.json``,
    ``model.safetensors`` and the model code for ``trust_remote_code``).

    Refuses an existing non-empty ``out`` unless ``overwrite``. The model is saved to a temporary folder
    beside ``out`` first; a new ``out`` is then renamed into place in one step, an existing one gets the
    files moved in one by one with ``os.replace``. A failed conversion leaves ``out`` untouched.
    ``kwargs`` go to :func:`load_semgcn_checkpoint`.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"out: {str(out)!r} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(
            f"out: {str(out)!r} exists and is not empty; pass overwrite=True (--force) to overwrite"
        )
    model = load_semgcn_checkpoint(src, **kwargs)
    state = model.state_dict()
    result = SemGCNConversion(
        out_dir=out,
        num_tensors=len(state),
        num_values=sum(t.numel() for t in state.values()),
        num_parameters=model.num_parameters(),
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        model.save_pretrained(tmp)
        if out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        if not out.exists():
            os.replace(tmp, out)
        else:
            for item in tmp.iterdir():
                os.replace(item, out / item.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return result
