"""Arguments and output of ``harflow loadtest --capacity`` (measured by :mod:`harflow.bench.capacity`)."""

from __future__ import annotations

import argparse
import json
import sys

DEFAULT_STEPS = [250, 500, 1000, 1500, 2000, 2500, 3000, 4000]
CLIENTS = ("json", "binary")


def parse_steps(text: str) -> list[int]:
    """``"250,500"`` → ``[250, 500]``: increasing positive device counts, or a clear error."""
    try:
        steps = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--steps takes comma-separated device counts, got {text!r}"
        ) from None
    if not steps or any(s < 1 for s in steps) or steps != sorted(set(steps)):
        raise argparse.ArgumentTypeError(f"--steps needs increasing positive device counts, got {text!r}")
    return steps


def parse_clients(text: str) -> list[str]:
    kinds = [s.strip() for s in text.split(",") if s.strip()]
    if not kinds or any(k not in CLIENTS for k in kinds):
        raise argparse.ArgumentTypeError(f"--clients takes json and/or binary, got {text!r}")
    return kinds


def main_capacity(a: argparse.Namespace) -> int:
    from harflow.bench import schema
    from harflow.bench.capacity import run_capacity
    from harflow.bench.fingerprint import fingerprint

    if not a.serve_model:
        raise ValueError("--capacity needs --serve-model RUN_DIR (it starts the server it measures)")
    if a.ramp is None:
        a.ramp = 5.0
    a.steps = a.steps or DEFAULT_STEPS
    if a.generators < 1 or a.workers < 1:
        raise ValueError("--generators and --workers must be at least 1")
    if a.dry_run:  # every part once, in seconds: 2 and 4 devices at 10x speed, 2 generator processes
        a.steps, a.step_s, a.ramp, a.speed, a.generators = [2, 4], 2.0, 1.0, 10.0, 2
    res = run_capacity(a, log=lambda line: print(line, file=sys.stderr, flush=True))
    notes = [
        "load_avg_1m per step: the machine's 1-minute load average before and after the step; the server "
        "and the generators share its cores",
    ]
    if a.dry_run:
        notes.append("dry run: 10x replay speed, tiny steps; not a capacity measurement")
    doc = schema.new_document("serve_capacity", fingerprint(), res["runs"], argv=sys.argv, notes=notes)
    if a.out:
        schema.write(a.out, doc)
    else:
        schema.validate(doc)
    print(json.dumps(doc if a.json else {r["clients"]: r["capacity_devices"] for r in res["runs"]}))
    return 0


def main_storm(a: argparse.Namespace) -> int:
    import datetime
    from pathlib import Path

    from harflow.bench.storm import run_storm

    if not a.serve_model:
        raise ValueError("--storm needs --serve-model RUN_DIR (it kills and restarts the server it starts)")
    if a.ramp is None:
        a.ramp = 5.0
    if a.dry_run:  # a real kill -9 and restart, at small scale
        a.devices, a.duration, a.ramp, a.kill_after_s, a.generators = 6, 8.0, 1.0, 2.0, 2
    res = run_storm(a, log=lambda line: print(line, file=sys.stderr, flush=True))
    res["created"] = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    res["argv"] = sys.argv
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res if a.json else {k: v for k, v in res.items() if k != "p99_by_second"}))
    return 0
