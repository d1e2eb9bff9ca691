"""The real service over loopback: streaming (JSON and binary), REST, history, auth matrix, bad input,
operations endpoints and hot reload."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from harflow.data.frames import encode_frame
from harflow.data.sources import load_recordings
from harflow.data.windows import slice_windows, window_starts
from harflow.models.predictor import Predictor


@pytest.fixture(scope="module")
def signals():
    return load_recordings("hapt", classes=6, subjects=["2"]).recordings[0].signals[:1400]


def stream(
    server,
    device: str,
    sig: np.ndarray,
    token: str,
    binary: bool = False,
    chunk: int = 25,
    expect: int | None = None,
    extra: list | None = None,
) -> list[dict]:
    """Send ``sig`` in chunks (plus ``extra`` raw messages first), return every message received."""
    expect = len(window_starts(len(sig), Predictor.load(server.model).spec)) if expect is None else expect
    out: list[dict] = []
    with connect(f"{server.ws}/v1/streams/{device}?token={token}") as ws:
        for m in extra or []:
            ws.send(m)
        for seq, i in enumerate(range(0, len(sig), chunk)):
            x = sig[i : i + chunk]
            ws.send(
                encode_frame(seq + 1000, 100 + i / 50, 50.0, x)
                if binary
                else json.dumps({"seq": seq + 1000, "t0": 100 + i / 50, "rate": 50, "samples": x.tolist()})
            )
        while sum(m["type"] == "prediction" for m in out) < expect:
            msg = json.loads(ws.recv(timeout=60))
            out += msg if isinstance(msg, list) else [msg]
    return out


def test_streaming_predictions_equal_offline_and_are_stored(server, signals):
    tok = server.token("dev-a")
    msgs = stream(server, "dev-a", signals, tok)
    preds = [m for m in msgs if m["type"] == "prediction"]
    pred = Predictor.load(server.model)
    starts = window_starts(len(signals), pred.spec)
    offline = pred.predict_proba(slice_windows(signals, starts, pred.spec.length))
    got = np.array([[m["probabilities"][n] for n in pred.labels] for m in preds])
    assert np.allclose(got, offline, atol=1e-4)
    assert [m["activity"] for m in preds] == [pred.labels[i] for i in offline.argmax(1)]
    assert np.allclose([m["t_start"] for m in preds], 100 + starts / 50)
    assert len({m["model_version"] for m in preds}) == 1
    events = [m for m in msgs if m["type"] in ("activity_changed", "transition")]
    assert events and events[0]["from_activity"] is None  # the first window sets the initial activity

    h = {"Authorization": f"Bearer {tok}"}
    tl = httpx.get(f"{server.url}/v1/devices/dev-a/timeline", headers=h).json()["segments"]
    assert sum(s["windows"] for s in tl) == len(preds)
    assert [s["activity"] for s in tl] == [
        e["to_activity"] for e in events if e["type"] == "activity_changed"
    ]
    stored = httpx.get(f"{server.url}/v1/devices/dev-a/events", headers=h).json()["events"]
    assert [(e["t"], e["to_activity"]) for e in stored] == [(e["t"], e["to_activity"]) for e in events]
    part = httpx.get(f"{server.url}/v1/devices/dev-a/timeline", params={"from": 110, "to": 115}, headers=h)
    assert all(s["t_end"] >= 110 and s["t_start"] <= 115 for s in part.json()["segments"])


def test_binary_frames_give_the_same_predictions(server, signals):
    a = stream(server, "dev-bin", signals[:600], server.token("dev-bin"), binary=True, chunk=16)
    b = stream(server, "dev-json", signals[:600], server.token("dev-json"), chunk=16)
    pa = [m["probabilities"] for m in a if m["type"] == "prediction"]
    pb = [m["probabilities"] for m in b if m["type"] == "prediction"]
    assert pa == pb and len(pa) == 8


def test_rest_predict_matches_offline_and_rejects_bad_windows(server, signals):
    pred = Predictor.load(server.model)
    X = slice_windows(signals, window_starts(len(signals), pred.spec)[:3], pred.spec.length)
    r = httpx.post(f"{server.url}/v1/predict", json={"windows": X.tolist()}, headers=server.admin())
    assert r.status_code == 200, r.text
    got = np.array([[p["probabilities"][n] for n in pred.labels] for p in r.json()["predictions"]])
    assert np.allclose(got, pred.predict_proba(X), atol=1e-4)
    many = slice_windows(signals, window_starts(len(signals), pred.spec)[:40], pred.spec.length)
    r = httpx.post(f"{server.url}/v1/predict", json={"windows": many.tolist()}, headers=server.admin())
    assert r.status_code == 200, r.text  # a body this large is decoded in the decoding process
    got = np.array([[p["probabilities"][n] for n in pred.labels] for p in r.json()["predictions"]])
    assert np.allclose(got, pred.predict_proba(many), atol=1e-4)
    bad = X[:1, :100].tolist()
    r = httpx.post(f"{server.url}/v1/predict", json={"windows": bad}, headers=server.admin())
    assert r.status_code == 422 and "window 0" in r.text
    huge = X[:1].copy()
    huge[0, 5, 2] = 1e12
    r = httpx.post(f"{server.url}/v1/predict", json={"windows": huge.tolist()}, headers=server.admin())
    assert r.status_code == 422 and "absurd" in r.text
    r = httpx.post(
        f"{server.url}/v1/predict",
        content=b"{oops",
        headers={**server.admin(), "content-type": "application/json"},
    )
    assert r.status_code == 422


def test_rest_auth_matrix(server, signals):
    tok = server.token("dev-auth")
    dev = {"Authorization": f"Bearer {tok}"}
    u = server.url
    assert httpx.get(f"{u}/v1/devices/dev-auth/timeline").status_code == 401
    assert (
        httpx.get(f"{u}/v1/devices/dev-auth/timeline", headers={"Authorization": "Bearer nope"}).status_code
        == 401
    )
    assert httpx.get(f"{u}/v1/devices/dev-auth/timeline", headers=dev).status_code == 200
    assert httpx.get(f"{u}/v1/devices/dev-auth/timeline", headers={"X-API-Key": tok}).status_code == 200
    assert httpx.get(f"{u}/v1/devices/other/timeline", headers=dev).status_code == 403
    assert httpx.get(f"{u}/v1/devices/other/events", headers=dev).status_code == 403
    assert httpx.get(f"{u}/v1/devices/other/timeline", headers=server.admin()).status_code == 200
    assert httpx.post(f"{u}/v1/devices/other/tokens", headers=dev).status_code == 403
    assert httpx.post(f"{u}/v1/devices/other/tokens").status_code == 401
    assert httpx.post(f"{u}/v1/admin/reload", headers=dev).status_code == 403
    assert httpx.post(f"{u}/v1/predict", json={"windows": []}).status_code == 401


def _closed_with(url: str) -> int:
    with pytest.raises(ConnectionClosed) as e, connect(url) as ws:
        ws.send(json.dumps({"seq": 0, "t0": 0, "rate": 50, "samples": [[0] * 6]}))
        ws.recv(timeout=10)
    return e.value.rcvd.code


def test_websocket_auth_matrix_and_stream_limit(server, signals):
    tok = server.token("dev-ws")
    base = f"{server.ws}/v1/streams"
    assert _closed_with(f"{base}/dev-ws") == 1008
    assert _closed_with(f"{base}/dev-ws?token=wrong") == 1008
    assert _closed_with(f"{base}/someone-else?token={tok}") == 1008
    # admin may stream any device; the device itself its own
    assert stream(server, "any-device", signals[:200], "test-admin-key", expect=1)
    with connect(f"{base}/dev-ws?token={tok}"), connect(f"{base}/dev-ws?token={tok}"):
        assert _closed_with(f"{base}/dev-ws?token={tok}") == 1008  # HARFLOW_MAX_STREAMS_PER_KEY=2


BAD = [
    ("channels", json.dumps({"seq": 1, "t0": 0, "rate": 50, "samples": [[0, 0, 0]] * 5})),
    ("non_finite", '{"seq": 1, "t0": 0, "rate": 50, "samples": [[0, 0, NaN, 0, 0, 0]]}'),
    ("non_finite", '{"seq": 1, "t0": 0, "rate": 50, "samples": [[0, 0, Infinity, 0, 0, 0]]}'),
    ("rate", json.dumps({"seq": 1, "t0": 0, "rate": 1e9, "samples": [[0] * 6]})),
    ("too_many_samples", json.dumps({"seq": 1, "t0": 0, "rate": 50, "samples": [[0] * 6] * 600})),
    ("too_large", json.dumps({"seq": 1, "t0": 0, "rate": 50, "samples": [[0.123456789] * 6] * 4000})),
    ("malformed", "{this is not json"),
    ("malformed", json.dumps({"seq": "x", "t0": 0, "rate": 50, "samples": []})),
    ("malformed", b"HF\x01garbage"),
    ("malformed", encode_frame(1, 0.0, 50.0, np.zeros((4, 6), np.float32))[:-3]),
]


@pytest.mark.parametrize(("kind", "message"), BAD, ids=[f"{k}-{i}" for i, (k, _) in enumerate(BAD)])
def test_bad_input_gets_a_clear_error_and_the_stream_goes_on(server, signals, kind, message):
    tok = server.token("dev-bad")
    msgs = stream(server, "dev-bad", signals[:200], tok, extra=[message], expect=1)
    errors = [m for m in msgs if m["type"] == "error"]
    assert [e["kind"] for e in errors] == [kind], errors
    assert errors[0]["message"]
    assert any(m["type"] == "prediction" for m in msgs)


def test_seq_and_time_errors_affect_only_their_stream(server, signals):
    tok = server.token("dev-seq")
    x = signals[:150]
    with (
        connect(f"{server.ws}/v1/streams/dev-seq?token={tok}") as ws,
        connect(f"{server.ws}/v1/streams/dev-ok?token=test-admin-key") as other,
    ):
        ws.send(json.dumps({"seq": 5, "t0": 0, "rate": 50, "samples": x[:50].tolist()}))
        other.send(json.dumps({"seq": 0, "t0": 0, "rate": 50, "samples": x.tolist()}))
        for seq, t0 in ((5, 2.0), (3, 2.0), (6, 0.5)):  # duplicated seq, non-monotonic seq, t0 going back
            ws.send(json.dumps({"seq": seq, "t0": t0, "rate": 50, "samples": x[50:60].tolist()}))
        kinds = [json.loads(ws.recv(timeout=30))["kind"] for _ in range(3)]
        assert kinds == ["seq", "seq", "time"]
        ws.send(json.dumps({"seq": 6, "t0": 1.0, "rate": 50, "samples": x[50:150].tolist()}))
        assert json.loads(ws.recv(timeout=30))[0]["type"] == "prediction"
        assert json.loads(other.recv(timeout=30))[0]["type"] == "prediction"


def test_operations_endpoints(server):
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
    # issue 18 row 10: details, the OpenAPI document and metrics are for the admin key; no CDN-loaded /docs
    r = httpx.get(f"{server.url}/readyz", headers=server.admin()).json()
    assert r["status"] == "ready" and r["database"] == "ok" and r["model_version"]
    assert httpx.get(f"{server.url}/docs").status_code == 404
    doc = httpx.get(f"{server.url}/v1/admin/openapi.json", headers=server.admin()).json()
    assert "/v1/predict" in doc["paths"]
    m = httpx.get(f"{server.url}/metrics", headers=server.admin()).text
    for name in (
        "harflow_e2e_latency_seconds_bucket",
        "harflow_inference_seconds_bucket",
        "harflow_batch_size",
        "harflow_queue_depth",
        "harflow_active_streams",
        "harflow_windows_total",
        "harflow_errors_total",
    ):
        assert name in m, name


def test_hot_reload_keeps_serving_with_the_version_in_responses(server, signals):
    r = httpx.post(f"{server.url}/v1/admin/reload", headers=server.admin(), timeout=120)
    assert r.status_code == 200
    version = r.json()["model_version"]
    # wait for every window of the 200 samples: the server may batch them into one message
    msgs = stream(server, "dev-reload", signals[:200], "test-admin-key")
    versions = [m["model_version"] for m in msgs if m["type"] == "prediction"]
    assert len(versions) == 2 and set(versions) == {version}
