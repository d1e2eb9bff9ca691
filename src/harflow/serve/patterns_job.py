"""The activity-patterns job: from each person's stored windows to daily metrics and alerts in the store.

For every person (or one shard of them) it

1. reads the windows of the person's devices (within their assignments) from the local midnight of the day
   it last reached, so a partly processed day is completed and earlier days are not read again. The daily
   metrics (and rhythm) use each window's top class (``patterns.windows.DAILY_LABEL``), not the stream's
   smoothed label; the inactivity replay uses the smoothed one, as the live monitor does. A day is computed
   from its windows by the first pass after it ends, long before retention compacts them (default 30
   days); a day whose windows expired before any pass reached it falls back to the compacted, smoothed
   segments;
2. turns them into the person's activity timeline (:class:`harflow.patterns.timeline.Timeline`) and computes
   those days' metrics (:func:`harflow.patterns.daily.daily_metrics`);
3. runs change detection (:func:`harflow.patterns.detect.detect`) over the stored daily history and stores
   the alerts detected on the processed days, each with one outbox row per webhook target;
4. moves the person's watermark, in the same transaction as the days.

Everything it writes is keyed (person + day, alert identity), so re-running it, or running it from the
service's background task and a Kubernetes CronJob at once, stores nothing twice::

    harflow patterns run [--shard 0/4] [--person ID ...] [--now ISO]
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import zlib
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from harflow.patterns.daily import DailyConfig, daily_metrics, from_json_records, to_json_records
from harflow.patterns.timeline import Timeline
from harflow.patterns.windows import DAILY_LABEL, window_segments
from harflow.serve.db.alerts import Alerts
from harflow.serve.db.analytics import Analytics
from harflow.serve.db.persons import Persons

log = logging.getLogger("harflow.serve.patterns")


@dataclass(frozen=True)
class JobConfig:
    daily: DailyConfig = field(default_factory=DailyConfig)
    history_days: int = 120  # daily history the detectors see (their baselines need ~6 weeks)
    # unusual inactivity over the processed time, replayed causally as the live monitor would have seen it
    # (profile learned from the weeks before, re-learned weekly); the service's own passes leave it to the
    # live monitor on the stream path and only learn the profiles it uses
    inactivity: bool = True
    inactivity_history_days: int = 63  # learn_days (28) + the profile's history (56) reach this far back
    profile_days: int = 56
    relearn_s: float = 86_400.0  # how old a stored profile may get


@dataclass
class Repos:
    persons: Persons
    analytics: Analytics
    alerts: Alerts
    targets: list[str]


def in_shard(person_id: str, shard: tuple[int, int]) -> bool:
    """Stable across processes and restarts (unlike ``hash``), so CronJob pods split persons consistently."""
    i, n = shard
    return zlib.crc32(person_id.encode()) % n == i


def parse_shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard takes I/N (e.g. 0/4), got {text!r}") from None
    if not 0 <= i < n:
        raise ValueError(f"--shard {text}: need 0 <= I < N")
    return i, n


def timeline_of(person_id: str, windows: list[tuple[float, float, str]], tz: str) -> Timeline | None:
    """The person's timeline from stored windows (and compacted segments) by the one rule of
    :func:`harflow.patterns.windows.window_segments`; None without any."""
    if not windows:
        return None
    t0, t1, act = zip(*windows, strict=True)
    frame = window_segments(person_id, np.array(t0), np.array(t1), np.array(act, dtype=object))
    return Timeline.from_frame(frame, tz=tz, source=f"person {person_id}")


def midnight(day: dt.date, tz: str) -> float:
    """Unix time of the start of a local calendar day."""
    return dt.datetime.combine(day, dt.time(), ZoneInfo(tz)).timestamp()


def local_midnight(t: float, tz: str) -> float:
    return midnight(dt.datetime.fromtimestamp(t, ZoneInfo(tz)).date(), tz)


def detect_and_store(
    repos: Repos, updated: dict[str, str], now: float, cfg: JobConfig
) -> tuple[int, dict[str, float]]:
    """Detection for the persons whose days were updated (person → first updated day): the daily detectors
    over their stored histories at once, then the online alerts per person; the new alerts are stored."""
    t0 = time.perf_counter()
    histories = {
        pid: repos.analytics.days(pid, date_from=_days_before(first, cfg.history_days))
        for pid, first in updated.items()
    }
    t1 = time.perf_counter()
    found = detect_alerts(histories, updated)
    t2 = time.perf_counter()
    for person in repos.persons.list(list(updated)):
        found[person["id"]] += online_alerts(repos, person, now, updated[person["id"]], cfg)
    t3 = time.perf_counter()
    stored = sum(len(repos.alerts.add(pid, alerts, repos.targets)) for pid, alerts in found.items())
    seconds = {
        "read_history": t1 - t0,
        "detect": t2 - t1,
        "inactivity": t3 - t2,
        "store_alerts": time.perf_counter() - t3,
    }
    return stored, {k: round(v, 3) for k, v in seconds.items()}


def update_days(repos: Repos, person: dict, now: float, cfg: JobConfig) -> list[dict]:
    """Compute and store the person's days from the local midnight of the day the last run reached."""
    pid, tz = person["id"], person["tz"]
    until = repos.analytics.processed_until(pid)
    start = local_midnight(until, tz) if until is not None else 0.0
    tl = timeline_of(pid, repos.persons.windows(pid, start, now, label=DAILY_LABEL), tz)
    days = to_json_records(daily_metrics(tl, cfg.daily)) if tl is not None else []
    for d in days:
        d.pop("person", None)
    repos.analytics.put_days(pid, days, processed_until=now)
    return days


def detect_alerts(histories: dict[str, list[dict]], since: dict[str, str]) -> dict[str, list[dict]]:
    """The daily detectors over every person's history at once (they are vectorized across persons); per
    person the alerts detected on or after ``since[person]``: earlier ones were stored by an earlier run."""
    from harflow.patterns.detect import detect

    rows = [{"person": pid, **d} for pid, days in histories.items() for d in days]
    out: dict[str, list[dict]] = {pid: [] for pid in histories}
    if not rows:
        return out
    for a in detect(from_json_records(rows)):
        if a.detected >= since[a.person]:
            out[a.person].append(a.to_dict())
    return out


def epochs_of(person_id: str, windows: list[tuple[float, float, str]], tz: str) -> pd.DataFrame:
    """60-s epochs (the inactivity monitor's) of the person's timeline: time, activity (NaN = no data)."""
    from harflow.patterns.timeline import to_epochs

    tl = timeline_of(person_id, windows, tz)
    if tl is None:
        return pd.DataFrame({"time": [], "activity": []})
    return to_epochs(tl, "60s")[["time", "activity"]]


def online_alerts(repos: Repos, person: dict, now: float, since: str, cfg: JobConfig) -> list[dict]:
    """The inactivity profile, re-learned when older than ``relearn_s``; with ``cfg.inactivity`` also the
    inactivity and wake alerts over the processed days, detected on or after ``since``."""
    from harflow.patterns.inactivity import learn_profile
    from harflow.patterns.monitor import replay

    pid, tz = person["id"], person["tz"]
    _, learned_at = repos.analytics.profile(pid)
    relearn = learned_at is None or now - learned_at > cfg.relearn_s
    if not (cfg.inactivity or relearn):
        return []
    since_t = midnight(dt.date.fromisoformat(since), tz)
    # what the new days need reaches back from their start (an import of old days: not from now)
    lo = (
        min(now, since_t)
        - max(cfg.inactivity_history_days if cfg.inactivity else 0, cfg.profile_days) * 86_400
    )
    ep = epochs_of(pid, repos.persons.windows(pid, lo, now), tz)
    if ep.empty:
        return []
    times, classes = ep["time"], ep["activity"].astype(object)
    if relearn:
        recent = times >= times.iloc[-1] - pd.Timedelta(days=cfg.profile_days)
        repos.analytics.set_profile(pid, learn_profile(times[recent], classes[recent], tz).to_dict(), now)
    if not cfg.inactivity:
        return []
    return [a.to_dict() for a in replay(pid, times, classes, tz) if a.detected >= since]


def person_rhythm(persons: Persons, person: dict, days: int, window: str | None) -> list[dict]:
    import json

    from harflow.patterns.rhythm import rhythm_metrics

    now = time.time()
    windows = persons.windows(person["id"], now - days * 86_400, now, label=DAILY_LABEL)
    tl = timeline_of(person["id"], windows, person["tz"])
    if tl is None:
        return []
    return json.loads(rhythm_metrics(tl, window=window).to_json(orient="records", date_format="iso"))


def person_forecast(analytics: Analytics, person_id: str, days: int) -> list[dict]:
    import json
    from dataclasses import replace

    from harflow.patterns.forecast import ForecastConfig, forecast

    history = analytics.days(person_id)
    if not history:
        return []
    frame = from_json_records([{"person": person_id, **d} for d in history])
    fc = forecast(frame, replace(ForecastConfig(), horizon=days))
    return json.loads(fc.to_json(orient="records", date_format="iso"))


def _days_before(date: str, n: int) -> str:
    return (dt.date.fromisoformat(date) - dt.timedelta(days=n)).isoformat()


def run(
    repos: Repos,
    now: float | None = None,
    shard: tuple[int, int] = (0, 1),
    person_ids: list[str] | None = None,
    cfg: JobConfig | None = None,
) -> dict:
    """One pass over the persons of this shard. A person whose days fail is logged and left for the next
    run (its watermark did not move); the others go on."""
    cfg = cfg or JobConfig()
    now = time.time() if now is None else now
    t0 = time.perf_counter()
    updated: dict[str, str] = {}  # person → first day recomputed
    failed, n_days = [], 0
    for person in repos.persons.list(person_ids):
        if not in_shard(person["id"], shard):
            continue
        try:
            days = update_days(repos, person, now, cfg)
        except Exception as e:
            log.exception("daily metrics failed for person %s", person["id"])
            failed.append({"person": person["id"], "error": f"{type(e).__name__}: {e}"})
            continue
        if days:
            updated[person["id"]] = days[0]["date"]
            n_days += len(days)
    t1 = time.perf_counter()
    stored, seconds = detect_and_store(repos, updated, now, cfg)
    return {
        "persons": len(updated),
        "failed": failed,
        "days": n_days,
        "alerts": stored,
        "seconds": {"daily": round(t1 - t0, 3), **seconds, "total": round(time.perf_counter() - t0, 3)},
    }


def parse_now(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        t = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--now takes ISO 8601 or Unix seconds, got {text!r}") from None
    if t.tzinfo is None:
        raise ValueError(f"--now {text!r} needs a UTC offset (e.g. +00:00): persons live in different zones")
    return t.timestamp()


def repos_of(engine, settings) -> Repos:
    return Repos(Persons(engine), Analytics(engine), Alerts(engine), settings.webhook_targets())


def run_from_settings(
    settings,
    now: float | None = None,
    shard: tuple[int, int] = (0, 1),
    person_ids: list[str] | None = None,
    retention: bool = False,
) -> dict:
    """``harflow patterns run``: one pass over the configured store (alerts go to its outbox; the service's
    deliverer sends them)."""
    from harflow.serve.db.queries import Store

    store = Store(settings.database())
    try:
        res = run(repos_of(store.engine, settings), now=now, shard=shard, person_ids=person_ids)
        if retention:
            from harflow.serve.db.retention import expire

            cutoff = time.time() - settings.retention_days * 86400  # storing time, not --now
            res["retention"] = expire(store.engine, cutoff)
        return res
    finally:
        store.close()
