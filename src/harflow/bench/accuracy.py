"""``harflow bench accuracy``: learning performance — time and epochs to a target validation accuracy.

Each configuration is a real ``harflow.train`` run under torchrun on HAPT; the bench follows its
``metrics.jsonl`` and stops the run as soon as the target is reached (or after ``max_epochs``).
Time to target counts training time only (the trainer's per-epoch ``epoch_seconds``, no evaluation);
``wall_to_target_s`` adds process start-up, data loading and evaluation.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harflow.bench import launch, schema
from harflow.bench.fingerprint import fingerprint
from harflow.bench.progress import bench_progress
from harflow.train.engine import usable_cores


@dataclass
class AccuracyBench:
    nproc: list[int]
    target: float = 0.93
    batch_size: int = 64
    max_epochs: int = 20
    device: str = "cpu"
    lr: float | None = None
    lr_scaling: str = "none"
    model: str = "lstm"
    model_opts: list[str] = field(default_factory=list)
    subjects: str | None = None
    max_steps_per_epoch: int | None = None
    tag: str | None = None
    timeout_s: float = 3600


def _train_args(b: AccuracyBench, out: Path) -> list[str]:
    a = [
        "-m",
        "harflow.train",
        "--epochs",
        str(b.max_epochs),
        "--batch-size",
        str(b.batch_size),
        "--patience",
        str(b.max_epochs + 1),
        "--out",
        str(out),
        "--no-progress",
        "--device",
        b.device,
        "--lr-scaling",
        b.lr_scaling,
        "--model",
        b.model,
    ]
    if b.lr is not None:
        a += ["--lr", str(b.lr)]
    for o in b.model_opts:
        a += ["--model-opt", o]
    if b.subjects:
        a += ["--subjects", b.subjects]
    if b.max_steps_per_epoch:
        a += ["--max-steps-per-epoch", str(b.max_steps_per_epoch), "--warmup-epochs", "0"]
    return a


def curve_from_history(rows: list[dict[str, Any]]) -> list[dict[str, float]]:
    t, out = 0.0, []
    for r in rows:
        t += r["epoch_seconds"]
        out.append(
            {
                "epoch": r["epoch"] + 1,
                "time_s": t,
                "val_accuracy": r["val_accuracy"],
                "val_macro_f1": r["val_macro_f1"],
                "train_loss": r["train_loss"],
            }
        )
    return out


def first_reaching(curve: list[dict[str, float]], target: float) -> dict[str, float] | None:
    return next((p for p in curve if p["val_accuracy"] >= target), None)


def _read_history(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:  # a line being written right now
            break
    return rows


def run_one(b: AccuracyBench, n: int, work: Path, on_epoch: Any = None) -> dict[str, Any]:
    threads = max(1, usable_cores() // n)
    run_dir = work / f"nproc{n}"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={n}",
        *_train_args(b, run_dir),
    ]
    if b.device == "cuda":
        launch.plan(
            nproc=n, nnodes=1, device="cuda", engine="ddp", wargs=[], threads=threads
        )  # Skip if no GPU
    plan = launch.Launch([cmd], launch._base_env(threads))
    t0 = time.perf_counter()
    hit_wall: list[float] = []

    def watch() -> bool:
        hist = _read_history(run_dir / "metrics.jsonl")
        if on_epoch:
            on_epoch(len(hist))
        c = curve_from_history(hist)
        if first_reaching(c, b.target) and not hit_wall:
            hit_wall.append(time.perf_counter() - t0)
        return bool(hit_wall)

    launch.execute(plan, work / f"nproc{n}-launch", timeout_s=b.timeout_s, stop_when=watch)
    curve = curve_from_history(_read_history(run_dir / "metrics.jsonl"))
    hit = first_reaching(curve, b.target)
    return {
        "nproc": n,
        "nnodes": 1,
        "device": b.device,
        "engine": "ddp",
        "model": b.model,
        "global_batch": b.batch_size,
        "target": b.target,
        "reached": hit is not None,
        "time_to_target_s": hit["time_s"] if hit else None,
        "epochs_to_target": int(hit["epoch"]) if hit else None,
        "wall_to_target_s": hit_wall[0] if hit_wall else None,
        "best_val_accuracy": max((p["val_accuracy"] for p in curve), default=0.0),
        "curve": curve,
        "threads_per_process": threads,
        "command": " ".join(cmd),
    }


def run(b: AccuracyBench, out: Path, work_dir: Path | None = None) -> dict[str, Any]:
    if not 0 < b.target <= 1:
        raise ValueError(f"--target must be a validation accuracy in (0, 1], got {b.target}")
    work = Path(work_dir or tempfile.mkdtemp(prefix="harflow-bench-acc-"))
    fp, runs, notes, load0 = fingerprint(), [], [], os.getloadavg()
    with bench_progress() as prog:
        for n in b.nproc:
            task = prog.add_task(f"{n} worker(s): epochs", total=b.max_epochs)
            try:
                r = run_one(b, n, work, on_epoch=lambda k, task=task: prog.update(task, completed=k))
            except launch.Skip as why:
                notes.append(f"skipped {n} worker(s): {why}")
                continue
            runs.append(r)
            prog.update(
                task,
                description=f"{n} worker(s): "
                + (
                    f"{b.target} in {r['time_to_target_s']:.0f}s / {r['epochs_to_target']} epochs"
                    if r["reached"]
                    else f"not reached (best {r['best_val_accuracy']:.3f})"
                ),
            )
    if not runs:
        raise launch.BenchError("no accuracy configuration could run: " + "; ".join(notes))
    notes.append(launch.load_note(load0, os.getloadavg()))
    doc = schema.new_document(
        "accuracy",
        fp,
        runs,
        notes=notes,
        tag=b.tag or fp["environment"],
        settings=vars(b).copy(),
        argv=sys.argv[1:],
    )
    schema.write(out, doc)
    if work_dir is None:  # the training runs' logs are kept only when something failed
        shutil.rmtree(work, ignore_errors=True)
    return doc
