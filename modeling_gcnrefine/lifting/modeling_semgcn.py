"""The built-in SemGCN lifter: semantic graph convolutions (Zhao et al., CVPR 2019) as a transformers model.

"Semantic Graph Convolutional Networks for 3D Human Pose Regression". Written from the paper's
description of the layers (so that the published Human3.6M checkpoint converts, see
``convert_semgcn.py``), single frame, on the skeleton graph of ``SemGCNConfig.parents``:

    input:   SemGraphConv(2 -> H), BatchNorm, ReLU
    block i: [SemGraphConv(H -> H), BN, ReLU] x 2, + block input
    output:  SemGraphConv(H -> 3)

A semantic graph convolution holds ``weight`` (2, in, out), ``edge_logits`` (one per non-zero entry of the
adjacency matrix with self-loops, row-major) and ``bias`` (out). With ``h0 = x @ weight[0]`` and
``h1 = x @ weight[1]``, the logits are scattered into a (J, J) matrix that is -9e15 elsewhere, each row is
softmax-normalised to ``A``, and the output is ``(A * I) @ h0 + (A * (1 - I)) @ h1 + bias``: a joint's own
features and its neighbours' get separate transforms, mixed with learned per-edge weights.

Input ``(B, J, 2)`` normalised 2D (VideoPose3D's ``normalize_screen_coordinates``); output ``(B, J, 3)``
camera-frame metres relative to the root (joint 0). The network predicts the root too (near 0 after
training on root-relative targets, about 1 cm on BlendMimic3D); ``lift`` subtracts it, as SemGCN's own
evaluation does, and works in Human3.6M-17 at its boundary.

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

from .configuration_semgcn import SemGCNConfig

# Stands in for -inf before the row softmax: exp() of it is exactly 0, and a row never becomes all -inf
# (every joint has its self-loop), so there is no NaN.
_MASKED_LOGIT = -9e15


def normalize_screen_coordinates(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """Map pixels to [-1, 1] along x keeping the aspect ratio (VideoPose3D's normalisation, which SemGCN
    was trained with).

    The same formula as ``utils.geometry.normalize_screen_coordinates`` (a test keeps them equal): this
    file travels with a checkpoint and imports nothing outside its own model files.
    """
    pixels = np.asarray(pixels)
    return pixels / width * 2 - np.array([1.0, height / width], dtype=pixels.dtype)


def _edge_index(config: SemGCNConfig) -> torch.Tensor:
    return torch.tensor(config.adjacency_entries, dtype=torch.long).T.contiguous()  # (2, E)


@dataclass
class SemGCNOutput(ModelOutput):
    """Output of :class:`SemGCNModel`.

    Args:
        loss: MPJPE in metres between ``poses_3d`` and ``labels`` (only when labels are given).
        poses_3d: ``(B, num_joints, out_features)`` camera-frame joints in metres, relative to the root as
            trained (the root itself is predicted too, near 0; ``lift`` re-centres on it).
    """

    loss: torch.Tensor | None = None
    poses_3d: torch.Tensor | None = None


class SemGraphConv(nn.Module):
    """One semantic graph convolution on ``(B, J, in_features) -> (B, J, out_features)``.

    ``edge_index`` and ``eye`` are constants of the graph. They are non-persistent buffers (so they follow
    ``.to(device)`` but are not in the weights file); ``SemGCNModel._init_weights`` rebuilds them, since
    ``from_pretrained`` leaves unsaved buffers uninitialised.
    """

    def __init__(self, config: SemGCNConfig, in_features: int, out_features: int) -> None:
        super().__init__()
        self.num_joints = config.num_joints
        self.weight = nn.Parameter(torch.empty(2, in_features, out_features))
        self.edge_logits = nn.Parameter(torch.empty(config.num_adjacency_entries))
        self.bias = nn.Parameter(torch.empty(out_features))
        self.register_buffer("edge_index", _edge_index(config), persistent=False)
        self.register_buffer("eye", torch.eye(config.num_joints), persistent=False)

    def adjacency(self) -> torch.Tensor:
        """The row-normalised learned adjacency ``A`` (J, J)."""
        j = self.num_joints
        logits = self.edge_logits.new_full((j, j), _MASKED_LOGIT)
        logits = logits.index_put((self.edge_index[0], self.edge_index[1]), self.edge_logits)
        return torch.softmax(logits, dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h0 = x @ self.weight[0]
        h1 = x @ self.weight[1]
        a = self.adjacency().to(x.dtype)
        eye = self.eye.to(x.dtype)
        return (a * eye) @ h0 + (a * (1 - eye)) @ h1 + self.bias


class SemGCNLayer(nn.Module):
    """A semantic graph convolution followed by BatchNorm over features and ReLU (then dropout if set)."""

    def __init__(self, config: SemGCNConfig, in_features: int, out_features: int) -> None:
        super().__init__()
        self.conv = SemGraphConv(config, in_features, out_features)
        self.norm = nn.BatchNorm1d(out_features)
        self.relu = nn.ReLU()
        self.drop = nn.Dropout(config.dropout) if config.dropout is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)  # (B, J, F)
        x = self.relu(self.norm(x.transpose(1, 2)).transpose(1, 2))
        return self.drop(x) if self.drop is not None else x


class SemGCNBlock(nn.Module):
    """Two :class:`SemGCNLayer` with a residual connection around the pair."""

    def __init__(self, config: SemGCNConfig) -> None:
        super().__init__()
        self.layer1 = SemGCNLayer(config, config.hidden_size, config.hidden_size)
        self.layer2 = SemGCNLayer(config, config.hidden_size, config.hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.layer2(self.layer1(x))


class SemGCNModel(PreTrainedModel):
    """SemGCN: a single-frame 2D-to-3D lifter of semantic graph convolutions on the skeleton graph.

    ``forward`` is the trainable network on normalised 2D of the ``config.num_joints`` network joints;
    ``lift`` is the user-facing call on a pixel sequence of ``config.num_boundary_joints`` joints
    (Human3.6M-17), frame by frame.
    """

    config_class = SemGCNConfig
    config: SemGCNConfig
    main_input_name = "keypoints_2d"
    base_model_prefix = ""

    def __init__(self, config: SemGCNConfig) -> None:
        super().__init__(config)
        self.input_layer = SemGCNLayer(config, config.in_features, config.hidden_size)
        self.blocks = nn.ModuleList(SemGCNBlock(config) for _ in range(config.num_blocks))
        self.output_conv = SemGraphConv(config, config.hidden_size, config.out_features)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, SemGraphConv):
            init.copy_(module.edge_index, _edge_index(self.config))
            init.copy_(module.eye, torch.eye(self.config.num_joints))
            # As the authors' release initialises them: Glorot-uniform weights with gain 1.414, edge logits 1
            # (every neighbour weighted equally before training) and a bias uniform in +-1/sqrt(out).
            init.xavier_uniform_(module.weight, gain=1.414)
            init.constant_(module.edge_logits, 1.0)
            bound = 1 / math.sqrt(module.weight.shape[2])
            init.uniform_(module.bias, -bound, bound)
        elif isinstance(module, nn.BatchNorm1d):
            init.ones_(module.weight)
            init.zeros_(module.bias)
            init.zeros_(module.running_mean)
            init.ones_(module.running_var)
            init.zeros_(module.num_batches_tracked)

    def forward(self, keypoints_2d: torch.Tensor, labels: torch.Tensor | None = None) -> SemGCNOutput:
        """Lift normalised 2D ``(B, num_joints, in_features)`` to ``(B, num_joints, out_features)``.

        The output is the network's, root included (not re-centred, so training matches SemGCN's).
        ``labels`` (optional) are root-relative 3D targets of the output's shape; the loss is MPJPE
        (mean Euclidean joint error, metres).
        """
        cfg = self.config
        if keypoints_2d.ndim != 3 or tuple(keypoints_2d.shape[1:]) != (cfg.num_joints, cfg.in_features):
            raise ValueError(
                f"keypoints_2d: expected shape (B, {cfg.num_joints}, {cfg.in_features}) (the network's joints; "
                f"lift() takes {cfg.num_boundary_joints}), got {tuple(keypoints_2d.shape)}"
            )
        x = self.input_layer(keypoints_2d)
        for block in self.blocks:
            x = block(x)
        poses = self.output_conv(x)

        loss = None
        if labels is not None:
            if tuple(labels.shape) != tuple(poses.shape):
                raise ValueError(
                    f"labels: expected the output's shape {tuple(poses.shape)}, got {tuple(labels.shape)}"
                )
            loss = torch.linalg.vector_norm(poses - labels.to(poses.dtype), dim=-1).mean()
        return SemGCNOutput(loss=loss, poses_3d=poses)

    def to_network_joints(self, joints: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """``(..., num_boundary_joints, F) -> (..., num_joints, F)``: keep the network's joints (``joint_map``)."""
        return joints[..., self.config.joint_map, :]

    def to_boundary_joints(self, joints: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """``(..., num_joints, F) -> (..., num_boundary_joints, F)``: scatter by ``joint_map`` and place the
        rest at the midpoints of ``midpoint_joints``."""
        cfg = self.config
        shape = (*joints.shape[:-2], cfg.num_boundary_joints, joints.shape[-1])
        if isinstance(joints, torch.Tensor):
            out = joints.new_zeros(shape)
        else:
            out = np.zeros(shape, dtype=np.asarray(joints).dtype)
        out[..., cfg.joint_map, :] = joints
        for target, a, b in cfg.midpoint_joints:
            out[..., target, :] = (out[..., a, :] + out[..., b, :]) / 2
        return out

    @torch.no_grad()
    def lift(
        self,
        keypoints_2d: np.ndarray | torch.Tensor,
        image_size: tuple[float, float],
        flip_test: bool = False,
        batch_size: int = 4096,
    ) -> np.ndarray | torch.Tensor:
        """Lift a pixel 2D sequence ``(T, num_boundary_joints, 2)`` to root-relative camera-frame 3D
        ``(T, num_boundary_joints, 3)`` metres, one frame at a time (Human3.6M-17 in and out by default).

        Args:
            keypoints_2d: pixels, numpy or torch, Human3.6M-17 order (anatomical convention). The joints
                outside ``joint_map`` (neck/nose) are ignored; on output they are placed by
                ``midpoint_joints`` (neck/nose halfway between thorax and head).
            image_size: ``(width, height)`` of the image in pixels (for the normalisation).
            flip_test: also lift the mirrored frames (x negated, left/right swapped), mirror the result
                back and average. The published SemGCN was evaluated without it.
            batch_size: most frames per forward pass; bounds memory for long videos.

        The output is re-centred on the predicted root (joint 0 is exactly 0), as SemGCN's evaluation
        does (on BlendMimic3D SS3 ``Focus`` camera 0 the published weights score 125.1 mm MPJPE this way,
        126.9 mm without it).

        Like the temporal lifter, non-finite 2D (frames where no person was found) is refused: fill those
        frames first (e.g. interpolate). Runs in eval mode without autograd and restores the previous
        mode. Returns the input's array type (float32; torch on its device).
        """
        cfg = self.config
        if cfg.in_features != 2 or cfg.out_features != 3:
            raise ValueError(
                f"config: lift needs in_features=2 and out_features=3, got {cfg.in_features} and {cfg.out_features}"
            )
        is_torch = isinstance(keypoints_2d, torch.Tensor)
        points = keypoints_2d.detach().cpu().numpy() if is_torch else np.asarray(keypoints_2d)
        if points.ndim != 3 or points.shape[1:] != (cfg.num_boundary_joints, 2) or points.shape[0] < 1:
            raise ValueError(
                f"keypoints_2d: expected shape (T, {cfg.num_boundary_joints}, 2) with T >= 1, got {points.shape}"
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
        param = next(self.parameters())
        x = torch.from_numpy(norm).to(device=param.device, dtype=param.dtype)  # (T, 17, 2)
        perm = list(range(cfg.num_boundary_joints))
        for left, right in zip(cfg.joints_left, cfg.joints_right):
            perm[left], perm[right] = right, left
        if flip_test:
            mirrored = x[:, perm].clone()
            mirrored[..., 0] *= -1
            x = torch.cat([x, mirrored])  # (2T, 17, 2)
        x = self.to_network_joints(x)  # (T or 2T, 16, 2)

        was_training = self.training
        self.eval()
        try:
            out = torch.cat(
                [self(x[start : start + batch_size]).poses_3d for start in range(0, len(x), batch_size)]
            )
        finally:
            self.train(was_training)
        out = out - out[:, :1]
        out = self.to_boundary_joints(out)  # (T or 2T, 17, 3)
        if flip_test:
            total = points.shape[0]
            unflipped = out[total:][:, perm].clone()
            unflipped[..., 0] *= -1
            out = (out[:total] + unflipped) / 2
        out = out.float()
        return out.to(keypoints_2d.device) if is_torch else out.cpu().numpy()
