"""A tiny PreTrainedModel and dataset for the training tests, and a script that trains them.

Run under ``torchrun --nproc_per_node 2`` by ``tests/training/test_loop.py``: trains 3 epochs straight,
then 2 epochs plus a resumed third in another folder, and writes what the test checks to
``<out>/result.json`` (main process only).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers.utils import ModelOutput

FRAMES, JOINTS = 3, 17


class TinyConfig(PretrainedConfig):
    """Config of :class:`TinyModel`."""

    model_type = "gcnrefine-tiny-test"

    def __init__(self, hidden: int = 16, **kwargs) -> None:
        self.hidden = hidden
        super().__init__(**kwargs)


@dataclass
class TinyOutput(ModelOutput):
    loss: torch.Tensor | None = None
    loss_l1: torch.Tensor | None = None
    poses_3d: torch.Tensor | None = None


class TinyModel(PreTrainedModel):
    """Per-joint residual MLP on (B, T, 17, 3) poses; no dropout, so training is deterministic."""

    config_class = TinyConfig
    main_input_name = "poses_3d"

    def __init__(self, config: TinyConfig) -> None:
        super().__init__(config)
        self.inp = nn.Linear(3, config.hidden)
        self.out = nn.Linear(config.hidden, 3)
        self.post_init()

    def forward(self, poses_3d: torch.Tensor, labels: torch.Tensor | None = None) -> TinyOutput:
        pred = poses_3d + self.out(torch.tanh(self.inp(poses_3d)))
        if labels is None:
            return TinyOutput(poses_3d=pred)
        return TinyOutput(
            loss=((pred - labels) ** 2).mean(), loss_l1=(pred - labels).abs().mean().detach(), poses_3d=pred
        )


class PoseDataset(torch.utils.data.Dataset):
    """Random poses whose target is the pose scaled by 0.5 (commutes with flips and rotations)."""

    def __init__(self, n: int, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        self.poses = torch.randn(n, FRAMES, JOINTS, 3, generator=g)

    def __len__(self) -> int:
        return len(self.poses)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"poses_3d": self.poses[i], "labels": 0.5 * self.poses[i]}


def make_model(seed: int = 0) -> TinyModel:
    torch.manual_seed(seed)
    return TinyModel(TinyConfig(hidden=16))


def probe() -> torch.Tensor:
    """A fixed input to compare a trained model with its reloaded copy."""
    return torch.randn(4, FRAMES, JOINTS, 3, generator=torch.Generator().manual_seed(123))


def main(out: Path) -> None:
    from modeling_gcnrefine.data.augmentation import random_flip_and_rotate
    from modeling_gcnrefine.training.arguments import TrainingArguments
    from modeling_gcnrefine.training.loop import train

    common = dict(batch_size=16, learning_rate=1e-2, samples_per_epoch=96, log_with=None, cpu=True, seed=3)
    train_set, eval_set = PoseDataset(200, seed=1), PoseDataset(37, seed=2)  # 37: uneven shards
    straight = make_model()
    result = train(
        straight,
        train_set,
        eval_set,
        args=TrainingArguments(output_dir=str(out / "straight"), epochs=3, **common),
        batch_transform=random_flip_and_rotate,
    )
    first = make_model()
    train(
        first,
        train_set,
        eval_set,
        args=TrainingArguments(output_dir=str(out / "resumed"), epochs=2, **common),
        batch_transform=random_flip_and_rotate,
    )
    resumed = make_model(seed=99)  # other start weights: load_state must overwrite them
    train(
        resumed,
        train_set,
        eval_set,
        args=TrainingArguments(output_dir=str(out / "resumed"), epochs=3, resume=True, **common),
        batch_transform=random_flip_and_rotate,
    )
    from accelerate import PartialState

    state = PartialState()
    if state.is_main_process:
        straight.eval()
        with torch.no_grad():
            outputs = straight(probe()).poses_3d
        report = {
            "num_processes": result.num_processes,
            "history": result.history,
            "final_path": str(result.final_path),
            "best_path": str(result.best_path),
            "probe_outputs": outputs.tolist(),
            "resume_equal": all(
                torch.equal(a, b)
                for a, b in zip(straight.state_dict().values(), resumed.state_dict().values())
            ),
        }
        (out / "result.json").write_text(json.dumps(report))
    state.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
