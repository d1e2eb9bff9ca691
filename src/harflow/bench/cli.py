"""``harflow bench …`` sub-commands: train, accuracy, zoo, batch-size, roof, env, report, study."""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table

console = Console(width=None if sys.stdout.isatty() else 160)


def _ints(s: str) -> list[int]:
    try:
        v = [int(x) for x in s.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {s!r}") from None
    if not v or min(v) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {s!r}")
    return v


def _pos(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {s!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {v}")
    return v


def _nonneg(s: str) -> int:
    return 0 if s.strip() == "0" else _pos(s)


def _floats(s: str) -> list[float]:
    try:
        return [float(x) for x in s.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {s!r}") from None


def _strs(choices: tuple[str, ...]):
    def parse(s: str) -> list[str]:
        v = [x.strip() for x in s.split(",") if x.strip()]
        bad = [x for x in v if x not in choices]
        if bad or not v:
            raise argparse.ArgumentTypeError(f"{s!r}: choose from {', '.join(choices)}")
        return v

    return parse


def _clear_errors(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """A bench failure is one clear red line naming what failed, not a traceback."""

    @functools.wraps(fn)
    def wrapper(a: argparse.Namespace) -> int:
        from harflow.bench.launch import BenchError
        from harflow.bench.schema import SchemaError

        try:
            return fn(a)
        except (BenchError, SchemaError) as e:
            console.print(
                f"[red]harflow bench {a.bench_command}: error:[/] {e}", highlight=False, soft_wrap=True
            )
            return 2

    return wrapper


def _print_train(doc: dict) -> None:
    t = Table(title=f"bench train — {doc.get('tag')} ({doc['fingerprint']['cpu_model']})")
    for c in (
        "device",
        "engine",
        "nodes×procs",
        "scaling",
        "batch",
        "samples/s",
        "speedup",
        "strong eff",
        "weak eff",
        "comm",
        "step ms (data/fb/comm/opt)",
        "peak MB",
        "roof",
        "speedup rounds",
    ):
        t.add_column(c, justify="right")

    def f(v: float | None, fmt: str) -> str:
        return "–" if v is None else format(v, fmt)

    for r in doc["runs"]:
        s = r["step_ms"]
        t.add_row(
            r["device"],
            r["engine"],
            f"{r['nnodes']}×{r['nproc']}",
            r["scaling"],
            str(r["global_batch"]),
            f"{r['samples_per_s']:.0f}",
            f(r["speedup"], ".2f"),
            f(r["strong_scaling_efficiency"], ".0%"),
            f(r["weak_scaling_efficiency"], ".0%"),
            f"{r['comm_fraction']:.0%}",
            f"{s['step']:.0f} ({s['data']:.0f}/{s['forward_backward']:.0f}/{s['comm']:.0f}/"
            f"{s['optimizer']:.0f})",
            f"{r['peak_mem_mb']:.0f}",
            f(r.get("roof_fraction"), ".1%"),
            " ".join(f(v, ".2f") for v in r.get("speedup_rounds", [])) or "–",
        )
    console.print(t)
    for n in doc.get("notes", []):
        console.print(f"[dim]note:[/] {n}")


def _cmd_train(a: argparse.Namespace) -> int:
    from harflow.bench.trainbench import TrainBench, run

    steps = None if a.epochs else a.steps
    if a.dry_run:
        steps, a.warmup, a.subjects = 3, 1, a.subjects or "1,3,5,2"
    bench = TrainBench(
        nproc=a.nproc,
        nnodes=a.nnodes,
        devices=a.device,
        engines=a.engine,
        batch_size=a.batch_size,
        scaling=a.scaling,
        steps=steps,
        epochs=a.epochs,
        warmup=a.warmup,
        model=a.model,
        model_opts=a.model_opt,
        subjects=a.subjects,
        threads=a.threads,
        roof=not a.no_roof,
        tag=a.tag,
        notes=a.note,
        repeat=a.repeat,
        independent=a.independent,
    )
    doc = run(bench, Path(a.out))
    _print_train(doc)
    console.print(f"results: [bold]{a.out}[/]")
    return 0


def _cmd_roof(a: argparse.Namespace) -> int:
    from harflow.bench import schema
    from harflow.bench.fingerprint import fingerprint
    from harflow.bench.launch import Skip
    from harflow.bench.roof import measure

    runs, notes = [], []
    for dev in a.device:
        if dev == "cuda":
            import torch

            if not torch.cuda.is_available():
                notes.append(str(Skip("CUDA is not available on this machine; GPU roof skipped")))
                console.print(f"[yellow]{notes[-1]}[/]")
                continue
        r = measure(dev, threads=a.threads, quick=a.dry_run)
        runs.append(r)
        console.print(
            f"{dev} ({r['device_name']}, {r['threads']} threads): GEMM "
            f"[bold]{r['gemm_flops'] / 1e9:.1f} GFLOP/s[/] (n={r['gemm']['n']}), copy bandwidth "
            f"[bold]{r['mem_bandwidth_bytes_per_s'] / 1e9:.1f} GB/s[/]"
        )
    if not runs:
        console.print("[red]harflow bench roof: no device could be measured[/]")
        return 2
    if a.out:
        schema.write(a.out, schema.new_document("roof", fingerprint(), runs, notes=notes, tag=a.tag))
        console.print(f"results: [bold]{a.out}[/]")
    return 0


def _cmd_env(a: argparse.Namespace) -> int:
    from harflow.bench import schema
    from harflow.bench.fingerprint import fingerprint, label

    fp = fingerprint()
    if a.out:
        schema.write(a.out, schema.new_document("env", fp, [], tag=a.tag))
    if a.json:
        print(json.dumps(fp, indent=2))
    else:
        console.print(f"[bold]{label(fp)}[/]")
        for k, v in fp.items():
            console.print(f"  {k}: {v}")
    return 0


def _cmd_report(a: argparse.Namespace) -> int:
    from harflow.bench.report import build_report

    paths = build_report([Path(p) for p in a.results], Path(a.out))
    for p in paths:
        console.print(f"wrote {p}")
    return 0


def _seeds(s: str) -> list[int]:
    try:
        v = [int(x) for x in s.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated seeds (integers >= 0), got {s!r}"
        ) from None
    if not v or min(v) < 0:
        raise argparse.ArgumentTypeError(f"expected comma-separated seeds (integers >= 0), got {s!r}")
    return v


def _cmd_zoo(a: argparse.Namespace) -> int:
    import shlex

    from harflow.bench.launch import BenchError
    from harflow.bench.zoo import ZooBench, markdown_table, run
    from harflow.models.registry import model_names

    models = [m.strip() for m in (a.models or ",".join(model_names())).split(",") if m.strip()]
    if unknown := [m for m in models if m not in model_names()]:
        raise BenchError(f"--models: unknown {unknown}; registered: {model_names()}")
    bench = ZooBench(
        models=models,
        classes=[int(c) for c in a.classes],
        seeds=a.seeds,
        train_args=shlex.split(a.train_args),
        keep_runs=Path(a.keep_runs) if a.keep_runs else None,
        tag=a.tag,
    )
    if a.dry_run:  # every model and label set, 3 steps of one epoch on 4 subjects
        bench.train_args += [
            "--epochs",
            "1",
            "--max-steps-per-epoch",
            "3",
            "--subjects",
            a.subjects or "1,3,5,2",
        ]
        bench.seeds = bench.seeds[:2]
    doc = run(bench, Path(a.out))
    console.print(markdown_table(doc["summary"]), highlight=False, soft_wrap=True)
    console.print(f"results: [bold]{a.out}[/]")
    return 0


def _cmd_accuracy(a: argparse.Namespace) -> int:
    from harflow.bench.accuracy import AccuracyBench, run

    bench = AccuracyBench(
        nproc=a.nproc,
        target=a.target,
        batch_size=a.batch_size,
        max_epochs=a.epochs,
        device=a.device,
        lr=a.lr,
        lr_scaling=a.lr_scaling,
        model=a.model,
        model_opts=a.model_opt,
        subjects=a.subjects,
        tag=a.tag,
    )
    if a.dry_run:
        bench.max_epochs, bench.subjects, bench.max_steps_per_epoch = 1, a.subjects or "1,3,5,2", 3
    doc = run(bench, Path(a.out))
    for r in doc["runs"]:
        reached = (
            f"{r['time_to_target_s']:.0f}s, {r['epochs_to_target']} epochs"
            if r["reached"]
            else f"not reached in {len(r['curve'])} epochs (best {r['best_val_accuracy']:.3f})"
        )
        console.print(
            f"{r['nproc']} worker(s), batch {r['global_batch']}: val accuracy ≥ {r['target']}: {reached}"
        )
    console.print(f"results: [bold]{a.out}[/]")
    return 0


def _cmd_batch_size(a: argparse.Namespace) -> int:
    from harflow.bench.batchsize import BatchSizeBench, run

    bench = BatchSizeBench(
        batch_sizes=a.batch_sizes,
        target=a.target,
        lrs=a.lrs,
        max_samples=a.max_samples,
        eval_every_samples=a.eval_every_samples,
        granularity=a.granularity,
        model=a.model,
        model_opts=a.model_opt,
        subjects=a.subjects,
        threads=a.threads,
        tag=a.tag,
    )
    if a.dry_run:
        bench.max_samples, bench.subjects, bench.lrs = 24 * max(a.batch_sizes), a.subjects or "1,3,5,2", [1.0]
        bench.eval_every_samples = bench.first_eval_samples = 2 * max(a.batch_sizes)
    doc = run(bench, Path(a.out))
    for r in doc["runs"]:
        s = r["steps_to_target"]
        console.print(
            f"batch {r['global_batch']:5d}: steps to {r['target']}: {s if s else 'not reached'}"
            + (f" (lr {r['best_lr']:.2e})" if s else "")
            + f" — {r.get('regime', '')}"
        )
    console.print(f"results: [bold]{a.out}[/]")
    return 0


def _cmd_study(a: argparse.Namespace) -> int:
    from harflow.bench.study import run_study

    return run_study(
        Path(a.out), container=a.container, image=a.image, nproc=a.nproc, steps=a.steps, dry_run=a.dry_run
    )


def _cmd_patterns_e2e(a: argparse.Namespace) -> int:
    from harflow.bench.patterns_e2e import main

    return main(a)


def _common(p: argparse.ArgumentParser, out_required: bool = True) -> None:
    p.add_argument("--out", required=out_required, help="results JSON file to write")
    p.add_argument("--tag", default=None, help="label of this environment in reports (default: detected)")
    p.add_argument("--dry-run", action="store_true", help="seconds-long run on 4 subjects: checks the path")


def _model_args(p: argparse.ArgumentParser) -> None:
    from harflow.train.args import _model_opt

    p.add_argument("--model", default="lstm", help="model from the registry (lstm, deepconvlstm, cnn1d)")
    p.add_argument(
        "--model-opt",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        type=str,
        help="model option override (repeatable)",
    )
    p.add_argument("--subjects", default=None, help="comma-separated HAPT subjects (default: all 30)")
    _ = _model_opt


def register(sub: argparse._SubParsersAction) -> None:
    from harflow.bench import loadtest_cli

    loadtest_cli.register(sub)
    b = sub.add_parser("bench", help="performance study: scaling, accuracy, batch size, roof, report")
    bs = b.add_subparsers(dest="bench_command", required=True)

    t = bs.add_parser("train", help="throughput, step-time breakdown and scaling of data-parallel training")
    t.add_argument("--nproc", type=_ints, required=True, help="workers per node, e.g. 1,2,4")
    t.add_argument("--nnodes", type=_ints, default=[1], help="nodes (2 = two network namespaces; root)")
    t.add_argument("--device", type=_strs(("cpu", "cuda")), default=["cpu"], help="cpu, cuda or cpu,cuda")
    t.add_argument("--engine", type=_strs(("ddp", "horovod")), default=["ddp"], help="ddp, horovod or both")
    t.add_argument(
        "--batch-size",
        type=_pos,
        default=64,
        help="global batch (strong scaling) = per-worker batch (weak scaling)",
    )
    t.add_argument("--scaling", choices=("both", "strong", "weak"), default="both")
    g = t.add_mutually_exclusive_group()
    g.add_argument("--steps", type=_pos, default=30, help="timed steps per configuration")
    g.add_argument("--epochs", type=_pos, default=None, help="timed epochs per configuration instead")
    t.add_argument("--warmup", type=_nonneg, default=5, help="untimed steps first")
    t.add_argument("--threads", type=_pos, default=None, help="threads per worker (default cores ÷ workers)")
    t.add_argument("--no-roof", action="store_true", help="skip the quick roof measurement")
    t.add_argument(
        "--independent",
        action="store_true",
        help="also run N single-process workers side by side without communication: the machine's ceiling",
    )
    t.add_argument(
        "--repeat",
        type=_pos,
        default=1,
        help="interleaved rounds of every configuration; reports the median round and each round's speedup",
    )
    t.add_argument("--note", action="append", default=[], help="a note stored in the results (repeatable)")
    _model_args(t)
    _common(t)
    t.set_defaults(func=_clear_errors(_cmd_train))

    ac = bs.add_parser("accuracy", help="time- and epochs-to-target accuracy per configuration")
    ac.add_argument("--nproc", type=_ints, required=True)
    ac.add_argument("--target", type=float, default=0.93, help="validation accuracy to reach")
    ac.add_argument("--batch-size", type=_pos, default=64, help="global batch")
    ac.add_argument("--epochs", type=_pos, default=20, help="give up after this many epochs")
    ac.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ac.add_argument("--lr", type=float, default=None, help="learning rate (default: the trainer's)")
    ac.add_argument("--lr-scaling", choices=("none", "linear", "sqrt"), default="none")
    _model_args(ac)
    _common(ac)
    ac.set_defaults(func=_clear_errors(_cmd_accuracy))

    z = bs.add_parser(
        "zoo", help="every model, default config, over seeds and label sets: test accuracy/F1 mean ± std"
    )
    z.add_argument("--models", default=None, help="comma-separated registry names (default: every model)")
    z.add_argument("--classes", type=_strs(("6", "12")), default=["6", "12"], help="HAPT label sets")
    z.add_argument("--seeds", type=_seeds, default=[0, 1, 2], help="training seeds, e.g. 0,1,2")
    z.add_argument("--train-args", default="", help="extra `harflow train` flags for every run (quoted)")
    z.add_argument("--keep-runs", default=None, help="keep every run directory (model cards) under this one")
    z.add_argument("--subjects", default=None, help="HAPT subjects for --dry-run (default 1,3,5,2)")
    _common(z)
    z.set_defaults(func=_clear_errors(_cmd_zoo))

    bb = bs.add_parser("batch-size", help="steps-to-target vs global batch size (Shallue et al. 2018)")
    bb.add_argument("--batch-sizes", type=_ints, required=True, help="e.g. 32,64,128,256,512,1024")
    bb.add_argument("--target", type=float, default=0.85, help="validation accuracy to reach")
    bb.add_argument(
        "--lrs",
        type=_floats,
        default=[0.5, 1.0, 2.0],
        help="LR sweep as multiples of the sqrt-scaled base LR",
    )
    bb.add_argument("--max-samples", type=_pos, default=400_000, help="training samples budget per trial")
    bb.add_argument("--eval-every-samples", type=_pos, default=8192, help="most samples between evaluations")
    bb.add_argument(
        "--granularity",
        type=float,
        default=0.1,
        help="evaluate every this fraction of the steps so far (relative error of steps-to-target)",
    )
    bb.add_argument("--threads", type=_pos, default=None)
    _model_args(bb)
    _common(bb)
    bb.set_defaults(func=_clear_errors(_cmd_batch_size))

    r = bs.add_parser("roof", help="the device's GEMM FLOP/s and memory bandwidth")
    r.add_argument("--device", type=_strs(("cpu", "cuda")), default=["cpu"])
    r.add_argument("--threads", type=_pos, default=None)
    _common(r, out_required=False)
    r.set_defaults(func=_clear_errors(_cmd_roof))

    e = bs.add_parser(
        "env", help="environment fingerprint (host / container / Kubernetes, CPU, GPU, versions)"
    )
    e.add_argument("--json", action="store_true")
    e.add_argument("--out", default=None)
    e.add_argument("--tag", default=None)
    e.set_defaults(func=_clear_errors(_cmd_env))

    rp = bs.add_parser("report", help="report.md + report.html with figures from results files")
    rp.add_argument("results", nargs="+", help="results JSON files")
    rp.add_argument("--out", default="report", help="output directory")
    rp.set_defaults(func=_clear_errors(_cmd_report))

    pe = bs.add_parser(
        "patterns-e2e",
        help="activity patterns end to end: simulated persons' sensor streams through the service vs truth",
    )
    from harflow.bench.patterns_e2e import add_arguments

    add_arguments(pe)
    pe.set_defaults(func=_clear_errors(_cmd_patterns_e2e))

    st = bs.add_parser("study", help="the whole CPU study on this machine: host [+ container] + report")
    st.add_argument("--out", default="results", help="directory for results JSON and report/")
    st.add_argument(
        "--container",
        choices=("auto", "yes", "no", "only"),
        default="auto",
        help="also run inside the project image with podman (auto: if the image exists; only: skip the host)",
    )
    st.add_argument("--image", default="localhost/harflow:latest")
    st.add_argument("--nproc", type=_ints, default=[1, 2])
    st.add_argument("--steps", type=_pos, default=40)
    st.add_argument("--dry-run", action="store_true")
    st.set_defaults(func=_clear_errors(_cmd_study))
