"""A populated caregiver app in a minute: simulated persons with weeks of history in the service's store,
analysed by the patterns job, a caregiver account that looks after them, and a simulated device streaming
real HAPT sensor signals (walking, then lying, and so on) to the running service as one of them.

harflow webapp demo --url http://127.0.0.1:8000 --api-key KEY      # see docs/webapp.md
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import httpx
import numpy as np
import pandas as pd
from sqlalchemy import update

from harflow.data.frames import encode_frame

WALKING, LAYING = 1, 6  # HAPT activity codes of the runs the simulated device replays
RATE_HZ = 50.0
NAMES = ("Ada", "Bernard", "Clara", "Dev", "Edith", "Farid", "Grace", "Hugo")


def populate(
    database_url: str,
    persons: int = 3,
    days: int = 28,
    user: str = "demo",
    password: str | None = None,
    tz: str = "Europe/London",
    seed: int = 0,
    now: float | None = None,
) -> dict:
    """Simulate ``persons`` over the ``days`` before today (local), import them into the store, run the
    patterns job over them, and create (or reuse) caregiver ``user`` assigned to all of them."""
    from harflow.patterns.cohort import SimulationConfig
    from harflow.patterns.simulate import simulate_cohort
    from harflow.serve.core.config import Settings
    from harflow.serve.db.accounts import Accounts
    from harflow.serve.db.imports import import_timeline
    from harflow.serve.db.queries import Store
    from harflow.serve.db.session import migrate
    from harflow.serve.db.tables import persons as persons_table
    from harflow.serve.patterns_job import run_from_settings

    now = now or time.time()
    migrate(database_url)
    today = dt.datetime.fromtimestamp(now, ZoneInfo(tz)).date()
    # the days before today and today itself, cut at now: the app shows a day in progress
    cfg = SimulationConfig(
        persons=persons, days=days + 1, start=today - dt.timedelta(days=days), tz=tz, seed=seed, classes=6
    )
    cohort = simulate_cohort(cfg)
    frame = cohort.segments()
    cut = pd.Timestamp(now, unit="s", tz="UTC").tz_convert(tz)
    frame = frame[frame["start"] < cut].copy()
    frame["end"] = frame["end"].where(frame["end"] <= cut, cut)
    store = Store(database_url)
    try:
        imported = import_timeline(store.engine, frame, tz)
        with store.engine.begin() as conn:
            for i, pid in enumerate(cohort.persons):
                conn.execute(
                    update(persons_table)
                    .where(persons_table.c.id == pid)
                    .values(display_name=f"{NAMES[i % len(NAMES)]} ({pid})")
                )
        job = run_from_settings(Settings(database_url=database_url), now=now)
        accounts = Accounts(store.engine)
        created = None
        if accounts.get(user) is None:
            accounts.create(user, password or _random_password(), "caregiver")
            created = user
        for pid in cohort.persons:
            accounts.assign(user, pid)
    finally:
        store.close()
    return {
        "persons": list(cohort.persons),
        "imported": imported,
        "daily_days": job["days"],
        "alerts": job["alerts"],
        "user": user,
        "user_created": created is not None,
    }


def _random_password() -> str:
    import secrets

    return secrets.token_urlsafe(12)


def hapt_runs(subject: str = "2") -> dict[int, np.ndarray]:
    """The longest walking and lying runs (raw 50-Hz, 6 channels) of a HAPT test subject."""
    from harflow.data.sources import load_recordings

    runs: dict[int, np.ndarray] = {}
    for rec in load_recordings("hapt", classes=6, subjects=[subject]).recordings:
        for code in (WALKING, LAYING):
            idx = np.flatnonzero(rec.labels == code)
            if not len(idx):
                continue
            parts = np.split(idx, np.flatnonzero(np.diff(idx) != 1) + 1)
            best = rec.signals[max(parts, key=len)]
            if code not in runs or len(best) > len(runs[code]):
                runs[code] = best
    return runs


def device_chunks(
    runs: dict[int, np.ndarray], plan: list[tuple[int, float]], t0: float, chunk_s: float = 1.0
) -> Iterator[tuple[float, np.ndarray]]:
    """(start time, samples) chunks following ``plan`` [(activity code, seconds), ...] from ``t0``, each run
    looped as long as its part of the plan lasts."""
    t = t0
    n = int(chunk_s * RATE_HZ)
    for code, seconds in plan:
        ring = runs[code]
        total = int(seconds * RATE_HZ)
        pos = 0
        while pos < total:
            k = min(n, total - pos)
            idx = (np.arange(pos, pos + k)) % len(ring)
            yield t, ring[idx].astype(np.float32)
            t += k / RATE_HZ
            pos += k


def attach_device(url: str, api_key: str, person_id: str, device_id: str, t_from: float) -> str:
    """Assign the device to the person from ``t_from`` and return a new device token (admin API)."""
    h = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url=url, headers=h, timeout=30) as c:
        r = c.post(f"/v1/persons/{person_id}/devices", json={"device_id": device_id, "t_from": t_from})
        if r.status_code not in (201, 409):
            raise RuntimeError(f"assigning {device_id} to {person_id}: {r.status_code} {r.text}")
        r = c.post(f"/v1/devices/{device_id}/tokens")
        r.raise_for_status()
        return r.json()["token"]


def stream(
    ws_url: str,
    token: str,
    chunks: Iterator[tuple[float, np.ndarray]],
    realtime: bool = True,
    on_message=None,
    quiet_s: float = 3.0,
) -> int:
    """Send the chunks over the device's WebSocket (binary frames), paced to their timestamps when
    ``realtime``; returns the number of predictions the service committed."""
    from websockets.sync.client import connect

    got = 0
    start_wall = time.time()
    first_t = None
    with connect(f"{ws_url}?token={token}", max_size=None) as ws:
        for seq, (t, x) in enumerate(chunks):
            if realtime:
                first_t = t if first_t is None else first_t
                ahead = (t - first_t) - (time.time() - start_wall)
                if ahead > 0:
                    time.sleep(ahead)
            ws.send(encode_frame(seq, t, RATE_HZ, x))
            got += _drain(ws, on_message)
        # the last windows come after the last chunk: wait until the service has been quiet for a while
        deadline, quiet_since = time.time() + 60, time.time()
        while time.time() < deadline and time.time() - quiet_since < quiet_s:
            n = _drain(ws, on_message, timeout=0.2)
            got += n
            if n:
                quiet_since = time.time()
    return got


def _drain(ws, on_message, timeout: float = 0.0) -> int:
    n = 0
    while True:
        try:
            raw = ws.recv(timeout=timeout)
        except TimeoutError:
            return n
        msgs = json.loads(raw)
        for m in msgs if isinstance(msgs, list) else [msgs]:
            if m.get("type") == "prediction":
                n += 1
            if on_message:
                on_message(m)
        timeout = 0.0
