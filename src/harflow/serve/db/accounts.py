"""Caregiver accounts in the store: users (argon2id password hashes), the persons each looks after, and
server-side sign-in sessions (the cookie holds a random id; only its SHA-256 is stored)."""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Engine

from harflow.serve.db.tables import persons, user_persons, users, web_sessions

ROLES = ("caregiver", "admin")
USERNAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # argon2 hashes any length; a cap keeps a huge body from costing CPU
_hasher = PasswordHasher()  # argon2id with the library's (RFC 9106 low-memory) parameters
# verified against for unknown users, so a miss costs what a hit costs (no user enumeration by timing)
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AccountError(ValueError):
    """A refused account change; the message names what is wrong."""


class NotFound(LookupError):
    pass


def check_username(name: str) -> str:
    if not USERNAME.fullmatch(name or ""):
        raise AccountError(f"username {name!r}: 1-64 characters of letters, digits and . _ @ -")
    return name


def check_password(pw: str) -> str:
    if not MIN_PASSWORD <= len(pw or "") <= MAX_PASSWORD:
        raise AccountError(f"password: {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    return pw


def hash_session_id(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


@dataclass(frozen=True)
class SessionUser:
    user_id: int
    username: str
    role: str
    csrf_token: str
    expires_at: float
    persons: frozenset[str]


class Accounts:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # --- users ----------------------------------------------------------------------------------------------
    def create(self, username: str, password: str, role: str = "caregiver") -> dict[str, Any]:
        check_username(username)
        check_password(password)
        if role not in ROLES:
            raise AccountError(f"role {role!r}: one of {', '.join(ROLES)}")
        now = time.time()
        with self.engine.begin() as conn:
            if conn.execute(select(users.c.id).where(users.c.username == username)).first():
                raise AccountError(f"user {username!r} exists already")
            conn.execute(
                insert(users).values(
                    username=username,
                    role=role,
                    password_hash=_hasher.hash(password),
                    created_at=now,
                    password_changed_at=now,
                )
            )
        return self.get(username)

    def get(self, username: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            r = conn.execute(
                select(users.c.id, users.c.username, users.c.role, users.c.created_at).where(
                    users.c.username == username
                )
            ).first()
            if r is None:
                return None
            ids = conn.execute(
                select(user_persons.c.person_id)
                .where(user_persons.c.user_id == r.id)
                .order_by(user_persons.c.person_id)
            ).scalars()
            return {**r._mapping, "persons": list(ids)}

    def list(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            names = conn.execute(select(users.c.username).order_by(users.c.username)).scalars().all()
        return [u for u in (self.get(n) for n in names) if u is not None]

    def _id(self, conn, username: str) -> int:
        uid = conn.execute(select(users.c.id).where(users.c.username == username)).scalar()
        if uid is None:
            raise NotFound(f"no user {username!r}")
        return uid

    def set_password(self, username: str, password: str) -> None:
        """A new password also ends every session of the user (a stolen cookie dies with the old one)."""
        check_password(password)
        with self.engine.begin() as conn:
            uid = self._id(conn, username)
            conn.execute(
                update(users)
                .where(users.c.id == uid)
                .values(password_hash=_hasher.hash(password), password_changed_at=time.time())
            )
            conn.execute(delete(web_sessions).where(web_sessions.c.user_id == uid))

    def delete(self, username: str) -> None:
        with self.engine.begin() as conn:
            uid = self._id(conn, username)
            conn.execute(delete(web_sessions).where(web_sessions.c.user_id == uid))
            conn.execute(delete(user_persons).where(user_persons.c.user_id == uid))
            conn.execute(delete(users).where(users.c.id == uid))

    def assign(self, username: str, person_id: str) -> dict[str, Any]:
        with self.engine.begin() as conn:
            uid = self._id(conn, username)
            if not conn.execute(select(persons.c.id).where(persons.c.id == person_id)).first():
                raise NotFound(f"no person {person_id!r}")
            exists = conn.execute(
                select(user_persons.c.user_id).where(
                    user_persons.c.user_id == uid, user_persons.c.person_id == person_id
                )
            ).first()
            if not exists:
                conn.execute(
                    insert(user_persons).values(user_id=uid, person_id=person_id, created_at=time.time())
                )
        return self.get(username)

    def unassign(self, username: str, person_id: str) -> dict[str, Any]:
        with self.engine.begin() as conn:
            uid = self._id(conn, username)
            conn.execute(
                delete(user_persons).where(
                    user_persons.c.user_id == uid, user_persons.c.person_id == person_id
                )
            )
        return self.get(username)

    def verify(self, username: str, password: str) -> dict[str, Any] | None:
        """The user if the password is theirs, else None (the same work either way)."""
        with self.engine.connect() as conn:
            r = conn.execute(
                select(users.c.id, users.c.username, users.c.role, users.c.password_hash).where(
                    users.c.username == username
                )
            ).first()
        stored = r.password_hash if r is not None else _DUMMY_HASH
        try:
            _hasher.verify(stored, password[:MAX_PASSWORD])
        except (VerificationError, InvalidHashError):
            return None
        if r is None:
            return None
        if _hasher.check_needs_rehash(stored):  # parameters raised since: upgrade on the next success
            with self.engine.begin() as conn:
                conn.execute(
                    update(users).where(users.c.id == r.id).values(password_hash=_hasher.hash(password))
                )
        return {"id": r.id, "username": r.username, "role": r.role}

    # --- sessions -------------------------------------------------------------------------------------------
    def open_session(self, user_id: int, ttl_s: float) -> tuple[str, str]:
        """A new session: (session id for the cookie, CSRF token). Expired sessions are swept here."""
        sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = time.time()
        with self.engine.begin() as conn:
            conn.execute(delete(web_sessions).where(web_sessions.c.expires_at <= now))
            conn.execute(
                insert(web_sessions).values(
                    id_hash=hash_session_id(sid),
                    user_id=user_id,
                    csrf_token=csrf,
                    created_at=now,
                    expires_at=now + ttl_s,
                )
            )
        return sid, csrf

    def session(self, sid: str) -> SessionUser | None:
        """The signed-in user of a live session, with the persons they look after; None if unknown or
        expired."""
        s, u = web_sessions.c, users.c
        with self.engine.connect() as conn:
            r = conn.execute(
                select(s.user_id, s.csrf_token, s.expires_at, u.username, u.role)
                .join_from(web_sessions, users, users.c.id == s.user_id)
                .where(s.id_hash == hash_session_id(sid), s.expires_at > time.time())
            ).first()
            if r is None:
                return None
            ids = conn.execute(
                select(user_persons.c.person_id).where(user_persons.c.user_id == r.user_id)
            ).scalars()
            return SessionUser(r.user_id, r.username, r.role, r.csrf_token, r.expires_at, frozenset(ids))

    def close_session(self, sid: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(web_sessions).where(web_sessions.c.id_hash == hash_session_id(sid)))

    def expire_session(self, sid: str) -> None:
        """Let a session run out now (tests of expiry; an admin ending a session)."""
        with self.engine.begin() as conn:
            conn.execute(
                update(web_sessions)
                .where(web_sessions.c.id_hash == hash_session_id(sid))
                .values(expires_at=time.time() - 1)
            )
