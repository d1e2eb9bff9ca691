"""One training loop for one process, N processes (DDP) and Horovod.

Launch forms (the docstring of :mod:`harflow.train.__main__` lists them all)::

    harflow train --epochs 60 --out runs/x                       # one process
    torchrun --standalone --nproc-per-node 2 -m harflow.train --out runs/x   # DDP, gloo on CPU

The engine is started, and on CPU the rank placed, by :func:`harflow.train.launch.start_engine`; each
optimizer step is :func:`harflow.train.step.train_step`, the function the bench times.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import BatchSampler, DistributedSampler
from tqdm import tqdm

from harflow.data.dataset import Split, WindowedData, build_windows
from harflow.data.sources import load_recordings
from harflow.data.windows import WindowSpec
from harflow.memory import tune_malloc
from harflow.models import build_model, checkpoint
from harflow.models.registry import default_epochs, model_config
from harflow.patterns import fit
from harflow.train import model_card
from harflow.train.augment import build_augmenter
from harflow.train.config import TrainConfig
from harflow.train.engine import Engine, LaunchError
from harflow.train.launch import start_engine
from harflow.train.metrics import classification_metrics, subject_intervals
from harflow.train.step import build_ema, build_optimizer, class_weights, device_batches, train_step

log = logging.getLogger("harflow.train")


def load_data(cfg: TrainConfig) -> WindowedData:
    rs = load_recordings(cfg.data, classes=cfg.classes, subjects=cfg.subjects, rate_hz=cfg.rate_hz)
    spec = WindowSpec(cfg.rate_hz, cfg.window_s, cfg.hop_s, tuple(rs.channels))
    data = build_windows(rs, spec)
    if cfg.train_hop_s is not None and cfg.train_hop_s != cfg.hop_s:
        # the training split alone is re-sliced, normalized with the statistics already fit on it
        fine = dataclasses.replace(spec, hop_s=cfg.train_hop_s)
        data.splits["train"] = build_windows(rs, fine, data.normalizer, only=("train",)).splits["train"]
    return data


def set_threads(cfg: TrainConfig, engine: Engine) -> int:
    """Cores ÷ processes on this node: oversubscribing collapses gloo training throughput. Also fixes glibc's
    malloc thresholds (see :mod:`harflow.memory`): per-step buffers are reused instead of page-faulted in."""
    tune_malloc()
    n = cfg.threads or max(1, engine.node_cores // max(1, engine.local_world_size))
    torch.set_num_threads(n)
    return n


class IndexSampler(DistributedSampler):
    """``DistributedSampler`` over a plain index range (no Dataset object needed).

    Rank r takes ``perm[r::W]``; consecutive per-rank batches of B/W therefore together form exactly the
    global batches ``perm[kB:(k+1)B]`` that one process with batch B sees — the property the equivalence test
    checks.
    """

    def __init__(self, n: int, world: int, rank: int, seed: int, shuffle: bool = True) -> None:
        super().__init__(range(n), num_replicas=world, rank=rank, shuffle=shuffle, seed=seed, drop_last=True)


@torch.no_grad()
def predict_split(
    model: nn.Module, split: Split, engine: Engine, batch: int = 1024
) -> tuple[np.ndarray, float]:
    """Class probabilities for the *whole* split: each rank scores ``rank::W``, then a sum all-reduce
    assembles them. Returns (probs (N, K), mean cross-entropy)."""
    module = model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
    was_training = module.training
    module.eval()
    n = len(split)
    mine = np.arange(engine.rank, n, engine.world_size)
    out: torch.Tensor | None = None
    loss = torch.zeros(1, dtype=torch.float64)
    for i in range(0, len(mine), batch):
        idx = mine[i : i + batch]
        x = torch.from_numpy(split.X[idx]).to(engine.device)
        logits = module(x).float().cpu()
        if out is None:
            out = torch.zeros(n, logits.shape[1], dtype=torch.float32)
        out[idx] = torch.softmax(logits, dim=1)
        loss += F.cross_entropy(logits, torch.from_numpy(split.y[idx]), reduction="sum").double()
    if out is None:  # this rank had nothing: learn the class count from a dummy forward
        k = module(torch.zeros(1, *split.X.shape[1:], device=engine.device)).shape[1]
        out = torch.zeros(n, k)
    module.train(was_training)
    engine.all_reduce_sum(out)
    engine.all_reduce_sum(loss)
    return out.numpy(), float(loss.item() / max(n, 1))


def evaluate_split(
    model: nn.Module, split: Split, engine: Engine, names: list[str], keep_predictions: bool = False
) -> dict[str, Any]:
    probs, loss = predict_split(model, split, engine)
    pred = probs.argmax(axis=1)
    m = classification_metrics(split.y, pred, names)
    m["loss"] = loss
    if keep_predictions:
        m["predictions"] = pred
    return m


@dataclass
class State:
    epoch: int = 0  # completed epochs
    best_metric: float = -math.inf
    best_epoch: int = -1
    bad_epochs: int = 0
    step: int = 0


def lr_lambda(warmup_steps: int, total_steps: int):
    def f(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * progress))

    return f


def _model_snapshot(
    cfg: TrainConfig, data: WindowedData, model_state: dict, n_classes: int
) -> dict[str, Any]:
    return checkpoint.model_snapshot(
        model_name=cfg.model,
        model_config=dataclasses.asdict(model_config(cfg.model, cfg.model_config)),
        in_channels=len(data.spec.channels),
        num_classes=n_classes,
        window_length=data.spec.length,
        model_state=model_state,
        label_names=list(data.label_map.names),
        normalization=data.normalizer.to_dict(),
        window=data.spec.to_dict(),
        train_config=cfg.to_dict(),
    )


def _rng_state() -> dict[str, Any]:
    return {"torch": torch.get_rng_state(), "python": random.getstate()}


def _set_rng_state(s: dict[str, Any]) -> None:
    torch.set_rng_state(s["torch"])
    random.setstate(s["python"])


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    tmp = path.with_suffix(".jsonl.tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    os.replace(tmp, path)


def train(cfg: TrainConfig) -> dict[str, Any] | None:
    """Run training; returns the final metrics dict on rank 0 (None on other ranks)."""
    if cfg.batch_size < 1 or cfg.accum_steps < 1:
        raise LaunchError("--batch-size and --accum-steps must be positive")
    if cfg.epochs is None:
        cfg = dataclasses.replace(cfg, epochs=default_epochs(cfg.model))
    with start_engine(cfg) as engine:
        result = _train(cfg, engine)
    if result is not None:  # rank 0, after the group is gone: the other ranks need not wait for this
        write_transitions(cfg)
    return result


def write_transitions(cfg: TrainConfig) -> None:
    """The change detector of the best model, beside it: transition statistics from the training split and
    parameters fitted on the validation split (:mod:`harflow.patterns.fit`). The service reads it and never
    loads training data."""
    t = time.perf_counter()
    path = fit.write(cfg.out)
    print(f"change detector: {path} ({time.perf_counter() - t:.1f}s)", flush=True)


def _train(cfg: TrainConfig, engine: Engine) -> dict[str, Any] | None:
    threads = set_threads(cfg, engine)
    world, rank, main = engine.world_size, engine.rank, engine.is_main
    micro, rem = divmod(cfg.batch_size, world * cfg.accum_steps)
    if rem or micro < 1:
        raise LaunchError(
            f"global batch {cfg.batch_size} is not divisible by world size {world} × accum steps "
            f"{cfg.accum_steps}; choose a multiple of {world * cfg.accum_steps}"
        )
    out = Path(cfg.out)
    data = load_data(cfg)
    train_split, names = data.splits["train"], list(data.label_map.names)
    steps_per_epoch = len(train_split) // cfg.batch_size
    if steps_per_epoch < 1:
        raise LaunchError(
            f"{len(train_split)} training windows make no full global batch of {cfg.batch_size} "
            f"({world} workers × {micro * cfg.accum_steps}); lower --batch-size or the world size"
        )
    if cfg.max_steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, cfg.max_steps_per_epoch)

    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    raw_model = build_model(
        cfg.model, len(data.spec.channels), len(names), data.spec.length, cfg.model_config
    )
    model = engine.wrap_model(raw_model)
    lr = cfg.scaled_lr()
    opt = build_optimizer(cfg, raw_model)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lr_lambda(int(cfg.warmup_epochs * steps_per_epoch), cfg.epochs * steps_per_epoch)
    )
    ema = build_ema(cfg, raw_model)
    weight = class_weights(cfg, train_split.y, len(names))
    weight = weight.to(engine.device) if weight is not None else None
    # what is validated, selected and kept: the weights' moving average when there is one
    kept = ema.module if ema is not None else raw_model
    state, history = State(), []
    best_state = {k: v.detach().clone() for k, v in kept.state_dict().items()}
    snap_path = out / checkpoint.SNAPSHOT_FILE
    restarted = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") or 0) > 0
    if (cfg.resume or restarted) and snap_path.exists():
        snap = checkpoint.load(snap_path)
        raw_model.load_state_dict(snap["model_state"])
        opt.load_state_dict(snap["optimizer_state"])
        sched.load_state_dict(snap["scheduler_state"])
        state = State(**snap["progress"])
        best_state = snap["best_model_state"]
        if ema is not None:
            ema.load_state_dict(snap["ema_state"])
        history = [h for h in snap["history"] if h["epoch"] < state.epoch]
        _set_rng_state(snap["rng"][rank] if rank < len(snap["rng"]) else snap["rng"][0])
        if main:
            print(f"resumed from snapshot at epoch {state.epoch} ({snap_path})", flush=True)
    elif cfg.resume and main:
        print(f"--resume: no snapshot at {snap_path}; starting from epoch 0", flush=True)
    opt_wrapped = engine.wrap_optimizer(opt, raw_model, cfg.accum_steps)
    # dropout masks differ per rank (as they would on separate machines) but are reproducible
    if state.epoch == 0:
        torch.manual_seed(cfg.seed * 1000 + rank + 1)

    placements = engine.all_gather_object(engine.placement)  # every rank's CPUs, for the record
    if main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(
            json.dumps(
                {
                    **cfg.to_dict(),
                    "world_size": world,
                    "engine": engine.name,
                    "backend": engine.backend,
                    "threads_per_process": threads,
                    "cpu_placement": placements,
                    "per_worker_batch": micro * cfg.accum_steps,
                    "effective_lr": lr,
                    "window": data.spec.to_dict(),
                    "labels": names,
                    "subjects": data.subjects,
                    "windows": {k: len(v) for k, v in data.splits.items()},
                },
                indent=2,
            )
        )
        _write_jsonl(out / "metrics.jsonl", history)
        print(
            f"harflow train: {cfg.model} on {cfg.data} ({len(names)} classes), {world} worker(s) × "
            f"{threads} thread(s) on {engine.device}, global batch {cfg.batch_size}, lr {lr:.2e}, "
            f"windows train/val/test {len(train_split)}/{len(data.splits['val'])}/{len(data.splits['test'])}",
            flush=True,
        )

    sampler = IndexSampler(len(train_split), world, rank, cfg.seed)
    Xtr, ytr = torch.from_numpy(train_split.X), torch.from_numpy(train_split.y)
    augment = build_augmenter(cfg, data)
    t_start = time.perf_counter()
    train_time = sum(h.get("epoch_seconds", 0.0) for h in history)
    samples_seen = 0
    model.train()
    for epoch in range(state.epoch, cfg.epochs):
        sampler.set_epoch(epoch)
        t0 = time.perf_counter()
        batches = device_batches(
            Xtr, ytr, iter(BatchSampler(sampler, micro, drop_last=True)), engine.device, augment
        )
        tot_loss = torch.zeros(2, dtype=torch.float64)  # sum of losses, correct predictions (this rank)
        seen = 0
        bar = tqdm(
            total=steps_per_epoch,
            desc=f"epoch {epoch + 1}/{cfg.epochs}",
            leave=False,
            disable=not (main and cfg.progress),
            mininterval=1.0,
            unit="step",
        )
        for _ in range(steps_per_epoch):
            st = train_step(model, opt_wrapped, engine, batches, cfg, ema=ema, class_weight=weight)
            tot_loss[0] += st.loss_sum
            tot_loss[1] += st.correct
            seen += st.samples
            sched.step()
            state.step += 1
            bar.update()
        bar.close()
        epoch_seconds = time.perf_counter() - t0
        train_time += epoch_seconds
        counts = engine.all_reduce_sum(torch.tensor([tot_loss[0], tot_loss[1], seen], dtype=torch.float64))
        samples_seen += int(counts[2])
        val = evaluate_split(kept if ema is not None else model, data.splits["val"], engine, names)
        state.epoch = epoch + 1
        score = val["macro_f1"] if not math.isnan(val["macro_f1"]) else -counts[0].item() / counts[2].item()
        improved = score > state.best_metric
        if improved:
            state.best_metric, state.best_epoch, state.bad_epochs = score, epoch, 0
            best_state = {k: v.detach().cpu().clone() for k, v in kept.state_dict().items()}
        else:
            state.bad_epochs += 1
        row = {
            "epoch": epoch,
            "train_loss": counts[0].item() / counts[2].item(),
            "train_accuracy": counts[1].item() / counts[2].item(),
            "val_loss": val["loss"],
            "val_accuracy": val["accuracy"],
            "val_macro_f1": val["macro_f1"],
            "lr": sched.get_last_lr()[0],
            "epoch_seconds": epoch_seconds,
            "samples_per_s": counts[2].item() / epoch_seconds,
            "best": improved,
        }
        history.append(row)
        rng = engine.all_gather_object(_rng_state())  # every rank's RNG, so a resume replays the same run
        if main:
            with open(out / "metrics.jsonl", "a") as f:
                f.write(json.dumps(row) + "\n")
            if improved:
                snap = _model_snapshot(cfg, data, best_state, len(names))
                checkpoint.save_atomic(
                    {**snap, "optimizer_state": opt.state_dict(), "epoch": epoch, "best_metric": score},
                    out / checkpoint.MODEL_FILE,
                )
            if state.epoch % cfg.snapshot_every == 0 or state.epoch == cfg.epochs:
                checkpoint.save_atomic(
                    {
                        **_model_snapshot(cfg, data, raw_model.state_dict(), len(names)),
                        "optimizer_state": opt.state_dict(),
                        "scheduler_state": sched.state_dict(),
                        "epoch": state.epoch,
                        "progress": vars(state).copy(),
                        "best_model_state": best_state,
                        **({"ema_state": ema.state_dict()} if ema is not None else {}),
                        "rng": rng,
                        "history": history,
                        "sampler_epoch": epoch + 1,
                    },
                    snap_path,
                )
            print(
                f"epoch {epoch + 1:3d}/{cfg.epochs}  loss {row['train_loss']:.4f}  "
                f"acc {row['train_accuracy']:.4f}  val_loss {val['loss']:.4f}  "
                f"val_acc {val['accuracy']:.4f}  "
                f"val_f1 {val['macro_f1']:.4f}  {row['samples_per_s']:.0f} samples/s  {epoch_seconds:.1f}s"
                + ("  *" if improved else ""),
                flush=True,
            )
        engine.barrier()
        if state.bad_epochs >= cfg.patience:
            if main:
                print(
                    f"early stop: no val macro-F1 gain for {cfg.patience} epochs "
                    f"(best {state.best_metric:.4f} at epoch {state.best_epoch + 1})",
                    flush=True,
                )
            break

    raw_model.load_state_dict(best_state)
    final = {
        s: evaluate_split(model, data.splits[s], engine, names, keep_predictions=True)
        for s in ("val", "test")
    }
    if not main:
        return None
    for s, m in final.items():
        pred = m.pop("predictions")
        if len(pred):
            subject = np.array([data.recordings[r].split("/")[0] for r in data.splits[s].recording])
            m["intervals"] = subject_intervals(data.splits[s].y, pred, subject)
    result = {
        "model": cfg.model,
        "data": cfg.data,
        "classes": names,
        **final,
        "train_seconds": train_time,
        "wall_seconds": time.perf_counter() - t_start,
        "epochs": state.epoch,
        "best_epoch": state.best_epoch + 1,
        "world_size": world,
        "engine": engine.name,
        "global_batch": cfg.batch_size,
        "samples_per_s": float(np.median([h["samples_per_s"] for h in history])) if history else 0.0,
        "subjects": data.subjects,
    }
    (out / "metrics.json").write_text(json.dumps(result, indent=2))
    model_card.write(out)
    from harflow.train import plots

    plots.learning_curves(history, out / "learning_curves.png")
    plots.confusion(
        final["test"]["confusion_matrix"],
        names,
        out / "confusion_matrix.png",
        f"{cfg.model} test — acc {final['test']['accuracy']:.3f}, F1 {final['test']['macro_f1']:.3f}",
    )
    return result
