"""One optimizer step of data-parallel training: the trainer's, and the one the bench times.

:func:`train_step` is the only training step: the trainer (:mod:`harflow.train.trainer`) calls it once per
step of its epoch loop, and the bench worker (:mod:`harflow.bench.worker`) calls the same function with a
:class:`StepTimer`, so what the bench reports is the trainer's step (same loss, clipping, optimizer and
engine calls), not a copy of it. Engine differences (DDP all-reduces inside backward, Horovod after it) stay
behind :class:`harflow.train.engine.Engine`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import AveragedModel

from harflow.train.config import TrainConfig
from harflow.train.engine import Engine

Batch = tuple[torch.Tensor, torch.Tensor]


@dataclass
class StepStats:
    """What one step saw on this rank, for the epoch's statistics."""

    loss_sum: float  # mean loss × samples, summed over the micro-batches
    correct: int
    samples: int


class StepTimer:
    """Wall time of a step's phases (``data``, ``fwd_bwd``, ``comm``, ``optimizer``), summed over micro-steps.

    On CUDA the device is synchronized at every boundary, so each phase is charged with its own kernels
    (asynchronous launches would otherwise land in whichever phase waits for them)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.times: dict[str, float] = {}
        self._t0 = self._last = 0.0

    def _now(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    def start(self) -> None:
        self.times = {}
        self._t0 = self._last = self._now()

    def lap(self, phase: str) -> None:
        """Charge the time since the previous boundary to ``phase``."""
        now = self._now()
        self.times[phase] = self.times.get(phase, 0.0) + now - self._last
        self._last = now

    @property
    def total(self) -> float:
        return self._last - self._t0


def device_batches(
    X: torch.Tensor,
    Y: torch.Tensor,
    index_batches: Iterator[list[int]],
    device: torch.device,
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> Iterator[Batch]:
    """The (windows, labels) of each index batch, augmented, on ``device`` — built lazily, so the random
    numbers augmentation draws interleave with the model's as one step after another."""
    for idx in index_batches:
        x, y = X[idx], Y[idx]
        if augment is not None:
            x = augment(x)
        yield x.to(device), y.to(device)


def build_optimizer(cfg: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    """The training optimizer (before :meth:`Engine.wrap_optimizer`)."""
    return torch.optim.AdamW(model.parameters(), lr=cfg.scaled_lr(), weight_decay=cfg.weight_decay)


def train_step(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    engine: Engine,
    batches: Iterator[Batch],
    cfg: TrainConfig,
    *,
    sync_grads: bool = True,
    timer: StepTimer | None = None,
    ema: AveragedModel | None = None,
    class_weight: torch.Tensor | None = None,
) -> StepStats:
    """One optimizer step over ``cfg.accum_steps`` micro-batches from ``batches``.

    ``model`` and ``opt`` are the engine-wrapped ones. Gradients of the micro-steps before the last are
    accumulated locally (``engine.no_sync``); then averaged across ranks (``engine.finish_grads``), clipped to
    ``cfg.max_grad_norm`` and stepped on. The loss is cross-entropy with ``cfg.label_smoothing``.

    ``sync_grads=False`` (the bench's DDP communication calibration): every backward runs without the
    all-reduce and the step ends there — no clipping, no update. DDP only: Horovod cannot skip its
    all-reduce, whose pending handles the next ``zero_grad`` would refuse.

    ``timer``: when given, the step's phases are timed into it (it is started after ``zero_grad``).

    ``ema``: the weights' moving average (``cfg.ema_decay``), updated after the optimizer step; its time
    counts as the optimizer's. ``class_weight``: per-class loss weights (:func:`class_weights`).
    """
    n = cfg.accum_steps
    lap = timer.lap if timer is not None else _no_lap
    opt.zero_grad()  # no set_to_none: Horovod's optimizer does not take it (None is torch's default)
    if timer is not None:
        timer.start()
    loss_sum, correct, samples = 0.0, 0, 0
    for k in range(n):
        x, y = next(batches)
        lap("data")
        with engine.no_sync(model, skip=not sync_grads or k < n - 1):
            logits = model(x)
            loss = F.cross_entropy(logits, y, weight=class_weight, label_smoothing=cfg.label_smoothing)
            (loss / n).backward()
        loss_sum += loss.item() * len(y)
        correct += int((logits.argmax(1) == y).sum().item())
        samples += len(y)
        lap("fwd_bwd")
    if sync_grads:
        engine.finish_grads(opt)
        lap("comm")
        nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
        engine.optimizer_step(opt)
        if ema is not None:
            ema.update_parameters(model.module if hasattr(model, "module") else model)
        lap("optimizer")
    return StepStats(loss_sum, correct, samples)


def class_weights(cfg: TrainConfig, labels: np.ndarray, n_classes: int) -> torch.Tensor | None:
    """Loss weights from the training labels' class counts (``cfg.class_weighting``), mean 1 over the
    windows so the loss keeps its scale; classes absent from training get the largest weight."""
    if cfg.class_weighting == "none":
        return None
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    w = 1.0 / np.maximum(counts, 1.0)
    if cfg.class_weighting == "sqrt_inverse":
        w = np.sqrt(w)
    w = w / (w * counts).sum() * counts.sum()
    return torch.tensor(w, dtype=torch.float32)


def build_ema(cfg: TrainConfig, model: nn.Module) -> AveragedModel | None:
    """The moving average of ``model``'s weights (and buffers) that :func:`train_step` updates, or None.

    Each update moves the average by ``max(1 - decay, 1 / n)`` towards the weights (``n``: updates so far):
    the plain mean of every step's weights until ``1 / (1 - decay)`` steps, the exponential average after.
    Without that start, a short run's average would still be mostly its first step's weights."""
    if cfg.ema_decay <= 0:
        return None
    if not cfg.ema_decay < 1:
        raise ValueError(f"--ema-decay must be in [0, 1), got {cfg.ema_decay}")
    floor = 1.0 - cfg.ema_decay

    def move(avg: torch.Tensor, new: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
        return avg + (new - avg) * max(floor, 1.0 / (int(n) + 1))

    return AveragedModel(model, avg_fn=move, use_buffers=True)


def _no_lap(phase: str) -> None:
    pass
