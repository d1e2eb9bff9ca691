"""Unusual inactivity decided live: committed windows of every stream feed their wearer's inactivity
monitor (:class:`harflow.patterns.monitor.InactivityMonitor`), off the stream path.

A stream hands its committed windows over with a non-blocking put and goes on; one task turns them into the
monitor's 60-s epochs (the majority smoothed activity of each minute) per person and updates the monitor,
so an alarm is raised within a minute of the inactivity becoming unusual for that person, not at the end of
the day. Profiles are learned by the patterns job (daily, from the person's history) and picked up here
every ``refresh_s``; a person without one is not monitored yet. If the hand-over queue is ever full the
windows are counted (``harflow_errors{kind="live_patterns_full"}``) and left to the patterns job, which
replays the same decisions over stored data.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter

import numpy as np
import pandas as pd

from harflow.patterns.inactivity import InactivityProfile
from harflow.patterns.monitor import InactivityMonitor
from harflow.serve.tasks import cancel

log = logging.getLogger("harflow.serve.live")
MINUTE = 60.0


class _Person:
    def __init__(self, person_id: str, profile: dict) -> None:
        self.profile = profile
        self.monitor = InactivityMonitor(person_id, InactivityProfile.from_dict(profile))
        self.minute: float | None = None
        self.counts: Counter[str] = Counter()


class LivePatterns:
    def __init__(
        self, svc, refresh_s: float = 60.0, depth: int = 100_000, device_ttl_s: float = 60.0
    ) -> None:
        self.svc, self.refresh_s, self.device_ttl_s = svc, refresh_s, device_ttl_s
        self.queue: asyncio.Queue = asyncio.Queue(maxsize=depth)
        self.people: dict[str, _Person] = {}
        self.profiles: dict[str, dict] = {}
        self.devices: dict[str, tuple[str | None, float]] = {}
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run())

    def feed(self, device_id: str, t_start: np.ndarray, activities: list[str]) -> None:
        """From the stream path: never waits."""
        try:
            self.queue.put_nowait((device_id, t_start, activities))
        except asyncio.QueueFull:
            self.svc.metrics.errors.labels("live_patterns_full").inc()

    async def _run(self) -> None:
        last_refresh = 0.0
        while True:
            if time.monotonic() - last_refresh > self.refresh_s:
                await self._refresh()
                last_refresh = time.monotonic()
            try:
                async with asyncio.timeout(self.refresh_s):
                    item = await self.queue.get()
            except TimeoutError:
                continue
            try:
                await self._handle(*item)
            except Exception:  # one person's bad state must not stop the others' monitoring
                log.exception("live patterns failed for device %s", item[0])

    async def _refresh(self) -> None:
        try:
            self.profiles = await self.svc.off_loop(self.svc.analytics.profiles)
        except Exception:
            log.exception("could not load inactivity profiles")
            return
        # a re-learned (or withdrawn) profile starts a new monitor; an unchanged one keeps its running state
        for pid in [pid for pid, p in self.people.items() if self.profiles.get(pid) != p.profile]:
            del self.people[pid]

    async def _person_of(self, device_id: str, t: float) -> str | None:
        pid, expires = self.devices.get(device_id, (None, 0.0))
        if time.monotonic() >= expires:
            pid = await self.svc.off_loop(self.svc.persons.person_of_device, device_id, t)
            self.devices[device_id] = (pid, time.monotonic() + self.device_ttl_s)
        return pid

    async def _handle(self, device_id: str, t_start: np.ndarray, activities: list[str]) -> None:
        pid = await self._person_of(device_id, float(t_start[0]))
        if pid is None or pid not in self.profiles:
            return
        p = self.people.get(pid)
        if p is None:
            p = self.people[pid] = _Person(pid, self.profiles[pid])
        found = []
        for t, act in zip(t_start.tolist(), activities, strict=True):
            minute = t - t % MINUTE
            if p.minute is not None and minute > p.minute and p.counts:
                epoch = pd.Timestamp(p.minute, unit="s", tz="UTC")
                found += p.monitor.update(epoch, p.counts.most_common(1)[0][0])
                p.counts.clear()
            if p.minute is None or minute >= p.minute:
                p.minute = minute
                p.counts[act] += 1
        if found:
            svc = self.svc
            new = await svc.off_loop(
                svc.alerts.add, pid, [a.to_dict() for a in found], svc.settings.webhook_targets()
            )
            if new and svc.deliverer:
                svc.deliverer.kick()
            for a in new:
                log.warning(
                    "alert %s for %s: %s %s since %s", a["id"], pid, a["kind"], a["metric"], a["onset"]
                )

    async def close(self) -> None:
        await cancel(self.task)
