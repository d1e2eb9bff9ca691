"""The ``harflow`` command.

    harflow train [--model lstm] [--data hapt|csv:PATH] [--classes 6|12] [--nproc-per-node N] ...
    harflow evaluate RUN_DIR [--data ...] [--split test]
    harflow predict RUN_DIR FILE.csv [--json]
    harflow export RUN_DIR [--onnx] [--refit]
    harflow data info [--data hapt|csv:PATH]

Further sub-commands (patterns, serve, loadtest, bench, deploy) are registered by their areas' ``cli``
modules.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import logging
import os
import sys
from collections.abc import Callable

from rich.console import Console
from rich.table import Table

from harflow import __version__

console = Console()
# Areas that add sub-commands: each has `register(subparsers)` returning nothing.
_AREAS = ("harflow.patterns.cli", "harflow.serve.cli", "harflow.bench.cli", "harflow.deploy.cli")


def _cmd_train(a: argparse.Namespace) -> int:
    from harflow.train.args import config_from_args
    from harflow.train.trainer import train

    if (a.nproc_per_node and a.nproc_per_node > 1) or a.max_restarts:
        return _launch_torchrun(a)
    cfg = config_from_args(a)
    result = train(cfg)
    if result is not None:
        _print_result(result)
        console.print(f"run directory: [bold]{cfg.out}[/]")
    return 0


def _launch_torchrun(a: argparse.Namespace) -> int:
    """Re-launch this training command under torchrun with N local workers."""
    argv = [x for x in a.raw_argv]
    # drop our launcher-only flags; pin --out so every worker writes to the same run dir
    cleaned: list[str] = []
    skip = False
    for i, x in enumerate(argv):
        if skip:
            skip = False
            continue
        if x in ("--nproc-per-node", "--max-restarts"):
            skip = True
            continue
        if x.startswith(("--nproc-per-node=", "--max-restarts=")) or (x == "train" and i == 0):
            continue
        cleaned.append(x)
    if not a.out:
        from harflow.train.args import config_from_args

        cleaned += ["--out", config_from_args(a).out]
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={a.nproc_per_node or 1}",
        f"--max-restarts={a.max_restarts or 0}",
        "-m",
        "harflow.train",
        *cleaned,
    ]
    env = {**os.environ, "TORCH_DISABLE_SHARE_RDZV_TCP_STORE": "1"}  # restarts hang without it (recipe)
    console.print(f"[dim]launching: {' '.join(cmd[2:])}[/]")
    os.execvpe(cmd[0], cmd, env)
    return 0  # unreachable


def _print_result(result: dict) -> None:
    t = Table(
        title=f"{result['model']} — test set ({result['test']['n']} windows, subjects "
        f"{','.join(result.get('subjects', {}).get('test', []))})"
    )
    for c in ("class", "precision", "recall", "F1", "support"):
        t.add_column(c, justify="left" if c == "class" else "right")
    for name, m in result["test"]["per_class"].items():
        t.add_row(name, f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}", str(m["support"]))
    console.print(t)
    console.print(
        f"test accuracy [bold]{result['test']['accuracy']:.4f}[/]  "
        f"macro-F1 [bold]{result['test']['macro_f1']:.4f}[/]"
        f"  (val accuracy {result['val']['accuracy']:.4f}, macro-F1 {result['val']['macro_f1']:.4f})"
        + (f"  — {result['epochs']} epochs in {result['train_seconds']:.0f}s" if "epochs" in result else "")
    )


def _cmd_evaluate(a: argparse.Namespace) -> int:
    from harflow.train.evaluate import evaluate

    m = evaluate(a.run_dir, a.data, a.split)
    if a.json:
        print(json.dumps(m, indent=2))
    else:
        _print_result(
            {
                "model": m["model_version"],
                "test": m,
                "val": {"accuracy": float("nan"), "macro_f1": float("nan")},
            }
        )
    return 0


def _cmd_predict(a: argparse.Namespace) -> int:
    from harflow.train.predict import predict_file

    rows = predict_file(a.run_dir, a.file)
    if a.json:
        print(json.dumps(rows, indent=2))
        return 0
    t = Table(title=f"{a.file}: {len(rows)} windows")
    for c in ("recording", "t_start (s)", "t_end (s)", "activity", "p"):
        t.add_column(c)
    for r in rows:
        t.add_row(
            r["recording"],
            f"{r['t_start']:.2f}",
            f"{r['t_end']:.2f}",
            r["activity"],
            f"{r['probability']:.3f}",
        )
    console.print(t)
    return 0


def _cmd_export(a: argparse.Namespace) -> int:
    import contextlib
    import sys

    from harflow.patterns import fit, transitions

    res: dict = {}
    if a.onnx:
        from harflow.models.onnx_export import export_onnx

        with contextlib.redirect_stdout(sys.stderr):  # the exporter's progress chatter; stdout is the result
            res = export_onnx(a.run_dir)
    if not a.no_transitions and (a.refit or not transitions.transitions_path(a.run_dir).is_file()):
        res["transitions"] = str(fit.write(a.run_dir))
    print(json.dumps(res, indent=2))
    return 0


def _cmd_data_info(a: argparse.Namespace) -> int:
    from harflow.data.info import dataset_info

    info = dataset_info(a.data, a.classes)
    if a.json:
        print(json.dumps(info, indent=2))
        return 0
    console.print(
        f"[bold]{info['name']}[/]: {info['subjects']} subjects, {info['recordings']} recordings, "
        f"{info['samples']:,} samples at {info['rate_hz']:g} Hz "
        f"({info['samples'] / info['rate_hz'] / 3600:.1f} h)"
    )
    console.print("channels: " + ", ".join(f"{c} ({u})" for c, u in info["channels"].items()))
    console.print(
        "recordings per subject: " + " ".join(f"{s}:{n}" for s, n in info["recordings_per_subject"].items())
    )
    t = Table(title="samples per label")
    t.add_column("label", justify="right")
    t.add_column("name")
    t.add_column("samples", justify="right")
    for row in info["labels"]:
        t.add_row(str(row["label"]), row["name"], f"{row['samples']:,}")
    console.print(t)
    if "windows" in info:
        console.print(
            f"windows ({info['window']['length_s']} s / hop {info['window']['hop_s']} s, "
            f"{info['classes']} classes): " + ", ".join(f"{k} {v}" for k, v in info["windows"].items())
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    from harflow.train.args import add_train_args

    p = argparse.ArgumentParser(
        prog="harflow", description="Human-activity recognition: train, serve, measure."
    )
    p.add_argument("--version", action="version", version=f"harflow {__version__}")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model (one process, or --nproc-per-node N for DDP)")
    add_train_args(t)
    t.add_argument("--nproc-per-node", type=int, default=None, help="launch N DDP workers through torchrun")
    t.add_argument(
        "--max-restarts", type=int, default=0, help="torchrun elastic restarts (resume from snapshot)"
    )
    t.set_defaults(func=_cmd_train)

    e = sub.add_parser("evaluate", help="re-evaluate a run's checkpoint")
    e.add_argument("run_dir")
    e.add_argument("--data", default=None, help="dataset (default: the one it was trained on)")
    e.add_argument("--split", default="test", choices=("train", "val", "test", "all"))
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=_cmd_evaluate)

    pr = sub.add_parser("predict", help="predict activities of a CSV/Parquet recording")
    pr.add_argument("run_dir")
    pr.add_argument("file")
    pr.add_argument("--json", action="store_true")
    pr.set_defaults(func=_cmd_predict)

    e = sub.add_parser(
        "export",
        help="write a run's serving files: transitions.json if missing (training writes it) and, with "
        "--onnx, model.onnx checked against torch",
    )
    e.add_argument("run_dir")
    e.add_argument("--onnx", action="store_true", help="write RUN_DIR/model.onnx")
    e.add_argument(
        "--refit",
        action="store_true",
        help="rebuild transitions.json even if present (loads the training data)",
    )
    e.add_argument("--no-transitions", action="store_true", help="leave transitions.json as it is")
    e.set_defaults(func=_cmd_export)

    d = sub.add_parser("data", help="dataset commands")
    dsub = d.add_subparsers(dest="data_command", required=True)
    di = dsub.add_parser("info", help="facts about a dataset")
    di.add_argument("--data", default="hapt")
    di.add_argument("--classes", type=int, default=6, choices=(6, 12))
    di.add_argument("--json", action="store_true")
    di.set_defaults(func=_cmd_data_info)

    groups: dict[str, argparse._SubParsersAction] = {}  # sub-command groups areas share (`patterns`)
    for mod in _AREAS:
        try:
            register: Callable = importlib.import_module(mod).register
        except ModuleNotFoundError as err:
            if not (err.name and mod.startswith(err.name)):
                raise
            continue
        if "groups" in inspect.signature(register).parameters:
            register(sub, groups=groups)
        else:
            groups[mod.split(".")[1]] = register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = build_parser()
    a = p.parse_args(argv)
    a.raw_argv = argv
    logging.basicConfig(
        level=logging.DEBUG if a.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return int(a.func(a) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # every user-facing failure becomes one clear line, not a traceback
        from harflow.data.sources.csv import CsvDataError
        from harflow.data.sources.hapt import DatasetError
        from harflow.models.checkpoint import CheckpointError
        from harflow.train.engine import LaunchError

        if isinstance(
            e, (CsvDataError, DatasetError, CheckpointError, LaunchError, ValueError, FileNotFoundError)
        ):
            console.print(f"[red]harflow {a.command}: error:[/] {e}", highlight=False, soft_wrap=True)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
