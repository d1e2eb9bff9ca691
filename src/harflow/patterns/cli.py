"""``harflow patterns …``: activity patterns over days and weeks, from timeline files.

    harflow patterns daily    --timeline PATH [--tz ZONE] [--json]
    harflow patterns rhythm   --timeline PATH [--tz ZONE] [--window 7D] [--threshold T] [--json]
    harflow patterns detect   --timeline PATH [--tz ZONE] [--json]
    harflow patterns forecast --timeline PATH [--tz ZONE] [--days 7] [--json]
    harflow patterns simulate --persons 200 --days 90 --out DIR
    harflow patterns evaluate --cohort DIR [--report DIR] [--json]

A timeline is a CSV/Parquet file or folder of segments (person, start, end, activity), labelled epochs
(person, time, activity) or numeric epochs (person, time, value); see :mod:`harflow.patterns.timeline`.
Every sub-command has ``--dry-run``: it runs on a small simulated cohort instead of ``--timeline``.
``harflow patterns run`` (the service's job over its store) is added by :mod:`harflow.serve.cli`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> argparse._SubParsersAction:
    from harflow.patterns import simulate

    p = sub.add_parser(
        "patterns", help="activity patterns over days and weeks: daily, rhythm, detect, forecast"
    )
    ps = p.add_subparsers(dest="patterns_command", required=True)

    def timeline_args(q: argparse.ArgumentParser) -> None:
        q.add_argument("--timeline", type=Path, help="CSV/Parquet file or folder of timelines")
        q.add_argument("--tz", default=None, help="local zone (IANA) for epoch-second and naive times")
        q.add_argument("--json", action="store_true")
        q.add_argument("--dry-run", action="store_true", help="run on a small simulated cohort instead")

    d = ps.add_parser(
        "daily", help="per person per local day: coverage, activity minutes, bouts, transitions"
    )
    timeline_args(d)
    d.add_argument("--valid-hours", type=float, default=None, help="hours of data that make a valid day (16)")
    d.set_defaults(func=_cmd_daily)

    r = ps.add_parser("rhythm", help="IS, IV, RA, L5, M10 (pyActigraphy's definitions)")
    timeline_args(r)
    r.add_argument("--window", default=None, help="rolling windows of whole days, e.g. 7D (default: all)")
    r.add_argument("--threshold", type=float, default=4.0, help="numeric epochs: active when value > T")
    r.set_defaults(func=_cmd_rhythm)

    s = ps.add_parser(
        "simulate",
        help="a cohort over weeks from real HAPT segments, with injected changes and a ground truth",
        parents=[simulate.build_parser(add_help=False)],
        conflict_handler="resolve",
    )
    s.set_defaults(func=_cmd_simulate)
    return ps


def load_timeline(a: argparse.Namespace, days: int = 14):
    from harflow.patterns.timeline import read_timeline

    if a.dry_run and a.timeline is None:
        from harflow.patterns.simulate import SimulationConfig, simulate_cohort, write_cohort

        cfg = SimulationConfig(persons=3, days=days, seed=0)
        out = Path(tempfile.mkdtemp(prefix="harflow-patterns-"))
        write_cohort(simulate_cohort(cfg), out, timestamps=True)
        return read_timeline(out / "timeline.parquet", tz=cfg.tz)
    if a.timeline is None:
        raise ValueError("give --timeline PATH (or --dry-run for a simulated cohort)")
    return read_timeline(a.timeline, tz=a.tz)


def _print_table(rows: list[dict], columns: list[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table()
    for c in columns:
        t.add_column(c, justify="left" if c in ("person", "date") else "right")
    for r in rows:
        t.add_row(*[_fmt(r.get(c)) for c in columns])
    Console(width=None if sys.stdout.isatty() else 200).print(t)


def _fmt(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.3f}" if abs(v) < 10 else f"{v:.0f}"
    return str(v)


def _cmd_daily(a: argparse.Namespace) -> int:
    from dataclasses import replace

    from harflow.patterns.daily import DailyConfig, daily_metrics, to_json_records

    cfg = DailyConfig() if a.valid_hours is None else replace(DailyConfig(), valid_min_hours=a.valid_hours)
    rows = to_json_records(daily_metrics(load_timeline(a), cfg))
    if a.json:
        print(json.dumps(rows, indent=1, allow_nan=False))
    else:
        cols = ["person", "date", "recorded_h", "valid", "active_min", "sedentary_min", "upright_min"]
        _print_table(rows, [*cols, "walk_bouts", "sedentary_bouts", "sit_to_stand", "out_of_bed"])
    return 0


def _cmd_rhythm(a: argparse.Namespace) -> int:
    from harflow.patterns.rhythm import rhythm_metrics

    df = rhythm_metrics(load_timeline(a), window=a.window, threshold=a.threshold)
    rows = json.loads(df.to_json(orient="records", date_format="iso"))
    if a.json:
        print(json.dumps(rows, indent=1))
    else:
        _print_table(rows, ["person", "days", "IS", "IV", "RA", "L5", "M10", "L5_onset", "M10_onset"])
    return 0


def _cmd_simulate(a: argparse.Namespace) -> int:
    from harflow.patterns.simulate import run_args

    return run_args(a)
