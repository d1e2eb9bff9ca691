"""``harflow loadtest``: replay held-out HAPT test recordings in real time as simulated devices over real
WebSockets; report end-to-end latency, throughput, errors/back-pressure, streaming accuracy (checked against
offline prediction of the very same windows) and activity-change precision/recall/delay."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

import httpx
import numpy as np
import websockets

from harflow.data.frames import encode_frame
from harflow.data.windows import WindowSpec, slice_windows, window_starts
from harflow.patterns.scoring import TOLERANCE_S, change_times, match_changes, sample_classes, scored
from harflow.patterns.transitions import window_labels


@dataclass
class Device:
    name: str
    recording: str
    signals: np.ndarray  # (T, C) the looped replay
    truth: np.ndarray  # (W,) model class per window, -1 unknown
    changes: np.ndarray  # device times of ground-truth activity changes
    chunk_sent: dict[int, float] = field(default_factory=dict)  # chunk index → wall time sent
    preds: dict[int, tuple[int, float]] = field(default_factory=dict)  # window → (class, wall time received)
    events: list[tuple[float, float, str]] = field(default_factory=list)  # (device t, wall recv, to)
    errors: list[str] = field(default_factory=list)
    busy_windows: int = 0
    sent_samples: int = 0
    max_unanswered: int = 0  # most windows of earlier chunks still unanswered when a chunk was sent
    answered: asyncio.Event = field(default_factory=asyncio.Event)  # set on every reply (closed loop waits)

    @property
    def answered_windows(self) -> int:
        return len(self.preds) + self.busy_windows


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(
    run_dir: str,
    admin_key: str,
    data_dir: str,
    max_batch: int | None = None,
    backend: str | None = None,
    port: int | None = None,
    extra_env: dict | None = None,
    workers: int = 1,
):
    port = port or _free_port()
    env = {
        **os.environ,
        "HARFLOW_ADMIN_KEYS": admin_key,
        "HARFLOW_DATA_DIR": data_dir,
        "HARFLOW_MAX_STREAMS_PER_KEY": "10000",
        **(extra_env or {}),
    }
    if max_batch:
        env["HARFLOW_MAX_BATCH"] = str(max_batch)
    if backend:
        env["HARFLOW_BACKEND"] = backend
    log = open(os.path.join(data_dir, "server.log"), "ab")  # noqa: SIM115 (the child writes to it)
    proc = subprocess.Popen(
        [sys.executable, "-m", "harflow.cli", "serve", "--model", run_dir, "--port", str(port)]
        + (["--workers", str(workers)] if workers > 1 else []),
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 180
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}; see {data_dir}/server.log")
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise RuntimeError("server did not become ready in 180 s")


def stop_server(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def build_devices(n: int, spec: WindowSpec, labels: list[str], needed_s: float, subjects: list[str] | None):
    """Device i replays test recording i mod R (looped), later laps starting at a hop-aligned offset."""
    from harflow.data.sources import load_recordings
    from harflow.data.splits import HAPT_TEST_SUBJECTS

    subj = subjects or sorted(HAPT_TEST_SUBJECTS, key=int)
    rs = load_recordings("hapt", classes=len(labels), subjects=subj, rate_hz=spec.rate_hz)
    recs = rs.recordings
    total = int(needed_s * spec.rate_hz) + spec.length + 1
    devices = []
    for i in range(n):
        r = recs[i % len(recs)]
        offset = ((i // len(recs)) * 37 * spec.hop) % len(r)
        idx = (offset + np.arange(total)) % len(r)
        sig, lab = r.signals[idx], r.labels[idx]
        truth = window_labels(lab, spec, rs.label_map, labels)
        ch = change_times(sample_classes(lab, rs.label_map, labels), spec.rate_hz)
        devices.append(Device(f"lt-{i:05d}", f"{r.subject}/{r.recording}", sig, truth, ch))
    return devices


def connect_stream(url: str, device: str, key: str, open_timeout: float = 60, compression: bool = False):
    """A device's WebSocket stream to the service at ``url`` (http…), as every load generator opens one: the
    key in the header, no message size cap, no pings (the generators measure the service, not keep-alives)."""
    return websockets.connect(
        url.replace("http", "ws", 1) + f"/v1/streams/{device}",
        additional_headers={"Authorization": f"Bearer {key}"},
        max_size=None,
        ping_interval=None,
        open_timeout=open_timeout,
        compression="deflate" if compression else None,
    )


async def run_device(
    d: Device,
    url: str,
    key: str,
    spec: WindowSpec,
    t_begin: float,
    duration: float,
    speed: float,
    chunk: int,
    binary: bool,
    compression: bool = False,
    drain_s: float = 30.0,
    closed_loop: bool = False,
) -> None:
    """Replay ``d`` at ``speed`` × real time for ``duration`` wall seconds. ``closed_loop``: besides, keep one
    chunk in flight: the next is sent only once every window of the previous one is answered (prediction or
    busy), so the devices offer exactly what the service can take: its saturation throughput."""
    rate = spec.rate_hz
    try:
        async with connect_stream(url, d.name, key, compression=compression) as ws:
            recv = asyncio.create_task(_receive(ws, d, spec))
            loop = asyncio.get_running_loop()
            k = 0
            due_windows = 0  # windows the chunks sent so far complete
            while True:
                lo, hi = k * chunk, (k + 1) * chunk
                if hi > len(d.signals):
                    break
                due = t_begin + hi / rate / speed  # the chunk's last sample "happens" now
                if due - t_begin > duration:
                    break
                await asyncio.sleep(max(0.0, due - loop.time()))
                if closed_loop and loop.time() - t_begin > duration:
                    break
                x = d.signals[lo:hi]
                msg = (
                    encode_frame(k, lo / rate, rate, x)
                    if binary
                    else json.dumps({"seq": k, "t0": lo / rate, "rate": rate, "samples": x.tolist()})
                )
                d.max_unanswered = max(d.max_unanswered, due_windows - d.answered_windows)
                d.chunk_sent[k] = time.perf_counter()
                await ws.send(msg)
                d.sent_samples = hi
                due_windows = len(window_starts(hi, spec))
                k += 1
                if closed_loop:
                    while d.answered_windows < due_windows:
                        if recv.done():
                            raise ConnectionError("the connection closed with windows unanswered")
                        d.answered.clear()
                        try:
                            await asyncio.wait_for(d.answered.wait(), drain_s)
                        except TimeoutError:
                            raise TimeoutError(f"chunk seq {k - 1} unanswered after {drain_s:g}s") from None
            end = loop.time() + drain_s  # let in-flight windows arrive
            while d.answered_windows < due_windows and loop.time() < end and not recv.done():
                await asyncio.sleep(0.05)
            recv.cancel()
    except Exception as e:  # a refused or broken connection is an error of this device, not of the run
        d.errors.append(f"{type(e).__name__}: {e}")


async def _receive(ws, d: Device, spec: WindowSpec) -> None:
    rate, hop = spec.rate_hz, spec.hop
    labels_index: dict[str, int] = {}
    async for raw in ws:
        now = time.perf_counter()
        msg = json.loads(raw)
        for m in msg if isinstance(msg, list) else [msg]:
            t = m.get("type")
            if t == "prediction":
                if not labels_index:
                    labels_index.update({n: i for i, n in enumerate(m["probabilities"])})
                w = round(m["t_start"] * rate / hop)
                d.preds[w] = (labels_index[m["activity"]], now)
            elif t in ("activity_changed", "transition"):
                if m.get("from_activity") is not None:
                    d.events.append((m["t"], now, m["to_activity"]))
            elif t == "error":
                if m["kind"] == "busy":
                    d.busy_windows += len(m.get("t_start", []))
                else:
                    d.errors.append(f"{m['kind']}: {m['message']}")
        d.answered.set()


def summarize(
    devices: list[Device], spec: WindowSpec, chunk: int, duration: float, speed: float, offline=None
) -> dict:
    rate, L = spec.rate_hz, spec.length
    lat, correct, n_lab, off_correct, agree = [], 0, 0, 0, 0
    tp = n_pred = n_true = 0
    delays = []
    windows = sum(len(d.preds) for d in devices)
    expected = sum(len(window_starts(d.sent_samples, spec)) for d in devices)
    for d in devices:
        ws = np.array(sorted(d.preds), dtype=np.int64)
        for w in ws:
            _, recv = d.preds[w]
            last = w * spec.hop + L - 1
            sent = d.chunk_sent.get(last // chunk)
            if sent is not None:
                lat.append((recv - sent) * 1000)
        if len(ws):
            y = d.truth[ws]
            got = np.array([d.preds[w][0] for w in ws])
            keep = y >= 0
            correct += int((got[keep] == y[keep]).sum())
            n_lab += int(keep.sum())
            if offline is not None:
                X = slice_windows(d.signals, ws * spec.hop, L)
                off = offline.predict_proba(X).argmax(axis=1)
                off_correct += int((off[keep] == y[keep]).sum())
                agree += int((off == got).sum())
        # change events, within the stretch that was replayed and predicted
        horizon = (ws.max() * spec.hop + L) / rate if len(ws) else 0.0
        truth_t = d.changes[scored(d.changes, L / rate, horizon)]
        ev_t = np.array([t for t, _, _ in d.events], np.float64)
        ev_recv = np.array([recv for _, recv, _ in d.events], np.float64)
        keep = scored(ev_t, L / rate, horizon)
        pred_t, pred_recv = ev_t[keep], ev_recv[keep]
        n_true += len(truth_t)
        n_pred += len(pred_t)
        for i, j in match_changes(truth_t, pred_t, TOLERANCE_S):
            tp += 1
            sent_idx = int(truth_t[j] * rate) // chunk
            if sent_idx in d.chunk_sent:
                delays.append(pred_recv[i] - d.chunk_sent[sent_idx])
    # throughput over the span actually used: first chunk sent → last prediction received
    first = min((min(d.chunk_sent.values()) for d in devices if d.chunk_sent), default=0.0)
    last = max((max(r for _, r in d.preds.values()) for d in devices if d.preds), default=first)
    span = max(last - first, 1e-9)
    sent_last = max((max(d.chunk_sent.values()) for d in devices if d.chunk_sent), default=first)
    errors = sum(len(d.errors) for d in devices)
    busy = sum(d.busy_windows for d in devices)
    p = float(tp / n_pred) if n_pred else None
    r = float(tp / n_true) if n_true else None
    lat_a = np.asarray(lat) if lat else np.zeros(1)
    return {
        "devices": len(devices),
        "duration_s": duration,
        "speed": speed,
        "windows": windows,
        "windows_per_s": windows / span,
        "span_s": span,
        "send_span_s": max(sent_last - first, 1e-9),
        "expected_windows": expected,
        "p50_ms": float(np.percentile(lat_a, 50)),
        "p95_ms": float(np.percentile(lat_a, 95)),
        "p99_ms": float(np.percentile(lat_a, 99)),
        "max_ms": float(lat_a.max()),
        "errors": errors,
        "busy": busy,
        "dropped": max(0, expected - windows - busy),
        "labeled_windows": n_lab,
        "accuracy": correct / n_lab if n_lab else None,
        "offline_accuracy": off_correct / n_lab if offline is not None and n_lab else None,
        "offline_agreement": agree / windows if offline is not None and windows else None,
        "change_precision": p,
        "change_recall": r,
        "change_f1": 2 * p * r / (p + r) if p and r else None,
        "true_changes": n_true,
        "predicted_changes": n_pred,
        "median_detection_delay_s": float(np.median(delays) * speed) if delays else None,
        "max_unanswered_windows": max((d.max_unanswered for d in devices), default=0),
        "error_samples": sorted({e for d in devices for e in d.errors})[:5],
    }


async def _run(a: argparse.Namespace, url: str, key: str, offline) -> dict:
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {key}"}) as c:
        info = (await c.get("/v1/model")).raise_for_status().json()
    spec = WindowSpec.from_dict(info["window"])
    chunk = max(1, round(a.chunk_ms / 1000 * spec.rate_hz))
    subjects = a.subjects.split(",") if a.subjects else None
    devices = build_devices(a.devices, spec, info["labels"], a.duration * a.speed + 1, subjects)
    loop = asyncio.get_running_loop()
    t0 = loop.time() + 0.5
    tasks = []
    for i, d in enumerate(devices):
        start = t0 + (a.ramp * i / max(1, len(devices)))
        tasks.append(
            asyncio.create_task(
                run_device(
                    d,
                    url,
                    key,
                    spec,
                    start,
                    a.duration,
                    a.speed,
                    chunk,
                    a.binary,
                    a.compression,
                    closed_loop=a.closed_loop,
                )
            )
        )
    await asyncio.gather(*tasks)
    res = summarize(devices, spec, chunk, a.duration, a.speed, offline)
    if a.closed_loop:  # device time no longer runs at `speed` × wall time: a delay in device time is unknown
        res["median_detection_delay_s"] = None
    res.update(
        {
            "model_version": info["model_version"],
            "backend": info["backend"],
            "chunk_samples": chunk,
            "binary": a.binary,
            "compression": a.compression,
            "mode": "closed-loop" if a.closed_loop else "open-loop",
        }
    )
    return res


def run_once(a: argparse.Namespace, max_batch: int | None = None) -> dict:
    proc = offline = tmp = None
    key = a.api_key
    if a.serve_model:
        from harflow.models.predictor import Predictor

        key = key or secrets.token_urlsafe(16)
        tmp = tempfile.TemporaryDirectory(prefix="harflow-loadtest-")
        proc, url = start_server(a.serve_model, key, tmp.name, max_batch or a.max_batch, a.backend)
        offline = Predictor.load(a.serve_model)
    elif a.url:
        url = a.url.rstrip("/")
    else:
        raise ValueError("give --url of a running service or --serve-model RUN_DIR")
    if not key:
        raise ValueError("--api-key (or HARFLOW_LOADTEST_KEY) is needed with --url")
    try:
        res = _event_loop_run(_run(a, url, key, offline))
    finally:
        if proc:
            stop_server(proc)
        if tmp:
            tmp.cleanup()
    res["max_batch"] = max_batch or a.max_batch
    return res


def _event_loop_run(coro):
    """uvloop when installed (uvicorn[standard] brings it; the server runs on it too): the generator shares
    the machine with the server, and every cycle it saves is left to the service being measured."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def main(a: argparse.Namespace) -> int:
    if a.ramp is None:
        a.ramp = 2.0
    if a.dry_run:
        a.devices, a.duration, a.speed = 2, 3.0, 10.0
        if a.closed_loop:  # fast enough that the pacing seen is the closed loop's, not the speed cap's
            a.speed = 200.0
    if a.compare_batching:
        if not a.serve_model:
            raise ValueError("--compare-batching needs --serve-model (it starts both servers)")
        from harflow.bench.peak import compare_batching

        res = compare_batching(a, run_once)
        print(json.dumps(res) if a.json else json.dumps(res, indent=2))
        return 0
    res = run_once(a)
    if a.json:
        print(json.dumps(res))
    else:
        from rich.console import Console
        from rich.table import Table

        t = Table(title=f"loadtest: {res['devices']} devices x {res['duration_s']:g}s at {res['speed']:g}x")
        t.add_column("metric")
        t.add_column("value", justify="right")
        for k, v in res.items():
            t.add_row(k, f"{v:.4g}" if isinstance(v, float) else str(v))
        Console().print(t)
    return 0
