"""``harflow bench zoo``: every model with its default configuration, over seeds and label sets.

Each (model, classes, seed) is one real ``harflow train`` run (one process, the trainer's own defaults, the
fixed subject split); the bench reads the run's ``metrics.json`` and reports test accuracy and macro-F1 as
mean ± std over seeds, with training time and throughput. Seeds are the only thing that varies: the spread is
what a user re-running the same command would see. Nothing is chosen on the test split here; the trainer
selects its epoch on validation.

    harflow bench zoo --models lstm,cnn1d,deepconvlstm --classes 6,12 --seeds 0,1,2 --out results/zoo.json
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harflow.bench import launch, schema
from harflow.bench.fingerprint import fingerprint
from harflow.bench.progress import bench_progress
from harflow.train.engine import usable_cores
from harflow.train.model_card import confusions


@dataclass
class ZooBench:
    models: list[str]
    classes: list[int] = field(default_factory=lambda: [6, 12])
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    train_args: list[str] = field(default_factory=list)  # extra `harflow train` flags, e.g. for a dry run
    keep_runs: Path | None = None  # keep every run directory here (model cards, checkpoints)
    tag: str | None = None
    timeout_s: float = 3600


def train_command(b: ZooBench, model: str, classes: int, seed: int, out: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "harflow.train",
        "--model",
        model,
        "--classes",
        str(classes),
        "--seed",
        str(seed),
        "--out",
        str(out),
        "--no-progress",
        *b.train_args,
    ]


def _epochs_done(run_dir: Path) -> int:
    try:
        return sum(1 for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip())
    except FileNotFoundError:
        return 0


def run_one(b: ZooBench, model: str, classes: int, seed: int, work: Path, on_epoch: Any = None) -> dict:
    run_dir = work / f"{model}-{classes}-s{seed}"
    cmd = train_command(b, model, classes, seed, run_dir)
    threads = usable_cores()

    def watch() -> bool:
        if on_epoch:
            on_epoch(_epochs_done(run_dir))
        return False

    launch.execute(
        launch.Launch([cmd], launch._base_env(threads)),
        work / f"{run_dir.name}-launch",
        timeout_s=b.timeout_s,
        stop_when=watch,
    )
    m = json.loads((run_dir / "metrics.json").read_text())
    test, val = m["test"], m["val"]
    return {
        "model": model,
        "classes": classes,
        "seed": seed,
        "test_accuracy": test["accuracy"],
        "test_macro_f1": test["macro_f1"],
        "test_intervals": {k: test.get("intervals", {}).get(k) for k in ("accuracy", "macro_f1")},
        "val_accuracy": val["accuracy"],
        "val_macro_f1": val["macro_f1"],
        "train_seconds": m["train_seconds"],
        "wall_seconds": m["wall_seconds"],
        "samples_per_s": m["samples_per_s"],
        "epochs": m["epochs"],
        "best_epoch": m["best_epoch"],
        "threads": threads,
        "confusions": [
            {"true": t, "predicted": p, "windows": n, "share_of_errors": s}
            for t, p, n, s in confusions(test, m["classes"])
        ],
        "command": " ".join(cmd[1:]),
    }


def _mean_std(v: list[float]) -> dict[str, float]:
    return {"mean": statistics.fmean(v), "std": statistics.stdev(v) if len(v) > 1 else 0.0}


def summarize(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (model, classes): mean ± std over seeds (sample std), median throughput."""
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for r in runs:
        groups.setdefault((r["model"], r["classes"]), []).append(r)
    return [
        {
            "model": model,
            "classes": classes,
            "seeds": [r["seed"] for r in rs],
            "test_accuracy": _mean_std([r["test_accuracy"] for r in rs]),
            "test_macro_f1": _mean_std([r["test_macro_f1"] for r in rs]),
            "val_macro_f1": _mean_std([r["val_macro_f1"] for r in rs]),
            "train_seconds": _mean_std([r["train_seconds"] for r in rs]),
            "samples_per_s": statistics.median(r["samples_per_s"] for r in rs),
        }
        for (model, classes), rs in groups.items()
    ]


def markdown_table(summary: list[dict[str, Any]]) -> str:
    rows = [
        "| model | classes | seeds | test accuracy | test macro-F1 | training time (s) | samples/s |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in summary:
        a, f, t = s["test_accuracy"], s["test_macro_f1"], s["train_seconds"]
        rows.append(
            f"| {s['model']} | {s['classes']} | {len(s['seeds'])} | {a['mean']:.4f} ± {a['std']:.4f} | "
            f"{f['mean']:.4f} ± {f['std']:.4f} | {t['mean']:.0f} ± {t['std']:.0f} | "
            f"{s['samples_per_s']:.0f} |"
        )
    return "\n".join(rows)


def run(b: ZooBench, out: Path) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="harflow-bench-zoo-")) if b.keep_runs is None else b.keep_runs
    work.mkdir(parents=True, exist_ok=True)
    fp, runs, load0 = fingerprint(), [], os.getloadavg()
    plan = [(m, c, s) for m in b.models for c in b.classes for s in b.seeds]
    with bench_progress() as prog:
        total = prog.add_task("zoo: runs", total=len(plan))
        for model, classes, seed in plan:
            task = prog.add_task(f"{model}, {classes} classes, seed {seed}: epochs", total=None)
            r = run_one(
                b, model, classes, seed, work, on_epoch=lambda k, task=task: prog.update(task, completed=k)
            )
            runs.append(r)
            prog.update(
                task,
                description=f"{model}, {classes} classes, seed {seed}: test accuracy "
                f"{r['test_accuracy']:.4f}, macro-F1 {r['test_macro_f1']:.4f} ({r['train_seconds']:.0f} s)",
            )
            prog.advance(total)
    doc = schema.new_document(
        "zoo",
        fp,
        runs,
        summary=summarize(runs),
        notes=[launch.load_note(load0, os.getloadavg())],
        tag=b.tag or fp["environment"],
        settings={**{k: v for k, v in vars(b).items() if k != "keep_runs"}, "train_args": b.train_args},
        argv=sys.argv[1:],
    )
    schema.write(out, doc)
    if b.keep_runs is None:
        shutil.rmtree(work, ignore_errors=True)
    return doc
