"""The live inactivity path: committed windows of a device → its wearer's minute epochs → the monitor → a
stored alert with an outbox row, decided as the data arrive (real store, real monitor, real profile)."""

from __future__ import annotations

import asyncio
import datetime as dt

import numpy as np

from harflow.patterns.inactivity import InactivityProfile
from harflow.serve.core.config import Settings
from harflow.serve.db.alerts import Alerts
from harflow.serve.db.analytics import Analytics
from harflow.serve.db.persons import Persons
from harflow.serve.db.queries import Store
from harflow.serve.db.session import migrate
from harflow.serve.live_patterns import LivePatterns
from harflow.serve.metrics import Metrics

TZ = "Europe/London"


class _Svc:
    """The parts of the service LivePatterns uses, over a real store."""

    def __init__(self, url: str) -> None:
        self.store = Store(url)
        e = self.store.engine
        self.persons, self.alerts, self.analytics = Persons(e), Alerts(e), Analytics(e)
        self.metrics, self.deliverer = Metrics(), None
        self.settings = Settings(webhook_urls="http://127.0.0.1:9/hook", webhook_secret="s")

    async def off_loop(self, fn, *args):
        return await asyncio.to_thread(fn, *args)


def _profile() -> dict:
    n = 48  # 30-min slots; usual day-time inactivity of 45 min, lying 20 min; nights 23:00-07:00
    return InactivityProfile(
        tz=TZ,
        slot_min=30,
        inactive_usual=[45.0] * n,
        lying_usual=[20.0] * n,
        inactive_thr=[90.0] * n,
        lying_thr=[40.0] * n,
        sleep_from=23 * 60.0,
        sleep_to=7 * 60.0,
        wake_usual=None,
        wake_thr=None,
        days=30,
    ).to_dict()


def test_a_long_lie_in_the_afternoon_alarms_within_minutes(tmp_path):
    url = f"sqlite:///{tmp_path / 'h.db'}"
    migrate(url)
    svc = _Svc(url)
    day = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
    svc.persons.create("gran", "Gran", TZ)
    svc.persons.assign("gran", "watch", day.timestamp() - 86400)
    svc.analytics.put_days("gran", [], processed_until=day.timestamp())
    svc.analytics.set_profile("gran", _profile(), day.timestamp())

    async def go() -> list[dict]:
        live = LivePatterns(svc, refresh_s=0.05)
        live.start()
        await asyncio.sleep(0.2)  # profiles loaded
        t0 = day.timestamp() + 13 * 3600  # 13:00 (winter: UTC = local)
        hop = 1.28
        walk = np.arange(t0, t0 + 1800, hop)  # 30 min on the move, then lying from 13:30
        lie = np.arange(t0 + 1800, t0 + 1800 + 3 * 3600, hop)
        for part, act in ((walk, "WALKING"), (lie, "LAYING")):
            for i in range(0, len(part), 50):  # chunks as streams commit them
                chunk = part[i : i + 50]
                live.feed("watch", chunk, [act] * len(chunk))
        for _ in range(200):
            await asyncio.sleep(0.05)
            if live.queue.empty():
                break
        await asyncio.sleep(0.3)
        await live.close()
        return svc.alerts.list(["gran"])

    alerts = asyncio.run(go())
    assert [a["kind"] for a in alerts] == ["inactivity"]
    a = alerts[0]
    assert a["metric"] == "lying_run" and a["onset"] == "2026-03-02T13:30"
    # decided once the run passed the 40-min lying threshold: minutes after, not at the end of the day
    detected = dt.datetime.fromisoformat(a["detected"])
    assert dt.timedelta(minutes=40) <= detected - dt.datetime(2026, 3, 2, 13, 30) <= dt.timedelta(minutes=43)
    assert len(svc.alerts.deliveries(a["id"])) == 1
    svc.store.close()


def test_devices_without_a_wearer_or_profile_are_not_monitored(tmp_path):
    url = f"sqlite:///{tmp_path / 'h.db'}"
    migrate(url)
    svc = _Svc(url)

    async def go() -> None:
        live = LivePatterns(svc, refresh_s=0.05)
        live.start()
        t = np.arange(0, 7200, 1.28) + 1.7e9
        live.feed("nobody's", t, ["LAYING"] * len(t))
        await asyncio.sleep(0.5)
        await live.close()

    asyncio.run(go())
    assert svc.alerts.list(None) == []
    svc.store.close()
