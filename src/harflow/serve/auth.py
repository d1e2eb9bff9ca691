"""API keys and device tokens. Keys are only ever kept as SHA-256 hashes: admin keys from settings (plain or
``sha256:<hex>``), device tokens in the database. An admin may do anything; a device token may only stream
and read its own device."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass


def credentials(headers, query_token: str | None = None) -> str | None:
    """The key a request presents: ``Authorization: Bearer``, ``X-API-Key``, or (WebSockets, whose browser
    clients cannot set headers) ``?token=``."""
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return headers.get("x-api-key") or query_token


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_token() -> str:
    return "hfd_" + secrets.token_urlsafe(24)


@dataclass(frozen=True)
class Principal:
    kind: str  # "admin" | "device" | "caregiver" (signed-in user) | "open" (auth disabled)
    key_hash: str
    device_id: str | None = None
    user: str | None = None  # the signed-in user's name (web sessions)
    persons: frozenset[str] = frozenset()  # a caregiver's assigned persons

    def may_access(self, device_id: str) -> bool:
        return self.kind in ("admin", "open") or self.device_id == device_id

    def may_access_person(self, person_id: str) -> bool:
        # device tokens stream and read their own device only; caregivers see their assigned persons
        return self.kind in ("admin", "open") or (self.kind == "caregiver" and person_id in self.persons)

    @property
    def name(self) -> str:
        """Who acted, for audit fields: never the key itself."""
        return f"{self.kind}:{self.user or self.device_id or self.key_hash[:12]}"

    @property
    def is_admin(self) -> bool:
        return self.kind in ("admin", "open")


class AuthError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def parse_admin_keys(spec: str) -> set[str]:
    out = set()
    for k in (s.strip() for s in spec.split(",")):
        if k:
            out.add(k[7:].lower() if k.startswith("sha256:") else hash_key(k))
    return out


class Authenticator:
    def __init__(self, enabled: bool, admin_keys: str, token_device, cache_s: float = 2.0) -> None:
        self.enabled = enabled
        self.admin = parse_admin_keys(admin_keys)
        self.token_device = token_device  # hash → device id or None (a DB lookup)
        # hash → (device, when looked up): trusted for cache_s only, so a revocation reaches every worker
        # process within cache_s without any message between them
        self.cache: dict[str, tuple[str, float]] = {}
        self.cache_s = cache_s
        if enabled and not self.admin:
            raise ValueError(
                "auth is on but no admin key is configured: set HARFLOW_ADMIN_KEYS "
                "(or HARFLOW_AUTH=false for a closed network)"
            )

    def authenticate(self, key: str | None) -> Principal:
        """Raises :class:`AuthError` 401 for missing or unknown credentials; may query the DB (off-loop)."""
        if not self.enabled:
            return Principal("open", "")
        if not key:
            raise AuthError(
                401, "missing credentials: send 'Authorization: Bearer <key>' (or ?token= on WebSockets)"
            )
        h = hash_key(key)
        if any(hmac.compare_digest(h, a) for a in self.admin):
            return Principal("admin", h)
        now = time.monotonic()
        hit = self.cache.get(h)
        if hit is not None and now - hit[1] < self.cache_s:
            return Principal("device", h, hit[0])
        dev = self.token_device(h)
        if dev is None:
            self.cache.pop(h, None)
            raise AuthError(401, "invalid, expired or revoked API key or device token")
        if len(self.cache) > 100_000:  # unknown keys are never cached; this bounds the known ones
            self.cache.clear()
        self.cache[h] = (dev, now)
        return Principal("device", h, dev)
