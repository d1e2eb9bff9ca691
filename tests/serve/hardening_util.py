"""Helpers of the hardening tests (tests/serve/test_hardening_*.py): real servers with small limits, chunks,
raw sockets for the HTTP attacks."""

from __future__ import annotations

import json
import socket
import time

import httpx
import numpy as np
from websockets.sync.client import ClientConnection

HOP = 64  # samples between windows of the tiny model (128-sample windows at 50 Hz)


def chunk(seq: int, start: int, n: int = HOP, value: float | None = None, rate: float = 50.0) -> str:
    """A JSON chunk of ``n`` plausible samples whose first is sample ``start`` of a 50 Hz stream at t=100."""
    rng = np.random.default_rng(start)
    x = rng.normal(0, 0.3, (n, 6)) if value is None else np.full((n, 6), value)
    return json.dumps({"seq": seq, "t0": 100 + start / 50, "rate": rate, "samples": x.tolist()})


def recv_until(ws: ClientConnection, n_predictions: int, timeout: float = 30) -> list[dict]:
    """Messages until ``n_predictions`` predictions arrived (errors included in the result)."""
    out: list[dict] = []
    deadline = time.monotonic() + timeout
    while sum(m["type"] == "prediction" for m in out) < n_predictions:
        msg = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
        out += msg if isinstance(msg, list) else [msg]
    return out


def recv_answer(ws: ClientConnection, timeout: float = 30) -> list[dict]:
    """Messages until one prediction or one error arrived: a window's answer, whichever it is."""
    out: list[dict] = []
    while not any(m["type"] in ("prediction", "error") for m in out):
        msg = json.loads(ws.recv(timeout=timeout))
        out += msg if isinstance(msg, list) else [msg]
    return out


def stored_windows(srv, device: str) -> int:
    r = httpx.get(f"{srv.url}/v1/devices/{device}/timeline", headers=srv.admin())
    r.raise_for_status()
    return sum(s["windows"] for s in r.json()["segments"])


def raw(port: int, timeout: float = 10.0) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return s
