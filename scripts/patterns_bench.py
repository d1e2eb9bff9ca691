"""How long the daily-summary path takes for many person-days (the bar: 10,000 person-days in <= 60 s).

Synthesizes labelled 30 s epochs (12-class labels, mostly LAYING at night, a one-hour charging gap a day,
runs of ``--run`` epochs on average), writes them as Parquet (and the merged segments as a second file),
then times ``read_timeline`` + ``daily_metrics`` on each, and optionally on a CSV of ``--csv-days``:

    PYTHONPATH=src python scripts/patterns_bench.py [--persons 1000] [--days 10] [--run 8] [--csv-days 500]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from harflow.data.labels import HAPT_LABELS
from harflow.patterns.daily import daily_metrics
from harflow.patterns.timeline import read_timeline

LABELS = list(HAPT_LABELS.values())
EPOCH_S = 30
TZ = "Europe/London"


def synthesize(persons: int, days: int, mean_run: float, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    per_day = 86_400 // EPOCH_S
    n = persons * days * per_day
    epoch_of_day = np.tile(np.arange(per_day), persons * days)
    hour = epoch_of_day * EPOCH_S // 3600
    run = np.cumsum(rng.random(n) < 1 / mean_run)
    first = np.flatnonzero(np.diff(run, prepend=-1))
    night = (hour[first] >= 22) | (hour[first] < 7)
    # 12 labels: walking x3, sitting, standing, laying, 6 transitions
    p_day = np.array([0.12, 0.02, 0.02, 0.35, 0.2, 0.05] + [0.04] * 6)
    p_night = np.array([0.01, 0, 0, 0.02, 0.02, 0.91] + [0.04 / 6] * 6)
    draw = np.where(
        night,
        rng.choice(12, len(first), p=p_night / p_night.sum()),
        rng.choice(12, len(first), p=p_day / p_day.sum()),
    )
    label = draw[run - run[0]]
    person = np.repeat(np.arange(persons), days * per_day)
    day = np.tile(np.repeat(np.arange(days), per_day), persons)
    keep = ~(hour == 19 + (person % 3))  # a one-hour charging gap a day: no data
    seconds = (day * 86_400 + epoch_of_day * EPOCH_S)[keep]
    wall = pd.Timestamp("2024-03-18") + pd.to_timedelta(seconds, unit="s")
    times = pd.DatetimeIndex(wall).tz_localize(TZ, ambiguous=True, nonexistent="shift_forward")
    return pd.DataFrame(
        {
            "person": pd.Categorical.from_codes(person[keep], [f"p{i:05d}" for i in range(persons)]),
            "time": times,
            "activity": pd.Categorical.from_codes(label[keep], LABELS),
        }
    )


def timed(path: Path) -> tuple[float, float, int, int]:
    t0 = time.perf_counter()
    tl = read_timeline(path, tz=TZ)
    t1 = time.perf_counter()
    daily = daily_metrics(tl)
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1, len(tl.segments), len(daily)


def report(what: str, read_s: float, daily_s: float) -> None:
    total = read_s + daily_s
    print(f"  {what}: read_timeline {read_s:6.1f} s + daily_metrics {daily_s:6.1f} s = {total:6.1f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persons", type=int, default=1000)
    ap.add_argument("--days", type=int, default=10)
    ap.add_argument("--run", type=float, default=8.0, help="mean run length in epochs")
    ap.add_argument("--csv-days", type=int, default=0, help="also time a CSV of this many person-days")
    args = ap.parse_args()
    epochs = synthesize(args.persons, args.days, args.run)
    with tempfile.TemporaryDirectory() as tmp:
        ep = Path(tmp) / "epochs.parquet"
        epochs.to_parquet(ep)
        read_s, daily_s, n_seg, n_rows = timed(ep)
        days = args.persons * args.days
        print(f"{days} person-days: {len(epochs):,} epochs of {EPOCH_S} s, {n_seg:,} segments")
        report("epochs Parquet  ", read_s, daily_s)
        sp = Path(tmp) / "segments.parquet"
        read_timeline(ep, tz=TZ).segments.to_parquet(sp)
        report("segments Parquet", *timed(sp)[:2])
        if args.csv_days:
            persons = max(1, args.csv_days // args.days)
            part = epochs[epochs["person"].cat.codes < persons]
            cp = Path(tmp) / "epochs.csv"
            part.assign(time=part["time"].dt.strftime("%Y-%m-%dT%H:%M:%S%z")).to_csv(cp, index=False)
            report(f"epochs CSV, {persons * args.days} person-days", *timed(cp)[:2])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"  {n_rows} daily rows; peak RSS {peak:.1f} GiB")


if __name__ == "__main__":
    main()
