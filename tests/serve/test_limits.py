"""Service limits and transition events end to end, against the real `harflow serve` subprocess: the idle
timeout, oversize messages (the service's own `too_large` limit and uvicorn's 1009 at 4x it), and
`transition` events of a 12-class model on a real HAPT recording with postural transitions."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from harflow.data.frames import HEADER, encode_frame
from harflow.data.labels import HAPT_LABELS
from harflow.data.sources import load_recordings
from harflow.data.windows import WindowSpec, window_starts
from harflow.models.predictor import Predictor
from harflow.train.config import TrainConfig
from harflow.train.trainer import train
from tests.serve.conftest import Server

IDLE_S = 1.0
MAX_BYTES = 8192  # the service answers `too_large` above this; uvicorn closes with 1009 above 4x
WRITE_WAIT_S = 0.8
WINDOW = 128  # samples per window of every model here (2.56 s at 50 Hz); the hop is 64


@pytest.fixture(scope="module")
def signals() -> np.ndarray:
    return load_recordings("hapt", classes=6, subjects=["2"]).recordings[0].signals[:2000]


@pytest.fixture(scope="module")
def idle_server(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory):
    srv = Server(tiny_run, tmp_path_factory.mktemp("idle"), {"HARFLOW_IDLE_TIMEOUT_S": str(IDLE_S)}).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def small_server(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory):
    # commits wait WRITE_WAIT_S for company, so a chunk the server has read stays unacknowledged that long
    env = {"HARFLOW_MAX_MESSAGE_BYTES": str(MAX_BYTES), "HARFLOW_WRITE_WAIT_MS": str(WRITE_WAIT_S * 1000)}
    srv = Server(tiny_run, tmp_path_factory.mktemp("small"), env).start()
    yield srv
    srv.stop()


def frame(seq: int, start: int, sig: np.ndarray) -> bytes:
    """Binary chunk of ``sig`` whose first sample is sample ``start`` of a 50 Hz stream beginning at t=100."""
    return encode_frame(seq, 100 + start / 50, 50.0, sig)


def predictions(ws: ClientConnection, n: int, timeout: float = 30) -> list[dict]:
    """Receive until ``n`` predictions have arrived; fail on any error message."""
    out: list[dict] = []
    while len(out) < n:
        msg = json.loads(ws.recv(timeout=timeout))
        assert isinstance(msg, list), msg
        out += [m for m in msg if m["type"] == "prediction"]
    return out


def _spec(srv: Server) -> WindowSpec:
    return Predictor.load(srv.model).spec


def stored_windows(srv: Server, device: str) -> int:
    r = httpx.get(f"{srv.url}/v1/devices/{device}/timeline", headers=srv.admin())
    r.raise_for_status()
    return sum(s["windows"] for s in r.json()["segments"])


def closed(ws: ClientConnection, timeout: float, before: list | None = None) -> ConnectionClosed:
    """The close the server sent; messages still in flight before it are appended to ``before``."""
    with pytest.raises(ConnectionClosed) as e:
        deadline = time.monotonic() + timeout
        while True:
            msg = ws.recv(timeout=max(deadline - time.monotonic(), 0.01))
            if before is not None:
                before.append(msg)
    return e.value


# --- 1. idle timeout ---------------------------------------------------------------------------------------


def test_idle_stream_is_closed_normally_after_the_timeout(idle_server, signals):
    srv = idle_server
    tok = srv.token("idle-1")
    with connect(f"{srv.ws}/v1/streams/idle-1?token={tok}") as ws:
        ws.send(frame(0, 0, signals[:WINDOW]))
        sent = time.monotonic()
        [ack] = predictions(ws, 1)
        e = closed(ws, 10 * IDLE_S)
        waited = time.monotonic() - sent
    assert ack["seq"] == 0
    # 1000 (normal closure) with a reason naming the timeout: what streaming.py sends on idle
    assert e.rcvd is not None and (e.rcvd.code, e.rcvd.reason) == (1000, f"idle for {IDLE_S:g}s")
    # the timer starts when the chunk arrived, so it cannot fire earlier than IDLE_S after the send
    assert IDLE_S * 0.9 <= waited <= IDLE_S + 3, waited
    assert stored_windows(srv, "idle-1") == 1  # what was acknowledged before the close is stored

    # a stream that never sends anything is closed the same way
    with connect(f"{srv.ws}/v1/streams/idle-2?token={srv.token('idle-2')}") as ws:
        t = time.monotonic()
        e = closed(ws, 10 * IDLE_S)
        assert e.rcvd is not None and e.rcvd.code == 1000
        assert IDLE_S * 0.9 <= time.monotonic() - t <= IDLE_S + 3
    assert (
        'harflow_errors_total{kind="idle"}' in httpx.get(f"{srv.url}/metrics", headers=srv.admin()).text
    )  # row 10: admin only


def test_a_stream_that_keeps_sending_is_not_closed(idle_server, signals):
    """Two streams side by side for 3x the timeout: the silent one is closed, the one sending a chunk every
    0.3 s (gaps well below the timeout) stays open and all its windows come back and are stored."""
    srv = idle_server
    chunk, period = 32, 0.3 * IDLE_S
    with (
        connect(f"{srv.ws}/v1/streams/busy-1?token={srv.token('busy-1')}") as busy,
        connect(f"{srv.ws}/v1/streams/quiet-1?token={srv.token('quiet-1')}") as quiet,
    ):
        quiet.send(frame(0, 0, signals[:WINDOW]))
        n, t_end = 0, time.monotonic() + 3 * IDLE_S
        while time.monotonic() < t_end:
            busy.send(frame(n // chunk, n, signals[n : n + chunk]))
            n += chunk
            time.sleep(period)
        assert closed(quiet, 5 * IDLE_S).rcvd.code == 1000
        busy.send(frame(n // chunk, n, signals[n : n + chunk]))  # still accepted after 3x the timeout
        n += chunk
        expected = len(window_starts(n, _spec(srv)))
        assert expected >= 2
        got = predictions(busy, expected)
        assert [p["seq"] for p in got] == sorted(p["seq"] for p in got)
    assert stored_windows(srv, "busy-1") == expected
    assert stored_windows(srv, "quiet-1") == 1


# --- 2. oversize messages ----------------------------------------------------------------------------------


def test_message_above_max_message_bytes_gets_too_large_and_the_stream_goes_on(small_server, signals):
    srv = small_server
    big_n = (MAX_BYTES - HEADER.size) // 24 + 1  # one sample more than fits: 6 float32 per sample
    big = frame(1, WINDOW, signals[WINDOW : WINDOW + big_n])
    assert MAX_BYTES < len(big) < 4 * MAX_BYTES
    big_text = json.dumps({"seq": 1, "t0": 200, "rate": 50, "samples": signals[:200].tolist()})
    assert MAX_BYTES < len(big_text) < 4 * MAX_BYTES
    with connect(f"{srv.ws}/v1/streams/big-1?token={srv.token('big-1')}") as ws:
        ws.send(frame(0, 0, signals[:WINDOW]))
        predictions(ws, 1)
        for m in (big, big_text):
            ws.send(m)
            err = json.loads(ws.recv(timeout=30))
            assert err["type"] == "error" and err["kind"] == "too_large", err
            assert str(MAX_BYTES) in err["message"] and str(len(m)) in err["message"]
        # the rejected messages consumed nothing: seq 1 and the samples after the first window still fit
        ws.send(frame(1, WINDOW, signals[WINDOW : WINDOW + 64]))
        [p] = predictions(ws, 1)
        assert p["seq"] == 1
    assert stored_windows(srv, "big-1") == 2


@pytest.mark.parametrize("kind", ["binary", "text"])
def test_message_above_ws_max_size_closes_with_1009_and_nothing_else_is_lost(small_server, signals, kind):
    srv = small_server
    limit = 4 * MAX_BYTES  # ws_max_size that `harflow serve` gives uvicorn
    if kind == "binary":
        n = (limit - HEADER.size) // 24 + 1
        huge: bytes | str = frame(2, 2 * WINDOW, np.resize(signals, (n, 6)))
    else:
        huge = json.dumps({"seq": 2, "t0": 500, "rate": 50, "samples": np.resize(signals, (900, 6)).tolist()})
    assert len(huge) > limit
    a, b, c = (f"{kind}-{x}" for x in ("victim", "other", "unacked"))
    with (
        connect(f"{srv.ws}/v1/streams/{a}?token={srv.token(a)}") as victim,
        connect(f"{srv.ws}/v1/streams/{b}?token={srv.token(b)}") as other,
        connect(f"{srv.ws}/v1/streams/{c}?token={srv.token(c)}") as unacked,
    ):
        victim.send(frame(0, 0, signals[:WINDOW]))
        other.send(frame(0, 0, signals[:WINDOW]))
        predictions(victim, 1)
        predictions(other, 1)
        victim.send(huge)
        e = closed(victim, 30)
        assert e.rcvd is not None and e.rcvd.code == 1009, e  # 1009: message too big
        # a chunk the server has read but not yet acknowledged (its commit waits WRITE_WAIT_S) when the
        # oversize message closes the socket. The pause matters: uvicorn's websockets-sansio protocol
        # discards complete messages that arrive in the same TCP read as an oversize frame's header.
        unacked.send(frame(0, 0, signals[:WINDOW]))
        time.sleep(WRITE_WAIT_S / 3)
        unacked.send(huge)
        in_flight: list = []
        assert closed(unacked, 30, in_flight).rcvd.code == 1009
        assert in_flight == []  # closed before the acknowledgement could be sent
        # the other stream of the same server is unaffected
        other.send(frame(1, WINDOW, signals[WINDOW : 2 * WINDOW]))
        assert [p["seq"] for p in predictions(other, 2)] == [1, 1]
    assert stored_windows(srv, a) == 1  # acknowledged before the close: kept
    assert stored_windows(srv, b) == 3
    # the server still commits what it had received (streaming.py waits for the stream's worker)
    deadline = time.monotonic() + 10
    while stored_windows(srv, c) < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert stored_windows(srv, c) == 1
    assert httpx.get(f"{srv.url}/readyz").status_code == 200


# --- 3. transition events of a 12-class model --------------------------------------------------------------

TRAIN_SUBJECTS = ["1", "3", "6", "7", "8", "11", "5", "2"]  # train 1,3,6,7,8,11 · val 5 · test 2


@pytest.fixture(scope="module")
def run12(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 12-class LSTM good enough to recognise postural transitions: 8 epochs on 6 training subjects
    (~15 s on one core). The tiny_run_12 fixture (8 steps) never predicts a transition class."""
    out = tmp_path_factory.mktemp("run12") / "run"
    train(TrainConfig(subjects=TRAIN_SUBJECTS, classes=12, epochs=8, out=str(out), progress=False, threads=1))
    return out


@pytest.mark.slow
def test_transition_events_end_to_end_with_a_12_class_model(run12, tmp_path):
    # held-out subject 2, first recording, from 12.8 s: STANDING, then STAND_TO_SIT, SIT_TO_STAND,
    # STAND_TO_LIE and LIE_TO_SIT, each labeled in the per-sample labels
    rec = load_recordings("hapt", classes=12, subjects=["2"]).recordings[0]
    a, b = 640, 6000
    sig, lab = rec.signals[a:b], rec.labels[a:b]
    is_tr = lab >= 7
    edges = np.flatnonzero(np.diff(is_tr.astype(int)) == 1) + 1
    labeled = [(100 + i / 50, HAPT_LABELS[int(lab[i])]) for i in edges]
    assert len(labeled) >= 3, labeled

    srv = Server(run12, tmp_path / "data").start()
    try:
        labels = httpx.get(f"{srv.url}/v1/model", headers=srv.admin()).json()["labels"]
        tr_labels = {n for n in labels if "_TO_" in n}
        assert len(labels) == 12 and len(tr_labels) == 6
        expected = len(window_starts(len(sig), _spec(srv)))
        msgs: list[dict] = []
        with connect(f"{srv.ws}/v1/streams/trans-1?token={srv.token('trans-1')}") as ws:
            for seq, i in enumerate(range(0, len(sig), 250)):
                ws.send(frame(seq, i, sig[i : i + 250]))
            while sum(m["type"] == "prediction" for m in msgs) < expected:
                msg = json.loads(ws.recv(timeout=60))
                assert isinstance(msg, list), msg
                msgs += msg
        transitions = [m for m in msgs if m["type"] == "transition"]
        preds = [m for m in msgs if m["type"] == "prediction"]
        for m in transitions:
            assert set(m) >= {"type", "t", "from_activity", "to_activity", "probability", "model_version"}, m
            assert m["to_activity"] in tr_labels, m
            assert m["from_activity"] is None or m["from_activity"] in set(labels) - tr_labels, m
            assert 0.0 <= m["probability"] <= 1.0, m
            assert 100 <= m["t"] <= 100 + len(sig) / 50, m
            # the window it came from is smoothed to that transition class (t may be offset into the window)
            assert any(
                abs(p["t_start"] - m["t"]) <= WINDOW / 50 and p["smoothed"] == m["to_activity"] for p in preds
            ), m
        assert sum("_TO_" in p["activity"] for p in preds) >= 2  # raw argmax picks transition classes

        # events land within one window length of the start of a labeled transition of the same kind
        hits = [
            m
            for m in transitions
            if any(abs(m["t"] - t) <= WINDOW / 50 and m["to_activity"] == n for t, n in labeled)
        ]
        assert len(hits) >= 2, (transitions, labeled)

        r = httpx.get(f"{srv.url}/v1/devices/trans-1/events", headers=srv.admin())
        stored = [e for e in r.json()["events"] if e["type"] == "transition"]
        key = ("t", "from_activity", "to_activity", "model_version")
        assert [tuple(e[k] for k in key) for e in stored] == [tuple(m[k] for k in key) for m in transitions]
        assert np.allclose([e["probability"] for e in stored], [m["probability"] for m in transitions])
    finally:
        srv.stop()
