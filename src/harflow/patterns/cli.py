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

    t = ps.add_parser("detect", help="alerts: step changes, drifts, unusual inactivity, routine deviations")
    timeline_args(t)
    t.set_defaults(func=_cmd_detect)

    f = ps.add_parser(
        "forecast", help="the expected next days per metric, and when activity is likely to change"
    )
    timeline_args(f)
    f.add_argument("--days", type=int, default=7, help="days ahead (at most 7)")
    f.add_argument(
        "--backtest", action="store_true", help="also score it on held-out days against naive ones"
    )
    f.set_defaults(func=_cmd_forecast)

    e = ps.add_parser("evaluate", help="alerts and forecasts against a simulated cohort's ground truth")
    e.add_argument("--cohort", type=Path, help="a folder written by `harflow patterns simulate`")
    e.add_argument("--report", type=Path, default=None, help="write report.json and plots here")
    e.add_argument("--json", action="store_true")
    e.add_argument("--dry-run", action="store_true", help="a small simulated cohort (12 persons x 70 days)")
    e.set_defaults(func=_cmd_evaluate)

    s = ps.add_parser(
        "simulate",
        help="a cohort over weeks from real HAPT segments, with injected changes and a ground truth",
        parents=[simulate.build_parser(add_help=False)],
        conflict_handler="resolve",
    )
    s.set_defaults(func=_cmd_simulate)
    return ps


def load_timeline(a: argparse.Namespace, days: int = 14):
    """``--timeline``, or for ``--dry-run`` a small simulated cohort."""
    from harflow.patterns.timeline import read_timeline

    if a.dry_run:  # instead of --timeline, whatever it names
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


def find_alerts(timeline) -> list:
    """Every alert over the timeline, as the service would have raised them day by day and minute by minute:
    the daily detectors over its daily metrics, and the inactivity monitor replayed over its 60-s epochs."""
    from harflow.patterns.daily import daily_metrics, without_hours
    from harflow.patterns.detect import detect
    from harflow.patterns.monitor import replay
    from harflow.patterns.timeline import to_epochs

    daily = daily_metrics(timeline)
    alerts = detect(without_hours(daily))
    epochs = to_epochs(timeline, "60s")
    tz = str(timeline.tz) if timeline.tz is not None else "UTC"
    for person, ep in epochs.groupby("person", observed=True):
        alerts += replay(str(person), ep["time"], ep["activity"].astype(object), tz)
    return alerts


def _cmd_detect(a: argparse.Namespace) -> int:
    from harflow.patterns.alerts import to_records

    rows = to_records(find_alerts(load_timeline(a, days=70)))
    if a.json:
        print(json.dumps({"alerts": rows}, indent=1, allow_nan=False))
    else:
        _print_table(rows, ["person", "kind", "metric", "direction", "onset", "detected", "magnitude"])
    return 0


def _cmd_forecast(a: argparse.Namespace) -> int:
    from dataclasses import replace

    from harflow.patterns.daily import daily_metrics, without_hours
    from harflow.patterns.forecast import ForecastConfig, backtest, forecast

    if not 1 <= a.days <= 7:
        raise ValueError(f"--days must be 1..7, got {a.days}")
    daily = without_hours(daily_metrics(load_timeline(a, days=56)))
    cfg = replace(ForecastConfig(), horizon=a.days)
    fc = forecast(daily, cfg)
    out: dict = {"forecast": json.loads(fc.to_json(orient="records", date_format="iso"))}
    if a.backtest:
        out["backtest"] = backtest(daily, cfg)
    if a.json:
        print(json.dumps(out, indent=1))
    else:
        _print_table(out["forecast"], ["person", "metric", "date", "median", "lower", "upper"])
        if a.backtest:
            print(json.dumps(out["backtest"], indent=1))
    return 0


def _cmd_evaluate(a: argparse.Namespace) -> int:
    from harflow.patterns.report import evaluate_cohort

    if a.dry_run:  # instead of --cohort
        from harflow.patterns.simulate import SimulationConfig, simulate_cohort, write_cohort

        a.cohort = Path(tempfile.mkdtemp(prefix="harflow-evaluate-"))
        write_cohort(
            simulate_cohort(SimulationConfig(persons=12, days=70, seed=1)), a.cohort, timestamps=True
        )
    if a.cohort is None:
        raise ValueError("give --cohort DIR (from `harflow patterns simulate`) or --dry-run")
    rep = evaluate_cohort(a.cohort, find_alerts, report_dir=a.report)
    print(json.dumps(rep, indent=None if a.json else 1))
    return 0


def _cmd_simulate(a: argparse.Namespace) -> int:
    from harflow.patterns.simulate import run_args

    return run_args(a)
