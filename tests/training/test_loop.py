"""The Accelerate training loop on a tiny PreTrainedModel: schedule, sampling, augmentation,
checkpoints, exact resume, and a real 2-process (gloo) run through torchrun."""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from _train_worker import PoseDataset, TinyModel, make_model, probe

from modeling_gcnrefine.commands.config import add_training_arguments, training_arguments_from_namespace
from modeling_gcnrefine.data.augmentation import random_flip_and_rotate, rotation_matrices
from modeling_gcnrefine.skeleton import flip_poses
from modeling_gcnrefine.training.arguments import TrainingArguments
from modeling_gcnrefine.training.loop import EpochSampler, evaluate_loss, lr_multiplier, train
from modeling_gcnrefine.utils.geometry import random_rotation

WORKER = Path(__file__).with_name("_train_worker.py")
TIMING_KEYS = {"samples_per_s", "epoch_time_s"}


def _reset_accelerate() -> None:
    # AcceleratorState is a process singleton (HF_NOTES 4): each run in this process starts clean.
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(True)
    GradientState._reset_state()


@pytest.fixture(autouse=True)
def clean_accelerate():
    _reset_accelerate()
    yield
    _reset_accelerate()


def _args(tmp_path: Path, name: str, **overrides) -> TrainingArguments:
    settings = dict(
        output_dir=str(tmp_path / name),
        epochs=3,
        batch_size=16,
        learning_rate=1e-2,
        samples_per_epoch=96,
        log_with=None,
        cpu=True,
        seed=5,
    )
    settings.update(overrides)
    return TrainingArguments(**settings)


class RecordingDataset(PoseDataset):
    """Remembers the order in which samples were read."""

    def __init__(self, n: int, seed: int) -> None:
        super().__init__(n, seed)
        self.seen: list[int] = []

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        self.seen.append(int(i))
        return super().__getitem__(i)


def _weights_equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


# ------------------------------------------------------------------------------------------------
# Arguments and schedule


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("epochs", 0),
        ("batch_size", 2.5),
        ("learning_rate", -1.0),
        ("learning_rate", float("nan")),
        ("lr_decay_large_every", 0),
        ("grad_clip_norm", 0.0),
        ("samples_per_epoch", 0),
        ("mixed_precision", "fp8"),
        ("log_with", "tb"),
        ("amsgrad", "yes"),
        ("output_dir", ""),
        ("save_total_limit", 0),
    ],
)
def test_training_arguments_reject_bad_values(name, value):
    settings = {"output_dir": "out", name: value}
    with pytest.raises(ValueError, match=name) as info:
        TrainingArguments(**settings)
    assert repr(value) in str(info.value)


def test_defaults_are_the_paper_schedule():
    args = TrainingArguments(output_dir="out")
    assert (args.epochs, args.batch_size, args.learning_rate, args.amsgrad) == (40, 256, 1e-3, True)
    factors = [lr_multiplier(k) / lr_multiplier(k - 1) for k in range(1, 11)]
    expected = [0.95, 0.95, 0.95, 0.95, 0.5, 0.95, 0.95, 0.95, 0.95, 0.5]
    np.testing.assert_allclose(factors, expected, rtol=1e-12)
    assert lr_multiplier(0) == 1.0


def test_cli_flags_round_trip():
    parser = argparse.ArgumentParser()
    add_training_arguments(parser, defaults={"epochs": 10})
    ns = parser.parse_args(
        [
            "--output-dir", "runs/x", "--no-amsgrad", "--grad-clip-norm", "1.5", "--samples-per-epoch", "none",
            "--log-with", "none", "--mixed-precision", "bf16", "--resume",
        ]
    )  # fmt: skip
    expected = TrainingArguments(
        output_dir="runs/x", epochs=10, amsgrad=False, grad_clip_norm=1.5, log_with=None,
        mixed_precision="bf16", resume=True,
    )  # fmt: skip
    assert training_arguments_from_namespace(ns) == expected
    plain = argparse.ArgumentParser()
    add_training_arguments(plain)
    assert training_arguments_from_namespace(plain.parse_args(["--output-dir", "o"])) == TrainingArguments(
        "o"
    )
    with pytest.raises(SystemExit):  # --output-dir is required
        plain.parse_args([])
    # Choices are the dataclass's to check, with its message.
    fp8 = plain.parse_args(["--output-dir", "o", "--mixed-precision", "fp8"])
    with pytest.raises(ValueError, match="mixed_precision: expected one of"):
        training_arguments_from_namespace(fp8)
    with pytest.raises(ValueError, match="epoch"):
        add_training_arguments(argparse.ArgumentParser(), defaults={"epoch": 3})


# ------------------------------------------------------------------------------------------------
# Sampling and augmentation


def test_epoch_sampler_is_a_function_of_seed_and_epoch():
    sampler = EpochSampler(50, num_samples=20, seed=1)
    sampler.set_epoch(3)
    first = list(sampler)
    assert list(sampler) == first and len(first) == len(sampler) == 20 and len(set(first)) == 20
    again = EpochSampler(50, num_samples=20, seed=1)
    again.set_epoch(3)
    assert list(again) == first
    sampler.set_epoch(4)
    assert list(sampler) != first
    other_seed = EpochSampler(50, num_samples=20, seed=2)
    other_seed.set_epoch(3)
    assert list(other_seed) != first
    chained = EpochSampler(10, num_samples=25, seed=0)
    counts = np.bincount(list(chained), minlength=10)
    assert counts.sum() == 25 and counts.min() >= 2 and counts.max() <= 3


def test_rotation_matrices_follow_geometry_random_rotation():
    from scipy.spatial.transform import Rotation

    rng = np.random.default_rng(0)
    yaw, tilt = rng.uniform(-np.pi, np.pi, 8), np.deg2rad(rng.uniform(-20, 20, 8))
    ours = rotation_matrices(torch.from_numpy(yaw), torch.from_numpy(tilt)).numpy()
    ref = np.stack([Rotation.from_euler("xy", [t, y]).as_matrix() for y, t in zip(yaw, tilt)])
    np.testing.assert_allclose(ours, ref, atol=1e-12)
    # And the same construction as geometry.random_rotation, draw for draw.
    r = random_rotation(np.random.default_rng(7), 20.0)
    g = np.random.default_rng(7)
    y, t = g.uniform(-np.pi, np.pi), np.deg2rad(g.uniform(-20, 20))
    np.testing.assert_allclose(
        rotation_matrices(torch.tensor([y], dtype=torch.float64), torch.tensor([t]))[0].numpy(), r, atol=1e-12
    )


def test_random_flip_and_rotate_applies_one_transform_per_sample():
    poses = torch.randn(64, 3, 17, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    batch = {"poses_3d": poses, "labels": 2.0 * poses, "meta": torch.arange(64)}
    out = random_flip_and_rotate(batch, torch.Generator().manual_seed(1))
    # The same transform on input and target: it is linear, so the factor 2 survives.
    torch.testing.assert_close(out["labels"], 2.0 * out["poses_3d"])
    assert out["meta"] is batch["meta"]

    # Rigid per sample: the multiset of joint distances is kept (a flip relabels joints, so sort).
    def distances(x):
        return torch.cdist(x, x).flatten(-2).sort().values

    torch.testing.assert_close(distances(out["poses_3d"]), distances(poses))
    # Reproducible from the generator, and actually random.
    again = random_flip_and_rotate(batch, torch.Generator().manual_seed(1))
    torch.testing.assert_close(again["poses_3d"], out["poses_3d"])
    assert not torch.allclose(out["poses_3d"], poses)

    # Flip only: each sample is either untouched or exactly skeleton.flip_poses, both kinds occur.
    flipped = random_flip_and_rotate(batch, torch.Generator().manual_seed(2), rotate=False)["poses_3d"]
    same = (flipped == poses).flatten(1).all(1)
    mirrored = (flipped == flip_poses(poses)).flatten(1).all(1)
    assert bool((same | mirrored).all()) and 10 < int(mirrored.sum()) < 54
    none = random_flip_and_rotate(batch, torch.Generator(), flip_prob=0.0, rotate=False)
    assert torch.equal(none["poses_3d"], poses)

    # Rotation only keeps the vertical extent within the tilt: yaw alone never changes y.
    upright = random_flip_and_rotate(
        batch, torch.Generator().manual_seed(3), flip_prob=0.0, max_tilt_degrees=0.0
    )
    torch.testing.assert_close(upright["poses_3d"][..., 1], poses[..., 1])


def test_random_flip_and_rotate_rejects_bad_input():
    poses = torch.zeros(2, 3, 17, 3)
    g = torch.Generator()
    with pytest.raises(ValueError, match="labels"):
        random_flip_and_rotate({"poses_3d": poses}, g)
    with pytest.raises(ValueError, match=r"batch\['poses_3d'\].*\(2, 3, 17, 2\)"):
        random_flip_and_rotate({"poses_3d": torch.zeros(2, 3, 17, 2)}, g, keys=("poses_3d",))
    with pytest.raises(ValueError, match="batch size"):
        random_flip_and_rotate({"poses_3d": poses, "labels": torch.zeros(3, 3, 17, 3)}, g)
    with pytest.raises(ValueError, match="flip_prob"):
        random_flip_and_rotate({"poses_3d": poses, "labels": poses}, g, flip_prob=1.5)
    # 2D keypoints can be mirrored when rotation is off.
    kp = torch.randn(2, 3, 17, 2)
    out = random_flip_and_rotate({"keypoints_2d": kp}, g, keys=("keypoints_2d",), flip_prob=1.0, rotate=False)
    torch.testing.assert_close(out["keypoints_2d"], flip_poses(kp))


# ------------------------------------------------------------------------------------------------
# Evaluation and training


def test_evaluate_loss_is_the_sample_weighted_mean():
    model, data = make_model(), PoseDataset(37, seed=4)
    metrics = evaluate_loss(model, data, batch_size=8)
    with torch.no_grad():
        full = model(poses_3d=data.poses, labels=0.5 * data.poses)
    assert metrics.keys() == {"loss", "loss_l1"}
    assert metrics["loss"] == pytest.approx(full.loss.item(), rel=1e-5)
    assert metrics["loss_l1"] == pytest.approx(full.loss_l1.item(), rel=1e-5)
    assert model.training  # mode restored


def test_train_single_process_logs_checkpoints_and_saves_best_and_final(tmp_path):
    args = _args(tmp_path, "run", epochs=6, log_with="tensorboard")
    model = make_model()
    data = RecordingDataset(200, 1)
    result = train(model, data, PoseDataset(40, 2), args=args, batch_transform=random_flip_and_rotate)

    # Each epoch reads a fresh random subset, the one EpochSampler gives for (seed, epoch).
    seen = [data.seen[i * 96 : (i + 1) * 96] for i in range(6)]
    sampler = EpochSampler(200, 96, seed=args.seed)
    for epoch, indices in enumerate(seen, start=1):
        sampler.set_epoch(epoch)
        assert indices == list(sampler)
    assert len({tuple(sorted(s)) for s in seen}) == 6

    history = result.history
    assert [h["epoch"] for h in history] == list(range(1, 7)) and result.num_processes == 1
    assert history[-1]["train_loss"] < 0.5 * history[0]["train_loss"]
    assert history[-1]["eval_loss"] < 0.5 * history[0]["eval_loss"]
    assert all(h["train_samples"] == 96 and h["samples_per_s"] > 0 and "train_loss_l1" in h for h in history)
    assert [h["step"] for h in history] == [6 * e for e in range(1, 7)]
    for h in history:  # the lr used in epoch e is the paper factor after e - 1 epochs
        assert h["lr"] == pytest.approx(1e-2 * lr_multiplier(h["epoch"] - 1), rel=1e-12)
    assert history[5]["lr"] == pytest.approx(1e-2 * 0.95**4 * 0.5)

    out = Path(args.output_dir)
    assert list((out / "tensorboard").rglob("events.out.tfevents.*"))
    assert json.loads((out / "history.json").read_text()) == history
    checkpoints = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert checkpoints == ["checkpoint_4", "checkpoint_5"]  # save_total_limit=2, epochs 5 and 6

    # final/ is the trained model; best/ the epoch with the lowest validation loss.
    x = probe()
    final = TinyModel.from_pretrained(result.final_path)
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(final(x).poses_3d, model(x).poses_3d, rtol=0, atol=0)
    best_state = json.loads((result.best_path / "trainer_state.json").read_text())
    assert result.best_metric == min(h["eval_loss"] for h in history) == best_state["best_metric"]
    best = TinyModel.from_pretrained(result.best_path)
    assert evaluate_loss(best, PoseDataset(40, 2), 16)["loss"] == pytest.approx(result.best_metric, rel=1e-5)


def test_resume_after_a_kill_mid_epoch_reproduces_the_unbroken_run(tmp_path):
    train_set, eval_set = PoseDataset(200, 1), PoseDataset(40, 2)
    straight = make_model()
    reference = train(straight, train_set, eval_set, args=_args(tmp_path, "straight"),
                      batch_transform=random_flip_and_rotate)  # fmt: skip

    calls = 0

    def dies_in_epoch_3(batch, generator):
        nonlocal calls
        calls += 1
        if calls == 2 * 6 + 4:  # 6 steps per epoch: the 4th step of epoch 3
            raise KeyboardInterrupt
        return random_flip_and_rotate(batch, generator)

    _reset_accelerate()
    with pytest.raises(KeyboardInterrupt):
        train(
            make_model(), train_set, eval_set, args=_args(tmp_path, "killed"), batch_transform=dies_in_epoch_3
        )
    assert not (tmp_path / "killed" / "final").exists()

    _reset_accelerate()
    resumed = make_model(seed=1)  # other initial weights: resume must load them from the checkpoint
    result = train(resumed, train_set, eval_set, args=_args(tmp_path, "killed", resume=True),
                   batch_transform=random_flip_and_rotate)  # fmt: skip
    assert _weights_equal(resumed, straight)

    def strip(history):
        return [{k: v for k, v in h.items() if k not in TIMING_KEYS} for h in history]

    assert strip(result.history) == strip(reference.history)
    assert result.best_metric == reference.best_metric
    assert sorted(p.name for p in (tmp_path / "killed" / "checkpoints").iterdir()) == [
        "checkpoint_1",
        "checkpoint_2",
    ]


def test_existing_checkpoints_require_resume(tmp_path):
    train(make_model(), PoseDataset(40, 1), args=_args(tmp_path, "run", epochs=1))
    _reset_accelerate()
    with pytest.raises(ValueError, match=r"output_dir.*resume"):
        train(make_model(), PoseDataset(40, 1), args=_args(tmp_path, "run", epochs=2))


def test_bf16_with_gradient_accumulation_steps_every_second_batch(tmp_path):
    args = _args(tmp_path, "bf16", epochs=1, mixed_precision="bf16", gradient_accumulation_steps=2)
    result = train(make_model(), PoseDataset(200, 1), args=args)
    assert result.history[0]["step"] == 3  # 6 batches / 2
    assert math.isfinite(result.history[0]["train_loss"]) and result.best_path is None


def test_fp16_on_cpu_warns_and_unknown_best_metric_raises(tmp_path):
    args = _args(tmp_path, "fp16", epochs=1, mixed_precision="fp16", metric_for_best="loss_mpjpe")
    with (
        pytest.warns(UserWarning, match="fp16"),
        pytest.raises(ValueError, match=r"metric_for_best.*loss_l1"),
    ):
        train(make_model(), PoseDataset(40, 1), PoseDataset(8, 2), args=args)


def test_train_rejects_bad_model_and_empty_data(tmp_path):
    with pytest.raises(ValueError, match="model"):
        train(torch.nn.Linear(3, 3), PoseDataset(8, 1), args=_args(tmp_path, "x"))
    with pytest.raises(ValueError, match="train_dataset"):
        train(make_model(), PoseDataset(0, 1), args=_args(tmp_path, "x"))


# ------------------------------------------------------------------------------------------------
# Two processes


def test_two_cpu_processes_through_torchrun(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(WORKER), str(tmp_path)]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = json.loads((tmp_path / "result.json").read_text())

    assert report["num_processes"] == 2
    history = report["history"]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert history[-1]["eval_loss"] < history[0]["eval_loss"]
    assert all(h["train_samples"] == 96 for h in history)  # 96 samples shared by the 2 processes
    assert [h["step"] for h in history] == [3, 6, 9]  # 6 batches of 16 per epoch, 3 per process
    assert report["resume_equal"], "2 epochs + resume differs from 3 straight epochs"

    final = TinyModel.from_pretrained(report["final_path"])
    with torch.no_grad():
        torch.testing.assert_close(
            final(probe()).poses_3d, torch.tensor(report["probe_outputs"]), rtol=0, atol=1e-6
        )
    best_eval = min(h["eval_loss"] for h in history)
    best = TinyModel.from_pretrained(report["best_path"])
    assert evaluate_loss(best, PoseDataset(37, 2), 8)["loss"] == pytest.approx(best_eval, rel=1e-5)
