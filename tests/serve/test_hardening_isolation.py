"""Issue 18 rows 1 and 6 against the real server: one device's bad chunk cannot make another device's windows
fail to store (the group commit survives it), and a window is stored once per device and time whatever the
resends and connections, a resend answered with what was stored."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import numpy as np
import pytest
from websockets.sync.client import connect

from harflow.serve.db.queries import Batch, Store, prediction_row
from harflow.serve.db.session import migrate
from harflow.serve.db.writer import Writer
from tests.serve.conftest import Server
from tests.serve.hardening_util import HOP, chunk, recv_answer, recv_until, stored_windows


@pytest.fixture(scope="module")
def srv(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory):
    # commits gather rows for 100 ms, so the attacker's rows and the good device's meet in one transaction
    s = Server(tiny_run, tmp_path_factory.mktemp("iso"), {"HARFLOW_WRITE_WAIT_MS": "100"}).start()
    yield s
    s.stop()


ATTACKS = {
    "seq_overflow": lambda seq, start: json.dumps(
        {"seq": 2**63 + seq, "t0": 100 + start / 50, "rate": 50, "samples": [[0.1] * 6] * 2 * HOP}
    ),
    "huge_values": lambda seq, start: chunk(seq, start, 2 * HOP, value=3e38),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_a_bad_device_cannot_fail_another_devices_windows(srv, attack):
    good, bad = f"good-{attack}", f"bad-{attack}"
    stop = threading.Event()
    bad_kinds: list[str] = []

    def attacker():
        with connect(f"{srv.ws}/v1/streams/{bad}?token={srv.token(bad)}") as ws:
            k = 0
            while not stop.is_set():
                ws.send(ATTACKS[attack](k, k * 2 * HOP))
                msg = json.loads(ws.recv(timeout=30))
                bad_kinds.extend(m.get("kind", m["type"]) for m in (msg if isinstance(msg, list) else [msg]))
                k += 1

    t = threading.Thread(target=attacker, daemon=True)
    t.start()
    n = 40
    try:
        with connect(f"{srv.ws}/v1/streams/{good}?token={srv.token(good)}") as ws:
            msgs = []
            for k in range(n + 1):  # chunk k (k ≥ 1) completes window k-1
                ws.send(chunk(k, k * HOP))
                if k:
                    msgs += recv_answer(ws)
    finally:
        stop.set()
        t.join(30)
    errors = [m for m in msgs if m["type"] == "error"]
    assert not errors, errors[:3]
    assert sum(m["type"] == "prediction" for m in msgs) == n
    assert stored_windows(srv, good) == n
    assert bad_kinds and "prediction" not in bad_kinds  # the attacker got errors of its own
    assert set(bad_kinds) <= {"malformed", "range", "model_output", "rate_limited"}, set(bad_kinds)
    assert stored_windows(srv, bad) == 0


def test_a_failed_group_commit_is_retried_per_stream(tmp_path):
    """The writer's fallback, on a real SQLite store: rows the database refuses fail their stream only."""
    url = f"sqlite:///{tmp_path}/w.db"
    migrate(url)
    store = Store(url)
    probs = np.array([0.9, 0.1])

    def batch(dev: str, p: float | None) -> Batch:
        row = prediction_row(dev, 0, 1.0, 2.0, ["a", "b"], probs, "a", "v")
        row["probability"] = p  # None: NOT NULL violation, as NaN model outputs used to cause
        return Batch([row])

    async def main():
        w = Writer(store, max_rows=100, wait_s=0.2)
        w.start()
        res = await asyncio.gather(
            w.write(batch("ok-1", 0.9)),
            w.write(batch("broken", None)),
            w.write(batch("ok-2", 0.9)),
            return_exceptions=True,
        )
        await w.close()
        return res

    res = asyncio.run(main())
    assert res[0] == {} and res[2] == {} and isinstance(res[1], Exception)
    assert len(store.prediction_rows("ok-1")) == 1 and len(store.prediction_rows("ok-2")) == 1
    assert store.prediction_rows("broken") == []
    store.close()


def test_resends_and_second_connections_are_stored_once(srv):
    dev = "idem"
    tok = srv.token(dev)
    url = f"{srv.ws}/v1/streams/{dev}?token={tok}"
    with connect(url) as ws:
        for k in range(11):
            ws.send(chunk(k, k * HOP))
        first = [m for m in recv_until(ws, 10) if m["type"] == "prediction"]
    assert stored_windows(srv, dev) == 10
    # the acknowledgements of seq 5-10 "were lost": reconnect and resend them with the same times
    with connect(url) as ws:
        for k in range(5, 11):
            ws.send(chunk(k, k * HOP))
        again = [m for m in recv_until(ws, 5) if m["type"] == "prediction"]
    assert [m["t_start"] for m in again] == [m["t_start"] for m in first[5:]]
    assert all(m.get("stored") == "earlier" for m in again)
    assert [m["activity"] for m in again] == [m["activity"] for m in first[5:]]
    # two connections of the device sending the same (new) times at once
    with connect(url) as a, connect(url) as b:
        for k in range(11, 16):
            a.send(chunk(k, k * HOP))
            b.send(chunk(k, k * HOP))
        recv_until(a, 4), recv_until(b, 4)
    # a fresh connection windows from its first chunk: 4 new windows (seq 10's never completed)
    assert stored_windows(srv, dev) == 10 + 4
