"""``harflow bench patterns-e2e``: activity patterns end to end, from raw sensor streams through the real
service to its daily metrics and alerts, against the simulation's ground truth and the label-level run.

1. A cohort is designed case by case (``ROLES``): a daytime inactivity emergency, a later wake-up, night
   wandering, fewer sit-to-stands, a walking decline, no change; onsets in the streamed week.
2. Its history weeks go into a fresh store at label level (``harflow patterns import``) and the patterns job
   runs up to the start of the streamed week (``harflow patterns run --now``): days, baselines, and the
   inactivity profiles the live monitor needs.
3. The service starts (``harflow serve``, its own patterns job off), each person gets a device assigned over
   the streamed span (admin API), and the persons' last days stream at once as raw 50 Hz sensor data over
   WebSocket, as fast as the service answers. Online inactivity alarms are raised during the replay.
4. The job runs over the streamed days; daily metrics and alerts are fetched through the REST API and
   compared: per person-day walking / sedentary minutes against the truth, the alerts detected in the
   streamed days against ``harflow patterns detect`` on the cohort's true timeline.

Writes ``<out>/e2e-<tag>.json`` and ``<out>/e2e-<tag>-minutes.png``; ``--dry-run``: 1 person, 14 history
days, 2 streamed hours.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import numpy as np
import pandas as pd

from harflow.bench.loadtest import _event_loop_run, start_server, stop_server
from harflow.bench.patterns_cohort import (
    ROLES,
    Plan,
    design_cohort,
    label_level,
    recompute_days,
    stream_span,
    true_timeline,
)
from harflow.bench.patterns_compare import (
    compare_alerts,
    compare_days,
    confusion,
    in_days,
    per_person_recognition,
    plot_days,
    window_truth,
)
from harflow.bench.sensor_replay import Replay, replay_device, replay_summary, windows_arrays
from harflow.data.windows import WindowSpec
from harflow.patterns.cohort import Cohort


def iso(t: float, tz: str) -> str:
    return dt.datetime.fromtimestamp(t, ZoneInfo(tz)).isoformat()


class _Store:
    """The service's store and its commands (``harflow patterns import|run``) as subprocesses: what an
    operator runs, on the same database the service uses."""

    def __init__(self, data_dir: str, env: dict) -> None:
        self.env = {**os.environ, **env, "HARFLOW_DATA_DIR": data_dir}

    def cli(self, *commands: list[str]) -> list[dict]:
        """``harflow patterns <command> --json`` for each command in turn, in one interpreter (its start-up
        is most of a small command's time); the JSON each printed."""
        argv = [["patterns", *c, "--json"] for c in commands]
        p = subprocess.run(
            [sys.executable, "-c", _RUN_ALL, json.dumps(argv)], env=self.env, capture_output=True, text=True
        )
        if p.returncode != 0:
            raise RuntimeError(f"harflow {' '.join(argv[0])} … failed ({p.returncode}): {p.stderr[-2000:]}")
        lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
        return [json.loads(ln) for ln in lines[-len(commands) :]]


_RUN_ALL = """
import json, sys
from harflow.cli import main
for argv in json.loads(sys.argv[1]):
    rc = main(argv)
    if rc:
        sys.exit(f"harflow {' '.join(argv)} exited {rc}")
"""


def _progress(total: int):
    t0, state = time.perf_counter(), {"n": 0, "shown": 0.0}

    def on_answer(n: int) -> None:
        state["n"] += n
        now = time.perf_counter()
        if now - state["shown"] >= 10 or state["n"] >= total:
            state["shown"] = now
            rate = state["n"] / max(now - t0, 1e-9)
            print(
                f"  streamed {state['n']:,} / ~{total:,} windows, {rate:,.0f} windows/s",
                file=sys.stderr,
                flush=True,
            )

    return on_answer


async def _alerts(c: httpx.AsyncClient, persons: list[str]) -> list[dict]:
    out = []
    for pid in persons:
        r = await c.get(f"/v1/persons/{pid}/alerts", params={"limit": 1000})
        out += [{**a, "person": a["person_id"]} for a in r.raise_for_status().json()]
    return out


async def _settled_alerts(c: httpx.AsyncClient, persons: list[str], quiet_s: float = 3.0) -> list[dict]:
    """The alerts once the live monitor stopped adding any (it works through its queue after the replay)."""
    last, since, deadline = None, time.perf_counter(), time.perf_counter() + 60
    while time.perf_counter() < deadline:
        now = await _alerts(c, persons)
        ids = sorted(a["id"] for a in now)
        if ids != last:
            last, since = ids, time.perf_counter()
        elif time.perf_counter() - since >= quiet_s:
            return now
        await asyncio.sleep(0.5)
    return now


async def _drive(plan: Plan, cohort: Cohort, url: str, key: str, span: tuple[int, int]) -> dict:
    from harflow.patterns.sensor_stream import hapt_bank, sensor_stream

    auth = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=url, headers=auth, timeout=60) as c:
        info = (await c.get("/v1/model")).raise_for_status().json()
        spec = WindowSpec.from_dict(info["window"])
        for pid in cohort.persons:
            body = {"device_id": f"e2e-{pid}", "from": span[0], "to": span[1]}
            (await c.post(f"/v1/persons/{pid}/devices", json=body)).raise_for_status()
        before = {a["id"] for a in await _alerts(c, list(cohort.persons))}
        bank = hapt_bank()
        replays = [
            Replay(
                f"e2e-{pid}",
                sensor_stream(cohort, pid, _aware(span[0]), _aware(span[1]), chunk_s=plan.chunk_s, bank=bank),
            )
            for pid in cohort.persons
        ]
        total = round(len(cohort.persons) * (span[1] - span[0]) / spec.hop_s)
        print(f"streaming {len(replays)} persons x {(span[1] - span[0]) / 3600:g} h", file=sys.stderr)
        on_answer = _progress(total)
        await asyncio.gather(*(replay_device(r, url, key, spec, plan.inflight, on_answer) for r in replays))
        live = [a for a in await _settled_alerts(c, list(cohort.persons)) if a["id"] not in before]
    return {"info": info, "spec": spec, "replays": replays, "live": live}


def _aware(t: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(t, dt.UTC)


async def _fetch(url: str, key: str, persons: tuple[str, ...], first: str, last: str) -> dict:
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as c:
        days = []
        for pid in persons:
            r = await c.get(f"/v1/persons/{pid}/daily", params={"from": first, "to": last})
            days += [{"person": pid, **d} for d in r.raise_for_status().json()["days"]]
        return {"days": days, "alerts": await _alerts(c, list(persons))}


def run(plan: Plan, run_dir: str, out_dir: Path, tag: str) -> dict:
    from harflow.bench.launch import load_note

    load0 = os.getloadavg()
    t = {"start": time.perf_counter()}
    cohort = design_cohort(plan)
    tz = plan.tz
    history_end = int(cohort.calendar.midnight[plan.history_days])
    span = stream_span(plan, cohort)
    history_frame, streamed_frame = true_timeline(cohort, history_end, span)
    truth_days, label_alerts = label_level(pd.concat([history_frame, streamed_frame], ignore_index=True), tz)
    t["simulated"] = time.perf_counter()
    key = secrets.token_urlsafe(16)
    env = {"HARFLOW_ADMIN_KEYS": key, "HARFLOW_PATTERNS_INTERVAL_S": "0"}
    with tempfile.TemporaryDirectory(prefix="harflow-patterns-e2e-") as data_dir:
        store = _Store(data_dir, env)
        history = Path(data_dir) / "history.parquet"
        history_frame.to_parquet(history)
        imported, job_history = store.cli(
            ["import", "--timeline", str(history), "--tz", tz], ["run", "--now", iso(history_end, tz)]
        )
        t["staged"] = time.perf_counter()
        proc, url = start_server(run_dir, key, data_dir, extra_env=env)
        try:
            t["served"] = time.perf_counter()
            driven = _event_loop_run(_drive(plan, cohort, url, key, span))
            t["streamed"] = time.perf_counter()
            (job_stream,) = store.cli(["run", "--now", iso(span[1], tz)])
            t["job"] = time.perf_counter()
            first = dt.datetime.fromtimestamp(span[0], ZoneInfo(tz)).date().isoformat()
            last = dt.datetime.fromtimestamp(span[1] - 1, ZoneInfo(tz)).date().isoformat()
            fetched = _event_loop_run(_fetch(url, key, cohort.persons, first, last))
        finally:
            stop_server(proc)
    t["end"] = time.perf_counter()
    spec: WindowSpec = driven["spec"]
    replays: list[Replay] = driven["replays"]
    truth_win, pred_win, smooth_win = [], [], []
    for pid, r in zip(cohort.persons, replays, strict=True):
        ts, act, smooth = windows_arrays(r)
        truth_win.append(window_truth(cohort, pid, ts + spec.length_s / 2))
        pred_win.append(act)
        smooth_win.append(smooth)
    truth_w = np.concatenate(truth_win) if truth_win else np.zeros(0, object)
    who = np.concatenate(
        [np.full(len(x), pid, dtype=object) for pid, x in zip(cohort.persons, truth_win, strict=True)]
    )
    top_w = np.concatenate(pred_win) if pred_win else truth_w
    smooth_w = np.concatenate(smooth_win) if smooth_win else truth_w
    labels = driven["info"]["labels"]
    stream_truth = [d for d in truth_days if first <= d["date"] <= last]
    days = compare_days(stream_truth, fetched["days"])
    label_in = in_days(label_alerts, first, last)
    history_truth = [d for d in truth_days if d["date"] < first]
    recomputed = recompute_days(cohort, replays, spec, tz, first, last, stream_truth, history_truth, label_in)
    e2e_in = in_days(fetched["alerts"], first, last)
    online = ("inactivity", "routine_deviation")
    result = {
        "what": "activity patterns end to end: sensor streams through the service vs ground truth and the "
        "label-level run",
        "command": "harflow " + " ".join(sys.argv[1:]),
        "tag": tag,
        "plan": {**dataclasses.asdict(plan), "start": plan.start.isoformat(), "roles": plan.roles},
        "model": {"run": run_dir, **_model_info(run_dir), "version": driven["info"].get("model_version")},
        "stream": {"from": iso(span[0], tz), "to": iso(span[1], tz), "first_day": first, "last_day": last},
        "ground_truth": cohort.ground_truth()["persons"],
        "replay": replay_summary(replays, spec),
        "staging": {"imported": imported, "job_history": job_history, "job_stream": job_stream},
        "daily": days,
        "alerts": {
            "label_level": label_in,
            "e2e": [_public(a) for a in e2e_in],
            "online_during_replay": [_public(a) for a in driven["live"]],
            "comparison": compare_alerts(label_in, e2e_in),
            "online_comparison": compare_alerts(
                [a for a in label_in if a["kind"] in online],
                [a for a in driven["live"] if a["kind"] in online],
            ),
        },
        "recognition": {
            "top_class": confusion(truth_w, top_w, labels),
            "smoothed": confusion(truth_w, smooth_w, labels),
            "per_person_top_class": per_person_recognition(truth_w, top_w, who, labels),
            "per_person_smoothed": per_person_recognition(truth_w, smooth_w, who, labels),
        },
        "daily_recomputed_from_windows": recomputed,
        "seconds": {
            "simulate_and_label_level": t["simulated"] - t["start"],
            "import_and_history_job": t["staged"] - t["simulated"],
            "server_start": t["served"] - t["staged"],
            "replay": t["streamed"] - t["served"],
            "stream_job": t["job"] - t["streamed"],
            "total": t["end"] - t["start"],
        },
        "machine": load_note(load0, os.getloadavg()),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"e2e-{tag}.json"
    path.write_text(json.dumps(result, indent=1, default=_jsonable) + "\n")
    plot = plot_days(days, out_dir / f"e2e-{tag}-minutes.png", f"harflow patterns end to end: {tag}")
    result["files"] = [str(path), str(plot)]
    return result


def _public(a: dict) -> dict:
    return {
        k: a[k]
        for k in ("person", "kind", "metric", "direction", "onset", "detected", "magnitude", "created_at")
    }


def _model_info(run_dir: str) -> dict:
    try:
        m = json.loads((Path(run_dir) / "metrics.json").read_text())
    except (OSError, ValueError):
        return {}
    test = m.get("test") or {}
    return {
        "test_accuracy": test.get("accuracy"),
        "test_macro_f1": test.get("macro_f1"),
        "epochs": m.get("epochs"),
    }


def _jsonable(x):
    if isinstance(x, np.generic):
        return x.item()
    raise TypeError(f"not JSON: {type(x).__name__}")


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = Plan()
    p.add_argument("--serve-model", required=True, metavar="RUN_DIR", help="a trained run the service serves")
    p.add_argument("--persons", type=int, default=d.persons, help=f"roles in turn: {', '.join(ROLES)}")
    p.add_argument("--history-days", type=int, default=d.history_days, help="imported at label level")
    p.add_argument("--stream-days", type=int, default=d.stream_days, help="streamed as raw sensor data")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--tz", default=d.tz)
    p.add_argument(
        "--bodies", default=None, help="comma-separated HAPT test subjects, one per person (default: drawn)"
    )
    p.add_argument("--stream-hours", type=float, default=None, help="stream only these hours from 08:00")
    p.add_argument("--inflight", type=int, default=d.inflight, help="unanswered windows per stream at most")
    p.add_argument("--out", type=Path, default=Path("results/patterns-e2e"), help="folder for JSON and plot")
    p.add_argument("--tag", default=None, help="file name part (default: PERSONSxDAYS)")
    p.add_argument("--json", action="store_true", help="print the whole result")
    p.add_argument("--dry-run", action="store_true", help="1 person, 14 history days, 2 streamed hours")


def main(a: argparse.Namespace) -> int:
    if a.dry_run:
        plan = Plan(persons=1, history_days=14, stream_days=1, seed=a.seed, tz=a.tz, stream_hours=2.0)
    else:
        plan = Plan(
            persons=a.persons,
            history_days=a.history_days,
            stream_days=a.stream_days,
            seed=a.seed,
            tz=a.tz,
            stream_hours=a.stream_hours,
            inflight=a.inflight,
            bodies=tuple(a.bodies.split(",")) if a.bodies else None,
        )
    tag = a.tag or ("dry-run" if a.dry_run else f"{plan.persons}x{plan.stream_days}d")
    res = run(plan, a.serve_model, a.out, tag)
    if a.json:
        print(json.dumps(res, default=_jsonable))
        return 0
    _print(res)
    return 0


def _print(res: dict) -> None:
    rp = res["replay"]
    print(
        f"replayed {rp['streamed_hours']:.1f} device-hours ({rp['windows']:,} windows, "
        f"{rp['busy_windows']} busy, {len(rp['errors'])} errors) in {rp['wall_s']:.0f} s: "
        f"{rp['windows_per_s']:,.0f} windows/s, "
        f"{rp['speedup']:,.0f}x real time"
    )
    for name in ("walking_min", "sedentary_min", "recorded_min"):
        s = res["daily"]["summary"][name]
        if s["person_days"]:
            print(
                f"{name}: {s['person_days']} valid person-days, "
                f"median |error| {s['median_abs_rel_error']:.1%}, p90 {s['p90_abs_rel_error']:.1%}, "
                f"within 10 %: {s['within_bar']:.0%}"
            )
    c = res["alerts"]["comparison"]
    print(
        f"alerts in the streamed days: label-level {c['label_alerts']}, end to end {c['e2e_alerts']}, "
        f"matched {c['matched']}; only label-level {len(c['label_only'])}, "
        f"only end to end {len(c['e2e_only'])}"
    )
    acc = res["recognition"]["smoothed"]["accuracy_without_transitions"]
    if acc is not None:
        print(f"recognition of the streamed windows (smoothed, transitions left out): {acc:.3f}")
    for f in res["files"]:
        print(f"  {f}")
