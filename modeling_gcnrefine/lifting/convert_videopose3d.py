"""Load official VideoPose3D checkpoints (``pretrained_h36m_cpn.bin`` and the like) into TemporalLifterModel.

An official training checkpoint is a ``torch.save``'d dict::

    {"epoch": int, "lr": float, "optimizer": {...}, "random_state": numpy RandomState,
     "model_pos": state dict, "model_traj": state dict or None, ...}

``model_pos`` holds ``expand_conv.weight`` ``(C, J*2, w0)``, ``expand_bn.{weight,bias,running_mean,
running_var,num_batches_tracked}``, ``layers_conv.{i}.weight``, ``layers_bn.{i}.*`` and
``shrink.{weight,bias}``: the same names as :class:`TemporalLifterModel`, so conversion is a key-for-key
copy, and the filter widths and channels can be read off the tensor shapes.

Files are read with ``torch.load(weights_only=True)``, which never runs code from the file. It refuses
the pickled numpy ``RandomState`` that official files carry; the error says what to do (re-save the
weights once in a trusted environment, or allow-list the refused globals through ``safe_globals``).

Inputs: ``pretrained_h36m_cpn.bin`` takes Human3.6M-17-order 2D (CPN detections); the in-the-wild
``pretrained_h36m_detectron_coco.bin`` takes COCO-17-order 2D and outputs Human3.6M-17. ``lift``'s flip
augmentation assumes one layout for input and output, so use ``flip_test=False`` with the COCO-input model.
"""

from __future__ import annotations

import os
import pickle
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import torch

from .configuration_lifter import LifterConfig
from .modeling_lifter import TemporalLifterModel

_REQUIRED_KEYS = ("expand_conv.weight", "shrink.weight", "shrink.bias")


def _torch_reason(err: Exception) -> str:
    """torch's own one-line reason from a weights_only refusal (e.g. "Unsupported global: GLOBAL ...")."""
    match = re.search(r"WeightsUnpickler error:\s*(.*?)(?:\n\s*\n|Check the documentation|$)", str(err), re.S)
    return " ".join(match.group(1).split())[:400] if match else " ".join(str(err).split())[:400]


def _refusal_message(path: Path, reason: str) -> str:
    return (
        f"checkpoint {str(path)!r}: torch.load(weights_only=True) refused it because it holds pickled Python "
        f"objects besides tensors (torch: {reason}). Official VideoPose3D files pickle the data loader's numpy "
        "RandomState next to the weights, and unpickling arbitrary objects can run code, so this loader "
        "never does it. Either (1) export the weights alone from the environment that trained the model: "
        "torch.save({'model_pos': model_pos.state_dict()}, 'clean.bin'), then convert clean.bin; or (2) if you "
        "trust the file, allow-list exactly the refused globals with "
        "load_videopose3d_checkpoint(path, safe_globals=[...]) (scoped) or "
        "torch.serialization.add_safe_globals([...]) (process-wide); "
        "torch.serialization.get_unsafe_globals_in_checkpoint(path) lists them for zip-format files."
    )


def load_weights_only(path: Path, safe_globals: Iterable, refusal_message=None) -> object:
    """``torch.load(path, weights_only=True)`` with one-line errors; ``refusal_message(path, reason)`` words
    the refusal of a file that pickles objects besides tensors (default: the VideoPose3D advice)."""
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint: no such file {str(path)!r}")
    try:
        with torch.serialization.safe_globals(list(safe_globals)):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        reason = _torch_reason(err)
        # A refused class/function (an object besides tensors) vs. bytes that are no pickle at all.
        if re.search(r"GLOBAL|allowlist|add_safe_globals", reason):
            raise ValueError((refusal_message or _refusal_message)(path, reason)) from err
        raise ValueError(f"checkpoint {str(path)!r}: not a readable torch checkpoint ({reason})") from err
    except OSError:
        raise
    except Exception as err:  # torch raises KeyError/RuntimeError/EOFError on files that are not checkpoints
        raise ValueError(
            f"checkpoint {str(path)!r}: not a readable torch checkpoint ({type(err).__name__}: {err})"
        ) from err


def _select_state_dict(ckpt: object, key: str, path: Path | str) -> dict[str, torch.Tensor]:
    """The ``key`` entry of a training checkpoint, or the checkpoint itself when it is a bare state dict."""
    if not isinstance(ckpt, Mapping):
        raise ValueError(f"checkpoint {str(path)!r}: expected a dict, got {type(ckpt).__name__}")
    if key in ckpt:
        state = ckpt[key]
    elif any(k.removeprefix("module.") == "expand_conv.weight" for k in ckpt):
        state = ckpt
    else:
        raise ValueError(
            f"checkpoint {str(path)!r}: expected a {key!r} entry or a bare VideoPose3D state dict, "
            f"got top-level keys {sorted(map(str, ckpt))}"
        )
    if not isinstance(state, Mapping):
        raise ValueError(
            f"checkpoint {str(path)!r}: expected {key!r} to be a state dict, got {type(state).__name__}"
        )
    # Weights saved from a DataParallel wrapper carry a "module." prefix.
    return {str(k).removeprefix("module."): v for k, v in state.items()}


def _infer_widths(state: Mapping[str, torch.Tensor], dense: bool) -> list[int]:
    widths = [int(state["expand_conv.weight"].shape[2])]
    dilation = widths[0]
    block = 0
    while f"layers_conv.{2 * block}.weight" in state:
        kernel = int(state[f"layers_conv.{2 * block}.weight"].shape[2])
        if dense:  # undilated kernel spanning (w - 1) * dilation + 1 frames
            if (kernel - 1) % dilation:
                raise ValueError(
                    f"layers_conv.{2 * block}.weight: kernel {kernel} does not fit a dense block at dilation {dilation}"
                )
            width = (kernel - 1) // dilation + 1
        else:
            width = kernel
        widths.append(width)
        dilation *= width
        block += 1
    return widths


def lifter_from_videopose3d_state_dict(
    state_dict: Mapping[str, torch.Tensor],
    filter_widths: Sequence[int] | None = None,
    channels: int | None = None,
    *,
    causal: bool = False,
    dense: bool = False,
    dropout: float = 0.25,
    joints_left: Sequence[int] | None = None,
    joints_right: Sequence[int] | None = None,
) -> TemporalLifterModel:
    """Build a :class:`TemporalLifterModel` holding a VideoPose3D ``model_pos`` state dict (eval mode).

    ``filter_widths`` and ``channels`` are read from the tensor shapes when not given, and checked
    against them when given. ``causal``, ``dense`` and ``dropout`` cannot be read from the weights:
    pass the values the checkpoint was trained with (the published ones use the defaults).
    ``joints_left``/``joints_right`` default to Human3.6M-17 and are required for other joint counts.
    """
    state = {str(k).removeprefix("module."): v for k, v in state_dict.items()}
    missing = [k for k in _REQUIRED_KEYS if k not in state]
    if missing:
        raise ValueError(f"state_dict: expected VideoPose3D keys {list(_REQUIRED_KEYS)}, missing {missing}")
    for name, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise ValueError(f"state_dict[{name!r}]: expected a tensor, got {type(value).__name__}")
    expand, shrink = state["expand_conv.weight"], state["shrink.weight"]
    if expand.ndim != 3 or shrink.ndim != 3 or shrink.shape[0] % 3:
        raise ValueError(
            f"state_dict: expected expand_conv.weight (C, J*2, w0) and shrink.weight (J*3, C, 1), got "
            f"{tuple(expand.shape)} and {tuple(shrink.shape)}"
        )
    num_joints = shrink.shape[0] // 3
    if expand.shape[1] % num_joints:
        raise ValueError(
            f"expand_conv.weight: expected J*in_features input channels with J={num_joints} (from shrink), "
            f"got {expand.shape[1]} (different input and output joint counts are not supported)"
        )
    found_channels = int(expand.shape[0])
    if channels is not None and channels != found_channels:
        raise ValueError(f"channels: the checkpoint has {found_channels}, got {channels}")
    widths = _infer_widths(state, dense)
    if filter_widths is not None and list(filter_widths) != widths:
        raise ValueError(f"filter_widths: the checkpoint has {widths}, got {list(filter_widths)}")
    if num_joints != 17 and (joints_left is None or joints_right is None):
        raise ValueError(f"joints_left/joints_right: required for a {num_joints}-joint checkpoint, got None")
    sides = {}
    if joints_left is not None:
        sides["joints_left"] = list(joints_left)
    if joints_right is not None:
        sides["joints_right"] = list(joints_right)
    config = LifterConfig(
        num_joints=num_joints,
        in_features=expand.shape[1] // num_joints,
        out_features=3,
        filter_widths=widths,
        channels=found_channels,
        dropout=dropout,
        causal=causal,
        dense=dense,
        **sides,
    )
    model = TemporalLifterModel(config)
    expected = model.state_dict()
    unexpected = sorted(set(state) - set(expected))
    # Checkpoints from torch < 0.4.1 have no BatchNorm step counters; they do not affect outputs.
    absent = sorted(k for k in set(expected) - set(state) if not k.endswith("num_batches_tracked"))
    if unexpected or absent:
        raise ValueError(
            f"state_dict: keys do not match the architecture: unexpected {unexpected}, missing {absent}"
        )
    for name, value in state.items():
        if value.shape != expected[name].shape:
            raise ValueError(
                f"state_dict[{name!r}]: expected shape {tuple(expected[name].shape)}, got {tuple(value.shape)}"
            )
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()}, strict=False)
    return model.eval()


def load_videopose3d_checkpoint(
    path: str | os.PathLike,
    filter_widths: Sequence[int] | None = None,
    channels: int | None = None,
    *,
    key: str = "model_pos",
    safe_globals: Iterable = (),
    causal: bool = False,
    dense: bool = False,
    dropout: float = 0.25,
    joints_left: Sequence[int] | None = None,
    joints_right: Sequence[int] | None = None,
) -> TemporalLifterModel:
    """Load an official VideoPose3D checkpoint file into a :class:`TemporalLifterModel` (eval mode).

    Args:
        path: a ``torch.save``'d training checkpoint (dict with ``key``) or a bare state dict.
        filter_widths, channels: read from the weights when None; checked against them otherwise.
        key: the checkpoint entry holding the lifter's weights (``"model_pos"``).
        safe_globals: globals to allow-list for this one load (``torch.serialization.safe_globals``),
            for files you trust that pickle more than tensors and plain containers.
        causal, dense, dropout, joints_left, joints_right: see :func:`lifter_from_videopose3d_state_dict`.

    Raises:
        ValueError: the file holds pickled objects that ``weights_only=True`` refuses (the message
            explains the two ways forward), is not a checkpoint, or its weights do not fit.
    """
    path = Path(path)
    state = _select_state_dict(load_weights_only(path, safe_globals), key, path)
    return lifter_from_videopose3d_state_dict(
        state,
        filter_widths,
        channels,
        causal=causal,
        dense=dense,
        dropout=dropout,
        joints_left=joints_left,
        joints_right=joints_right,
    )


def convert_videopose3d(
    checkpoint: str | os.PathLike, out_dir: str | os.PathLike, *, force: bool = False, **kwargs
) -> Path:
    """Convert a VideoPose3D checkpoint into a ``save_pretrained`` folder (``config.json``,
    ``model.safetensors`` and the model code for ``trust_remote_code``).

    Refuses an existing non-empty ``out_dir`` unless ``force``; files are written to a temporary
    folder beside it and moved in one by one with ``os.replace``, so a failed conversion leaves
    ``out_dir`` untouched. ``kwargs`` go to :func:`load_videopose3d_checkpoint`. Returns ``out_dir``.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"out_dir: {str(out)!r} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise FileExistsError(
            f"out_dir: {str(out)!r} exists and is not empty; pass force=True (--force) to overwrite"
        )
    model = load_videopose3d_checkpoint(checkpoint, **kwargs)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        model.save_pretrained(tmp)
        out.mkdir(exist_ok=True)
        for item in tmp.iterdir():
            os.replace(item, out / item.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out
