"""The caregiver app over real HTTP against a real `harflow serve`: sign-in, sessions, CSRF, rate limits,
scoping of pages, API and live channel, the admin users API, export and erase."""

from __future__ import annotations

import json
import re
import time

import httpx
import pytest
from sqlalchemy import create_engine, inspect, text

from harflow.serve.db.accounts import Accounts
from harflow.serve.db.queries import Store
from tests.conftest import run_harflow
from tests.serve.webapp_fixtures import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    CAREGIVER,
    LIVE_PERSON,
    PASSWORD,
    sign_in,
    start_app_server,
)


@pytest.fixture(scope="module")
def app_server(tiny_run, tmp_path_factory):
    srv = start_app_server(tiny_run, tmp_path_factory.mktemp("webapp-http"))
    yield srv
    srv.stop()


def _login_token(c: httpx.Client) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)


def test_sign_in_sets_a_strict_http_only_expiring_cookie_and_pages_need_it(app_server):
    anon = httpx.Client(base_url=app_server.url)
    r = anon.get("/app/persons/p001")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/app/persons/p001"
    c = httpx.Client(base_url=app_server.url)
    tok = _login_token(c)
    r = c.post("/login", data={"username": CAREGIVER, "password": PASSWORD, "csrf": tok, "next": "/app"})
    assert r.status_code == 303 and r.headers["location"] == "/app"
    cookie = r.headers["set-cookie"].lower()
    assert "harflow_session=" in cookie and "httponly" in cookie and "samesite=strict" in cookie
    assert "max-age=28800" in cookie
    page = c.get("/app")
    assert page.status_code == 200 and "Gran" in page.text and "p001" in page.text and "p002" not in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "<script>" not in page.text and "style=" not in page.text and " on" + "click" not in page.text


def test_bad_credentials_and_a_foreign_form_are_refused(app_server):
    c = httpx.Client(base_url=app_server.url)
    tok = _login_token(c)
    r = c.post("/login", data={"username": ADMIN_USER, "password": "wrong password!", "csrf": tok})
    assert r.status_code == 401 and "Wrong username or password" in r.text
    assert "harflow_session" not in r.headers.get("set-cookie", "")
    # no form token (a cross-site form post): refused before the password is even looked at
    r = httpx.post(
        app_server.url + "/login", data={"username": ADMIN_USER, "password": ADMIN_PASSWORD, "csrf": "x"}
    )
    assert r.status_code == 403 and "harflow_session" not in r.headers.get("set-cookie", "")


def test_sign_in_is_rate_limited_per_account_even_with_the_right_password(app_server):
    c = httpx.Client(base_url=app_server.url)
    for _ in range(3):
        r = c.post("/login", data={"username": "mallory", "password": "guess guess", "csrf": _login_token(c)})
        assert r.status_code == 401
    r = c.post("/login", data={"username": "mallory", "password": "guess guess", "csrf": _login_token(c)})
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    # another account from the same address is still allowed (the per-address limit is higher)
    ok, _ = sign_in(app_server.url)
    assert ok.get("/app").status_code == 200


def test_caregiver_sees_assigned_persons_only_in_pages_api_and_live_channel(app_server):
    c, csrf = sign_in(app_server.url)
    assert c.get("/app/persons/p001").status_code == 200
    assert c.get("/app/persons/p002").status_code == 404
    for path in ("", "/daily", "/rhythm", "/forecast", "/alerts", "/today", "/trend", "/devices"):
        assert c.get(f"/v1/persons/p002{path}").status_code == 404, path
        assert c.get(f"/v1/persons/p001{path}").status_code == 200, path
    assert {p["id"] for p in c.get("/v1/persons").json()} == {"p001", LIVE_PERSON}
    assert all(a["person_id"] != "p002" for a in c.get("/v1/alerts").json())
    assert c.get("/v1/live", params={"person": "p002"}).status_code == 404
    seen = set()
    with c.stream("GET", "/v1/live") as r:
        assert r.status_code == 200
        t0 = time.time()
        for line in r.iter_lines():
            if line.startswith("data:"):
                seen.add(json.loads(line[5:]).get("person_id"))
            if time.time() - t0 > 3:
                break
    assert seen == {"p001", LIVE_PERSON}
    # a caregiver has no device or admin powers
    assert c.post("/v1/devices/gran-watch/tokens", headers={"X-CSRF-Token": "x"}).status_code in (401, 403)
    assert c.get("/v1/users").status_code == 403
    assert c.get("/v1/persons/p001/export").status_code == 403
    # nor inference (least privilege): the CSRF token is right, the role is not
    r = c.post("/v1/predict", json={"windows": []}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 403 and "inference" in r.json()["detail"]
    assert c.get("/v1/model").status_code == 403


def test_state_changes_with_the_session_need_the_csrf_token(app_server):
    c, csrf = sign_in(app_server.url)
    admin = httpx.Client(base_url=app_server.url, headers=app_server.admin())
    alerts = admin.get("/v1/persons/p001/alerts").json() + admin.get("/v1/persons/p002/alerts").json()
    mine = [a for a in alerts if a["person_id"] == "p001" and a["acknowledged_at"] is None]
    if not mine:
        pytest.skip("the simulated history raised no open alert for p001")
    a = mine[0]
    url = f"/v1/persons/p001/alerts/{a['id']}/ack"
    assert c.post(url, json={"note": "x"}).status_code == 403  # no token
    assert c.post(url, json={"note": "x"}, headers={"X-CSRF-Token": "wrong"}).status_code == 403
    form = f"/app/persons/p001/alerts/{a['id']}/ack"
    assert c.post(form, data={"note": "x"}).status_code == 403
    assert admin.get(url.replace("/ack", "")).status_code in (404, 405)  # no such GET: nothing changed
    r = c.post(url, json={"note": "called her"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200
    assert r.json()["acknowledged_by"] == f"caregiver:{CAREGIVER}" and r.json()["ack_note"] == "called her"


def test_expired_and_signed_out_sessions_are_refused(app_server):
    c, _ = sign_in(app_server.url)
    sid = c.cookies["harflow_session"]
    store = Store(f"sqlite:///{app_server.data_dir / 'harflow.db'}")
    try:
        Accounts(store.engine).expire_session(sid)
    finally:
        store.close()
    assert c.get("/v1/persons/p001/daily").status_code == 401
    assert c.get("/app").status_code == 303
    c2, csrf2 = sign_in(app_server.url)
    assert c2.post("/logout", data={"csrf": "wrong"}).status_code == 403
    assert c2.post("/logout", data={"csrf": csrf2}).status_code == 303
    c2.cookies.set("harflow_session", sid)  # the old id no longer opens anything either
    assert c2.get("/v1/persons").status_code == 401


def test_admin_users_api_and_password_change_ends_sessions(app_server):
    admin = httpx.Client(base_url=app_server.url, headers=app_server.admin())
    r = admin.post("/v1/users", json={"username": "dora", "password": "short"})
    assert r.status_code == 422
    r = admin.post("/v1/users", json={"username": "dora", "password": "a long enough one"})
    assert r.status_code == 201 and r.json()["persons"] == []
    assert (
        admin.post("/v1/users", json={"username": "dora", "password": "a long enough one"}).status_code == 409
    )
    assert admin.put("/v1/users/dora/persons/nobody").status_code == 404
    assert admin.put("/v1/users/dora/persons/p002").json()["persons"] == ["p002"]
    c, _ = sign_in(app_server.url, "dora", "a long enough one")
    assert [p["id"] for p in c.get("/v1/persons").json()] == ["p002"]
    assert admin.put("/v1/users/dora/password", json={"password": "another long one"}).status_code == 204
    assert c.get("/v1/persons").status_code == 401
    assert admin.delete("/v1/users/dora").status_code == 204
    assert admin.get("/v1/users/dora").status_code == 404
    # an admin account signed in gets admin powers through its session
    a, _ = sign_in(app_server.url, ADMIN_USER, ADMIN_PASSWORD)
    assert a.get("/v1/users").status_code == 200


def test_export_then_erase_leaves_no_row_of_the_person(app_server):
    admin = httpx.Client(base_url=app_server.url, headers=app_server.admin(), timeout=60)
    exp = admin.get("/v1/persons/p002/export").json()
    assert exp["person"]["id"] == "p002" and len(exp["daily"]) >= 7 and len(exp["timeline"]) > 100
    assert {"alerts", "acknowledgements", "devices"} <= set(exp)
    device = exp["devices"][0]["device_id"]
    r = admin.delete("/v1/persons/p002")
    assert r.status_code == 200 and r.json()["erased"]["segments"] > 100
    assert admin.get("/v1/persons/p002").status_code == 404
    assert admin.delete("/v1/persons/p002").status_code == 404
    eng = create_engine(f"sqlite:///{app_server.data_dir / 'harflow.db'}")
    with eng.connect() as conn:
        for table in inspect(eng).get_table_names():
            cols = [c["name"] for c in inspect(eng).get_columns(table)]
            for col in cols:
                n = conn.execute(
                    text(f'SELECT count(*) FROM "{table}" WHERE CAST("{col}" AS TEXT) IN (:p, :d)'),
                    {"p": "p002", "d": device},
                ).scalar()
                assert n == 0, f"{table}.{col} still holds p002's data"
    eng.dispose()
    log = admin.get("/v1/erasures").json()
    assert log[0]["actor"].startswith("admin:") and log[0]["rows"]["persons"] == 1


def test_webapp_demo_dry_run_populates_the_running_service(app_server):
    """Last in the module: it re-imports simulated persons into the server's store."""
    env = {
        "HARFLOW_DATA_DIR": str(app_server.data_dir),
        "HARFLOW_USER_PASSWORD": "the demo's password",
        "HARFLOW_ADMIN_KEYS": "",
    }
    out = run_harflow(
        "webapp", "demo", "--dry-run", "--url", app_server.url, "--api-key", "test-admin-key", env=env
    ).stdout
    lines = [json.loads(x) for x in out.splitlines() if x.startswith("{")]
    assert lines[0]["persons"] == ["p001", "p002"] and lines[0]["daily_days"] >= 1
    assert lines[-1]["predictions"] > 3  # 10 s of real-time streaming, one window per 1.28 s
    c, _ = sign_in(app_server.url, "demo", "the demo's password")
    assert {p["id"] for p in c.get("/v1/persons").json()} == {"p001", "p002"}
    assert c.get("/v1/persons/p001/today").json()["segments"]
