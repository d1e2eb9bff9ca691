"""The bench worker: one rank of a timed training loop, launched by torchrun (DDP) or horovodrun.

It reuses the core's data loading, model registry, launch (:func:`harflow.train.launch.start_engine`: engine
and CPU placement), sampler, optimizer and training step (:func:`harflow.train.step.train_step`, timed by a
:class:`~harflow.train.step.StepTimer`), runs ``--warmup`` untimed steps and ``--steps`` timed ones, and
writes its per-step measurements to ``OUT_DIR/rank<R>.json``. The training settings it uses are the
training command's own flags (``--model``, ``--model-opt``, ``--lr``, ``--max-grad-norm``, …, generated
from :class:`~harflow.train.config.TrainConfig`); ``--device`` defaults to cpu here.

Step-time breakdown, measured per step (the device is synchronized at each boundary):

* ``data``: index the training windows, augment, move to the device;
* ``forward_backward``: forward, loss and backward, minus the gradient communication below;
* ``comm``: gradient all-reduce, as exposed in the step. DDP: comm = median synced backward − median
  backward under ``no_sync`` from a calibration phase after the timed steps, so the measured DDP is exactly
  the trainer's (built-in C++ all-reduce, no hook). An earlier timing comm hook returned ``fut.then(python
  callback)``; gloo threads then needed the GIL, which at interpreter exit aborted a rank now and then
  (SIGABRT, "terminate called without an active exception"), more often with ranks pinned to one CPU each.
  Horovod: the wait in ``optimizer.synchronize()``;
* ``optimizer``: gradient clipping and the AdamW step (for DDP and one worker, also the no-op wait for the
  gradients, which are ready when backward ends).

    torchrun --standalone --nproc-per-node 2 -m harflow.bench.worker \\
        --per-worker-batch 64 --steps 30 --out-dir D
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from statistics import median
from typing import Any

import torch
from torch.utils.data import BatchSampler

from harflow.bench.flops import train_flops_per_sample
from harflow.memory import malloc_tuned
from harflow.models import build_model
from harflow.train.args import add_config_flags, config_from_namespace
from harflow.train.augment import build_augmenter
from harflow.train.config import TrainConfig
from harflow.train.engine import Engine, LaunchError
from harflow.train.launch import start_engine
from harflow.train.step import (
    StepTimer,
    build_ema,
    build_optimizer,
    class_weights,
    device_batches,
    train_step,
)
from harflow.train.trainer import IndexSampler, load_data, set_threads

# the TrainConfig fields a bench step depends on; they come with the training command's flags
CONFIG_FIELDS = (
    "model",
    "model_config",
    "data",
    "classes",
    "subjects",
    "rate_hz",
    "window_s",
    "hop_s",
    "lr",
    "lr_scaling",
    "base_batch",
    "weight_decay",
    "label_smoothing",
    "class_weighting",
    "ema_decay",
    "max_grad_norm",
    "augment",
    "rotate_deg",
    "scale_jitter",
    "noise_std",
    "train_hop_s",
    "seed",
    "threads",
    "device",
    "engine",
    "backend",
    "place_ranks",
)


def _batches(n: int, world: int, rank: int, seed: int, micro: int) -> Iterator[list[int]]:
    """Per-rank index batches, epoch after epoch (the sampler reshuffles each epoch)."""
    sampler = IndexSampler(n, world, rank, seed)
    epoch = 0
    while True:
        sampler.set_epoch(epoch)
        got = False
        for b in BatchSampler(sampler, micro, drop_last=True):
            got = True
            yield b
        if not got:
            raise LaunchError(f"{n} training windows give no batch of {micro} per worker × {world} workers")
        epoch += 1


def _file_barrier(d: Path, name: str, count: int, step=None, timeout_s: float = 600) -> None:
    """Independent workers (no process group) meet here: mark arrival, then wait — stepping if asked — until
    ``count`` have arrived."""
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{name}.{os.getpid()}").touch()
    deadline = time.monotonic() + timeout_s
    while len(list(d.glob(f"{name}.*"))) < count:
        if time.monotonic() > deadline:
            raise LaunchError(
                f"independent workers: only {len(list(d.glob(f'{name}.*')))}/{count} reached {name}"
            )
        if step is not None:
            step()
        else:
            time.sleep(0.005)


def _peak_mem_mb(dev: torch.device) -> tuple[float, str]:
    if dev.type == "cuda":
        return torch.cuda.max_memory_allocated(dev) / 2**20, "cuda_max_allocated"
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "max_rss"


def run(a: argparse.Namespace) -> dict[str, Any]:
    cfg = config_from_namespace(a, progress=False)
    with start_engine(cfg) as engine:
        return _run(a, cfg, engine)


def _run(a: argparse.Namespace, cfg: TrainConfig, engine: Engine) -> dict[str, Any]:
    threads = set_threads(cfg, engine)
    dev, world, rank = engine.device, engine.world_size, engine.rank
    # the global batch, which the trainer's learning-rate scaling refers to
    cfg = dataclasses.replace(cfg, batch_size=a.per_worker_batch * world)
    data = load_data(cfg)
    tr = data.splits["train"]
    X, Y = torch.from_numpy(tr.X), torch.from_numpy(tr.y)
    torch.manual_seed(cfg.seed)
    raw = build_model(cfg.model, X.shape[2], len(data.label_map.names), X.shape[1], cfg.model_config)
    flops_per_sample = train_flops_per_sample(raw, X.shape[1], X.shape[2])
    model = engine.wrap_model(raw)
    method = "none (1 worker)"
    if world > 1:
        method = "horovod_synchronize" if engine.grads_after_backward else "no_sync_difference"
    opt = engine.wrap_optimizer(build_optimizer(cfg, raw), raw, cfg.accum_steps)
    augment = build_augmenter(cfg, data)
    ema = build_ema(cfg, raw)  # the trainer's step, with everything it does after the optimizer's
    weight = class_weights(cfg, tr.y, len(data.label_map.names))
    weight = weight.to(dev) if weight is not None else None
    batches = device_batches(X, Y, _batches(len(tr), world, rank, cfg.seed, a.per_worker_batch), dev, augment)
    if a.epochs:  # an epoch of the global batch: the windows every worker together sees once
        a.steps = max(1, a.epochs * (len(tr) // (a.per_worker_batch * world)))
    total = a.warmup + a.steps
    steps: list[dict[str, float]] = []
    timer = StepTimer(dev)
    model.train()

    def one_step(sync_grads: bool = True) -> dict[str, float]:
        train_step(
            model, opt, engine, batches, cfg, sync_grads=sync_grads, timer=timer, ema=ema, class_weight=weight
        )
        return {"step": timer.total, **timer.times}

    for i in range(total):
        if i == a.warmup and a.sync_dir:
            _file_barrier(Path(a.sync_dir), "ready", a.sync_count)
        s = one_step()
        if i >= a.warmup:
            steps.append(s)
        if rank == 0 and (i % max(1, total // 50) == 0 or i == total - 1):
            print(f"BENCH_PROGRESS {i + 1} {total}", flush=True)
    if a.sync_dir:  # keep loading the machine, untimed, until the slowest independent worker is done too
        _file_barrier(Path(a.sync_dir), "done", a.sync_count, step=one_step)
    if method != "horovod_synchronize":  # the gradients were ready after backward: nothing to wait for
        for s in steps:
            s["optimizer"] += s["comm"]
            s["comm"] = 0.0
    if method == "no_sync_difference":
        calib = [one_step(sync_grads=False)["fwd_bwd"] for _ in range(max(5, a.steps // 2))]
        exposed = max(0.0, median(s["fwd_bwd"] for s in steps) - median(calib))
        for s in steps:
            s["comm"] = min(exposed, s["fwd_bwd"])
    for s in steps:  # forward_backward excludes the communication measured inside it
        s["forward_backward"] = max(0.0, s.pop("fwd_bwd") - s["comm"])
    peak, mem_kind = _peak_mem_mb(dev)
    return {
        "rank": rank,
        "world_size": world,
        "local_world_size": engine.local_world_size,
        "device": dev.type,
        "engine": engine.name,
        "backend": engine.backend,
        "threads": threads,
        "model": cfg.model,
        "model_config": cfg.model_config,
        "per_worker_batch": a.per_worker_batch,
        "window": int(X.shape[1]),
        "channels": int(X.shape[2]),
        "train_windows": len(tr),
        "flops_per_sample": flops_per_sample,
        "comm_method": method,
        "malloc_tuned": malloc_tuned(),
        "cpu_placement": engine.placement,
        "peak_mem_mb": peak,
        "peak_mem_kind": mem_kind,
        "steps": steps,
        "hostname": os.uname().nodename,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m harflow.bench.worker",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_flags(
        p.add_argument_group("training (the flags of harflow train)"), CONFIG_FIELDS, {"device": "cpu"}
    )
    p.add_argument("--per-worker-batch", type=int, required=True)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--epochs", type=int, default=None, help="timed epochs instead of --steps")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--out-dir", required=True)
    p.add_argument("--sync-dir", default=None, help="independent workers: start/stop timing together here")
    p.add_argument("--sync-count", type=int, default=1, help="independent workers: how many meet")
    a = p.parse_args(argv)
    if a.per_worker_batch < 1 or a.steps < 1 or a.warmup < 0:
        print("harflow bench worker: error: --per-worker-batch and --steps must be >= 1", file=sys.stderr)
        return 2
    try:
        result = run(a)
    except LaunchError as e:
        print(f"harflow bench worker: error: {e}", file=sys.stderr)
        return 2
    out = Path(a.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".rank{result['rank']}.json.tmp"
    tmp.write_text(json.dumps(result))
    os.replace(tmp, out / f"rank{result['rank']}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
