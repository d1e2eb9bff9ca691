"""The caregiver app in a real browser (Debian's chromium driven by Playwright) against a real `harflow
serve` with a real model: sign-in, a streaming device followed live, an inactivity alert raised by the
stream and acknowledged, scoping, refused sessions and CSRF, under the strict Content-Security-Policy.
Screenshots of every page are written to the test's output folder (its path is printed)."""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import httpx
import pytest

from harflow.serve.db.accounts import Accounts
from harflow.serve.db.queries import Store
from harflow.serve.demo import LAYING, WALKING, device_chunks, hapt_runs, stream
from tests.serve.webapp_fixtures import (
    CAREGIVER,
    LIVE_DEVICE,
    LIVE_PERSON,
    PASSWORD,
    start_app_server,
)

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img" / "webapp-person.png"

if not Path(CHROMIUM).exists():
    pytest.skip(
        f"{CHROMIUM} not found: `make system-deps` (scripts/system-deps.sh) installs Debian's chromium",
        allow_module_level=True,
    )
playwright = pytest.importorskip("playwright.sync_api", reason="pip install -e .[dev] installs playwright")
expect = playwright.expect


@pytest.fixture(scope="module")
def app_server(tiny_run, tmp_path_factory):
    srv = start_app_server(tiny_run, tmp_path_factory.mktemp("webapp-browser"))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("webapp-screenshots")
    print(f"\nscreenshots: {out}")
    return out


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, app_server):
    ctx = browser.new_context(base_url=app_server.url, viewport={"width": 1200, "height": 900})
    pg = ctx.new_page()
    pg.problems = []  # CSP violations, script errors
    pg.on("console", lambda m: m.type == "error" and pg.problems.append(m.text))
    pg.on("pageerror", lambda e: pg.problems.append(str(e)))
    yield pg
    problems = [p for p in pg.problems if "401" not in p and "404" not in p and "403" not in p]
    ctx.close()
    assert problems == [], f"browser console errors (CSP violations?): {problems}"


def sign_in(pg, user: str = CAREGIVER, password: str = PASSWORD) -> None:
    pg.goto("/app")
    expect(pg).to_have_url(re.compile(r"/login"))
    pg.fill("#username", user)
    pg.fill("#password", password)
    pg.click("button[type=submit]")


def test_bad_credentials_then_sign_in(page, shots):
    sign_in(page, password="not the password")
    expect(page.locator("#login-error")).to_contain_text("Wrong username or password")
    page.screenshot(path=shots / "login.png", full_page=True)
    page.fill("#username", CAREGIVER)
    page.fill("#password", PASSWORD)
    page.press("#password", "Enter")  # keyboard only
    expect(page.locator("h1")).to_have_text("Overview")
    assert page.context.cookies()[0]["httpOnly"] is True


def test_overview_follows_a_streaming_device_and_its_inactivity_alert(page, app_server, shots):
    sign_in(page)
    card = page.locator(f'.person[data-person="{LIVE_PERSON}"]')
    expect(card.locator('[data-field="activity"]')).to_have_text("no data yet")
    expect(card.locator('[data-field="open-alerts"]')).to_have_text("0")
    expect(page.locator("#live-status")).to_have_text("Live")
    token = app_server.token(LIVE_DEVICE)
    runs = hapt_runs()
    ws = f"{app_server.ws}/v1/streams/{LIVE_DEVICE}"
    t0 = time.time() - 600  # device time in the recent past: 40 s walking, then 5.5 min lying
    said: list[str] = []  # the service's own smoothed activities, as the device received them

    errors: list[dict] = []

    def heard(m: dict) -> None:
        if m.get("type") == "prediction":
            said.append(m["smoothed"])
        elif m.get("type") == "error":
            errors.append(m)

    sent = time.time()
    assert stream(ws, token, device_chunks(runs, [(WALKING, 40)], t0), False, heard) > 20
    walking = said[-1]
    expect(card.locator('[data-field="activity"]')).to_have_text(walking, timeout=10_000)
    walking_shown_s = time.time() - sent
    page.screenshot(path=shots / "overview-walking.png", full_page=True)
    sent = time.time()
    assert stream(ws, token, device_chunks(runs, [(LAYING, 330)], t0 + 40), False, heard) > 200, errors[:3]
    assert said[-1] == "LAYING" and walking.startswith("WALKING")  # the change the page must show
    expect(card.locator('[data-field="activity"]')).to_have_text("LAYING", timeout=10_000)
    laying_shown_s = time.time() - sent
    # the live monitor raised the alert from the stream; the page learns of it over the live channel
    expect(card.locator('[data-field="open-alerts"]')).to_have_text("1", timeout=20_000)
    page.screenshot(path=shots / "overview.png", full_page=True)
    print(f"activity shown {walking_shown_s:.1f} s / {laying_shown_s:.1f} s after the stream was sent")

    page.click(f'.person[data-person="{LIVE_PERSON}"] h2 a')
    alert = page.locator(".alert.sev-urgent").first
    expect(alert).to_contain_text("inactivity")
    alert.locator("input[name=note]").fill("phoned, she is fine")
    alert.locator("button", has_text="Acknowledge").click()
    expect(page.locator(".acked").first).to_contain_text(f"caregiver:{CAREGIVER}")
    expect(page.locator(".acked").first).to_contain_text("phoned, she is fine")
    expect(page.locator('[data-state-for="today"]')).to_be_hidden()
    page.screenshot(path=shots / "person-live.png", full_page=True)
    stored = httpx.get(f"{app_server.url}/v1/persons/{LIVE_PERSON}/alerts", headers=app_server.admin()).json()
    inactivity = [a for a in stored if a["kind"] == "inactivity"]
    assert inactivity[0]["acknowledged_by"] == f"caregiver:{CAREGIVER}"
    assert inactivity[0]["ack_note"] == "phoned, she is fine" and inactivity[0]["acknowledged_at"]


def test_person_page_with_a_week_of_history(page, shots):
    sign_in(page)
    page.goto("/app/persons/p001")
    for part in ("trend", "rhythm"):
        expect(page.locator(f'[data-state-for="{part}"]')).to_be_hidden(timeout=15_000)
    # today is drawn, or (in the small hours, before the simulated person's first segment) says it is empty
    today = page.locator('[data-state-for="today"]')
    expect(today).not_to_have_text(re.compile("Loading|Could not"))
    page.wait_for_timeout(300)  # the charts' first paint
    page.screenshot(path=shots / "person.png", full_page=True)
    if os.environ.get("HARFLOW_UPDATE_DOCS_IMG"):
        DOCS_IMG.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(shots / "person.png", DOCS_IMG)
    # the period buttons by keyboard
    page.focus('[data-days="30"]')
    page.keyboard.press("Enter")
    expect(page.locator('[data-days="30"]')).to_have_attribute("aria-pressed", "true")
    expect(page.locator('[data-days="7"]')).to_have_attribute("aria-pressed", "false")
    page.select_option("#metric", "sedentary_min")
    expect(page.locator('[data-state-for="trend"]')).to_be_hidden()


def test_alerts_inbox_newest_first(page, shots):
    sign_in(page)
    page.goto("/app/alerts")
    items = page.locator(".alert")
    expect(items.first).to_be_visible()
    assert page.locator("text=p002").count() == 0
    shown = [int(x) for x in items.evaluate_all("els => els.map(e => e.dataset.alert)")]
    api = page.request.get("/v1/alerts").json()  # the same session: newest first, assigned persons only
    assert shown == [a["id"] for a in api] and len(shown) >= 2
    assert [a["created_at"] for a in api] == sorted((a["created_at"] for a in api), reverse=True)
    assert page.locator(".badge").first.inner_text().lower() in ("urgent", "high", "medium", "low")
    page.screenshot(path=shots / "alerts.png", full_page=True)


def test_phone_layout_has_no_sideways_scroll(browser, app_server, shots):
    ctx = browser.new_context(base_url=app_server.url, viewport={"width": 390, "height": 844})
    pg = ctx.new_page()
    sign_in(pg)
    expect(pg.locator("h1")).to_have_text("Overview")
    for path, name in (("/app", "overview-phone.png"), ("/app/persons/p001", "person-phone.png")):
        pg.goto(path)
        pg.wait_for_timeout(500)
        assert pg.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), path
        pg.screenshot(path=shots / name, full_page=True)
    ctx.close()


def test_unassigned_person_is_invisible_in_page_api_and_live_channel(page, shots):
    sign_in(page)
    assert page.locator('.person[data-person="p002"]').count() == 0
    r = page.goto("/app/persons/p002")
    assert r.status == 404
    expect(page.locator(".error")).to_contain_text("No person")
    page.screenshot(path=shots / "not-assigned.png", full_page=True)
    assert page.request.get("/v1/persons/p002/daily").status == 404
    assert page.request.get("/v1/persons/p002/alerts").status == 404
    assert page.request.get("/v1/live?person=p002").status == 404


def test_expired_session_and_missing_csrf_token_are_refused(page, app_server):
    sign_in(page)
    expect(page.locator("h1")).to_have_text("Overview")
    alerts = page.request.get("/v1/persons/p001/alerts").json()
    open_one = next(a for a in alerts if a["acknowledged_at"] is None)
    r = page.request.post(f"/v1/persons/p001/alerts/{open_one['id']}/ack", data={"note": "x"})
    assert r.status == 403 and "CSRF" in r.json()["detail"]
    sid = next(c["value"] for c in page.context.cookies() if c["name"] == "harflow_session")
    store = Store(f"sqlite:///{app_server.data_dir / 'harflow.db'}")
    try:
        Accounts(store.engine).expire_session(sid)
    finally:
        store.close()
    page.reload()
    expect(page).to_have_url(re.compile(r"/login"))
    assert page.request.get("/v1/persons/p001/daily").status == 401
