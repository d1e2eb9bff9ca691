"""The evaluation of a simulated cohort: alerts and forecasts against its ground truth, as one report.

    harflow patterns simulate --persons 200 --days 90 --seed 1 --out cohort/ --timestamps
    harflow patterns evaluate --cohort cohort/ --report results/patterns/

Alerts come from the same code the service runs (daily detectors, the replayed inactivity monitor), on a
cohort whose seed differs from the ones the thresholds were tuned on; scoring rules are
:mod:`harflow.patterns.evaluate`'s.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from harflow.patterns.alerts import Alert
from harflow.patterns.daily import daily_metrics, without_hours
from harflow.patterns.evaluate import CHANGE_KINDS, score_changes, score_inactivity
from harflow.patterns.forecast import backtest
from harflow.patterns.timeline import Timeline, read_timeline


def evaluate_cohort(
    cohort_dir: str | Path,
    find_alerts: Callable[[Timeline], list[Alert]],
    report_dir: str | Path | None = None,
) -> dict:
    cohort_dir = Path(cohort_dir)
    truth = json.loads((cohort_dir / "ground_truth.json").read_text())
    t0 = time.perf_counter()
    timeline = read_timeline(cohort_dir / "timeline.parquet", tz=truth["tz"])
    t1 = time.perf_counter()
    alerts = find_alerts(timeline)
    t2 = time.perf_counter()
    daily = without_hours(daily_metrics(timeline))
    forecast = backtest(daily)
    t3 = time.perf_counter()
    rep = {
        "cohort": {
            "dir": str(cohort_dir),
            "persons": len(truth["persons"]),
            "days": truth["days"],
            "changed": sum(1 for p in truth["persons"] if p.get("change")),
            "emergencies": sum(len(p.get("emergencies", [])) for p in truth["persons"]),
            "seed": truth.get("config", {}).get("seed"),
        },
        "changes": score_changes([a for a in alerts if a.kind in CHANGE_KINDS], truth),
        "inactivity": score_inactivity([a for a in alerts if a.kind not in CHANGE_KINDS], truth),
        "forecast": forecast,
        "seconds": {"read": t1 - t0, "alerts": t2 - t1, "forecast": t3 - t2},
    }
    if report_dir is not None:
        out = Path(report_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(rep, indent=1))
        (out / "alerts.json").write_text(json.dumps([a.to_dict() for a in alerts], indent=0))
        try:
            from harflow.patterns.plots import plot_report
        except ImportError:
            rep["plots"] = []
        else:
            rep["plots"] = [str(p) for p in plot_report(rep, out)]
    return rep
