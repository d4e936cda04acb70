"""Shared test material for the video pipeline and the Space's video tab: a synthetic clip and tiny
randomly initialised RT-DETR / ViTPose / lifter / refiner models saved like real checkpoints."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import torch
from conftest import TINY_REFINER
from transformers import (
    RTDetrConfig,
    RTDetrForObjectDetection,
    RTDetrImageProcessorPil,
    RTDetrResNetConfig,
    VitPoseBackboneConfig,
    VitPoseConfig,
    VitPoseForPoseEstimation,
    VitPoseImageProcessorPil,
)

from modeling_gcnrefine import GCNRefineConfig, GCNRefineModel
from modeling_gcnrefine.lifting import LifterConfig, TemporalLifterModel

FRAMES, WIDTH, HEIGHT, FPS = 10, 128, 96, 10


def write_clip(path: Path) -> Path:
    """10 frames, 128x96: a tall rectangle walking right and a smaller one walking left, encoded by PyAV."""
    codec = "libx264"
    try:
        av.codec.Codec(codec, "w")
    except (av.FFmpegError, ValueError):
        codec = "mpeg4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        for t in range(FRAMES):
            frame = np.full((HEIGHT, WIDTH, 3), 90, np.uint8)
            x = 20 + 8 * t
            frame[20:90, x : x + 24] = (230, 180, 140)
            x = 100 - 6 * t
            frame[40:85, x : x + 16] = (60, 160, 60)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def build_tiny_models(root: Path) -> dict[str, str]:
    """Tiny random models saved with save_pretrained, passed to the pipeline as model ids (folders)."""
    torch.manual_seed(0)
    backbone = RTDetrResNetConfig(
        embedding_size=8,
        hidden_sizes=[8, 16, 16, 32],
        depths=[1, 1, 1, 1],
        layer_type="basic",
        out_indices=[2, 3, 4],
    )
    detector = RTDetrForObjectDetection(
        RTDetrConfig(
            backbone_config=backbone,
            use_pretrained_backbone=False,
            encoder_hidden_dim=16,
            encoder_in_channels=[16, 16, 32],
            encoder_ffn_dim=32,
            encoder_attention_heads=2,
            d_model=16,
            num_queries=20,
            decoder_in_channels=[16, 16, 16],
            decoder_ffn_dim=32,
            decoder_layers=1,
            decoder_attention_heads=2,
            decoder_n_points=2,
            num_denoising=0,
            id2label={0: "person", 1: "bicycle"},
            label2id={"person": 0, "bicycle": 1},
        )
    )
    detector.save_pretrained(root / "det")
    RTDetrImageProcessorPil(size={"height": 64, "width": 64}).save_pretrained(root / "det")
    pose_backbone = VitPoseBackboneConfig(
        image_size=[64, 48],
        patch_size=[16, 16],
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        mlp_ratio=2,
        out_indices=[1],
    )
    VitPoseForPoseEstimation(VitPoseConfig(backbone_config=pose_backbone, num_labels=17)).save_pretrained(
        root / "pose"
    )
    VitPoseImageProcessorPil(size={"height": 64, "width": 48}).save_pretrained(root / "pose")
    TemporalLifterModel(LifterConfig(filter_widths=[3, 3], channels=16)).save_pretrained(root / "lifter")
    GCNRefineModel(GCNRefineConfig(**TINY_REFINER)).save_pretrained(root / "refiner")
    # A refiner that also reads the detector confidence (in_channels=4).
    GCNRefineModel(GCNRefineConfig(**TINY_REFINER, in_channels=4)).save_pretrained(root / "refiner4")
    return {name: str(root / name) for name in ("det", "pose", "lifter", "refiner", "refiner4")}
