"""The good stream's latency while one attacker of issue 18 runs beside it (rows 1, 2, 7 and 8).

One device streams a 50 Hz signal at ``--speed`` x real time (chunks of 32 samples; every second chunk
completes a window); its latency is from sending the chunk that completes a window to the committed answer,
the first two answers (the connection's warm-up) left out. Beside it, for the same wall time, one attacker:

- ``row1``: a device sending chunks with seq 2^63 and rows of 3e38, as fast as it is answered;
- ``row2``: unauthenticated 40 MB posts and, with a device token, 3 MB bodies of junk;
- ``row7``: 16 clients posting 256-window requests with one device token;
- ``row8``: 2000-sample chunks declared at 1 Hz;
- ``cpu``: no traffic at all, one thread busy on the CPU: the control that shows what the attacker's own
  client work costs the good stream on a shared machine.

``--pin`` keeps the attacker off the server's cores (server and good client on all cores but the last, the
attacker on the last), as an attacker on another machine would be. ``--repeat N`` runs the cases N times,
interleaved, and ends with each case's median and range.

python -m harflow.bench.attack --model RUN_DIR [--seconds 15] [--speed 4] [--attacks none,row1,row2,row7,row8]
                               [--pin] [--repeat N] [--dry-run]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import tempfile
import time

import httpx
import numpy as np
import websockets

from harflow.bench.loadtest import start_server, stop_server

ADMIN = "attack-bench-admin"
CHUNK, RATE = 32, 50.0


def _chunk(seq: int, start: int, n: int, rng: np.random.Generator, rate: float = RATE, value=None) -> str:
    x = rng.normal(0, 0.3, (n, 6)) if value is None else np.full((n, 6), value)
    return json.dumps({"seq": seq, "t0": 1000 + start / RATE, "rate": rate, "samples": x.tolist()})


async def _token(c: httpx.AsyncClient, url: str, device: str) -> str:
    r = await c.post(f"{url}/v1/devices/{device}/tokens", headers={"Authorization": f"Bearer {ADMIN}"})
    r.raise_for_status()
    return r.json()["token"]


async def good_stream(url: str, token: str, seconds: float, speed: float) -> dict:
    rng = np.random.default_rng(0)
    lat, errors = [], []
    ws_url = url.replace("http", "ws", 1) + "/v1/streams/good?token=" + token
    async with websockets.connect(ws_url, max_size=None, ping_interval=None) as ws:
        t_begin = time.perf_counter()
        k = 0
        while time.perf_counter() - t_begin < seconds:
            due = t_begin + (k + 1) * CHUNK / RATE / speed
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            sent = time.perf_counter()
            await ws.send(_chunk(k, k * CHUNK, CHUNK, rng))
            if k >= 3 and k % 2 == 1:  # this chunk completes a window: wait for it
                msg = json.loads(await asyncio.wait_for(ws.recv(), 30))
                msgs = msg if isinstance(msg, list) else [msg]
                if any(m["type"] == "error" for m in msgs):
                    errors += [m["kind"] for m in msgs if m["type"] == "error"]
                else:
                    lat.append(time.perf_counter() - sent)
            k += 1
    lat = lat[2:]
    a = np.array(lat) * 1000 if lat else np.array([np.nan])
    return {
        "answered": len(lat),
        "errors": errors,
        "p50_ms": round(float(np.percentile(a, 50)), 1),
        "p99_ms": round(float(np.percentile(a, 99)), 1),
        "max_ms": round(float(a.max()), 1),
    }


async def _row1(url: str, token: str, stop: asyncio.Event) -> int:
    rng = np.random.default_rng(1)
    n = 0
    async with websockets.connect(url.replace("http", "ws", 1) + "/v1/streams/bad1?token=" + token) as ws:
        while not stop.is_set():
            big = json.dumps({"seq": 2**63 + n, "t0": 1000 + n, "rate": RATE, "samples": [[0.1] * 6] * 128})
            await ws.send(big if n % 2 else _chunk(n, n * 128, 128, rng, value=3e38))
            await asyncio.wait_for(ws.recv(), 30)
            n += 1
    return n


async def _row2(url: str, token: str, stop: asyncio.Event) -> int:
    big = b"[" * (40 << 20)
    junk = b'{"windows": [' + b",".join([b"[[1e5, 2e5, 3e5]]"] * 180_000)
    n = 0
    async with httpx.AsyncClient(timeout=60) as c:
        while not stop.is_set():
            try:
                await c.post(f"{url}/v1/predict", content=big, headers={"Content-Type": "application/json"})
                await c.post(
                    f"{url}/v1/predict",
                    content=junk,
                    headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
                )
            except httpx.HTTPError:
                pass  # a refused body may end the connection before the upload does
            n += 2
    return n


async def _row7(url: str, token: str, stop: asyncio.Event) -> int:
    body = {"windows": np.random.default_rng(7).normal(0, 0.3, (256, 128, 6)).round(4).tolist()}
    raw = json.dumps(body).encode()
    counts = [0]

    async def client():
        async with httpx.AsyncClient(timeout=60) as c:
            while not stop.is_set():
                try:
                    r = await c.post(
                        f"{url}/v1/predict",
                        content=raw,
                        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
                    )
                except httpx.HTTPError:  # a refused body may end the connection before the upload does
                    r = None
                counts[0] += 1
                if r is None or r.status_code == 429:  # a good client would wait; an attacker does not
                    await asyncio.sleep(0.01)

    await asyncio.gather(*(client() for _ in range(16)))
    return counts[0]


async def _row8(url: str, token: str, stop: asyncio.Event) -> int:
    rng = np.random.default_rng(8)
    n = 0
    async with websockets.connect(url.replace("http", "ws", 1) + "/v1/streams/bad8?token=" + token) as ws:
        while not stop.is_set():
            await ws.send(_chunk(n, n * 2000 * 50, 2000, rng, rate=1.0))
            await asyncio.wait_for(ws.recv(), 60)
            n += 1
    return n


async def _cpu(url: str, token: str, stop: asyncio.Event) -> int:
    n = 0
    while not stop.is_set():
        t = time.perf_counter()
        while time.perf_counter() - t < 0.05:
            n += 1
        await asyncio.sleep(0)
    return n


ATTACKS = {"row1": _row1, "row2": _row2, "row7": _row7, "row8": _row8, "cpu": _cpu}


def _attacker(attack: str, url: str, token: str, seconds: float, out, pin: bool = False) -> None:
    """The attacker in a process of its own, so its client-side work does not delay the good client, and at a
    lower CPU priority: on one machine an attacker's client work (40 MB uploads) competes with the server for
    the cores, which a remote attacker's does not."""
    os.nice(10)
    if pin:
        os.sched_setaffinity(0, _last_core())

    async def run():
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(seconds, stop.set)
        return await ATTACKS[attack](url, token, stop)

    out.put("ready")  # imports done: the spawn's start-up CPU is not charged to the good stream
    try:
        out.put(asyncio.run(run()))
    except Exception as e:  # the attacker's own failure is not the good stream's
        out.put(f"{type(e).__name__}: {e}"[:200])


def _last_core() -> set[int]:
    return {(os.cpu_count() or 1) - 1}


async def one_run(url: str, attack: str, seconds: float, speed: float, pin: bool = False) -> dict:
    async with httpx.AsyncClient(timeout=30) as c:
        good_tok = await _token(c, url, "good")
        bad_tok = await _token(c, url, {"row1": "bad1", "row8": "bad8"}.get(attack, "bad"))
    proc = None
    if attack != "none":
        ctx = mp.get_context("spawn")
        out = ctx.Queue()
        args = (attack, url, bad_tok, seconds + 2.0, out, pin)
        proc = ctx.Process(target=_attacker, args=args, daemon=True)
        proc.start()
        await asyncio.get_running_loop().run_in_executor(None, out.get, True, 120)  # "ready"
        await asyncio.sleep(1.0)  # the attacker is running before the good stream starts
    res = await good_stream(url, good_tok, seconds, speed)
    if proc:
        try:
            res["attack_requests"] = await asyncio.get_running_loop().run_in_executor(None, out.get, True, 90)
        except Exception as e:
            res["attack_requests"] = type(e).__name__
        proc.join(5)
        if proc.is_alive():
            proc.kill()
    return {"attack": attack, **res}


def main(a: argparse.Namespace) -> list[dict]:
    if a.pin:  # the server (started below) and the good client inherit this; the attacker takes the last core
        if (os.cpu_count() or 1) < 2:
            raise SystemExit("--pin needs at least 2 cores")
        os.sched_setaffinity(0, set(range(os.cpu_count() - 1)))
    out = []
    for r in range(a.repeat):
        for attack in a.attacks.split(","):
            with tempfile.TemporaryDirectory(prefix="harflow-attack-") as d:
                proc, url = start_server(a.model, ADMIN, d, backend=a.backend)
                try:
                    seconds = 3.0 if a.dry_run else a.seconds
                    res = asyncio.run(one_run(url, attack, seconds, a.speed, a.pin))
                finally:
                    stop_server(proc)
            out.append({**res, "round": r, "pinned": a.pin})
            print(json.dumps(out[-1]), flush=True)
    for attack in a.attacks.split(","):
        runs = [x for x in out if x["attack"] == attack]
        summary = {"attack": attack, "runs": len(runs)}
        for k in ("p50_ms", "p99_ms"):
            v = [x[k] for x in runs]
            summary[k] = {"median": round(float(np.median(v)), 1), "min": min(v), "max": max(v)}
        summary["errors"] = sum(len(x["errors"]) for x in runs)
        print(json.dumps({"summary": summary}), flush=True)
    return out


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True)
    p.add_argument("--seconds", type=float, default=15.0)
    p.add_argument("--attacks", default="none,row1,row2,row7,row8")
    p.add_argument("--backend", default="torch")
    p.add_argument("--speed", type=float, default=4.0, help="the good stream's pace, x real time")
    p.add_argument("--pin", action="store_true", help="attacker on the last core, server on the rest")
    p.add_argument("--repeat", type=int, default=1, help="rounds of all cases, interleaved")
    p.add_argument("--dry-run", action="store_true", help="3 s per attack")
    main(p.parse_args())
