"""The one Accelerate training loop, shared by the refiner and the lifter.

``train`` fits any ``transformers.PreTrainedModel`` whose ``forward(**batch)`` returns an output with
``.loss`` (extra scalar terms named ``loss_*`` are logged too). The same code runs on one CPU, one
GPU or many GPUs/nodes through ``accelerate launch`` / ``torchrun``; ``batch_size`` is per process.

The paper's schedule by default: Adam with AMSGrad, lr 1e-3, batch 256, 40 epochs; after each
epoch the lr is multiplied by 0.5 when the epoch number is a multiple of 5, else by 0.95.

Output folder layout::

    output_dir/checkpoints/checkpoint_N/   accelerate save_state of epoch N+1 (+ progress.json)
    output_dir/tensorboard/                TensorBoard events (Accelerate tracker)
    output_dir/best/                       save_pretrained of the best validation epoch
    output_dir/final/                      save_pretrained after the last epoch
    output_dir/history.json                one dict per epoch

Resume is exact: the epoch's sample order, augmentation and global RNG are pure functions of
(seed, epoch, process), so a run killed mid-epoch and resumed from the last saved epoch ends with the
same weights as a run that was never stopped.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, Subset
from tqdm.auto import tqdm
from transformers import PreTrainedModel

from ..utils.io import set_default_mode
from .arguments import TrainingArguments, _check_int

_CHECKPOINT_RE = re.compile(r"^checkpoint_(\d+)$")


_PROGRESS_FILE = "progress.json"  # written last: its presence marks a checkpoint as complete


# Independent random streams derived from the seed (see _derive_seed).
_STREAM_SAMPLER, _STREAM_AUGMENT, _STREAM_GLOBAL = 0, 1, 2


# Settings whose change between a run and its resume makes the result differ from an unbroken run.
_RESUME_IGNORED = {"output_dir", "resume", "epochs", "num_workers", "log_with", "cpu", "save_total_limit"}


@dataclass
class TrainResult:
    """What :func:`train` produced.

    Attributes:
        final_path: folder with ``save_pretrained`` of the weights after the last epoch.
        best_path: folder with the best validation epoch's weights, or None without an eval dataset.
        best_metric: validation ``metric_for_best`` of ``best_path`` (None without an eval dataset).
        history: one dict per epoch (``epoch``, ``step``, ``lr``, ``train_loss``, ``train_loss_*``,
            ``train_samples``, ``samples_per_s``, ``epoch_time_s`` and, when validated, ``eval_loss``...).
            ``train_samples`` counts what all processes read, including the few samples Accelerate
            repeats so that every process gets the same number of batches.
        num_processes: how many processes trained together.
    """

    final_path: Path
    best_path: Path | None
    best_metric: float | None
    history: list[dict[str, float]]
    num_processes: int


def lr_multiplier(epochs_done: int, decay: float = 0.95, decay_large: float = 0.5, every: int = 5) -> float:
    """Learning-rate factor after ``epochs_done`` epochs: the product over finished epochs k = 1..n of
    ``decay_large`` when k is a multiple of ``every``, else ``decay`` (the paper's schedule).
    """
    _check_int("epochs_done", epochs_done, 0)
    factor = 1.0
    for k in range(1, epochs_done + 1):
        factor *= decay_large if k % every == 0 else decay
    return factor


def _derive_seed(seed: int, *keys: int) -> int:
    """A 32-bit seed that depends on (seed, *keys) only; SeedSequence keeps the streams independent."""
    return int(np.random.SeedSequence([seed, *keys]).generate_state(1)[0])


class EpochSampler(Sampler[int]):
    """Shuffled indices for one epoch, a pure function of ``(seed, epoch)``.

    With ``num_samples`` below the dataset length each epoch sees a different random subset (the CPU
    path: fewer, fresh samples per epoch); above it, whole permutations are chained. Every process
    builds the same order; Accelerate then gives each process its own share of the batches.
    """

    def __init__(self, num_items: int, num_samples: int | None = None, seed: int = 0) -> None:
        _check_int("num_items", num_items, 1)
        if num_samples is not None:
            _check_int("num_samples", num_samples, 1)
        self.num_items = int(num_items)
        self.num_samples = int(num_samples) if num_samples is not None else self.num_items
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose order ``__iter__`` yields (Accelerate calls this too)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(_derive_seed(self.seed, _STREAM_SAMPLER, self.epoch))
        passes = -(-self.num_samples // self.num_items)
        order = torch.cat([torch.randperm(self.num_items, generator=generator) for _ in range(passes)])
        return iter(order[: self.num_samples].tolist())


def _loss_terms(output: Any) -> dict[str, torch.Tensor]:
    """``loss`` and every scalar ``loss_*`` entry of a model output."""
    items = list(output.items() if isinstance(output, Mapping) else vars(output).items())
    terms = {
        k: v
        for k, v in items
        if (k == "loss" or k.startswith("loss_")) and torch.is_tensor(v) and v.numel() == 1
    }
    if "loss" not in terms:
        raise ValueError(
            "model output: expected a scalar `loss` (does the batch hold the labels?), "
            f"got entries {sorted(k for k, _ in items)}"
        )
    return terms


def _batch_size(batch: Any) -> int:
    if not isinstance(batch, Mapping):
        raise ValueError(
            f"batch: expected a dict of tensors (model keyword arguments), got {type(batch).__name__}"
        )
    for value in batch.values():
        if torch.is_tensor(value) and value.ndim > 0:
            return int(value.shape[0])
    raise ValueError(f"batch: expected at least one batched tensor, got keys {sorted(batch)}")


def _combine(parts: list[dict[str, list[float]]]) -> dict[str, float]:
    """Merge per-process {name: [weighted sum, count]} into sample-weighted means."""
    total: dict[str, list[float]] = {}
    for part in parts:
        for name, (value, count) in part.items():
            acc = total.setdefault(name, [0.0, 0.0])
            acc[0] += value
            acc[1] += count
    return {name: value / count for name, (value, count) in total.items() if count > 0}


def evaluate_loss(
    model: torch.nn.Module,
    dataset: Dataset,
    batch_size: int,
    accelerator: Any = None,
    collate_fn: Callable | None = None,
    num_workers: int = 0,
) -> dict[str, float]:
    """Sample-weighted mean of ``loss`` and every ``loss_*`` term of ``model`` over ``dataset``.

    With an ``accelerator`` each process takes every n-th sample (no sample twice, none padded) and
    the per-process sums are exchanged as Python objects, so uneven shards never meet gloo's
    equal-length rule. The model runs unwrapped (no DDP collectives), under ``torch.no_grad`` and in
    eval mode; its previous mode is restored. Assumes ``loss`` is a mean over the batch's samples.
    """
    _check_int("batch_size", batch_size, 1)
    if len(dataset) == 0:
        raise ValueError("dataset: expected at least one sample, got an empty dataset")
    if accelerator is not None:
        from accelerate.utils import gather_object

        net = accelerator.unwrap_model(model)
        device, rank, world = accelerator.device, accelerator.process_index, accelerator.num_processes
    else:
        net, rank, world = model, 0, 1
        device = next(model.parameters()).device
    from accelerate.utils import send_to_device

    shard = Subset(dataset, range(rank, len(dataset), world))
    loader = DataLoader(
        shard, batch_size=batch_size, shuffle=False, collate_fn=collate_fn, num_workers=num_workers
    )
    sums: dict[str, list[float]] = {}
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            for batch in loader:
                n = _batch_size(batch)
                batch = send_to_device(batch, device)
                for name, value in _loss_terms(net(**batch)).items():
                    acc = sums.setdefault(name, [0.0, 0.0])
                    acc[0] += float(value) * n
                    acc[1] += n
    finally:
        net.train(was_training)
    parts = gather_object([sums]) if accelerator is not None else [sums]
    return _combine(parts)


def _write_json(path: Path, data: Any) -> None:
    """Write JSON atomically: a reader sees the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, allow_nan=True))
    os.replace(tmp, path)


def _save_pretrained_atomic(model: Any, path: Path, state: dict[str, Any]) -> None:
    """save_pretrained into a temporary folder, then swap it in by renames."""
    tmp = path.with_name(f".{path.name}.tmp")
    old = path.with_name(f".{path.name}.old")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    _write_json(tmp / "trainer_state.json", state)
    # safetensors writes its file 0o600 (a temporary renamed into place): give every file a normal mode.
    for item in tmp.iterdir():
        set_default_mode(item)
    shutil.rmtree(old, ignore_errors=True)
    if path.exists():
        os.replace(path, old)
    os.replace(tmp, path)
    shutil.rmtree(old, ignore_errors=True)


def _checkpoints(folder: Path) -> list[tuple[int, Path, bool]]:
    """(number, path, complete) of every checkpoint_N folder, oldest first."""
    if not folder.is_dir():
        return []
    found = []
    for child in folder.iterdir():
        match = _CHECKPOINT_RE.match(child.name)
        if match and child.is_dir():
            found.append((int(match.group(1)), child, (child / _PROGRESS_FILE).is_file()))
    return sorted(found)


def _prune_checkpoints(folder: Path, keep: int) -> None:
    """Keep the newest ``keep`` complete checkpoints. Done here, after the new one is complete,
    because accelerate's own ``total_limit`` deletes old ones before the new save has finished."""
    entries = _checkpoints(folder)
    complete = [e for e in entries if e[2]]
    if not complete:
        return
    kept = {e[0] for e in complete[-keep:]}
    newest = complete[-1][0]
    for number, path, _ in entries:
        if number not in kept and number < newest:
            shutil.rmtree(path, ignore_errors=True)


def train(
    model: Any,
    train_dataset: Dataset,
    eval_dataset: Dataset | None = None,
    *,
    args: TrainingArguments,
    collate_fn: Callable | None = None,
    batch_transform: Callable[[Any, torch.Generator], Any] | None = None,
) -> TrainResult:
    """Train ``model`` in place on ``train_dataset`` with Accelerate; select ``best/`` on ``eval_dataset``.

    Args:
        model: a ``transformers.PreTrainedModel``; ``model(**batch)`` must return an output with a
            scalar ``loss`` (scalar ``loss_*`` entries are logged as well).
        train_dataset: map-style dataset whose items ``collate_fn`` turns into a dict of tensors;
            every key of that dict is passed to ``forward``.
        eval_dataset: validation data (never the test subject). Without it no ``best/`` is kept.
        args: the run's :class:`TrainingArguments`.
        collate_fn: DataLoader collate function (default: torch's default collate).
        batch_transform: ``(batch, generator) -> batch`` run on the device before each training step,
            e.g. :func:`random_flip_and_rotate`; ``generator`` is reseeded from (seed, epoch, process).

    Returns:
        :class:`TrainResult` with the ``final/`` and ``best/`` folders and the per-epoch history.

    Under ``torchrun``/``accelerate launch`` every process calls this. Accelerate's state is a process
    singleton: a second call in one process must use the same ``mixed_precision``. In multi-node runs
    ``output_dir`` must be on storage all nodes share.
    """
    from accelerate import Accelerator
    from accelerate.logging import get_logger
    from accelerate.utils import ProjectConfiguration, broadcast_object_list, gather_object, set_seed

    if not isinstance(model, PreTrainedModel):
        raise ValueError(f"model: expected a transformers.PreTrainedModel, got {type(model).__name__}")
    if not isinstance(args, TrainingArguments):
        raise ValueError(f"args: expected TrainingArguments, got {type(args).__name__}")
    for name, data in (("train_dataset", train_dataset), ("eval_dataset", eval_dataset)):
        if data is not None and not (hasattr(data, "__len__") and hasattr(data, "__getitem__")):
            raise ValueError(
                f"{name}: expected a map-style dataset (len and indexing), got {type(data).__name__}"
            )
    if len(train_dataset) == 0:
        raise ValueError("train_dataset: expected at least one sample, got an empty dataset")
    if eval_dataset is not None and len(eval_dataset) == 0:
        raise ValueError("eval_dataset: expected at least one sample or None, got an empty dataset")

    out_dir = Path(args.output_dir)
    ckpt_dir = out_dir / "checkpoints"
    accelerator = Accelerator(
        cpu=args.cpu,
        mixed_precision=args.mixed_precision,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        log_with=args.log_with,
        # total_limit=None: pruning is ours, after a checkpoint is complete (see _prune_checkpoints).
        project_config=ProjectConfiguration(
            project_dir=str(out_dir),
            logging_dir=str(out_dir),
            automatic_checkpoint_naming=True,
            total_limit=None,
        ),
    )
    logger = get_logger(__name__)
    main = accelerator.is_main_process
    if args.mixed_precision == "fp16" and accelerator.device.type == "cpu":
        warnings.warn(
            "mixed_precision='fp16' has no effect on CPU (accelerate ignores it silently); use 'bf16' or a GPU",
            stacklevel=2,
        )

    # The main process decides what to resume from, so every process agrees even if their views of
    # the file system differ for a moment.
    decision: list[Any] = [None]
    if main:
        out_dir.mkdir(parents=True, exist_ok=True)
        complete = [e for e in _checkpoints(ckpt_dir) if e[2]]
        if complete and not args.resume:
            decision[0] = {
                "error": f"output_dir: {out_dir} already holds checkpoints; pass resume=True "
                "(--resume) to continue that run, or choose an empty folder"
            }
        elif complete:
            for _, path, done in _checkpoints(ckpt_dir):
                if not done:  # killed while saving: never loadable, and in the way of the next name
                    shutil.rmtree(path, ignore_errors=True)
            number, path, _ = complete[-1]
            decision[0] = {
                "path": str(path),
                "number": number,
                "progress": json.loads((path / _PROGRESS_FILE).read_text()),
            }
        else:
            decision[0] = {}
    broadcast_object_list(decision)
    decision = decision[0]
    if "error" in decision:
        raise ValueError(decision["error"])
    if args.resume and not decision:
        logger.warning(f"resume: no complete checkpoint in {ckpt_dir}; starting from scratch")

    set_seed(args.seed)
    sampler = EpochSampler(len(train_dataset), args.samples_per_epoch, args.seed)
    train_dl = DataLoader(
        train_dataset,
        batch_size=args.batch_size,
        sampler=sampler,
        collate_fn=collate_fn,
        num_workers=args.num_workers,
        drop_last=args.drop_last,
        pin_memory=accelerator.device.type == "cuda",
        persistent_workers=args.num_workers > 0,
    )
    optimizer = torch.optim.Adam(  # frozen parameters (a fitted window map) stay out of it
        [p for p in model.parameters() if p.requires_grad], lr=args.learning_rate, weight_decay=args.weight_decay, amsgrad=args.amsgrad
    )
    # Stepped once per epoch by us, so it is not handed to accelerate.prepare (an AcceleratedScheduler
    # steps with the optimizer, once per process).
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda e: lr_multiplier(e, args.lr_decay, args.lr_decay_large, args.lr_decay_large_every)
    )
    model, optimizer, train_dl = accelerator.prepare(model, optimizer, train_dl)
    if len(train_dl) == 0:
        raise ValueError(
            f"batch_size: {args.batch_size} with drop_last leaves no batch of {len(sampler)} samples per epoch"
        )

    start_epoch, global_step, best_metric = 0, 0, None
    history: list[dict[str, float]] = []
    if decision:
        accelerator.load_state(decision["path"])
        progress = decision["progress"]
        scheduler.load_state_dict(progress["scheduler"])
        start_epoch, global_step = progress["epoch"], progress["global_step"]
        best_metric, history = progress["best_metric"], progress["history"]
        # accelerate does not restore the checkpoint counter (HF_NOTES 4): without this the next
        # save_state collides with checkpoint_0.
        accelerator.project_configuration.iteration = decision["number"] + 1
        changed = {
            k: (v, getattr(args, k))
            for k, v in progress["args"].items()
            if k not in _RESUME_IGNORED and getattr(args, k, v) != v
        }
        if changed:
            logger.warning(f"resume: settings differ from the saved run (saved, now): {changed}")
        logger.info(f"resumed from {decision['path']} after epoch {start_epoch}")

    if args.log_with is not None:
        hparams = {
            k: (v if isinstance(v, int | float | str | bool) else str(v)) for k, v in args.to_dict().items()
        }
        accelerator.init_trackers("tensorboard", config=hparams)

    best_path = out_dir / "best"
    steps_per_epoch = len(train_dl)
    bar = tqdm(
        total=args.epochs * steps_per_epoch,
        initial=start_epoch * steps_per_epoch,
        disable=not main,
        dynamic_ncols=True,
        desc="train",
    )
    rank = accelerator.process_index
    try:
        for epoch in range(start_epoch + 1, args.epochs + 1):
            # Everything random in this epoch follows from (seed, epoch, process): resume is exact.
            set_seed(_derive_seed(args.seed, _STREAM_GLOBAL, epoch, rank))
            generator = torch.Generator().manual_seed(_derive_seed(args.seed, _STREAM_AUGMENT, epoch, rank))
            train_dl.set_epoch(epoch)
            bar.set_description(f"epoch {epoch}/{args.epochs}")
            lr = scheduler.get_last_lr()[0]
            model.train()
            sums: dict[str, torch.Tensor] = {}
            samples = 0
            start = time.perf_counter()
            for i, batch in enumerate(train_dl):
                n = _batch_size(batch)
                with accelerator.accumulate(model):
                    if batch_transform is not None:
                        batch = batch_transform(batch, generator)
                    terms = _loss_terms(model(**batch))
                    accelerator.backward(terms["loss"])
                    if accelerator.sync_gradients and args.grad_clip_norm is not None:
                        accelerator.clip_grad_norm_(model.parameters(), args.grad_clip_norm)
                    optimizer.step()  # accelerate skips it between accumulation boundaries
                    optimizer.zero_grad()
                if accelerator.sync_gradients:
                    global_step += 1
                for name, value in terms.items():
                    sums[name] = sums.get(name, 0.0) + value.detach().float() * n
                samples += n
                bar.update(1)
                if main and i % 10 == 0:  # .item() syncs the device: not every step
                    bar.set_postfix(loss=f"{terms['loss'].item():.4g}", lr=f"{lr:.3g}")
            elapsed = time.perf_counter() - start
            scheduler.step()

            local = {name: [float(total), float(samples)] for name, total in sums.items()}
            train_means = _combine(gather_object([local]))
            total_samples = int(sum(gather_object([samples])))
            record: dict[str, float] = {"epoch": epoch, "step": global_step, "lr": lr}
            record.update({f"train_{k}": v for k, v in train_means.items()})
            record.update(
                {
                    "train_samples": total_samples,
                    "samples_per_s": total_samples / elapsed,
                    "epoch_time_s": elapsed,
                }
            )
            if not math.isfinite(record["train_loss"]):
                raise FloatingPointError(
                    f"train loss became {record['train_loss']} in epoch {epoch}; the last good state is in {ckpt_dir}"
                )

            if eval_dataset is not None and (epoch % args.eval_every == 0 or epoch == args.epochs):
                metrics = evaluate_loss(
                    model, eval_dataset, args.batch_size, accelerator, collate_fn, args.num_workers
                )
                if args.metric_for_best not in metrics:
                    raise ValueError(
                        f"metric_for_best: expected one of the validation terms {sorted(metrics)}, "
                        f"got {args.metric_for_best!r}"
                    )
                record.update({f"eval_{k}": v for k, v in metrics.items()})
                value = metrics[args.metric_for_best]
                if best_metric is None or value < best_metric:
                    best_metric = value
                    if main:
                        state = {
                            "epoch": epoch,
                            "metric_for_best": args.metric_for_best,
                            "best_metric": value,
                        }
                        _save_pretrained_atomic(accelerator.unwrap_model(model), best_path, state)
            history.append(record)
            accelerator.log({k: v for k, v in record.items() if k != "epoch"}, step=epoch)
            logger.info(" ".join(f"{k}={v:.5g}" for k, v in record.items()))

            saved = Path(accelerator.save_state())
            if main:
                progress = {
                    "epoch": epoch,
                    "global_step": global_step,
                    "best_metric": best_metric,
                    "history": history,
                    "scheduler": scheduler.state_dict(),
                    "args": args.to_dict(),
                }
                _write_json(saved / _PROGRESS_FILE, progress)  # last: marks the checkpoint complete
                _prune_checkpoints(ckpt_dir, args.save_total_limit)
                _write_json(out_dir / "history.json", history)
            accelerator.wait_for_everyone()

        final_path = out_dir / "final"
        if main:
            done = history[-1]["epoch"] if history else 0  # a resume may ask for fewer epochs than done
            state = {"epoch": done, "global_step": global_step, "history": history}
            _save_pretrained_atomic(accelerator.unwrap_model(model), final_path, state)
        accelerator.wait_for_everyone()
    finally:
        bar.close()
        # Not end_training(): that also destroys the process group, which the caller may still need.
        for tracker in accelerator.trackers:
            tracker.finish()

    return TrainResult(
        final_path=final_path,
        best_path=best_path if best_metric is not None else None,
        best_metric=best_metric,
        history=history,
        num_processes=accelerator.num_processes,
    )
