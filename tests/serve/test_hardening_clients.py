"""Issue 18 rows 3 and 7 against the real server: slow or partial HTTP requests are timed out, and per-key
rate limits answer 429 with Retry-After on REST and a `rate_limited` error on streams."""

from __future__ import annotations

import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from tests.serve.conftest import Server
from tests.serve.hardening_util import HOP, chunk, raw

HEADER_S, BODY_S = 1.0, 2.0


@pytest.fixture(scope="module")
def srv(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory):
    env = {
        "HARFLOW_HEADER_TIMEOUT_S": str(HEADER_S),
        "HARFLOW_BODY_TIMEOUT_S": str(BODY_S),
        "HARFLOW_RATE_LIMIT_RPS": "5",
        "HARFLOW_RATE_LIMIT_BURST": "10",
        "HARFLOW_RATE_LIMIT_WINDOWS_PER_S": "20",
        "HARFLOW_RATE_LIMIT_WINDOWS_BURST": "40",
    }
    s = Server(tiny_run, tmp_path_factory.mktemp("clients"), env).start()
    yield s
    s.stop()


def closed_within(s: socket.socket, seconds: float, dribble: bytes | None = None) -> bytes:
    """What the server sent before closing ``s``; sends ``dribble`` a byte every 0.25 s meanwhile."""
    s.settimeout(0.25)
    deadline = time.monotonic() + seconds
    out, i = b"", 0
    while time.monotonic() < deadline:
        try:
            b = s.recv(65536)
            if not b:
                return out
            out += b
        except TimeoutError:
            if dribble and i < len(dribble):
                try:
                    s.sendall(dribble[i : i + 1])
                except OSError:
                    return out
                i += 1
    raise AssertionError(f"still open after {seconds}s; got {out[:200]!r}")


def test_a_silent_connection_is_closed(srv):
    s = raw(srv.port)
    closed_within(s, HEADER_S + 3)


def test_dribbled_headers_are_timed_out(srv):
    s = raw(srv.port)
    head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Slow: a\r\n" * 100
    got = closed_within(s, HEADER_S + 3, dribble=head)
    assert got == b"" or got.startswith(b"HTTP/1.1 408"), got[:100]


def test_a_dribbled_body_is_timed_out(srv):
    s = raw(srv.port)
    s.sendall(
        b"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer test-admin-key\r\n"
        b"Content-Type: application/json\r\nContent-Length: 1000000\r\n\r\n"
    )
    got = closed_within(s, BODY_S + 3, dribble=b"[" * 1000)
    assert got.startswith(b"HTTP/1.1 408"), got[:100]


def test_keep_alive_connections_still_work(srv):
    with httpx.Client() as c:
        for _ in range(3):
            assert c.get(f"{srv.url}/healthz").status_code == 200
            time.sleep(HEADER_S * 0.6)


def test_rest_requests_are_rate_limited_per_key(srv):
    a, b = srv.token("rl-a"), srv.token("rl-b")
    ha, hb = {"Authorization": f"Bearer {a}"}, {"Authorization": f"Bearer {b}"}
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda _: httpx.get(f"{srv.url}/v1/model", headers=ha), range(30)))
    limited = [r for r in codes if r.status_code == 429]
    assert limited and sum(r.status_code == 200 for r in codes) >= 10
    assert int(limited[0].headers["Retry-After"]) >= 1 and limited[0].json()["kind"] == "rate_limited"
    assert httpx.get(f"{srv.url}/v1/model", headers=hb).status_code == 200  # another key is unaffected
    assert httpx.get(f"{srv.url}/v1/model", headers=srv.admin()).status_code == 200  # admin: not limited
    time.sleep(1.0)
    assert httpx.get(f"{srv.url}/v1/model", headers=ha).status_code == 200  # the bucket refills


def test_windows_are_rate_limited_on_rest_and_streams(srv):
    tok = srv.token("rl-w")
    h = {"Authorization": f"Bearer {tok}"}
    r = httpx.post(f"{srv.url}/v1/predict", json={"windows": [[[0.1] * 6] * 128] * 64}, headers=h)
    assert r.status_code == 429 and r.headers["Retry-After"]  # 64 windows > the burst of 40
    with connect(f"{srv.ws}/v1/streams/rl-w?token={tok}") as ws:
        kinds = []
        for k in range(60):  # ~2 windows per chunk, sent as fast as possible: > 20 windows/s
            ws.send(chunk(k, k * 2 * HOP, 2 * HOP))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(kinds) < 60:
            msg = json.loads(ws.recv(timeout=20))
            for m in msg if isinstance(msg, list) else [msg]:
                if m["type"] == "error":
                    kinds.append(m["kind"])
                    assert m["kind"] != "rate_limited" or m["retry_after_s"] > 0
                elif m["type"] == "prediction":
                    kinds.append("prediction")
            if "rate_limited" in kinds and "prediction" in kinds:
                break
    assert "rate_limited" in kinds and "prediction" in kinds, kinds
