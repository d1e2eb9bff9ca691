"""A real `harflow serve` with a populated caregiver app: simulated persons with history (p001 assigned to
the caregiver, p002 not), and "gran", whose device streams live and whose inactivity profile alarms after a
few minutes of lying (so a test can raise a real alert by streaming)."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import httpx

from harflow.patterns.inactivity import InactivityProfile
from harflow.serve.db.accounts import Accounts
from harflow.serve.db.alerts import Alerts
from harflow.serve.db.analytics import Analytics
from harflow.serve.db.persons import Persons
from harflow.serve.db.queries import Store
from harflow.serve.db.session import migrate
from harflow.serve.demo import populate

CAREGIVER, PASSWORD = "carol", "carol's long password"
ADMIN_USER, ADMIN_PASSWORD = "root-user", "admin's long password"
LIVE_PERSON, LIVE_DEVICE = "gran", "gran-watch"
LYING_ALARM_MIN = 3.0


def live_profile(now: float) -> dict:
    """An inactivity profile (UTC) whose night lies hours away from ``now`` and that alarms after
    ``LYING_ALARM_MIN`` minutes of lying in the day."""
    n = 48
    minute = dt.datetime.fromtimestamp(now, dt.UTC).hour * 60.0
    return InactivityProfile(
        tz="UTC",
        slot_min=30,
        inactive_usual=[20.0] * n,
        lying_usual=[1.0] * n,
        inactive_thr=[600.0] * n,
        lying_thr=[LYING_ALARM_MIN] * n,
        sleep_from=(minute + 360) % 1440,
        sleep_to=(minute + 420) % 1440,
        wake_usual=None,
        wake_thr=None,
        days=30,
    ).to_dict()


def prepare_store(data_dir: Path, history_days: int = 8) -> dict:
    data_dir.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{data_dir / 'harflow.db'}"
    migrate(url)
    now = time.time()
    res = populate(url, persons=2, days=history_days, user=CAREGIVER, password=PASSWORD, tz="UTC", now=now)
    store = Store(url)
    try:
        acc, persons, analytics = Accounts(store.engine), Persons(store.engine), Analytics(store.engine)
        acc.unassign(CAREGIVER, "p002")
        persons.create(LIVE_PERSON, "Gran", "UTC")
        persons.assign(LIVE_PERSON, LIVE_DEVICE, now - 3 * 3600)
        analytics.put_days(LIVE_PERSON, [], processed_until=now - 3 * 3600)
        analytics.set_profile(LIVE_PERSON, live_profile(now), now)
        acc.assign(CAREGIVER, LIVE_PERSON)
        acc.create(ADMIN_USER, ADMIN_PASSWORD, "admin")
        # one known open alert per simulated person (the history may or may not raise one of its own); the
        # erasure test wants an outbox row as well
        day = dt.datetime.fromtimestamp(now - 86400, dt.UTC).strftime("%Y-%m-%d")
        for pid in ("p001", "p002"):
            Alerts(store.engine).add(
                pid,
                [
                    {
                        "kind": "step_change",
                        "metric": "walk_bouts",
                        "direction": "down",
                        "onset": day,
                        "detected": day,
                        "magnitude": -0.4,
                        "evidence": {"test": True},
                    }
                ],
                ["http://127.0.0.1:9/hook"],
            )
    finally:
        store.close()
    return {"url": url, **res}


def sign_in(base: str, user: str = CAREGIVER, password: str = PASSWORD) -> tuple[httpx.Client, str]:
    """An httpx client signed in through the real form; returns it and the session's CSRF token."""
    import re

    c = httpx.Client(base_url=base, timeout=30)
    page = c.get("/login").text
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    r = c.post("/login", data={"username": user, "password": password, "csrf": token, "next": "/app"})
    assert r.status_code == 303, r.text
    app = c.get("/app").text
    csrf = re.search(r'data-csrf="([^"]+)"', app).group(1)
    return c, csrf


def start_app_server(tiny_run: Path, data: Path, history_days: int = 8):
    """prepare_store, then a real server over it (plain-http loopback: the cookie's Secure flag off)."""
    from tests.serve.conftest import Server

    prepare_store(data, history_days=history_days)
    return Server(
        tiny_run,
        data,
        {
            "HARFLOW_COOKIE_SECURE": "false",
            "HARFLOW_PATTERNS_INTERVAL_S": "0",
            "HARFLOW_LOGIN_MAX_FAILURES": "3",
            "HARFLOW_LOGIN_WINDOW_S": "600",
            # the tests replay minutes of a device's past in seconds, far above a real device's message rate
            "HARFLOW_RATE_LIMIT_MESSAGES_PER_S": "0",
        },
    ).start()
