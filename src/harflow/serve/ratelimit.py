"""Per-key rate limits: token buckets for requests and for windows (the unit of model work), per process.

With ``--workers N`` each worker process keeps its own buckets, so a key may get up to N times the limit
when the kernel spreads its connections over the workers (docs/serving.md says so); the limits are there to
keep one key from starving the others, not to meter it exactly.
"""

from __future__ import annotations

import math
import time


class RateLimited(Exception):
    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s

    @property
    def retry_after(self) -> str:
        """The ``Retry-After`` header value: whole seconds, at least 1."""
        return str(max(1, math.ceil(self.retry_after_s)))

    @property
    def wait_s(self) -> float:
        """The wait a stream's error states: milliseconds, rounded up, so a refusal never says 0."""
        return max(1, math.ceil(self.retry_after_s * 1000)) / 1000


class Buckets:
    """One token bucket per key: ``rate`` per second, up to ``burst`` at once (rate 0 = unlimited)."""

    def __init__(self, rate: float, burst: float, what: str, max_keys: int = 100_000) -> None:
        self.rate, self.burst, self.what, self.max_keys = rate, burst, what, max_keys
        self.state: dict[str, tuple[float, float]] = {}  # key → (level, when)

    def check(self, key: str) -> None:
        """Raise :class:`RateLimited` if ``key``'s bucket is empty, taking nothing: for work whose size is
        known only after it was paid for (a body must be read and parsed to count its windows)."""
        if self.rate <= 0 or key not in self.state:
            return
        level, t = self.state[key]
        level = min(self.burst, level + (time.monotonic() - t) * self.rate)
        if level < 1:
            wait = (1 - level) / self.rate
            raise RateLimited(f"rate limit of {self.rate:g} {self.what}/s for this key exceeded", wait)

    def take(self, key: str, n: float = 1.0, debt: bool = False) -> None:
        """Take ``n`` from ``key``'s bucket or raise :class:`RateLimited`, taking nothing, or with ``debt``
        everything there is (down to -burst: the refused work was partly paid for, e.g. a body parsed)."""
        if self.rate <= 0:
            return
        now = time.monotonic()
        level, t = self.state.get(key, (self.burst, now))
        level = min(self.burst, level + (now - t) * self.rate)
        if n > self.burst:
            if debt:
                self.state[key] = (max(-self.burst, level - n), now)
            raise RateLimited(f"{n:g} {self.what} at once exceed this key's burst of {self.burst:g}", 1.0)
        if level < n:
            wait = (n - level) / self.rate
            self.state[key] = (max(-self.burst, level - n) if debt else level, now)
            raise RateLimited(
                f"rate limit of {self.rate:g} {self.what}/s for this key exceeded; retry in {wait:.1f}s", wait
            )
        if len(self.state) >= self.max_keys and key not in self.state:
            self.state.clear()  # an attack with endless keys must not grow memory; limits restart
        self.state[key] = (level - n, now)
