"""Persons, device assignments, alerts and their webhook delivery, against the real server."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from harflow.serve.db.alerts import Alerts
from harflow.serve.db.queries import Store
from harflow.serve.webhooks import verify
from tests.serve.conftest import Server


def _alert(onset: str, kind: str = "step_change") -> dict:
    return {
        "kind": kind,
        "metric": "active_min",
        "direction": "down",
        "onset": onset,
        "detected": onset,
        "magnitude": -0.4,
        "evidence": {"baseline": 60.0, "recent": 36.0},
    }


def test_persons_and_assignments(server):
    admin = server.admin()
    url = server.url + "/v1/persons"
    r = httpx.post(url, json={"id": "mum", "display_name": "Mum", "tz": "Europe/London"}, headers=admin)
    assert r.status_code == 201 and r.json()["tz"] == "Europe/London"
    assert httpx.post(url, json={"id": "mum", "display_name": "x"}, headers=admin).status_code == 409
    bad_tz = httpx.post(url, json={"id": "dad", "display_name": "Dad", "tz": "Mars/Olympus"}, headers=admin)
    assert bad_tz.status_code == 422 and "time zone" in bad_tz.text
    assert httpx.post(url, json={"id": "a b", "display_name": "x"}, headers=admin).status_code == 422
    assert (
        httpx.post(url, json={"id": "x", "display_name": "x", "extra": 1}, headers=admin).status_code == 422
    )
    assert httpx.post(url, json={"id": "x", "display_name": "x"}).status_code == 401

    dev = {"Authorization": f"Bearer {server.token('watch-1')}"}
    # device tokens do not see persons: unknown and forbidden look the same
    assert httpx.post(url, json={"id": "y", "display_name": "y"}, headers=dev).status_code == 403
    assert httpx.get(url, headers=dev).json() == []
    assert httpx.get(url + "/mum", headers=dev).status_code == 404
    assert httpx.get(url + "/nobody", headers=admin).status_code == 404

    devices = url + "/mum/devices"
    assert (
        httpx.post(devices, json={"device_id": "watch-1", "from": 1000.0}, headers=admin).status_code == 201
    )
    r = httpx.post(url, json={"id": "dad", "display_name": "Dad"}, headers=admin)
    assert r.status_code == 201
    # the same watch handed to dad later: mum's open assignment ends where dad's starts
    r = httpx.post(url + "/dad/devices", json={"device_id": "watch-1", "from": 5000.0}, headers=admin)
    assert r.status_code == 201
    mum = httpx.get(devices, headers=admin).json()
    assert [(a["device_id"], a["t_from"], a["t_to"]) for a in mum] == [("watch-1", 1000.0, 5000.0)]
    overlap = httpx.post(devices, json={"device_id": "watch-1", "from": 2000.0, "to": 6000.0}, headers=admin)
    assert overlap.status_code == 409 and "over part of that time" in overlap.text
    dad = httpx.get(url + "/dad/devices", headers=admin).json()
    assert [(a["t_from"], a["t_to"]) for a in dad] == [(5000.0, None)]
    backwards = httpx.post(devices, json={"device_id": "w2", "from": 10.0, "to": 5.0}, headers=admin)
    assert backwards.status_code == 422
    assert httpx.post(devices, json={"device_id": "w3", "from": 1.0}, headers=dev).status_code == 403


def test_alerts_listed_newest_first_and_acknowledged_once(server):
    admin = server.admin()
    httpx.post(server.url + "/v1/persons", json={"id": "gran", "display_name": "Gran"}, headers=admin)
    store = Store(f"sqlite:///{server.data_dir / 'harflow.db'}")
    try:
        alerts = Alerts(store.engine)
        new = alerts.add("gran", [_alert("2026-01-10"), _alert("2026-01-20", "drift")], targets=[])
        assert len(new) == 2
        assert alerts.add("gran", [_alert("2026-01-10")], targets=[]) == []  # stored once
    finally:
        store.close()
    listed = httpx.get(server.url + "/v1/persons/gran/alerts", headers=admin).json()
    assert [a["kind"] for a in listed] == ["drift", "step_change"]  # newest first
    assert listed[0]["severity"] == "low" and listed[1]["evidence"] == {"baseline": 60.0, "recent": 36.0}
    aid = listed[1]["id"]
    ack = httpx.post(
        f"{server.url}/v1/persons/gran/alerts/{aid}/ack", json={"note": "called her, fine"}, headers=admin
    ).json()
    assert ack["acknowledged_by"].startswith("admin:") and ack["ack_note"] == "called her, fine"
    again = httpx.post(f"{server.url}/v1/persons/gran/alerts/{aid}/ack", json={"note": "x"}, headers=admin)
    assert (
        again.json()["ack_note"] == "called her, fine"
        and again.json()["acknowledged_at"] == ack["acknowledged_at"]
    )
    inbox = httpx.get(server.url + "/v1/alerts?open=true", headers=admin).json()
    assert aid not in [a["id"] for a in inbox] and listed[0]["id"] in [a["id"] for a in inbox]
    # an alert of another person cannot be acknowledged through this one
    httpx.post(server.url + "/v1/persons", json={"id": "other", "display_name": "O"}, headers=admin)
    r = httpx.post(f"{server.url}/v1/persons/other/alerts/{aid}/ack", json={}, headers=admin)
    assert r.status_code == 404


class Receiver:
    """A real webhook receiver on loopback that fails the first ``fail`` requests with 500."""

    def __init__(self, fail: int = 0) -> None:
        self.fail, self.got = fail, []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["content-length"]))
                outer.got.append(({k.lower(): v for k, v in self.headers.items()}, body))
                ok = len(outer.got) > outer.fail
                self.send_response(200 if ok else 500)
                self.end_headers()

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _wait(pred, timeout: float = 30.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if v := pred():
            return v
        time.sleep(0.1)
    raise AssertionError("timed out")


@pytest.mark.slow
def test_webhooks_signed_retried_and_delivered_across_a_crash(tiny_run, tmp_path):
    recv = Receiver(fail=2)
    secret = "s3cret"
    env = {
        "HARFLOW_WEBHOOK_URLS": recv.url,
        "HARFLOW_WEBHOOK_SECRET": secret,
        "HARFLOW_WEBHOOK_RETRY_BASE_S": "0.2",
    }
    srv = Server(tiny_run, tmp_path / "data", env).start()
    store = Store(f"sqlite:///{tmp_path / 'data' / 'harflow.db'}")
    alerts = Alerts(store.engine)
    try:
        httpx.post(srv.url + "/v1/persons", json={"id": "p1", "display_name": "P"}, headers=srv.admin())
        (a,) = alerts.add("p1", [_alert("2026-02-01")], targets=[recv.url])
        _wait(lambda: alerts.deliveries(a["id"])[0]["delivered_at"])
        d = alerts.deliveries(a["id"])[0]
        assert d["attempts"] == 3 and len(recv.got) == 3  # two 500s, then delivered
        headers, body = recv.got[-1]
        assert json.loads(body)["alert"]["id"] == a["id"]
        assert headers["x-harflow-delivery"] == str(d["id"]) == recv.got[0][0]["x-harflow-delivery"]
        assert verify(secret, headers["x-harflow-timestamp"], body, headers["x-harflow-signature"])
        assert not verify("wrong", headers["x-harflow-timestamp"], body, headers["x-harflow-signature"])

        # the receiver is down and the server dies: the committed alert waits in the outbox
        recv.close()
        (b,) = alerts.add("p1", [_alert("2026-02-09")], targets=[recv.url])
        _wait(lambda: alerts.deliveries(b["id"])[0]["attempts"] >= 1)
        srv.kill()
        assert alerts.deliveries(b["id"])[0]["delivered_at"] is None
        recv2 = Receiver()
        try:
            # the target URL changed port with the new receiver: point the outbox row at it, as an operator
            # re-pointing a webhook would; the row itself survived the crash
            with store.engine.begin() as conn:
                conn.exec_driver_sql(
                    "UPDATE alert_deliveries SET target = ?, next_attempt_at = 0 WHERE alert_id = ?",
                    (recv2.url, b["id"]),
                )
            srv.start()
            _wait(lambda: alerts.deliveries(b["id"])[0]["delivered_at"])
            assert json.loads(recv2.got[0][1])["alert"]["onset"] == "2026-02-09"
        finally:
            recv2.close()
    finally:
        store.close()
        srv.stop()


def test_imported_timelines_become_daily_metrics_rhythm_forecast_and_alerts(server, tmp_path):
    """simulate → import into the server's store → the patterns job → the persons API."""
    from tests.conftest import run_harflow

    env = {"HARFLOW_DATA_DIR": str(server.data_dir)}
    out = tmp_path / "cohort"
    run_harflow("patterns", "simulate", "--persons", "2", "--days", "70", "--seed", "5", "--out", str(out))
    truth = json.loads((out / "ground_truth.json").read_text())
    imported = json.loads(
        run_harflow(
            "patterns", "import", "--timeline", str(out / "timeline.parquet"), "--tz", truth["tz"], env=env
        ).stdout
    )
    assert imported["persons"] == 2
    res = json.loads(run_harflow("patterns", "run", "--json", env=env).stdout.strip().splitlines()[-1])
    assert res["persons"] >= 2 and not res["failed"]

    admin = server.admin()
    pid = truth["persons"][0]["person"]
    daily = httpx.get(f"{server.url}/v1/persons/{pid}/daily?from=2026-01-10&to=2026-01-16", headers=admin)
    days = daily.json()["days"]
    assert [d["date"] for d in days] == [f"2026-01-{d}" for d in range(10, 17)]
    assert all(d["valid"] for d in days) and all(30 < d["active_min"] < 300 for d in days)
    bad = httpx.get(f"{server.url}/v1/persons/{pid}/daily?from=yesterday", headers=admin)
    assert bad.status_code == 422
    fc = httpx.get(f"{server.url}/v1/persons/{pid}/forecast?days=3", headers=admin).json()["forecast"]
    assert {r["horizon"] for r in fc} == {1, 2, 3} and all(
        r["lower"] <= r["median"] <= r["upper"] for r in fc
    )
    # the simulated days lie in the past: rhythm over the last N days finds none of them
    assert httpx.get(f"{server.url}/v1/persons/{pid}/rhythm", headers=admin).json()["windows"] == []
    alerts = httpx.get(f"{server.url}/v1/persons/{pid}/alerts", headers=admin).json()
    assert all(a["person_id"] == pid for a in alerts)
    # the device token of another device sees none of it
    dev = {"Authorization": f"Bearer {server.token('watch-9')}"}
    assert httpx.get(f"{server.url}/v1/persons/{pid}/daily", headers=dev).status_code == 404
