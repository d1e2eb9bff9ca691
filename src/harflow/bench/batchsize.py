"""``harflow bench batch-size``: steps to a target accuracy vs global batch size (Shallue et al. 2018).

Data-parallel training with global batch B computes exactly the gradient one process computes on the same
B windows (the trainer's sampler guarantees the same global batches), so the number of *steps* to a target
depends only on B and the optimizer settings — measured here in one process for each B with a small LR
sweep (multiples of the square-root-scaled base LR; Adam-type optimizers scale roughly with sqrt(B)).

Regimes, from the log-log slope between consecutive batch sizes B1 < B2 (both reaching the target),
slope = log(steps(B2) / steps(B1)) / log(B2 / B1): slope ≤ -0.7 → perfect scaling (doubling B about halves
the steps), slope ≥ -0.15 → maximal parallelism (a larger batch buys almost no steps), otherwise diminishing
returns. A batch size that never reaches the target within the budget counts as maximal parallelism.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from harflow.bench import launch, schema
from harflow.bench.fingerprint import fingerprint
from harflow.bench.progress import bench_progress
from harflow.models import build_model
from harflow.train.args import _model_opt
from harflow.train.config import TrainConfig
from harflow.train.trainer import load_data

BASE_LR, BASE_BATCH = 3e-3, 64
PERFECT, MAXIMAL = -0.7, -0.15  # log-log slopes of steps vs batch


@dataclass
class BatchSizeBench:
    batch_sizes: list[int]
    target: float = 0.85
    lrs: list[float] = field(default_factory=lambda: [0.5, 1.0, 2.0])
    max_samples: int = 400_000
    eval_every_samples: int = 8192  # at most this many samples between two evaluations
    granularity: float = 0.1  # ...and at most this fraction of the steps so far (relative error of the count)
    first_eval_samples: int = 1024  # no model here is near a useful target before this many samples
    model: str = "lstm"
    model_opts: list[str] = field(default_factory=list)
    subjects: str | None = None
    threads: int | None = None
    seed: int = 0
    tag: str | None = None


def classify(batches: list[int], steps: list[int | None]) -> list[str]:
    """Regime per batch size from the steps-to-target curve (see the module docstring)."""
    out: list[str] = []
    for i, (b, s) in enumerate(zip(batches, steps, strict=True)):
        if s is None:
            out.append("maximal parallelism")
        elif i == 0 or steps[i - 1] is None:
            out.append("reference")
        else:
            slope = math.log(s / steps[i - 1]) / math.log(b / batches[i - 1])
            out.append(
                "perfect scaling"
                if slope <= PERFECT
                else "maximal parallelism"
                if slope >= MAXIMAL
                else "diminishing returns"
            )
    if len(out) > 1 and out[0] == "reference" and out[1] == "perfect scaling":
        out[0] = "perfect scaling"  # the curve only gets flatter with B, so a perfect start stays perfect
    return out


@torch.no_grad()
def _accuracy(model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    pred = torch.cat([model(X[i : i + 2048]).argmax(1) for i in range(0, len(X), 2048)])
    model.train()
    return float((pred == y).float().mean())


def trial(data: Any, b: BatchSizeBench, batch: int, lr: float) -> dict[str, Any]:
    """Train with global batch ``batch`` and ``lr`` until the target or the sample budget; steps to target."""
    tr, va = data.splits["train"], data.splits["val"]
    X, Y = torch.from_numpy(tr.X), torch.from_numpy(tr.y)
    Xv, Yv = torch.from_numpy(va.X), torch.from_numpy(va.y)
    if batch > len(X):
        return {
            "lr": lr,
            "steps_to_target": None,
            "best_val_accuracy": 0.0,
            "steps_run": 0,
            "note": f"batch {batch} > {len(X)} training windows",
        }
    torch.manual_seed(b.seed)
    model = build_model(
        b.model, X.shape[2], len(data.label_map.names), X.shape[1], dict(_model_opt(o) for o in b.model_opts)
    )
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-2)
    max_steps = max(1, b.max_samples // batch)
    cap = max(1, b.eval_every_samples // batch)
    next_eval = max(1, -(-b.first_eval_samples // batch))
    warmup = max(1, min(50, max_steps // 20))
    gen = np.random.default_rng(b.seed)
    perm, pos, best, t0 = gen.permutation(len(X)), 0, 0.0, time.perf_counter()
    for step in range(1, max_steps + 1):
        if pos + batch > len(perm):
            perm, pos = gen.permutation(len(X)), 0
        idx = torch.from_numpy(perm[pos : pos + batch])
        pos += batch
        for g in opt.param_groups:
            g["lr"] = lr * min(1.0, step / warmup)
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(X[idx]), Y[idx]).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        if step >= next_eval or step == max_steps:
            next_eval = step + max(1, min(cap, int(step * b.granularity)))
            acc = _accuracy(model, Xv, Yv)
            best = max(best, acc)
            if acc >= b.target:
                return {
                    "lr": lr,
                    "steps_to_target": step,
                    "best_val_accuracy": best,
                    "steps_run": step,
                    "seconds": time.perf_counter() - t0,
                }
    return {
        "lr": lr,
        "steps_to_target": None,
        "best_val_accuracy": best,
        "steps_run": max_steps,
        "seconds": time.perf_counter() - t0,
    }


def run(b: BatchSizeBench, out: Path) -> dict[str, Any]:
    if not 0 < b.target <= 1:
        raise ValueError(f"--target must be a validation accuracy in (0, 1], got {b.target}")
    if not 0 < b.granularity <= 1:
        raise ValueError(f"--granularity must be in (0, 1], got {b.granularity}")
    if not b.lrs or min(b.lrs) <= 0:
        raise ValueError(f"--lrs must be positive multiples of the base LR, got {b.lrs}")
    if b.threads:
        torch.set_num_threads(b.threads)
    fp, load0 = fingerprint(), os.getloadavg()
    data = load_data(TrainConfig(subjects=b.subjects.split(",") if b.subjects else None))
    batches = sorted(set(b.batch_sizes))
    runs = []
    with bench_progress() as prog:
        task = prog.add_task("batch-size trials", total=len(batches) * len(b.lrs))
        for batch in batches:
            base = BASE_LR * math.sqrt(batch / BASE_BATCH)
            sweep = []
            for m in b.lrs:
                prog.update(task, description=f"B={batch} lr={base * m:.1e}")
                sweep.append({"lr_multiple": m, **trial(data, b, batch, base * m)})
                prog.advance(task)
            ok = [s for s in sweep if s["steps_to_target"]]
            best = min(ok, key=lambda s: s["steps_to_target"]) if ok else None
            runs.append(
                {
                    "global_batch": batch,
                    "target": b.target,
                    "best_lr": best["lr"] if best else None,
                    "steps_to_target": best["steps_to_target"] if best else None,
                    "samples_to_target": best["steps_to_target"] * batch if best else None,
                    "sweep": sweep,
                }
            )
    for r, reg in zip(
        runs, classify([r["global_batch"] for r in runs], [r["steps_to_target"] for r in runs]), strict=True
    ):
        r["regime"] = reg
    doc = schema.new_document(
        "batch_size",
        fp,
        runs,
        tag=b.tag or fp["environment"],
        settings=vars(b).copy(),
        argv=sys.argv[1:],
        threads=torch.get_num_threads(),
        notes=[
            launch.load_note(load0, os.getloadavg()),
            f"steps to target are checked from {b.first_eval_samples} samples on, every "
            f"{b.granularity:.0%} of the steps so far (at most every {b.eval_every_samples} samples): "
            "the count's granularity",
        ],
    )
    schema.write(out, doc)
    return doc
