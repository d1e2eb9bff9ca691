"""Device tokens: issued with an expiry, listed and revoked by an admin, at most a few active per device.

Only SHA-256 hashes are stored; a token's public id is a prefix of its hash, enough to name it in a listing
or a revocation without disclosing anything that authenticates.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.engine import Engine

from harflow.serve.db.tables import tokens

ID_CHARS = 16


class TokenLimit(Exception):
    """The device already has as many active tokens as allowed."""


def _active(now: float):
    return and_(tokens.c.revoked_at.is_(None), or_(tokens.c.expires_at.is_(None), tokens.c.expires_at > now))


def token_id(token_hash: str) -> str:
    return token_hash[:ID_CHARS]


class Tokens:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def issue(self, device_id: str, token_hash: str, ttl_s: float, cap: int) -> float:
        """Store a new token's hash; returns its expiry. Raises :class:`TokenLimit` at ``cap`` active tokens
        (checked and inserted in one transaction; two admins racing may exceed it by one: harmless)."""
        now = time.time()
        with self.engine.begin() as conn:
            n = conn.execute(
                select(func.count()).where(tokens.c.device_id == device_id, _active(now))
            ).scalar_one()
            if n >= cap:
                raise TokenLimit(
                    f"device {device_id!r} has {n} active tokens (limit {cap}): revoke one first"
                )
            conn.execute(
                insert(tokens).values(
                    token_hash=token_hash, device_id=device_id, created_at=now, expires_at=now + ttl_s
                )
            )
        return now + ttl_s

    def device_of(self, token_hash: str) -> str | None:
        """The device of an active token; None for unknown, expired and revoked ones."""
        with self.engine.connect() as conn:
            return conn.execute(
                select(tokens.c.device_id).where(tokens.c.token_hash == token_hash, _active(time.time()))
            ).scalar()

    def list(self, device_id: str) -> list[dict[str, Any]]:
        now = time.time()
        q = select(tokens).where(tokens.c.device_id == device_id).order_by(tokens.c.created_at)
        with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(q)]
        return [
            {
                "id": token_id(r["token_hash"]),
                "device_id": r["device_id"],
                "created_at": r["created_at"],
                "expires_at": r["expires_at"],
                "revoked_at": r["revoked_at"],
                "active": r["revoked_at"] is None and (r["expires_at"] is None or r["expires_at"] > now),
            }
            for r in rows
        ]

    def revoke(self, device_id: str, tid: str | None = None) -> int:
        """Revoke one token of the device (by public id) or, with ``tid`` None, all of them; returns how many
        were active and are revoked now."""
        now = time.time()
        q = update(tokens).where(tokens.c.device_id == device_id, tokens.c.revoked_at.is_(None))
        if tid is not None:
            q = q.where(tokens.c.token_hash.startswith(tid.lower(), autoescape=True))
        with self.engine.begin() as conn:
            return conn.execute(q.values(revoked_at=now)).rowcount
