"""One load-generator process of ``harflow loadtest --capacity``: it replays its share of a step's devices
over real WebSockets and reports each answered window's latency and its own CPU time.

Several of these run side by side (``multiprocessing``, spawned), so the generator's event loop is not the
limit of the measurement; each measures its own CPU so that it can be reported beside the server's.
"""

from __future__ import annotations

import asyncio
import resource
import time
from typing import Any

import numpy as np

from harflow.data.windows import WindowSpec, window_starts

_recordings: dict[tuple, list[np.ndarray]] = {}


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _signals(spec: WindowSpec, labels: list[str], subjects: list[str] | None) -> list[np.ndarray]:
    """The held-out test recordings at the model's rate, loaded once per process."""
    key = (spec.rate_hz, len(labels), tuple(subjects or ()))
    if key not in _recordings:
        from harflow.data.sources import load_recordings
        from harflow.data.splits import HAPT_TEST_SUBJECTS

        subj = subjects or sorted(HAPT_TEST_SUBJECTS, key=int)
        rs = load_recordings("hapt", classes=len(labels), subjects=subj, rate_hz=spec.rate_hz)
        _recordings[key] = [r.signals for r in rs.recordings]
    return _recordings[key]


def build(cmd: dict[str, Any]):
    """The devices ``lo``..``hi`` of a step: device i replays recording i mod R from a hop-aligned offset
    (like ``harflow loadtest``), named ``{prefix}-{i:05d}``."""
    from harflow.bench.loadtest import Device

    spec = WindowSpec.from_dict(cmd["spec"])
    recs = _signals(spec, cmd["labels"], cmd.get("subjects"))
    total = int((cmd["duration_s"] + cmd["ramp_s"] + 1) * cmd["speed"] * spec.rate_hz) + spec.length + 1
    devices = []
    for i in range(cmd["lo"], cmd["hi"]):
        r = recs[i % len(recs)]
        offset = ((i // len(recs)) * 37 * spec.hop) % len(r)
        sig = r[(offset + np.arange(total)) % len(r)]
        name = f"{cmd['prefix']}-{i:05d}"
        if cmd.get("storm"):
            from harflow.bench.storm_device import StormDevice

            devices.append(StormDevice(name, sig))
        else:
            devices.append(Device(name, "", sig, np.zeros(0, np.int64), np.zeros(0)))
    return devices


async def _drive_storm(cmd: dict[str, Any], devices) -> None:
    from harflow.bench.storm_device import run_storm_device

    spec = WindowSpec.from_dict(cmd["spec"])
    loop = asyncio.get_running_loop()
    begin = cmd["begin_wall"] + loop.time() - time.time()
    await asyncio.gather(
        *(
            run_storm_device(
                d,
                cmd["url"],
                cmd["key"],
                spec,
                begin + cmd["ramp_s"] * (cmd["lo"] + j) / cmd["n_total"],
                cmd["duration_s"],
                cmd["speed"],
                cmd["chunk"],
                cmd["binary"],
                drain_s=cmd["drain_s"],
                backoff_cap_s=cmd.get("backoff_cap_s", 30.0),
            )
            for j, d in enumerate(devices)
        )
    )


def storm_result(devices) -> dict[str, Any]:
    errors = [e for d in devices for e in d.errors]
    return {
        "answered": {d.name: sorted(d.answered) for d in devices},
        "latencies": [x for d in devices for x in d.latencies],
        "produced_chunks": {d.name: d.produced for d in devices},
        "connects": sum(d.connects for d in devices),
        "reconnect_s": [x for d in devices for x in d.reconnect_s],
        "errors": len(errors),
        "error_samples": sorted(set(errors))[:3],
    }


async def _drive(cmd: dict[str, Any], devices) -> dict[str, Any]:
    from harflow.bench.loadtest import run_device

    spec = WindowSpec.from_dict(cmd["spec"])
    loop = asyncio.get_running_loop()
    to_loop = loop.time() - time.time()  # wall clock (shared by all processes) → this loop's clock
    begin, n_all = cmd["begin_wall"] + to_loop, cmd["n_total"]
    cpu: dict[str, float] = {}

    async def sample_cpu(name: str, at_wall: float) -> None:
        await asyncio.sleep(max(0.0, at_wall + to_loop - loop.time()))
        cpu[name] = _cpu_s()

    probes = [asyncio.create_task(sample_cpu(k, cmd[k])) for k in ("steady_from", "steady_to")]
    tasks = [
        asyncio.create_task(
            run_device(
                d,
                cmd["url"],
                cmd["tokens"][cmd["lo"] + j] if cmd.get("tokens") else cmd["key"],
                spec,
                begin + cmd["ramp_s"] * (cmd["lo"] + j) / n_all,  # arrivals interleave across processes
                cmd["duration_s"],
                cmd["speed"],
                cmd["chunk"],
                cmd["binary"],
                drain_s=cmd["drain_s"],
            )
        )
        for j, d in enumerate(devices)
    ]
    await asyncio.gather(*tasks, *probes)
    return cpu


def measure(devices, spec: WindowSpec, chunk: int, steady: tuple[float, float], to_wall: float) -> dict:
    """Latencies (ms) of every answered window: from sending the chunk that completes it to receiving its
    prediction; and counts for the zero-errors/drops/busy rule."""
    lat, in_steady = [], 0
    expected = answered = busy = 0
    errors: list[str] = []
    connected = 0
    for d in devices:
        L, hop = spec.length, spec.hop
        for w, (_, recv) in d.preds.items():
            sent = d.chunk_sent.get((w * hop + L - 1) // chunk)
            if sent is not None:
                lat.append((recv - sent) * 1000)
            if steady[0] <= recv + to_wall < steady[1]:
                in_steady += 1
        expected += len(window_starts(d.sent_samples, spec))
        answered += len(d.preds)
        busy += d.busy_windows
        errors += d.errors
        connected += bool(d.chunk_sent)
    return {
        "latencies_ms": lat,
        "windows": answered,
        "steady_windows": in_steady,
        "expected_windows": expected,
        "busy": busy,
        "errors": len(errors),
        "error_samples": sorted(set(errors))[:3],
        "connected": connected,
    }


def generator_main(conn) -> None:
    """Process entry: ``("build", cmd)`` → ``"ready"``; ``("run", cmd)`` → the step's measurements; ``None``
    ends the process."""
    from harflow.bench.loadtest import _event_loop_run

    devices = None
    while True:
        msg = conn.recv()
        if msg is None:
            return
        what, cmd = msg
        if what == "build":
            devices = build(cmd)
            conn.send("ready")
            continue
        if cmd.get("storm"):
            cpu0 = _cpu_s()
            _event_loop_run(_drive_storm(cmd, devices))
            out = storm_result(devices)
            out["cpu_total_s"] = _cpu_s() - cpu0
            devices = None
            conn.send(out)
            continue
        spec = WindowSpec.from_dict(cmd["spec"])
        cpu0 = _cpu_s()
        to_wall = time.time() - time.perf_counter()  # the devices' timestamps are perf_counter
        cpu = _event_loop_run(_drive(cmd, devices))
        out = measure(devices, spec, cmd["chunk"], (cmd["steady_from"], cmd["steady_to"]), to_wall)
        out["cpu_total_s"] = _cpu_s() - cpu0
        out["cpu_steady_s"] = cpu.get("steady_to", 0.0) - cpu.get("steady_from", 0.0)
        devices = None
        conn.send(out)
