"""The built-in temporal lifter: VideoPose3D's dilated temporal convolutional network as a transformers model.

Pavllo et al., "3D human pose estimation in video with temporal convolutions and semi-supervised
training", CVPR 2019. Architecture, written from the paper's description and the public parameter
names (so that the official checkpoints load by name, see ``convert_videopose3d.py``):

    expand:  Conv1d(J*2 -> C, w0, no bias), BatchNorm, ReLU, Dropout
    block i: Conv1d(C -> C, w_i, dilation d_i = w0*...*w_{i-1}, no bias), BN, ReLU, Dropout,
             Conv1d(C -> C, 1, no bias), BN, ReLU, Dropout, + input cropped to the output frames
    shrink:  Conv1d(C -> J*3, 1, bias)

Input ``(B, T_in, J, 2)`` normalised 2D (VideoPose3D's ``normalize_screen_coordinates``); output
``(B, T_in - receptive_field + 1, J, 3)`` camera-frame metres relative to the root. As in VideoPose3D
the network predicts all J joints, the root included: the root output is whatever the network gives
(near 0 after training with root-relative targets, where the target root is exactly 0).

This file travels with saved checkpoints (``auto_map``): it imports only its sibling configuration
file, torch, numpy and transformers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from .configuration_lifter import LifterConfig


def normalize_screen_coordinates(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """Map pixels to [-1, 1] along x keeping the aspect ratio (VideoPose3D's normalisation).

    The same formula as ``utils.geometry.normalize_screen_coordinates`` (a test keeps them equal): this
    file travels with a checkpoint and imports nothing outside the lifter's model files.
    """
    pixels = np.asarray(pixels)
    return pixels / width * 2 - np.array([1.0, height / width], dtype=pixels.dtype)


@dataclass
class LifterOutput(ModelOutput):
    """Output of :class:`TemporalLifterModel`.

    Args:
        loss: MPJPE in metres between ``poses_3d`` and ``labels`` (only when labels are given).
        poses_3d: ``(B, T_in - receptive_field + 1, J, 3)`` root-relative camera-frame joints, metres.
    """

    loss: torch.Tensor | None = None
    poses_3d: torch.Tensor | None = None


class TemporalLifterModel(PreTrainedModel):
    """VideoPose3D's temporal convolutional lifter (2D keypoint sequence -> 3D pose sequence).

    ``forward`` is the trainable network on normalised windows; ``lift`` is the user-facing call on a
    pixel sequence of any length. Parameter names equal VideoPose3D's (``expand_conv``, ``expand_bn``,
    ``layers_conv.{i}``, ``layers_bn.{i}``, ``shrink``), so official state dicts load by name.
    """

    config_class = LifterConfig
    config: LifterConfig
    main_input_name = "keypoints_2d"
    base_model_prefix = ""

    def __init__(self, config: LifterConfig) -> None:
        super().__init__(config)
        widths, channels, m = config.filter_widths, config.channels, config.bn_momentum
        self.expand_conv = nn.Conv1d(config.num_joints * config.in_features, channels, widths[0], bias=False)
        self.expand_bn = nn.BatchNorm1d(channels, momentum=m)
        # Per residual block: frames the dilated conv trims from each side, and (causal mode) how far
        # the residual slice shifts so each output aligns with the last frame of its window.
        self._pads: list[int] = []
        self._shifts: list[int] = []
        convs, bns = [], []
        dilation = widths[0]
        for width in widths[1:]:
            pad = (width - 1) * dilation // 2
            self._pads.append(pad)
            self._shifts.append(pad if config.causal else 0)
            if config.dense:
                convs.append(nn.Conv1d(channels, channels, 2 * pad + 1, bias=False))
            else:
                convs.append(nn.Conv1d(channels, channels, width, dilation=dilation, bias=False))
            bns.append(nn.BatchNorm1d(channels, momentum=m))
            convs.append(nn.Conv1d(channels, channels, 1, bias=False))
            bns.append(nn.BatchNorm1d(channels, momentum=m))
            dilation *= width
        self.layers_conv = nn.ModuleList(convs)
        self.layers_bn = nn.ModuleList(bns)
        self.shrink = nn.Conv1d(channels, config.num_joints * config.out_features, 1)
        self.relu = nn.ReLU()
        self.drop = nn.Dropout(config.dropout)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        # PyTorch's own defaults (what VideoPose3D trained from), via the guarded helpers so loaded
        # tensors are never overwritten.
        if isinstance(module, nn.Conv1d):
            init.kaiming_uniform_(module.weight, a=math.sqrt(5))
            if module.bias is not None:
                bound = 1 / math.sqrt(module.in_channels * module.kernel_size[0])
                init.uniform_(module.bias, -bound, bound)
        elif isinstance(module, nn.BatchNorm1d):
            init.ones_(module.weight)
            init.zeros_(module.bias)
            init.zeros_(module.running_mean)
            init.ones_(module.running_var)
            init.zeros_(module.num_batches_tracked)

    @property
    def receptive_field(self) -> int:
        """Input frames per output frame (27, 81, 243 for 3, 4, 5 widths of 3)."""
        return self.config.receptive_field

    def set_bn_momentum(self, momentum: float) -> None:
        """Set every BatchNorm's momentum (VideoPose3D decays it from 0.1 towards 0.001 while training)."""
        if not 0 <= momentum <= 1:
            raise ValueError(f"momentum: expected a float in [0, 1], got {momentum!r}")
        for bn in [self.expand_bn, *self.layers_bn]:
            bn.momentum = momentum

    def forward(self, keypoints_2d: torch.Tensor, labels: torch.Tensor | None = None) -> LifterOutput:
        """Lift normalised 2D windows ``(B, T_in, J, in_features)`` to ``(B, T_in - RF + 1, J, out_features)``.

        ``labels`` (optional) are root-relative 3D targets of the output's shape; the loss is MPJPE
        (mean Euclidean joint error, metres).
        """
        cfg = self.config
        if keypoints_2d.ndim != 4 or tuple(keypoints_2d.shape[2:]) != (cfg.num_joints, cfg.in_features):
            raise ValueError(
                f"keypoints_2d: expected shape (B, T, {cfg.num_joints}, {cfg.in_features}), "
                f"got {tuple(keypoints_2d.shape)}"
            )
        b, t = keypoints_2d.shape[:2]
        if t < cfg.receptive_field:
            raise ValueError(
                f"keypoints_2d: expected at least {cfg.receptive_field} frames (the receptive field), got {t}"
            )
        x = keypoints_2d.reshape(b, t, -1).transpose(1, 2)  # (B, T, J, F) -> (B, J*F, T)
        x = self.drop(self.relu(self.expand_bn(self.expand_conv(x))))
        for i, (pad, shift) in enumerate(zip(self._pads, self._shifts)):
            residual = x[:, :, pad + shift : x.shape[2] - pad + shift]  # the frames the block keeps
            x = self.drop(self.relu(self.layers_bn[2 * i](self.layers_conv[2 * i](x))))
            x = residual + self.drop(self.relu(self.layers_bn[2 * i + 1](self.layers_conv[2 * i + 1](x))))
        x = self.shrink(x)  # (B, J*3, T_out)
        poses = x.transpose(1, 2).reshape(b, -1, cfg.num_joints, cfg.out_features)  # (B, T_out, J, 3)

        loss = None
        if labels is not None:
            if tuple(labels.shape) != tuple(poses.shape):
                raise ValueError(
                    f"labels: expected the output's shape {tuple(poses.shape)}, got {tuple(labels.shape)}"
                )
            loss = torch.linalg.vector_norm(poses - labels.to(poses.dtype), dim=-1).mean()
        return LifterOutput(loss=loss, poses_3d=poses)

    @torch.no_grad()
    def lift(
        self,
        keypoints_2d: np.ndarray | torch.Tensor,
        image_size: tuple[float, float],
        flip_test: bool = True,
        batch_size: int = 2048,
    ) -> np.ndarray | torch.Tensor:
        """Lift a pixel 2D sequence ``(T, J, 2)`` to root-relative camera-frame 3D ``(T, J, 3)`` metres.

        Args:
            keypoints_2d: pixels, numpy or torch, in the joint order the model was trained on.
            image_size: ``(width, height)`` of the image in pixels (for the normalisation).
            flip_test: also lift the mirrored sequence (x negated, left/right swapped), mirror the
                result back and average, as VideoPose3D's test-time augmentation does.
            batch_size: most output frames computed per forward pass; bounds memory for long videos.

        The sequence is padded by edge replication (``RF // 2`` frames each side; ``RF - 1`` before it
        in causal mode) so the output has one frame per input frame. Runs in eval mode without autograd
        and restores the previous mode. Returns the input's array type (float32; torch on its device).
        """
        cfg = self.config
        if cfg.in_features != 2 or cfg.out_features != 3:
            raise ValueError(
                f"config: lift needs in_features=2 and out_features=3, got {cfg.in_features} and {cfg.out_features}"
            )
        is_torch = isinstance(keypoints_2d, torch.Tensor)
        points = keypoints_2d.detach().cpu().numpy() if is_torch else np.asarray(keypoints_2d)
        if points.ndim != 3 or points.shape[1:] != (cfg.num_joints, 2) or points.shape[0] < 1:
            raise ValueError(
                f"keypoints_2d: expected shape (T, {cfg.num_joints}, 2) with T >= 1, got {points.shape}"
            )
        if not np.issubdtype(points.dtype, np.number) or not np.isfinite(points).all():
            raise ValueError(
                f"keypoints_2d: expected finite numbers (pixels), got dtype {points.dtype} with non-finite values"
            )
        if (
            not isinstance(image_size, tuple | list)
            or len(image_size) != 2
            or not all(
                isinstance(s, int | float | np.number) and np.isfinite(s) and s > 0 for s in image_size
            )
        ):
            raise ValueError(f"image_size: expected (width, height) positive pixels, got {image_size!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size: expected a positive int, got {batch_size!r}")

        width, height = image_size
        # float64 before normalising: integer pixels would otherwise truncate the offset.
        norm = normalize_screen_coordinates(points.astype(np.float64), width, height).astype(np.float32)
        rf = cfg.receptive_field
        before, after = (rf - 1, 0) if cfg.causal else (rf // 2, rf // 2)
        norm = np.pad(norm, ((before, after), (0, 0), (0, 0)), mode="edge")  # (T + RF - 1, J, 2)
        param = next(self.parameters())
        x = torch.from_numpy(norm).to(device=param.device, dtype=param.dtype)[None]  # (1, T + RF - 1, J, 2)
        perm = list(range(cfg.num_joints))
        for left, right in zip(cfg.joints_left, cfg.joints_right):
            perm[left], perm[right] = right, left
        if flip_test:
            mirrored = x[:, :, perm].clone()
            mirrored[..., 0] *= -1
            x = torch.cat([x, mirrored])  # (2, T + RF - 1, J, 2)

        was_training = self.training
        self.eval()
        try:
            total = points.shape[0]
            chunks = [
                self(x[:, start : start + min(batch_size, total - start) + rf - 1]).poses_3d
                for start in range(0, total, batch_size)
            ]
        finally:
            self.train(was_training)
        out = torch.cat(chunks, dim=1)  # (1 or 2, T, J, 3)
        if flip_test:
            unflipped = out[1][:, perm].clone()
            unflipped[..., 0] *= -1
            out = (out[0] + unflipped) / 2
        else:
            out = out[0]
        out = out.float()
        return out.to(keypoints_2d.device) if is_torch else out.cpu().numpy()
