"""Alert delivery: webhooks with HMAC-signed payloads, from the durable outbox
(:mod:`harflow.serve.db.alerts`).

Each delivery is a POST of the alert's JSON with

    X-Harflow-Delivery: <delivery id>        the same on every retry: receivers deduplicate on it
    X-Harflow-Timestamp: <unix seconds>
    X-Harflow-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>

A 2xx answer marks it delivered; anything else (an error status, a timeout, a refused connection) schedules
a retry with exponential back-off (capped, with jitter). Delivery is at least once and is never abandoned:
a delivery still failing keeps being retried at the cap's pace, and ``harflow_alert_deliveries_pending``
shows it. The outbox lives in the database, so a restart resumes where the last process stopped.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import random
import time

import httpx

from harflow.serve.db.alerts import Alerts
from harflow.serve.tasks import cancel

log = logging.getLogger("harflow.serve.webhooks")


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str, max_age_s: float = 300) -> bool:
    """What a receiver does: a valid signature over a recent timestamp (replays of old deliveries fail)."""
    try:
        fresh = abs(time.time() - float(timestamp)) <= max_age_s
    except ValueError:
        return False
    return fresh and hmac.compare_digest(sign(secret, timestamp, body), signature)


def backoff_s(attempts: int, base_s: float, cap_s: float) -> float:
    """Delay before retry number ``attempts`` (1 = the first retry): exponential, capped, ±20 % jitter so
    that many failed deliveries do not retry in lockstep."""
    return min(cap_s, base_s * 2 ** max(0, attempts - 1)) * random.uniform(0.8, 1.2)


class Deliverer:
    def __init__(
        self,
        alerts: Alerts,
        secret: str,
        off_loop,
        *,
        timeout_s: float = 5.0,
        base_s: float = 2.0,
        cap_s: float = 600.0,
        poll_s: float = 1.0,
        on_result=None,
    ) -> None:
        self.alerts, self.secret, self.off_loop = alerts, secret, off_loop
        self.timeout_s, self.base_s, self.cap_s, self.poll_s = timeout_s, base_s, cap_s, poll_s
        self.on_result = on_result  # (ok: bool) -> None, for metrics
        self.wakeup = asyncio.Event()
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run())

    def kick(self) -> None:
        """New alerts are in the outbox: deliver now rather than at the next poll."""
        self.wakeup.set()

    async def _run(self) -> None:
        async with httpx.AsyncClient(timeout=self.timeout_s, follow_redirects=False) as client:
            while True:
                try:
                    await self.deliver_due(client)
                except Exception:  # a database hiccup must not end delivery; the outbox keeps everything
                    log.exception("alert delivery pass failed")
                self.wakeup.clear()
                try:
                    async with asyncio.timeout(self.poll_s):
                        await self.wakeup.wait()
                except TimeoutError:
                    pass

    async def deliver_due(self, client: httpx.AsyncClient) -> int:
        due = await self.off_loop(self.alerts.due, time.time())
        for d in due:
            body = d["payload"].encode()
            ts = str(int(time.time()))
            headers = {
                "content-type": "application/json",
                "x-harflow-delivery": str(d["id"]),
                "x-harflow-timestamp": ts,
                "x-harflow-signature": sign(self.secret, ts, body),
            }
            try:
                r = await client.post(d["target"], content=body, headers=headers)
                ok, error = r.is_success, f"HTTP {r.status_code}"
            except httpx.HTTPError as e:
                ok, error = False, f"{type(e).__name__}: {e}"
            if ok:
                await self.off_loop(self.alerts.delivered, d["id"])
            else:
                delay = backoff_s(d["attempts"] + 1, self.base_s, self.cap_s)
                await self.off_loop(self.alerts.failed, d["id"], error, time.time() + delay)
                log.warning(
                    "alert delivery %s to %s failed (%s); retry in %.0fs", d["id"], d["target"], error, delay
                )
            if self.on_result:
                self.on_result(ok)
        return len(due)

    async def close(self) -> None:
        await cancel(self.task)
