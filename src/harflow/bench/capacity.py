"""``harflow loadtest --capacity``: how many 50 Hz devices one server holds within the latency target.

The number of devices is raised step by step on one running server; before each step the server is left to
settle (its CPU back near idle). In a step every device connects within ``--ramp`` seconds (5 by default, as
after a deploy), streams in real time with the clients' default settings (320 ms chunks, JSON; binary frames
with ``--clients binary``), and the step holds when p99 < ``--p99-ms`` with zero errors, drops and ``busy``.
Capacity is the largest step that holds; steps stop after the first one that does not.

The devices are spread over ``--generators`` processes, each measuring its own CPU time, so the generator is
not the limit and its cost is reported beside the server's (they share the machine). Server CPU is measured
over the steady part of a step (all devices connected) and divided by the windows answered in it.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import os
import secrets
import tempfile
import time
from typing import Any

import httpx
import numpy as np
import psutil

from harflow.bench.capacity_gen import generator_main


def _cpu_s(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def _server_procs(pid: int) -> list[psutil.Process]:
    """The server and its worker processes (``--workers N``)."""
    p = psutil.Process(pid)
    return [p, *p.children(recursive=True)]


def settle(pid: int, idle_cores: float = 0.05, timeout_s: float = 30.0) -> float:
    """Wait until the server uses less than ``idle_cores`` over a second (the previous step's streams closed,
    its commits done); returns the seconds waited."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        procs = _server_procs(pid)
        c0 = _cpu_s(procs)
        time.sleep(1.0)
        if _cpu_s(procs) - c0 < idle_cores:
            break
    return time.monotonic() - t0


class Generators:
    """``n`` spawned generator processes (:mod:`harflow.bench.capacity_gen`), kept across steps."""

    def __init__(self, n: int) -> None:
        ctx = mp.get_context("spawn")  # no forked event loop, server handle or torch state
        self.pipes, self.procs = [], []
        for _ in range(n):
            a, b = ctx.Pipe()
            p = ctx.Process(target=generator_main, args=(b,), daemon=True)
            p.start()
            self.pipes.append(a)
            self.procs.append(p)

    def close(self) -> None:
        for c in self.pipes:
            with contextlib.suppress(BrokenPipeError, OSError):
                c.send(None)
        for p in self.procs:
            p.join(10)
            if p.is_alive():
                p.kill()

    def launch(self, base: dict[str, Any], n_devices: int) -> tuple[float, tuple[float, float]]:
        """Build the step's devices in every process, then start them together; returns the wall time the
        first device connects and the steady interval (every device connected)."""
        if base.get("device_tokens"):
            base = {**base, "tokens": issue_tokens(base["url"], base["key"], base["prefix"], n_devices)}
        k = len(self.pipes)
        bounds = np.linspace(0, n_devices, k + 1).astype(int)
        for i, c in enumerate(self.pipes):
            c.send(("build", {**base, "lo": int(bounds[i]), "hi": int(bounds[i + 1]), "n_total": n_devices}))
        for c in self.pipes:
            if c.recv() != "ready":
                raise RuntimeError("a load-generator process failed to build its devices")
        begin = time.time() + 1.0
        steady = (begin + base["ramp_s"] + 1.0, begin + base["ramp_s"] + base["duration_s"])
        for i, c in enumerate(self.pipes):
            run = {**base, "lo": int(bounds[i]), "hi": int(bounds[i + 1]), "n_total": n_devices}
            c.send(("run", {**run, "begin_wall": begin, "steady_from": steady[0], "steady_to": steady[1]}))
        return begin, steady

    def collect(self) -> list[dict[str, Any]]:
        return [c.recv() for c in self.pipes]

    def step(self, base: dict[str, Any], n_devices: int, server_pid: int) -> dict[str, Any]:
        _, steady = self.launch(base, n_devices)
        load0 = os.getloadavg()[0]
        procs = _server_procs(server_pid)
        time.sleep(max(0.0, steady[0] - time.time()))
        c0 = _cpu_s(procs)
        time.sleep(max(0.0, steady[1] - time.time()))
        c1 = _cpu_s(procs)
        parts = self.collect()
        return _combine(parts, n_devices, c1 - c0, steady[1] - steady[0], load0, os.getloadavg()[0])


def issue_tokens(url: str, admin_key: str, prefix: str, n: int) -> list[str]:
    """A device token per device, issued through the API (``POST /v1/devices/{id}/tokens``): devices
    stream with their own tokens, so per-key limits and token re-checks are part of what is measured."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin_key}"}, timeout=60) as c:
        return [
            c.post(f"/v1/devices/{prefix}-{i:05d}/tokens").raise_for_status().json()["token"]
            for i in range(n)
        ]


def _combine(parts, n: int, server_cpu: float, steady_s: float, load0: float, load1: float) -> dict:
    lat = np.concatenate([np.asarray(p["latencies_ms"], np.float64) for p in parts]) if parts else np.zeros(0)
    q = np.percentile(lat, [50, 95, 99]) if len(lat) else [float("nan")] * 3
    windows = sum(p["windows"] for p in parts)
    expected = sum(p["expected_windows"] for p in parts)
    busy = sum(p["busy"] for p in parts)
    steady_w = max(sum(p["steady_windows"] for p in parts), 1)
    gen_cpu = sum(p["cpu_steady_s"] for p in parts)
    return {
        "devices": n,
        "connected": sum(p["connected"] for p in parts),
        "p50_ms": float(q[0]),
        "p95_ms": float(q[1]),
        "p99_ms": float(q[2]),
        "max_ms": float(lat.max()) if len(lat) else float("nan"),
        "windows": windows,
        "expected_windows": expected,
        "errors": sum(p["errors"] for p in parts),
        "busy": busy,
        "dropped": max(0, expected - windows - busy),
        "steady_s": steady_s,
        "steady_windows_per_s": steady_w / steady_s,
        "server_cpu_cores": server_cpu / steady_s,
        "server_cpu_us_per_window": server_cpu / steady_w * 1e6,
        "generator_cpu_cores": gen_cpu / steady_s,
        "generator_cpu_us_per_window": gen_cpu / steady_w * 1e6,
        "load_avg_1m": [round(load0, 2), round(load1, 2)],
        "error_samples": sorted({e for p in parts for e in p["error_samples"]})[:3],
    }


def holds(step: dict[str, Any], p99_ms: float) -> bool:
    return (
        step["connected"] == step["devices"]
        and step["p99_ms"] < p99_ms
        and step["errors"] == 0
        and step["dropped"] == 0
        and step["busy"] == 0
    )


def run_capacity(a: argparse.Namespace, log=print) -> dict[str, Any]:
    """The capacity curve for each client kind in ``a.clients``, one after the other against one server (each
    step on new device ids, after the server settled)."""
    from harflow.bench.loadtest import start_server, stop_server
    from harflow.data.windows import WindowSpec

    key = a.api_key or secrets.token_urlsafe(16)
    runs = []
    extra = {"HARFLOW_PATTERNS_INTERVAL_S": "0"}  # the capacity of the streaming path, not the patterns job's
    with tempfile.TemporaryDirectory(prefix="harflow-capacity-") as tmp:
        proc, url = start_server(
            a.serve_model, key, tmp, a.max_batch, a.backend, extra_env=extra, workers=a.workers
        )
        gens = Generators(a.generators)
        try:
            info = httpx.get(url + "/v1/model", headers={"Authorization": f"Bearer {key}"}).json()
            spec = WindowSpec.from_dict(info["window"])
            for clients in a.clients:
                base = {
                    "url": url,
                    "key": key,
                    "spec": info["window"],
                    "labels": info["labels"],
                    "subjects": a.subjects.split(",") if a.subjects else None,
                    "duration_s": a.step_s,
                    "ramp_s": a.ramp,
                    "speed": a.speed,
                    "chunk": max(1, round(a.chunk_ms / 1000 * spec.rate_hz)),
                    "binary": clients == "binary",
                    "drain_s": 10.0,
                    "device_tokens": not a.admin_clients,
                }
                curve = []
                for n in a.steps:
                    waited = settle(proc.pid)
                    base["prefix"] = f"cap-{clients}-{n}"
                    step = gens.step(base, n, proc.pid)
                    step["settle_s"] = round(waited, 1)
                    step["holds"] = holds(step, a.p99_ms)
                    curve.append(step)
                    log(
                        f"{clients} {n} devices: p50 {step['p50_ms']:.1f} p99 {step['p99_ms']:.1f} ms, "
                        f"errors {step['errors']} dropped {step['dropped']} busy {step['busy']}, server "
                        f"{step['server_cpu_cores']:.2f} cores "
                        f"({step['server_cpu_us_per_window']:.0f} µs/window), "
                        f"generator {step['generator_cpu_cores']:.2f} cores, load {step['load_avg_1m']}"
                    )
                    if not step["holds"]:
                        break
                held = [s["devices"] for s in curve if s["holds"]]
                runs.append(
                    {
                        "clients": clients,
                        "capacity_devices": max(held) if held else 0,
                        "p99_target_ms": a.p99_ms,
                        "workers": a.workers,
                        "generators": a.generators,
                        "auth": "admin key" if a.admin_clients else "device tokens",
                        "step_s": a.step_s,
                        "ramp_s": a.ramp,
                        "speed": a.speed,
                        "chunk_samples": base["chunk"],
                        "rate_hz": spec.rate_hz,
                        "backend": info["backend"],
                        "model_version": info["model_version"],
                        "curve": curve,
                    }
                )
        finally:
            gens.close()
            stop_server(proc)
    return {"runs": runs}
