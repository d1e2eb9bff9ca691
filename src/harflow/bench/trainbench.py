"""``harflow bench train``: throughput, step-time breakdown and scaling of data-parallel training.

For each configuration (device × engine × nodes × workers × batch rule) the bench launches real workers
(:mod:`harflow.bench.launch`), collects their per-rank step timings and turns them into one run record.

With ``repeat`` > 1 the configurations run in interleaved rounds (1, 2, 1, 2, …) rather than back to back, so
a slow spell of a shared machine hits every configuration alike. Each record then holds the median round,
every round's throughput, and the speedup each round measured against its own baseline.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from statistics import mean, median
from typing import Any

from harflow.bench import launch, scaling, schema
from harflow.bench.fingerprint import fingerprint
from harflow.bench.progress import bench_progress, console
from harflow.train.engine import usable_cores


@dataclass
class TrainBench:
    nproc: list[int]
    nnodes: list[int] = field(default_factory=lambda: [1])
    devices: list[str] = field(default_factory=lambda: ["cpu"])
    engines: list[str] = field(default_factory=lambda: ["ddp"])
    batch_size: int = 64
    scaling: str = "both"  # strong | weak | both
    steps: int | None = 30
    epochs: int | None = None
    warmup: int = 5
    model: str = "lstm"
    model_opts: list[str] = field(default_factory=list)
    subjects: str | None = None
    threads: int | None = None  # per process; default cores ÷ processes on the machine
    roof: bool = True
    tag: str | None = None
    notes: list[str] = field(default_factory=list)
    timeout_s: float = 900
    repeat: int = 1
    independent: bool = False  # also run N non-communicating single-process workers side by side

    def configs(self) -> list[dict[str, Any]]:
        out = []
        # speedup and efficiency need a 1-worker baseline: add it when the lists do not produce one
        nodes_procs = [(nn_, n) for nn_ in self.nnodes for n in self.nproc]
        if (1, 1) not in nodes_procs:
            nodes_procs.insert(0, (1, 1))
        for dev in self.devices:
            for eng in self.engines:
                for nn_, n in nodes_procs:
                    w = n * nn_
                    rules = (
                        ["baseline"]
                        if w == 1
                        else (["strong", "weak"] if self.scaling == "both" else [self.scaling])
                    )
                    # the ceiling uses no engine at all: once per device, with the first engine's series
                    if self.independent and w > 1 and nn_ == 1 and eng == self.engines[0]:
                        rules = [*rules, "independent"]
                    for rule in rules:
                        gb = self.batch_size * w if rule in ("weak", "independent") else self.batch_size
                        out.append(
                            {
                                "device": dev,
                                "engine": eng,
                                "nnodes": nn_,
                                "nproc": n,
                                "scaling": rule,
                                "global_batch": gb,
                            }
                        )
        return out


def aggregate(ranks: list[dict[str, Any]], cfg: dict[str, Any]) -> dict[str, Any]:
    """One run record from the per-rank files: per step the slowest rank sets the pace."""
    ranks = sorted(ranks, key=lambda r: r["rank"])
    world = ranks[0]["world_size"]
    if len(ranks) != world:
        raise launch.BenchError(f"expected {world} rank files, found {len(ranks)}")
    n_steps = min(len(r["steps"]) for r in ranks)
    step_s = [max(r["steps"][i]["step"] for r in ranks) for i in range(n_steps)]
    phases = {
        k: median(mean(r["steps"][i][k] for r in ranks) for i in range(n_steps))
        for k in ("data", "forward_backward", "comm", "optimizer")
    }
    med_step = median(step_s)
    global_batch = ranks[0]["per_worker_batch"] * world
    sps = scaling.throughput(global_batch, step_s)
    r0 = ranks[0]
    # identical work on every rank: unequal compute times mean unequal cores (a VM's vCPUs need not be), and a
    # synchronous step waits for the slowest
    compute = [
        median(s["data"] + s["forward_backward"] + s["optimizer"] for s in r["steps"][:n_steps])
        for r in ranks
    ]
    return {
        **cfg,
        "global_batch": global_batch,
        "per_worker_batch": r0["per_worker_batch"],
        "model": r0["model"],
        "model_config": r0["model_config"],
        "backend": r0["backend"],
        "threads_per_process": r0["threads"],
        "timed_steps": n_steps,
        "samples_per_s": sps,
        "step_ms": {"step": med_step * 1e3, **{k: v * 1e3 for k, v in phases.items()}},
        "comm_fraction": scaling.comm_fraction(phases["comm"], med_step),
        "comm_method": r0["comm_method"],
        "malloc_tuned": all(r.get("malloc_tuned", False) for r in ranks),
        "cpu_placement": [r.get("cpu_placement", {}) for r in ranks],
        "peak_mem_mb": max(r["peak_mem_mb"] for r in ranks),
        "peak_mem_kind": r0["peak_mem_kind"],
        "model_flops_per_sample": r0["flops_per_sample"],
        "model_flops_per_s": r0["flops_per_sample"] * sps,
        "window": r0["window"],
        "train_windows": r0["train_windows"],
        "step_s_all": [round(s, 6) for s in step_s],
        "rank_compute_ms": [c * 1e3 for c in compute],
        "compute_imbalance": _imbalance(compute),
    }


def _imbalance(compute: list[float]) -> float | None:
    """Slowest ÷ fastest of per-rank compute times (None when one is 0)."""
    return max(compute) / min(compute) if min(compute) > 0 else None


def aggregate_independent(workers: list[dict[str, Any]], cfg: dict[str, Any]) -> dict[str, Any]:
    """One record from N independent single-process workers: their throughputs add up."""
    one = [aggregate([w], cfg) for w in workers]
    rec = {**one[0], **cfg}
    sps = sum(r["samples_per_s"] for r in one)
    compute = [r["rank_compute_ms"][0] for r in one]
    rec.update(
        {
            "global_batch": one[0]["per_worker_batch"] * len(one),
            "samples_per_s": sps,
            "step_ms": {k: mean(r["step_ms"][k] for r in one) for k in one[0]["step_ms"]},
            "comm_fraction": 0.0,
            "comm_method": "none (independent processes)",
            "peak_mem_mb": max(r["peak_mem_mb"] for r in one),
            "model_flops_per_s": one[0]["model_flops_per_sample"] * sps,
            "rank_compute_ms": compute,
            "cpu_placement": [r["cpu_placement"][0] for r in one],
            "compute_imbalance": _imbalance(compute),
            "step_s_all": one[0]["step_s_all"],
        }
    )
    return rec


def _config_key(r: dict[str, Any]) -> tuple:
    return (r["device"], r["engine"], r["nnodes"], r["nproc"], r["scaling"], r["global_batch"])


def merge_rounds(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per configuration from interleaved rounds: the median round's record (lower median for an
    even count, so it is a run that happened), with every round's throughput and per-round speedups."""
    by_round: dict[int, list[dict[str, Any]]] = {}
    for r in records:
        by_round.setdefault(r.get("round", 0), []).append(r)
    round_speedup: dict[tuple[int, tuple], float | None] = {}
    for rnd, rs in by_round.items():
        for r in scaling.annotate([dict(x) for x in rs]):
            round_speedup[(rnd, _config_key(r))] = r["speedup"]
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault(_config_key(r), []).append(r)
    out = []
    for key, rs in groups.items():
        ordered = sorted(rs, key=lambda r: r["samples_per_s"])
        rec = dict(ordered[(len(ordered) - 1) // 2])
        rec["rounds"] = len(rs)
        rec["samples_per_s_rounds"] = [r["samples_per_s"] for r in rs]
        rec["speedup_rounds"] = [round_speedup.get((r.get("round", 0), key)) for r in rs]
        rec["compute_imbalance_rounds"] = [r.get("compute_imbalance") for r in rs]
        out.append(rec)
    return out


def imbalance_notes(runs: list[dict[str, Any]], threshold: float = 1.1) -> list[str]:
    """Say when ranks doing identical work computed at unequal speeds: the scaling figure then measures the
    machine's cores as much as the engine."""
    out = []
    for r in runs:
        vals = [v for v in r.get("compute_imbalance_rounds", [r.get("compute_imbalance")]) if v]
        if r["nproc"] * r["nnodes"] > 1 and vals and max(vals) >= threshold:
            ms = "/".join(f"{c:.0f}" for c in r.get("rank_compute_ms", []))
            out.append(
                f"{r['device']}/{r['engine']} {r['nnodes']}×{r['nproc']} {r['scaling']}: ranks computed at "
                f"unequal speeds (slowest/fastest {min(vals):.2f}–{max(vals):.2f} over {len(vals)} round(s); "
                f"per-rank compute ms of the reported round {ms}); "
                + (
                    "these workers never communicate, so the cores themselves differ"
                    if r["scaling"] == "independent"
                    else "a synchronous step waits for the slowest"
                )
            )
    return out


def _threads(bench: TrainBench, n: int, nn_: int) -> int:
    return bench.threads or max(1, usable_cores() // (n * nn_))


def run(bench: TrainBench, out: Path, work_dir: Path | None = None) -> dict[str, Any]:
    """Run every configuration, annotate scaling, write and return the results document."""
    from harflow.bench import roof as roofmod

    fp = fingerprint()
    notes: list[str] = list(bench.notes)
    load0 = os.getloadavg()
    roofs: dict[str, dict[str, Any]] = {}
    if bench.roof:  # a quick roof of every device this bench uses (the roof command measures longer)
        for dev in dict.fromkeys(bench.devices):
            if dev == "cuda" and not fp["gpu"]:
                continue
            roofs[dev] = roofmod.measure(dev, threads=usable_cores() if dev == "cpu" else None, quick=True)
    work = Path(work_dir or tempfile.mkdtemp(prefix="harflow-bench-"))
    runs: list[dict[str, Any]] = []
    cfgs = bench.configs()
    rounds = [(rnd, i, cfg) for rnd in range(max(1, bench.repeat)) for i, cfg in enumerate(cfgs)]
    with bench_progress() as prog:
        overall = prog.add_task("bench train", total=len(rounds))
        for rnd, i, cfg in rounds:
            w = cfg["nproc"] * cfg["nnodes"]
            name = (
                f"{cfg['device']}/{cfg['engine']} {cfg['nnodes']}×{cfg['nproc']} {cfg['scaling']} "
                f"B={cfg['global_batch']}"
            )
            if bench.repeat > 1:
                name += f" round {rnd + 1}/{bench.repeat}"
            if cfg["global_batch"] % w and rnd:  # said once, in round 0
                prog.advance(overall)
                continue
            task = prog.add_task(f"  {name}", total=None)
            if cfg["global_batch"] % w:
                notes.append(
                    f"skipped {name}: global batch {cfg['global_batch']} not divisible by {w} workers"
                )
                prog.update(task, description=f"  [yellow]skipped[/] {name}", total=1, completed=1)
                prog.advance(overall)
                continue
            run_dir = work / f"cfg{i:02d}" / f"round{rnd}"
            threads = _threads(bench, cfg["nproc"], cfg["nnodes"])
            indep = cfg["scaling"] == "independent"
            worker = dict(
                per_worker_batch=cfg["global_batch"] // w,
                steps=bench.steps,
                epochs=bench.epochs,
                warmup=bench.warmup,
                device=cfg["device"],
                engine=cfg["engine"],
                threads=threads,
                model=bench.model,
                model_opts=bench.model_opts,
                subjects=bench.subjects,
            )
            try:
                if indep:
                    sync = ["--sync-dir", str(run_dir / "sync"), "--sync-count", str(w)]
                    plan = launch.independent_plan(
                        [[*launch.worker_args(**worker, out_dir=run_dir / f"p{k}"), *sync] for k in range(w)],
                        threads,
                    )
                else:
                    plan = launch.plan(
                        nproc=cfg["nproc"],
                        nnodes=cfg["nnodes"],
                        device=cfg["device"],
                        engine=cfg["engine"],
                        wargs=launch.worker_args(**worker, out_dir=run_dir),
                        threads=threads,
                    )
            except launch.Skip as why:
                if not rnd:
                    notes.append(f"skipped {name}: {why}")
                prog.update(task, description=f"  [yellow]skipped[/] {name}: {why}", total=1, completed=1)
                prog.advance(overall)
                continue

            def progress(k: int, n: int, task: int = task) -> None:
                prog.update(task, completed=k, total=n)

            launch.execute(plan, run_dir / "launch", progress, timeout_s=bench.timeout_s)
            import json

            if indep:
                workers = [json.loads(p.read_text()) for p in sorted(run_dir.glob("p*/rank0.json"))]
                if len(workers) != w:
                    raise launch.BenchError(f"expected {w} independent worker files, found {len(workers)}")
                rec = aggregate_independent(workers, cfg)
            else:
                ranks = [json.loads(p.read_text()) for p in sorted(run_dir.glob("rank*.json"))]
                rec = aggregate(ranks, cfg)
            rec["command"] = shlex.join(plan.commands[0])
            rec["round"] = rnd
            runs.append(rec)
            prog.update(
                task,
                description=f"  {name}: {rec['samples_per_s']:.0f} samples/s, "
                f"comm {rec['comm_fraction']:.0%}",
            )
            prog.advance(overall)
    for n in notes:
        console.print(f"[yellow]{n}[/]")
    if not runs:
        raise launch.BenchError("no configuration could run here:\n" + "\n".join(notes))
    if bench.repeat > 1:
        runs = merge_rounds(runs)
    scaling.annotate(runs)
    notes.extend(imbalance_notes(runs))
    for r in runs:
        if r["device"] in roofs:
            r["roof_fraction"] = r["model_flops_per_s"] / roofs[r["device"]]["gemm_flops"]
    load1 = os.getloadavg()
    notes.append(launch.load_note(load0, load1))
    doc = schema.new_document(
        "train",
        fp,
        runs,
        notes=notes,
        roof=next(iter(roofs.values()), None),
        roofs=roofs,
        tag=bench.tag or fp["environment"],
        settings={k: v for k, v in vars(bench).items()},
        argv=sys.argv[1:],
        load_average=[load0, load1],
    )
    schema.write(out, doc)
    if work_dir is None:  # keep the worker logs only when something failed (the error names them)
        shutil.rmtree(work, ignore_errors=True)
    return doc
