"""Issue 18 rows 4 and 5 against the real server: tokens expire, are listed and revoked (admin API and
`harflow tokens`), a revocation takes effect within seconds (open streams included), a device has a capped
number of tokens, and no token reaches the log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.serve.conftest import ADMIN_KEY, Server
from tests.serve.hardening_util import HOP, chunk, recv_until

CACHE_S = 0.5
CAP = 3


@pytest.fixture(scope="module")
def srv(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory):
    env = {"HARFLOW_TOKEN_CACHE_S": str(CACHE_S), "HARFLOW_MAX_TOKENS_PER_DEVICE": str(CAP)}
    s = Server(tiny_run, tmp_path_factory.mktemp("tokens"), env).start()
    yield s
    s.stop()


def model(srv, token: str) -> int:
    return httpx.get(f"{srv.url}/v1/model", headers={"Authorization": f"Bearer {token}"}).status_code


def issue(srv, device: str, **body) -> httpx.Response:
    return httpx.post(f"{srv.url}/v1/devices/{device}/tokens", headers=srv.admin(), json=body or None)


def eventually(check, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def test_tokens_expire(srv):
    r = issue(srv, "short", ttl_s=1.5)
    assert r.status_code == 201 and r.json()["expires_at"] < time.time() + 2
    tok = r.json()["token"]
    assert model(srv, tok) == 200
    assert eventually(lambda: model(srv, tok) == 401)


def test_tokens_are_listed_and_revoked_within_seconds(srv):
    a, b = issue(srv, "rev").json(), issue(srv, "rev").json()
    r = httpx.get(f"{srv.url}/v1/devices/rev/tokens", headers=srv.admin())
    assert r.status_code == 200
    listed = r.json()["tokens"]
    assert [t["id"] for t in listed] == [a["id"], b["id"]] and all(t["active"] for t in listed)
    assert a["token"] not in r.text and b["token"] not in r.text  # ids only
    # a device token may neither list nor revoke
    dev = {"Authorization": f"Bearer {a['token']}"}
    assert httpx.get(f"{srv.url}/v1/devices/rev/tokens", headers=dev).status_code == 403
    assert httpx.delete(f"{srv.url}/v1/devices/rev/tokens/{a['id']}", headers=dev).status_code == 403
    # an open stream of token a, then a is revoked
    with connect(f"{srv.ws}/v1/streams/rev?token={a['token']}") as ws:
        ws.send(chunk(0, 0, 2 * HOP))
        recv_until(ws, 1)
        assert model(srv, a["token"]) == 200  # cached now
        r = httpx.delete(f"{srv.url}/v1/devices/rev/tokens/{a['id']}", headers=srv.admin())
        assert r.status_code == 200 and r.json()["revoked"] == 1
        t = time.monotonic()
        assert eventually(lambda: model(srv, a["token"]) == 401, timeout=CACHE_S + 3)
        assert time.monotonic() - t < CACHE_S + 3
        time.sleep(1.1)  # streams re-check their token at most every max(cache, 1 s)
        with pytest.raises(ConnectionClosed) as e:
            for k in range(2, 6):
                ws.send(chunk(k, k * HOP))
                ws.recv(timeout=10)
        assert e.value.rcvd is not None and e.value.rcvd.code == 1008
    assert model(srv, b["token"]) == 200  # the other token of the device is untouched
    assert httpx.delete(f"{srv.url}/v1/devices/rev/tokens/{a['id']}", headers=srv.admin()).status_code == 404
    r = httpx.get(f"{srv.url}/v1/devices/rev/tokens", headers=srv.admin()).json()["tokens"]
    assert [t["active"] for t in r] == [False, True] and r[0]["revoked_at"]


def test_tokens_per_device_are_capped(srv):
    toks = [issue(srv, "capped") for _ in range(CAP)]
    assert all(r.status_code == 201 for r in toks)
    r = issue(srv, "capped")
    assert r.status_code == 409 and "revoke" in r.json()["detail"]
    assert httpx.delete(f"{srv.url}/v1/devices/capped/tokens", headers=srv.admin()).json()["revoked"] == CAP
    assert issue(srv, "capped").status_code == 201


def test_the_tokens_cli_shares_the_store(srv):
    env = {**os.environ, "HARFLOW_DATA_DIR": str(srv.data_dir)}
    cmd = [sys.executable, "-m", "harflow.cli", "tokens"]
    out = subprocess.run([*cmd, "issue", "cli-dev"], env=env, capture_output=True, text=True, check=True)
    tok = json.loads(out.stdout)
    assert model(srv, tok["token"]) == 200
    listed = json.loads(
        subprocess.run([*cmd, "list", "cli-dev"], env=env, capture_output=True, text=True).stdout
    )
    assert [t["id"] for t in listed["tokens"]] == [tok["id"]] and tok["token"] not in json.dumps(listed)
    subprocess.run([*cmd, "revoke", "cli-dev", tok["id"]], env=env, check=True, capture_output=True)
    assert eventually(lambda: model(srv, tok["token"]) == 401)


def test_no_token_reaches_the_log(srv):
    tok = issue(srv, "logged").json()["token"]
    with connect(f"{srv.ws}/v1/streams/logged?token={tok}") as ws:
        ws.send(chunk(0, 0, 2 * HOP))
        recv_until(ws, 1)
    with pytest.raises(ConnectionClosed), connect(f"{srv.ws}/v1/streams/logged?token={ADMIN_KEY}x") as ws:
        ws.recv(timeout=10)
    time.sleep(0.5)
    logs = srv.logs()
    assert "/v1/streams/logged" in logs  # the connections were logged…
    assert tok not in logs and tok[4:] not in logs and ADMIN_KEY not in logs  # …without their tokens
