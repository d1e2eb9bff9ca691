"""Command-line flags of ``harflow train`` / ``python -m harflow.train`` → :class:`TrainConfig`."""

from __future__ import annotations

import argparse
import json
from typing import Any

from harflow.train.config import TrainConfig

DRY_RUN_SUBJECTS = ["1", "3", "5", "2"]  # two train, one val, one test subject: seconds, not minutes


def _model_opt(s: str) -> tuple[str, Any]:
    key, sep, value = s.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"--model-opt expects KEY=VALUE, got {s!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def add_train_args(p: argparse.ArgumentParser) -> None:
    d = TrainConfig()
    p.add_argument(
        "--model", default=d.model, help="model name from the registry (lstm, deepconvlstm, cnn1d)"
    )
    p.add_argument(
        "--model-opt",
        action="append",
        type=_model_opt,
        default=[],
        metavar="KEY=VALUE",
        help="override a model option, e.g. --model-opt hidden_size=128 (repeatable)",
    )
    p.add_argument("--data", default=d.data, help="hapt, or csv:PATH for your own CSV/Parquet recordings")
    p.add_argument("--classes", type=int, default=d.classes, choices=(6, 12), help="HAPT label set")
    p.add_argument("--subjects", default=None, help="comma-separated HAPT subjects to use (small runs)")
    p.add_argument(
        "--rate", type=float, default=d.rate_hz, dest="rate_hz", help="sample rate (Hz) for the model"
    )
    p.add_argument("--window", type=float, default=d.window_s, dest="window_s", help="window length (s)")
    p.add_argument("--hop", type=float, default=d.hop_s, dest="hop_s", help="window hop (s)")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="GLOBAL batch across all workers")
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument(
        "--lr-scaling",
        choices=("none", "linear", "sqrt"),
        default=d.lr_scaling,
        help="scale --lr by (batch/--base-batch) or its square root (Goyal et al. 2017)",
    )
    p.add_argument("--base-batch", type=int, default=d.base_batch)
    p.add_argument("--warmup-epochs", type=float, default=d.warmup_epochs)
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--no-augment", action="store_true", help="train on the windows as recorded")
    p.add_argument("--accum-steps", type=int, default=d.accum_steps, help="gradient accumulation micro-steps")
    p.add_argument("--patience", type=int, default=d.patience, help="early-stopping patience (epochs)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--out", default=None, help="run directory (default runs/<timestamp>)")
    p.add_argument(
        "--threads", type=int, default=None, help="torch threads per process (default cores ÷ procs)"
    )
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default=d.device)
    p.add_argument("--engine", default=d.engine, help="ddp (torch.distributed) or horovod")
    p.add_argument("--backend", choices=("auto", "gloo", "nccl"), default=d.backend)
    p.add_argument("--resume", action="store_true", help="continue from RUN_DIR/snapshot.pt")
    p.add_argument("--max-steps-per-epoch", type=int, default=None)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="tiny run: 4 HAPT subjects, 1 epoch, 3 steps — checks the whole path in seconds",
    )


def config_from_args(a: argparse.Namespace) -> TrainConfig:
    import time

    out = a.out or f"runs/{time.strftime('%Y%m%d-%H%M%S')}"
    cfg = TrainConfig(
        model=a.model,
        model_config=dict(a.model_opt),
        data=a.data,
        classes=a.classes,
        subjects=a.subjects.split(",") if a.subjects else None,
        rate_hz=a.rate_hz,
        window_s=a.window_s,
        hop_s=a.hop_s,
        epochs=a.epochs,
        batch_size=a.batch_size,
        lr=a.lr,
        lr_scaling=a.lr_scaling,
        base_batch=a.base_batch,
        warmup_epochs=a.warmup_epochs,
        weight_decay=a.weight_decay,
        accum_steps=a.accum_steps,
        patience=a.patience,
        seed=a.seed,
        out=out,
        threads=a.threads,
        device=a.device,
        engine=a.engine,
        backend=a.backend,
        resume=a.resume,
        max_steps_per_epoch=a.max_steps_per_epoch,
        progress=not a.no_progress,
        augment=not a.no_augment,
    )
    if a.dry_run:
        cfg.epochs, cfg.max_steps_per_epoch, cfg.warmup_epochs = 1, 3, 0.0
        if cfg.data == "hapt" and cfg.subjects is None:
            cfg.subjects = DRY_RUN_SUBJECTS
    return cfg
