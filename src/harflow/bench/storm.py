"""``harflow loadtest --storm``: kill the server (SIGKILL) under N streaming devices, start it again on the
same port and store, and measure what the documented client contract gives: acknowledged windows lost (read
from the store itself; must be zero), windows never answered, and how long after the restart p99 latency is
back under the target.

The devices (:mod:`harflow.bench.storm_device`) reconnect with jittered exponential back-off and resend the
chunks whose windows are unanswered, by ``seq``; they run in ``--generators`` processes.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import sqlite3
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil

from harflow.bench.capacity import Generators


def stored_windows(db: Path, hop_s: float) -> dict[str, set[int]]:
    """Window indices per device as the store has them (read straight from the SQLite file the server wrote:
    the store is what must hold every acknowledged window)."""
    out: dict[str, set[int]] = defaultdict(set)
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        for dev, t in conn.execute("SELECT device_id, t_start FROM predictions"):
            out[dev].add(round(t / hop_s))
    return out


def recovery(lat: list[tuple[float, float]], restart_ready: float, target_ms: float) -> dict[str, Any]:
    """p99 per 1-s bin of answer time; recovered after = end of the last bin at or over the target, from the
    moment the restarted server was ready (0 when no bin after it missed the target)."""
    if not lat:
        return {"recovered_after_s": None, "p99_by_second": []}
    t = np.array([x for x, _ in lat])
    ms = np.array([y for _, y in lat])
    after = t >= restart_ready
    bins = np.floor(t[after] - restart_ready).astype(int)
    per_s = []
    for b in range(int(bins.max()) + 1 if len(bins) else 0):
        sel = ms[after][bins == b]
        if len(sel):
            per_s.append({"second": b, "windows": len(sel), "p99_ms": float(np.percentile(sel, 99))})
    missed = [x["second"] for x in per_s if x["p99_ms"] >= target_ms]
    return {"recovered_after_s": float(max(missed) + 1) if missed else 0.0, "p99_by_second": per_s}


def _kill(pid: int) -> None:
    p = psutil.Process(pid)
    for c in p.children(recursive=True):
        c.send_signal(signal.SIGKILL)
    p.send_signal(signal.SIGKILL)
    p.wait(30)


def run_storm(a: argparse.Namespace, log=print) -> dict[str, Any]:
    from harflow.bench.loadtest import _free_port, start_server, stop_server
    from harflow.data.windows import WindowSpec

    key = a.api_key or secrets.token_urlsafe(16)
    port = _free_port()
    extra = {"HARFLOW_PATTERNS_INTERVAL_S": "0"}
    with tempfile.TemporaryDirectory(prefix="harflow-storm-") as tmp:
        proc, url = start_server(a.serve_model, key, tmp, a.max_batch, a.backend, port=port, extra_env=extra)
        gens = Generators(a.generators)
        try:
            info = httpx.get(url + "/v1/model", headers={"Authorization": f"Bearer {key}"}).json()
            spec = WindowSpec.from_dict(info["window"])
            chunk = max(1, round(a.chunk_ms / 1000 * spec.rate_hz))
            base = {
                "storm": True,
                "url": url,
                "key": key,
                "spec": info["window"],
                "labels": info["labels"],
                "subjects": a.subjects.split(",") if a.subjects else None,
                "duration_s": a.duration,
                "ramp_s": a.ramp,
                "speed": a.speed,
                "chunk": chunk,
                "binary": a.binary,
                "drain_s": a.drain_s,
                "backoff_cap_s": 30.0,
                "prefix": "storm",
            }
            begin, _ = gens.launch(base, a.devices)
            load0 = os.getloadavg()[0]
            time.sleep(max(0.0, begin + a.ramp + a.kill_after_s - time.time()))
            killed_at = time.time()
            _kill(proc.pid)
            log(f"killed the server (SIGKILL) {killed_at - begin:.1f} s after the first device connected")
            proc, _ = start_server(
                a.serve_model, key, tmp, a.max_batch, a.backend, port=port, extra_env=extra
            )
            ready_at = time.time()
            log(f"restarted: ready {ready_at - killed_at:.1f} s after the kill")
            parts = gens.collect()
        finally:
            gens.close()
            stop_server(proc)
        stored = stored_windows(Path(tmp) / "harflow.db", spec.hop / spec.rate_hz)
    answered = {k: v for p in parts for k, v in p["answered"].items()}
    produced = {k: v for p in parts for k, v in p["produced_chunks"].items()}
    acked = sum(len(v) for v in answered.values())
    lost = sum(len(set(v) - stored.get(dev, set())) for dev, v in answered.items())
    due = {dev: max(0, (n * chunk - spec.length) // spec.hop + 1) for dev, n in produced.items()}
    unanswered = sum(max(0, due[dev] - len(answered.get(dev, []))) for dev in due)
    lat = [tuple(x) for p in parts for x in p["latencies"]]
    rec = recovery(lat, ready_at, a.p99_ms)
    reconnect = [x for p in parts for x in p["reconnect_s"]]
    res = {
        "devices": a.devices,
        "binary": a.binary,
        "chunk_samples": chunk,
        "duration_s": a.duration,
        "speed": a.speed,
        "kill_after_s": a.kill_after_s,
        "restart_s": ready_at - killed_at,
        "acknowledged_windows": acked,
        "acknowledged_lost": lost,
        "unanswered_windows": unanswered,
        "connects": sum(p["connects"] for p in parts),
        "reconnect_median_s": float(np.median(reconnect)) if reconnect else None,
        "reconnect_max_s": float(max(reconnect)) if reconnect else None,
        "errors": sum(p["errors"] for p in parts),
        "error_samples": sorted({e for p in parts for e in p["error_samples"]})[:3],
        "p99_target_ms": a.p99_ms,
        "recovered_after_s": rec["recovered_after_s"],
        "p99_by_second": rec["p99_by_second"],
        "generator_cpu_s": sum(p["cpu_total_s"] for p in parts),
        "load_avg_1m": [round(load0, 2), round(os.getloadavg()[0], 2)],
    }
    log(
        f"storm: {acked} windows acknowledged, {lost} of them lost, {unanswered} never answered; "
        f"p99 under {a.p99_ms:g} ms {rec['recovered_after_s']} s after the restart"
    )
    return res
