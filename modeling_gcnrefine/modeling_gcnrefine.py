"""The ST-GCN pose refiner (Lino, Santiago and Marques, CVPR 2024; after Cai et al., ICCV 2019).

Reads top to bottom: graph convolution unit, non-local block, the long-range parts (confidence input,
dilated temporal block), the model with `forward` (windows of T frames, for training) and `refine`
(whole sequences, for users).

Two architectures (``config.architecture``): "paper", the paper's network over T-frame windows whose
centre frame `refine` keeps; "long_range", a per-frame spatial graph convolution followed by dilated
temporal convolutions (receptive field 81 by default), sequence to sequence: `forward` refines every
frame of ``(B, T, V, 3)`` for any T, and `refine` runs overlapping chunks and blends them.

Features are kept channels-last, ``(N, L, C)`` with ``L = T * V`` nodes numbered frame-major, so every
1x1 convolution of the reference is a `nn.Linear` (one large matrix multiply) and the graph
aggregation is one more matrix multiply. Parameter counts equal the reference's convolutions.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from .configuration_gcnrefine import BONE_LENGTH_SOURCES, GCNRefineConfig, is_nonnegative_number
from .graph import NUM_CLASSES, NUM_SPATIAL_CLASSES, joint_graph, part_graph
from .processing_gcnrefine import (
    _weigh_in_place,
    align_orientation,
    chunk_plan,
    flip_permutation,
    orientation_change_degrees,
    prepare_sequences,
    restore_output,
    smooth_over_time,
)
from .processing_gcnrefine import (
    constant_bone_lengths as _constant_bone_lengths,  # refine()'s argument has the plain name
)

# The shipped checkpoint, used by `GCNRefineModel.from_pretrained()` with no argument.
DEFAULT_CHECKPOINT_ENV = "GCNREFINE_CHECKPOINT"


DEFAULT_CHECKPOINT_NAME = "gcnrefine-blendmimic3d"
# Package data; absent next to a checkpoint loaded as remote code, where a path must be given.
SHIPPED_CHECKPOINTS_DIR = Path(__file__).resolve().parent / "checkpoints"

# `refine(progress=None)` shows a progress bar above this many forward passes: a few passes end
# before a bar is worth reading, and short calls in loops should stay quiet.
REFINE_PROGRESS_MIN_BATCHES = 20


@dataclass
class GCNRefineOutput(ModelOutput):
    """Output of [`GCNRefineModel.forward`].

    refined (`torch.FloatTensor` of shape `(batch, num_frames, num_joints, 3)`):
        Refined root-relative poses for every frame of the window (root joint exactly 0).
    loss (`torch.FloatTensor`, *optional*): weighted sum of the loss terms, when `labels` are given.
    loss_mpjpe, loss_velocity, loss_symmetry (`torch.FloatTensor`, *optional*): the unweighted terms.
    """

    loss: torch.FloatTensor | None = None
    refined: torch.FloatTensor | None = None
    loss_mpjpe: torch.FloatTensor | None = None
    loss_velocity: torch.FloatTensor | None = None
    loss_symmetry: torch.FloatTensor | None = None


def _batch_norm(norm: nn.BatchNorm1d, x: torch.Tensor) -> torch.Tensor:
    """BatchNorm over the last (channel) axis of a channels-last tensor, statistics over all others."""
    shape = x.shape
    return norm(x.reshape(-1, shape[-1])).view(shape)


class GraphAdjacency(nn.Module):
    """Holds the constant six-class adjacency of one graph as a non-persistent buffer.

    The buffer is never saved; `GCNRefinePreTrainedModel._init_weights` rebuilds it from the config,
    because transformers 5 builds models on the meta device in `from_pretrained` and would otherwise
    leave uninitialised memory here.
    """

    def __init__(self, adjacency: np.ndarray, kind: str = "joint"):
        super().__init__()
        self.kind = kind  # "joint", "part" or "frame": which graph `_graph_for` rebuilds
        self.register_buffer("adjacency", torch.from_numpy(adjacency), persistent=False)  # (K, L, L)

    def mixing_matrix(self) -> torch.Tensor:
        """``(L_receiver, L_source * K)``: aggregation as one matmul over the stacked classes."""
        k, sources, receivers = self.adjacency.shape
        return self.adjacency.permute(2, 1, 0).reshape(receivers, sources * k)


class GraphConvUnit(nn.Module):
    """Spatial-temporal graph convolution unit C_in -> C_out (the paper's graph convolution unit).

    1x1 projection to K*C_out channels, one chunk per neighbour class; aggregation over the graph;
    BatchNorm, ReLU, Dropout, 1x1 convolution, BatchNorm, Dropout; residual; ReLU.
    """

    def __init__(
        self, in_channels: int, out_channels: int, residual: bool, config: GCNRefineConfig, num_classes: int = NUM_CLASSES
    ):
        super().__init__()
        self.out_channels = out_channels
        self.num_classes = num_classes
        momentum = config.batch_norm_momentum
        self.project = nn.Linear(in_channels, num_classes * out_channels)
        self.norm_graph = nn.BatchNorm1d(out_channels, momentum=momentum)
        self.mix = nn.Linear(out_channels, out_channels)
        self.norm_mix = nn.BatchNorm1d(out_channels, momentum=momentum)
        self.dropout = nn.Dropout(config.unit_dropout)
        if not residual:
            self.residual = None
        elif in_channels == out_channels:
            self.residual = nn.Identity()
        else:
            self.residual = nn.Sequential(nn.Linear(in_channels, out_channels), _ChannelsLastBatchNorm(out_channels, momentum))

    def forward(self, x: torch.Tensor, mixing: torch.Tensor) -> torch.Tensor:
        # x: (N, L, C_in); mixing: (L, L*K)
        n, nodes, _ = x.shape
        y = self.project(x)  # (N, L, K*C_out), class-major within each node
        y = y.view(n, nodes * self.num_classes, self.out_channels)  # (N, L*K, C_out), row = node*K + class
        y = torch.matmul(mixing, y)  # (N, L, C_out)
        y = self.dropout(F.relu(_batch_norm(self.norm_graph, y)))
        y = self.dropout(_batch_norm(self.norm_mix, self.mix(y)))
        if self.residual is not None:
            y = y + self.residual(x)
        return F.relu(y)


class _ChannelsLastBatchNorm(nn.BatchNorm1d):
    """BatchNorm1d over the last axis of a channels-last tensor (for use inside nn.Sequential)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.reshape(-1, x.shape[-1])).view(x.shape)


class NonLocalBlock(nn.Module):
    """Embedded-Gaussian non-local block (Wang et al., CVPR 2018) over all T*V positions.

    No 1/sqrt(d) scaling (as the reference). The output BatchNorm starts at zero weight and bias, so
    the block starts as the identity.
    """

    def __init__(self, channels: int, inner_channels: int, momentum: float):
        super().__init__()
        self.theta = nn.Linear(channels, inner_channels)
        self.phi = nn.Linear(channels, inner_channels)
        self.g = nn.Linear(channels, inner_channels)
        self.out = nn.Linear(inner_channels, channels)
        self.out_norm = nn.BatchNorm1d(channels, momentum=momentum)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (N, L, C)
        attention = torch.softmax(torch.matmul(self.theta(x), self.phi(x).transpose(1, 2)), dim=-1)  # (N, L, L)
        y = torch.matmul(attention, self.g(x))  # (N, L, C_inner)
        return x + _batch_norm(self.out_norm, self.out(y))


class ConfidenceInput(nn.Module):
    """Long-range input features from an optional confidence: ``(..., V, 2)`` = (value, given).

    Where the confidence is given (finite), value is the confidence and given is 1; where it is
    withheld (``None``, NaN, or dropped while training) value is a learned per-joint ``missing``
    parameter and given is 0. While training, each sequence of a batch has its confidence withheld
    with probability ``config.confidence_dropout``, so one model serves lifters with and without it.
    """

    def __init__(self, num_joints: int, withhold_probability: float):
        super().__init__()
        self.withhold_probability = withhold_probability
        self.missing = nn.Parameter(torch.ones(num_joints))  # re-initialised to 1 in `_init_weights`

    def forward(self, confidence: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
        # like: (B, T, V, C) poses; confidence: (B, T, V) or None
        shape = like.shape[:-1]
        if confidence is None:
            given = torch.zeros(shape, dtype=torch.bool, device=like.device)
            value = torch.zeros(shape, dtype=like.dtype, device=like.device)
        else:
            given = torch.isfinite(confidence)
            value = torch.nan_to_num(confidence.to(like.dtype), nan=0.0, posinf=0.0, neginf=0.0)
        if self.training and self.withhold_probability > 0:
            keep = torch.rand(shape[0], device=like.device) >= self.withhold_probability  # per sequence
            given = given & keep.view(-1, *([1] * (len(shape) - 1)))
        value = torch.where(given, value, self.missing.to(like.dtype))
        return torch.stack([value, given.to(like.dtype)], dim=-1)


class TemporalBlock(nn.Module):
    """One dilated temporal convolution over ``(N, C, T)``, length-preserving (VideoPose3D-style).

    Zero padding of ``(kernel - 1) * dilation`` frames, split evenly (same padding) or all on the
    left (causal: no output frame depends on a later input frame). Convolution, BatchNorm, ReLU,
    dropout; a residual block (``residual=True``, C_in = C_out) adds a 1x1 convolution, BatchNorm,
    ReLU, dropout and the input.
    """

    def __init__(self, in_channels: int, out_channels: int, dilation: int, residual: bool, config: GCNRefineConfig):
        super().__init__()
        momentum, kernel = config.batch_norm_momentum, config.temporal_kernel_size
        span = (kernel - 1) * dilation
        self.padding = (span, 0) if config.causal else (span // 2, span - span // 2)
        self.conv = nn.Conv1d(in_channels, out_channels, kernel, dilation=dilation, bias=False)
        self.norm = nn.BatchNorm1d(out_channels, momentum=momentum)
        self.dropout = nn.Dropout(config.temporal_dropout)
        self.residual = residual
        if residual:
            if in_channels != out_channels:
                raise ValueError(f"in_channels: a residual block keeps the width {out_channels}, got {in_channels}")
            self.mix = nn.Conv1d(out_channels, out_channels, 1, bias=False)
            self.mix_norm = nn.BatchNorm1d(out_channels, momentum=momentum)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dropout(F.relu(self.norm(self.conv(F.pad(x, self.padding)))))
        if not self.residual:
            return y
        y = self.dropout(F.relu(self.mix_norm(self.mix(y))))
        return x + y


class GCNRefinePreTrainedModel(PreTrainedModel):
    config: GCNRefineConfig
    config_class = GCNRefineConfig
    base_model_prefix = "gcnrefine"
    main_input_name = "poses_3d"
    input_modalities = "pose"
    supports_gradient_checkpointing = False

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, GraphAdjacency):
            # Non-persistent constants: rebuilt from the config (from_pretrained leaves them uninitialised).
            init.copy_(module.adjacency, torch.from_numpy(_graph_for(self.config, module)))
        elif isinstance(module, (nn.Linear, nn.Conv1d)) and getattr(module, "_zero_init", False):
            init.zeros_(module.weight)  # the window map: the identity (no change) until it is fitted
            init.zeros_(module.bias)
        elif isinstance(module, ConfidenceInput):
            init.ones_(module.missing)  # withheld starts as "fully confident", as a lifter without confidence
        elif isinstance(module, (nn.Linear, nn.Conv1d)):
            # PyTorch's default for convolutions, as the reference network used.
            init.kaiming_uniform_(module.weight, a=math.sqrt(5))
            if module.bias is not None:
                fan_in = module.weight[0].numel()
                bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
                init.uniform_(module.bias, -bound, bound)
        elif isinstance(module, nn.BatchNorm1d):
            zero = getattr(module, "_zero_init", False)
            (init.zeros_ if zero else init.ones_)(module.weight)
            init.zeros_(module.bias)
            init.zeros_(module.running_mean)
            init.ones_(module.running_var)
            init.zeros_(module.num_batches_tracked)


def _graph_for(config: GCNRefineConfig, module: GraphAdjacency) -> np.ndarray:
    kind = getattr(module, "kind", "joint")
    if kind == "part":
        return build_part_graph(config)
    if kind == "frame":
        return build_frame_joint_graph(config)
    return build_joint_graph(config)


def build_joint_graph(config: GCNRefineConfig, num_frames: int | None = None) -> np.ndarray:
    """The joint graph ``(6, V*T, V*T)`` the config describes (T = `num_frames`, or the config's)."""
    return joint_graph(
        config.joint_parents,
        config.joints_left,
        config.joints_right,
        config.spine_joint,
        config.num_frames if num_frames is None else num_frames,
        config.adjacency_normalization,
    )


def build_frame_joint_graph(config: GCNRefineConfig) -> np.ndarray:
    """The per-frame joint graph ``(4, V, V)`` of the long-range refiner: the one-frame joint graph's
    spatial classes (self, farther, closer, symmetric); a single frame has no temporal links."""
    return np.ascontiguousarray(build_joint_graph(config, num_frames=1)[:NUM_SPATIAL_CLASSES])


def part_names(config: GCNRefineConfig) -> list[str]:
    """Part-node order. Sorted, because config.json sorts dict keys and the order must survive a save."""
    return sorted(config.parts)


def build_part_graph(config: GCNRefineConfig) -> np.ndarray:
    """The part graph ``(6, P*T, P*T)`` the config describes."""
    return part_graph(
        part_names(config),
        [tuple(pair) for pair in config.part_pairs],
        config.center_part,
        config.num_frames,
        config.adjacency_normalization,
    )


class GCNRefineModel(GCNRefinePreTrainedModel):
    """Refines a 2D-to-3D lifter's poses with a spatial-temporal GCN.

    `forward` maps windows ``(B, T, V, 3)`` to refined root-relative windows (training, losses);
    `refine` maps whole sequences of any length to refined poses (what users call).
    ``config.architecture`` picks the network: "paper" or "long_range" (see `GCNRefineConfig`).
    """

    def __init__(self, config: GCNRefineConfig):
        super().__init__(config)
        if config.architecture == "long_range":
            self._build_long_range(config)
        else:
            self._build_paper(config)
        self.post_init()

    def _build_paper(self, config: GCNRefineConfig) -> None:
        """The paper's network (module names and creation order are those of the shipped checkpoints)."""
        num_joints, momentum = config.num_joints, config.batch_norm_momentum
        names = part_names(config)
        part_of_joint = [0] * num_joints
        for index, name in enumerate(names):
            for joint in config.parts[name]:
                part_of_joint[joint] = index
        # Joint index lists per part (max-pooling) and the part each joint copies back from.
        self.part_joints = [list(config.parts[name]) for name in names]
        # A plain list, not a buffer: non-persistent buffers come back uninitialised from from_pretrained.
        self.part_of_joint = part_of_joint
        self.joint_graph = GraphAdjacency(build_joint_graph(config))
        self.part_graph = GraphAdjacency(build_part_graph(config), kind="part")

        self.input_norm = nn.BatchNorm1d(num_joints * config.in_channels, eps=config.input_norm_eps, momentum=momentum)
        widths = [config.in_channels, *config.joint_channels]
        # The first unit has no residual (as in the paper); the others add identity or a projection.
        self.joint_units = nn.ModuleList(
            GraphConvUnit(widths[i], widths[i + 1], residual=i > 0, config=config) for i in range(len(widths) - 1)
        )
        widths = [config.joint_channels[-1], *config.part_channels]
        self.part_units = nn.ModuleList(
            GraphConvUnit(widths[i], widths[i + 1], residual=True, config=config) for i in range(len(widths) - 1)
        )
        global_channels = config.part_channels[-1]
        self.temporal_conv = nn.Conv1d(
            global_channels, global_channels, config.temporal_kernel_size, padding=config.temporal_kernel_size // 2
        )
        self.temporal_norm = nn.BatchNorm1d(global_channels, momentum=momentum)
        self.temporal_dropout = nn.Dropout(config.temporal_dropout)
        self.fusion = nn.Linear(global_channels + config.part_channels[-1], config.fusion_channels)
        self.fusion_norm = nn.BatchNorm1d(config.fusion_channels, momentum=momentum)
        self.fusion_dropout = nn.Dropout(config.fusion_dropout)
        head_channels = config.fusion_channels + config.joint_channels[-1]
        self.non_local = (
            NonLocalBlock(head_channels, config.non_local_channels, momentum) if config.use_non_local else None
        )
        if self.non_local is not None:
            self.non_local.out_norm._zero_init = True
        self.output_dropout = nn.Dropout(config.output_dropout)
        self.output = nn.Linear(head_channels, 3)
        self.window_linear = None
        if config.window_linear:
            size = config.num_frames * num_joints * 3
            self.window_linear = nn.Linear(size, size)  # (B, T*V*3) -> (B, T*V*3)
            self.window_linear._zero_init = True

    def _build_long_range(self, config: GCNRefineConfig) -> None:
        """Per-frame spatial graph units, dilated temporal blocks, per-joint decoding (sequence to sequence)."""
        num_joints, momentum = config.num_joints, config.batch_norm_momentum
        self.frame_graph = GraphAdjacency(build_frame_joint_graph(config), kind="frame")
        self.input_norm = nn.BatchNorm1d(num_joints * 3, eps=config.input_norm_eps, momentum=momentum)
        # With in_channels=4 the confidence enters as (value, given): two more channels per joint.
        self.confidence_input = (
            ConfidenceInput(num_joints, config.confidence_dropout) if config.in_channels == 4 else None
        )
        widths = [3 if self.confidence_input is None else 5, *config.spatial_channels]
        self.spatial_units = nn.ModuleList(
            GraphConvUnit(widths[i], widths[i + 1], residual=i > 0, config=config, num_classes=NUM_SPATIAL_CLASSES)
            for i in range(len(widths) - 1)
        )
        spatial = config.spatial_channels[-1]
        channels = config.temporal_channels
        dilations = config.temporal_dilations
        self.temporal_blocks = nn.ModuleList(
            [TemporalBlock(num_joints * spatial, channels, dilations[0], residual=False, config=config)]
            + [TemporalBlock(channels, channels, d, residual=True, config=config) for d in dilations[1:]]
        )
        self.temporal_to_joints = nn.Linear(channels, num_joints * config.temporal_joint_channels)
        self.temporal_to_joints_norm = nn.BatchNorm1d(config.temporal_joint_channels, momentum=momentum)
        self.temporal_to_joints_dropout = nn.Dropout(config.temporal_dropout)
        self.output_unit = GraphConvUnit(
            config.temporal_joint_channels + spatial, spatial, residual=True, config=config, num_classes=NUM_SPATIAL_CLASSES
        )
        self.output_dropout = nn.Dropout(config.output_dropout)
        self.output = nn.Linear(spatial, 3)
        self.window_linear = None
        if config.window_linear:
            # The ridge map slid over time: (B, V*3, T) -> (B, V*3, T), each frame from its k-neighbourhood.
            self.window_linear = nn.Conv1d(num_joints * 3, num_joints * 3, config.window_linear_frames)
            self.window_linear._zero_init = True

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike | None = None, *args, **kwargs):
        """Load a refiner; with no path, the shipped BlendMimic3D checkpoint (offline)."""
        if pretrained_model_name_or_path is None:
            pretrained_model_name_or_path = default_checkpoint()
        return super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)

    # ------------------------------------------------------------------ training-time forward

    def forward(
        self,
        poses_3d: torch.Tensor,
        labels: torch.Tensor | None = None,
        confidence: torch.Tensor | None = None,
        **kwargs,
    ) -> GCNRefineOutput:
        """Refine windows of poses.

        Args:
            poses_3d: ``(B, T, V, 3)`` lifter poses, metres, camera frame; made root-relative here.
                "paper": T = ``config.num_frames``; "long_range": any T >= 1, every frame refined
                (zero same padding, or left padding when causal, at the ends of the T frames).
            labels: optional ``(B, T, V, 3)`` ground truth; made root-relative here.
            confidence: ``(B, T, V)`` detector confidence. "paper": required when
                ``config.in_channels == 4``. "long_range" with ``in_channels == 4``: optional; None or
                NaN entries mean withheld (and while training ``config.confidence_dropout`` withholds
                it per sequence). Ignored with ``in_channels == 3``.
        """
        config = self.config
        _check_window("poses_3d", poses_3d, config)
        poses = poses_3d - poses_3d[:, :, config.root_joint : config.root_joint + 1]
        if config.architecture == "long_range":
            refined = self._long_range_forward(poses, confidence)
        else:
            refined = self._paper_forward(poses, confidence)
        return self._finish(refined, poses, poses_3d, labels)

    def _paper_forward(self, poses: torch.Tensor, confidence: torch.Tensor | None) -> torch.Tensor:
        """The paper's network on root-relative windows ``(B, T, V, 3)``: the raw output ``(B, T, V, 3)``."""
        config = self.config
        batch, frames, joints, _ = poses.shape
        x = poses
        if config.in_channels == 4:
            if confidence is None or tuple(confidence.shape) != (batch, frames, joints):
                got = None if confidence is None else tuple(confidence.shape)
                raise ValueError(f"confidence: expected shape {(batch, frames, joints)} with in_channels=4, got {got}")
            x = torch.cat([x, confidence.unsqueeze(-1).to(x.dtype)], dim=-1)
        channels = x.shape[-1]
        x = self.input_norm(x.reshape(batch * frames, joints * channels))  # (B*T, V*C), stats over batch and time
        x = x.view(batch, frames * joints, channels)  # (B, L=T*V, C)

        mixing = self.joint_graph.mixing_matrix()
        for unit in self.joint_units:
            x = unit(x, mixing)
        joint_features = x.view(batch, frames, joints, -1)  # (B, T, V, Cj)

        parts = torch.stack([joint_features[:, :, idx].amax(dim=2) for idx in self.part_joints], dim=2)  # (B, T, P, Cj)
        num_parts = parts.shape[2]
        x = parts.reshape(batch, frames * num_parts, -1)  # (B, T*P, Cj)
        mixing = self.part_graph.mixing_matrix()
        for unit in self.part_units:
            x = unit(x, mixing)
        part_features = x.view(batch, frames, num_parts, -1)  # (B, T, P, Cp)

        global_features = part_features.amax(dim=2).transpose(1, 2)  # (B, Cp, T)
        global_features = self.temporal_conv(global_features)
        global_features = self.temporal_dropout(F.relu(self.temporal_norm(global_features)))
        global_features = global_features.transpose(1, 2).unsqueeze(2).expand(-1, -1, num_parts, -1)  # (B, T, P, Cp)

        fused = self.fusion(torch.cat([global_features, part_features], dim=-1))  # (B, T, P, F)
        fused = self.fusion_dropout(F.relu(_batch_norm(self.fusion_norm, fused)))
        fused = fused[:, :, self.part_of_joint]  # (B, T, V, F): each joint copies its part's feature
        x = torch.cat([fused, joint_features], dim=-1).reshape(batch, frames * joints, -1)  # (B, L, F+Cj)

        if self.non_local is not None:
            x = self.non_local(x)
        return self.output(self.output_dropout(x)).view(batch, frames, joints, 3)

    def _long_range_forward(self, poses: torch.Tensor, confidence: torch.Tensor | None) -> torch.Tensor:
        """The long-range network on root-relative sequences ``(B, T, V, 3)``, any T: raw ``(B, T, V, 3)``."""
        batch, frames, joints, _ = poses.shape
        x = self.input_norm(poses.reshape(batch * frames, joints * 3)).view(batch, frames, joints, 3)
        if self.confidence_input is not None:
            if confidence is not None and tuple(confidence.shape) != (batch, frames, joints):
                raise ValueError(
                    f"confidence: expected shape {(batch, frames, joints)} or None, got {tuple(confidence.shape)}"
                )
            x = torch.cat([x, self.confidence_input(confidence, x)], dim=-1)  # (B, T, V, 5)
        x = x.reshape(batch * frames, joints, -1)  # every frame is its own graph
        mixing = self.frame_graph.mixing_matrix()  # (V, V*4)
        for unit in self.spatial_units:
            x = unit(x, mixing)
        joint_features = x  # (B*T, V, Cs)

        h = x.reshape(batch, frames, -1).transpose(1, 2)  # (B, V*Cs, T)
        for block in self.temporal_blocks:
            h = block(h)
        h = self.temporal_to_joints(h.transpose(1, 2))  # (B, T, V*Cf)
        h = h.reshape(batch * frames, joints, -1)
        h = self.temporal_to_joints_dropout(F.relu(_batch_norm(self.temporal_to_joints_norm, h)))
        x = self.output_unit(torch.cat([h, joint_features], dim=-1), mixing)  # (B*T, V, Cs)
        return self.output(self.output_dropout(x)).view(batch, frames, joints, 3)

    def _finish(
        self, refined: torch.Tensor, poses: torch.Tensor, poses_3d: torch.Tensor, labels: torch.Tensor | None
    ) -> GCNRefineOutput:
        """Residual, root pinning and losses, shared by both architectures."""
        config = self.config
        batch, frames, joints, _ = poses.shape
        if config.predict_residual:
            refined = refined + poses
        if self.window_linear is not None and config.architecture == "long_range":
            half = config.window_linear_frames // 2
            flat = poses.reshape(batch, frames, joints * 3).transpose(1, 2)  # (B, V*3, T)
            flat = F.pad(flat, (half, half), mode="replicate")  # edges repeated, as the ridge fit
            linear = self.window_linear(flat).transpose(1, 2)  # (B, T, V*3)
            refined = refined + linear.reshape(batch, frames, joints, 3)
        elif self.window_linear is not None:
            refined = refined + self.window_linear(poses.reshape(batch, -1)).view(batch, frames, joints, 3)
        # The target root is exactly 0: pin it, so the root trajectory is kept exactly.
        root_mask = torch.ones(joints, 1, device=refined.device, dtype=refined.dtype)
        root_mask[config.root_joint] = 0
        refined = refined * root_mask

        loss = loss_mpjpe = loss_velocity = loss_symmetry = None
        if labels is not None:
            if tuple(labels.shape) != tuple(poses_3d.shape):
                raise ValueError(f"labels: expected shape {tuple(poses_3d.shape)}, got {tuple(labels.shape)}")
            target = labels - labels[:, :, config.root_joint : config.root_joint + 1]
            loss_mpjpe = torch.linalg.vector_norm(refined - target, dim=-1).mean()
            loss_velocity = self._velocity_loss(refined, target)
            loss_symmetry = self._symmetry_loss(refined)
            loss = (
                config.loss_mpjpe_weight * loss_mpjpe
                + config.loss_velocity_weight * loss_velocity
                + config.loss_symmetry_weight * loss_symmetry
            )
        return GCNRefineOutput(
            loss=loss,
            refined=refined,
            loss_mpjpe=loss_mpjpe,
            loss_velocity=loss_velocity,
            loss_symmetry=loss_symmetry,
        )

    def _velocity_loss(self, refined: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Per-joint weighted squared error of frame-to-frame differences (0 for a single frame).

        Compared with the target's motion rather than zero, so real motion is not penalised.
        """
        if refined.shape[1] < 2:
            return refined.new_zeros(())
        weights = torch.as_tensor(self.config.velocity_joint_weights, dtype=refined.dtype, device=refined.device)
        error = torch.diff(refined, dim=1) - torch.diff(target, dim=1)  # (B, T-1, V, 3)
        return (error.pow(2).sum(dim=-1) * weights).mean()

    def _symmetry_loss(self, refined: torch.Tensor) -> torch.Tensor:
        """Mean absolute length difference of left/right bone pairs (absolute: bounded below by 0)."""
        parents = self.config.joint_parents
        left = [j for j in self.config.joints_left if parents[j] >= 0]
        right = [j for j in self.config.joints_right if parents[j] >= 0]
        if not left:
            return refined.new_zeros(())
        parent_of = [max(p, 0) if p >= 0 else j for j, p in enumerate(parents)]
        bone = refined - refined[..., parent_of, :]  # (B, T, V, 3), the root's own "bone" is 0
        lengths = torch.linalg.vector_norm(bone, dim=-1)
        return (lengths[..., left] - lengths[..., right]).abs().mean()

    # ------------------------------------------------------------------ user-facing refinement

    def refine(
        self,
        poses,
        confidence=None,
        flip_test: bool | None = None,
        batch_size: int = 1024,
        progress: bool | None = None,
        constant_bone_lengths: bool | None = None,
        bone_lengths_from: str | None = None,
        keep_input_orientation: bool | None = None,
        change_weight: float | None = None,
        smoothing_sigma: float | None = None,
        fps: float | None = None,
    ):
        """Refine whole sequences.

        Args:
            poses: numpy or torch floating-point, metres, camera frame, Human3.6M-17 order, any
                ``T >= 1``, one of
                ``(T, V, 3)``: one person's sequence;
                ``(T, 1, V, 3)``: also one person's sequence (VideoPose3D's output shape): a 4-D input
                whose axis 1 has size 1 is always read so, never as T sequences of one frame each
                (useless to a temporal refiner);
                ``(B, T, V, 3)``: a batch of B sequences of T frames.
                Units are checked: a median bone length outside [0.05, 0.6] m is refused, naming the
                likely unit and factor (millimetres: x1000, centimetres: x100); outside a person's
                usual 0.1 - 0.45 m it is warned about.
                Missing keypoints may be NaN. A coordinate missing in some frames is interpolated
                linearly over time from the same joint's coordinate in the other frames (the nearest
                value held at the ends). A joint never observed in a sequence is placed by the
                skeleton, with a warning naming it: at its parent plus a typical length of its bone
                (``skeleton.H36M_BONE_LENGTHS_METRES``) along the parent's own bone direction (parent
                minus grandparent). See ``processing_gcnrefine.fill_missing``.
            confidence: detector confidence of shape ``poses.shape[:-1]`` (for ``(T, 1, V, 3)`` also
                ``(T, V)``), only for ``in_channels == 4`` (ignored otherwise). "paper": required (NaN
                read as 0). "long_range": optional; None, or NaN entries, mean withheld (the model's
                learned stand-in is used, as in training with ``confidence_dropout``).
            flip_test: ``True``/``False`` (numpy bools too): average with the un-flipped refinement of
                the mirrored input; ``None``: ``config.flip_test``.
            batch_size: refined frames per forward pass; bounds memory for any sequence length.
                "paper": windows per pass (each refines its centre frame). "long_range": chunk frames
                per pass, whole chunks and at least one: ``max(1, batch_size // chunk)`` chunks of
                ``config.chunk_length`` frames (or the sequence length, when shorter) per pass. The
                chunks overlap by ``config.chunk_overlap`` frames and are blended
                (`processing_gcnrefine.chunk_plan`); with the default overlap the result equals one
                forward over the whole sequence, up to float rounding.
            progress: a tqdm progress bar over the forward passes: ``True`` shows it, ``False`` hides
                it, ``None`` shows it only when there are more than
                ``REFINE_PROGRESS_MIN_BATCHES`` (20) passes.
            constant_bone_lengths: ``True``: each refined sequence's bones get one length each, their
                median over the sequence (left/right partners averaged), directions and root kept
                (`processing_gcnrefine.constant_bone_lengths`); ``None``: ``config.constant_bone_lengths``.
            bone_lengths_from: with constant bone lengths, ``"refined"`` (medians of the refined
                sequence) or ``"input"`` (of the input: the person's proportions as the lifter saw them);
                ``None``: ``config.bone_lengths_from``.
            keep_input_orientation: ``True``: each refined frame is turned about the root to the input
                frame's orientation (`processing_gcnrefine.align_orientation`), after the bone lengths:
                the refiner corrects the articulation only; ``None``: ``config.keep_input_orientation``.
                With ``config.global_correction_min_degrees``, a sequence the refiner turns by more than
                that median angle keeps the refiner's orientation and bone lengths (see the config).
            change_weight: share of the refiner's change kept after the steps above, before smoothing
                (``input + change_weight * (refined - input)``, `processing_gcnrefine.weigh_changes`); a
                sequence moved by more than ``config.full_change_min`` (median joint change) keeps its
                whole change; ``None``: ``config.change_weight``.
            smoothing_sigma: standard deviation in frames of a Gaussian low-pass along time applied last
                to each joint relative to the root, the root trajectory kept
                (`processing_gcnrefine.smooth_over_time`); 0: none; ``None``: ``config.smoothing_sigma``.
                Given here, it is in frames of the input.
            fps: the input's frame rate (frames/s). With ``smoothing_sigma=None``, the config's sigma
                (in frames at ``config.smoothing_fps``) is scaled by ``fps / config.smoothing_fps``, so the
                low-pass keeps its cut-off in seconds; ``None``: the input is taken to be at
                ``config.smoothing_fps``.

        Returns:
            Refined poses of the input's type, shape, dtype (and device), with the input's root
            trajectory (the filled root where it was NaN) and no NaN. Torch results are ordinary
            tensors (made under ``torch.no_grad``, not inference mode): they can be updated in place
            and used in autograd graphs, as constants.
        """
        config = self.config
        flip_test = config.flip_test if flip_test is None else _check_bool("flip_test", flip_test)
        fixed_bones = (
            config.constant_bone_lengths
            if constant_bone_lengths is None
            else _check_bool("constant_bone_lengths", constant_bone_lengths)
        )
        lengths_from = config.bone_lengths_from if bone_lengths_from is None else bone_lengths_from
        if lengths_from not in BONE_LENGTH_SOURCES:
            raise ValueError(f"bone_lengths_from: expected one of {BONE_LENGTH_SOURCES}, got {bone_lengths_from!r}")
        keep_orientation = (
            config.keep_input_orientation
            if keep_input_orientation is None
            else _check_bool("keep_input_orientation", keep_input_orientation)
        )
        if fps is not None and (not is_nonnegative_number(fps) or fps == 0):
            raise ValueError(f"fps: expected a finite number > 0 (frames/s), got {fps!r}")
        weight = config.change_weight if change_weight is None else change_weight
        if not (is_nonnegative_number(weight) and weight <= 1):
            raise ValueError(f"change_weight: expected a number in [0, 1], got {change_weight!r}")
        sigma = config.smoothing_sigma if smoothing_sigma is None else smoothing_sigma
        if not is_nonnegative_number(sigma):
            raise ValueError(f"smoothing_sigma: expected a finite number >= 0 (frames), got {smoothing_sigma!r}")
        if smoothing_sigma is None and fps is not None:
            sigma = sigma * float(fps) / config.smoothing_fps
        progress = None if progress is None else _check_bool("progress", progress)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size: expected a positive integer, got {batch_size!r}")
        array, conf, single = prepare_sequences(poses, confidence, config)  # (B, T, V, 3) float64, (B, T, V)
        was_training = self.training
        self.eval()
        try:
            # no_grad, not inference_mode: inference tensors cannot be saved for backward nor updated
            # in place outside inference mode, which a caller's ordinary code may well do with the result.
            with torch.no_grad():
                refined = self._refine_sequences(array, conf, flip_test, batch_size, progress)
        finally:
            self.train(was_training)
        # Sequences the refiner turns far from the input: a systematic error of the lifter, which the
        # refiner's own orientation and bone lengths correct (config.global_correction_min_degrees).
        global_fix = None
        keeps_input = keep_orientation or (fixed_bones and lengths_from == "input")
        if config.global_correction_min_degrees is not None and keeps_input:
            turned = np.median(orientation_change_degrees(refined, array, config.root_joint), axis=1)  # (B,)
            global_fix = turned > config.global_correction_min_degrees
        pairs = list(zip(config.joints_left, config.joints_right))
        # Sequence by sequence, written back in place: for a batch the temporaries are one sequence's.
        for b in range(len(refined)):
            correct_globally = global_fix is not None and bool(global_fix[b])
            sequence = refined[b : b + 1]  # (1, T, V, 3) float64, root kept
            if fixed_bones:
                source = array[b : b + 1] if lengths_from == "input" and not correct_globally else None
                sequence = _constant_bone_lengths(sequence, config.joint_parents, pairs, lengths_from=source)
            if keep_orientation and not correct_globally:
                sequence = align_orientation(sequence, array[b : b + 1], config.root_joint)
            if weight < 1:  # in place: ``sequence`` is refine()'s own (a view of ``refined`` or a new array)
                _weigh_in_place(sequence, array[b : b + 1], weight, config.full_change_min, config.root_joint)
            refined[b] = sequence[0]
        if sigma > 0:
            refined = smooth_over_time(refined, sigma, config.root_joint)
        return restore_output(refined, poses, single)

    def _refine_sequences(
        self, array: np.ndarray, conf: np.ndarray | None, flip_test: bool, batch_size: int, progress: bool | None
    ):
        if self.config.architecture == "long_range":
            return self._refine_chunks(array, conf, flip_test, batch_size, progress)
        config = self.config
        device = self.device
        num_sequences, length, joints, _ = array.shape
        root = array[:, :, config.root_joint : config.root_joint + 1]  # (B, T, 1, 3)
        relative = torch.from_numpy((array - root).astype(np.float32)).to(device)  # (B, T, V, 3)
        conf_t = None if conf is None else torch.from_numpy(conf).to(device)
        half = config.num_frames // 2
        offsets = torch.arange(-half, config.num_frames - half, device=device)  # (T_w,)
        flip_perm = torch.tensor(flip_permutation(config), device=device)
        out = torch.empty(num_sequences * length, joints, 3, dtype=torch.float32, device=device)
        total = num_sequences * length
        starts = range(0, total, batch_size)
        show = len(starts) > REFINE_PROGRESS_MIN_BATCHES if progress is None else progress
        for start in tqdm(starts, desc="refine", unit="batch", disable=not show):
            flat = torch.arange(start, min(start + batch_size, total), device=device)
            seq, centre = flat // length, flat % length
            frames = (centre[:, None] + offsets[None, :]).clamp_(0, length - 1)  # (n, T_w), edge replication
            windows = relative[seq[:, None], frames]  # (n, T_w, V, 3)
            win_conf = None if conf_t is None else conf_t[seq[:, None], frames]
            out[start : start + len(flat)] = self._refined(windows, win_conf, flip_test, flip_perm)[:, half]
        refined = out.view(num_sequences, length, joints, 3).double().cpu().numpy()
        return refined + root

    def _refined(
        self, x: torch.Tensor, confidence: torch.Tensor | None, flip_test: bool, flip_perm: torch.Tensor
    ) -> torch.Tensor:
        """`forward`'s refined ``(n, T, V, 3)``; with `flip_test`, averaged with the un-mirrored output of
        the mirrored input (one forward on both)."""
        if not flip_test:
            return self(x, confidence=confidence).refined
        mirror = torch.tensor([-1.0, 1.0, 1.0], device=x.device)
        both_conf = None if confidence is None else torch.cat([confidence, confidence[:, :, flip_perm]])
        plain, flipped = self(torch.cat([x, x[:, :, flip_perm] * mirror]), confidence=both_conf).refined.chunk(2)
        return (plain + flipped[:, :, flip_perm] * mirror) / 2

    def _refine_chunks(
        self, array: np.ndarray, conf: np.ndarray | None, flip_test: bool, batch_size: int, progress: bool | None
    ) -> np.ndarray:
        """The "long_range" refinement: overlapping chunks of every sequence through `forward`, blended by
        `chunk_plan` (weights of each frame sum to 1)."""
        config = self.config
        device = self.device
        num_sequences, length, joints, _ = array.shape
        root = array[:, :, config.root_joint : config.root_joint + 1]  # (B, T, 1, 3)
        relative = torch.from_numpy((array - root).astype(np.float32)).to(device)  # (B, T, V, 3)
        conf_t = None if conf is None else torch.from_numpy(conf).to(device)
        chunks, weights = chunk_plan(length, config.chunk_length, config.resolved_chunk_overlap, config.temporal_context)
        size = int(chunks[0, 1] - chunks[0, 0])  # every chunk has this length
        starts = torch.from_numpy(chunks[:, 0]).to(device)
        steps = torch.arange(size, device=device)
        flip_perm = torch.tensor(flip_permutation(config), device=device)
        # Accumulated on the CPU in float64, chunk by chunk: deterministic, whatever the device.
        out = np.zeros((num_sequences, length, joints, 3))
        total = num_sequences * len(chunks)
        per_pass = max(1, batch_size // size)
        passes = range(0, total, per_pass)
        show = len(passes) > REFINE_PROGRESS_MIN_BATCHES if progress is None else progress
        for first in tqdm(passes, desc="refine", unit="batch", disable=not show):
            jobs = np.arange(first, min(first + per_pass, total))
            seq, chunk = jobs // len(chunks), jobs % len(chunks)
            seq_t = torch.from_numpy(seq).to(device)
            frames = starts[torch.from_numpy(chunk).to(device)][:, None] + steps[None]  # (n, size)
            x = relative[seq_t[:, None], frames]  # (n, size, V, 3)
            c = None if conf_t is None else conf_t[seq_t[:, None], frames]
            result = self._refined(x, c, flip_test, flip_perm).double().cpu().numpy()
            for k, (b, i) in enumerate(zip(seq, chunk)):
                start, stop = chunks[i]
                out[b, start:stop] += weights[i][:, None, None] * result[k]
        return out + root


def default_checkpoint() -> Path | str:
    """What `from_pretrained()` loads with no argument: ``$GCNREFINE_CHECKPOINT`` (a folder or Hub id)
    when set, else the checkpoint shipped inside the package."""
    override = os.environ.get(DEFAULT_CHECKPOINT_ENV)
    if override and not Path(override).exists() and re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", override):
        return override  # a Hub id
    candidate = Path(override) if override else SHIPPED_CHECKPOINTS_DIR / DEFAULT_CHECKPOINT_NAME
    if not (candidate / "config.json").is_file():
        raise ValueError(
            f"pretrained_model_name_or_path: no default checkpoint found at {candidate}; pass a folder or Hub id, "
            f"or set {DEFAULT_CHECKPOINT_ENV}"
        )
    return candidate


def _check_bool(name: str, value) -> bool:
    # bool("no") is True: anything but a real boolean is a mistake to report, not to coerce.
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name}: expected True or False (or None for the default), got {value!r}")
    return bool(value)


def _check_window(name: str, poses: torch.Tensor, config: GCNRefineConfig) -> tuple[int, int, int, int]:
    if not isinstance(poses, torch.Tensor):
        raise ValueError(f"{name}: expected a torch.Tensor of shape (B, T, {config.num_joints}, 3), got {type(poses).__name__}")
    shape = tuple(poses.shape)
    if len(shape) != 4 or shape[2] != config.num_joints or shape[3] != 3:
        raise ValueError(f"{name}: expected shape (B, T, {config.num_joints}, 3), got {shape}")
    if config.architecture == "paper" and shape[1] != config.num_frames:
        raise ValueError(
            f"{name}: expected windows of T = num_frames = {config.num_frames} frames for architecture='paper' "
            f"(shape (B, {config.num_frames}, {config.num_joints}, 3)), got {shape}"
        )
    if shape[1] < 1:
        raise ValueError(f"{name}: expected at least one frame (T >= 1), got {shape}")
    return shape
