"""Web sign-in: the session cookie, the principal of a signed-in user, CSRF checks and sign-in rate limits.

The cookie holds a random session id (the store keeps only its SHA-256, with an expiry); it is HttpOnly,
SameSite=Strict and (unless configured off for plain-http loopback) Secure. Every state-changing request made
with the cookie must carry the session's CSRF token (synchronizer token: form field ``csrf`` or header
``X-CSRF-Token``); API keys and device tokens in headers are not ambient credentials and need none.
"""

from __future__ import annotations

import hmac
import time
from collections import deque
from dataclasses import dataclass, field

from fastapi import HTTPException, Request

from harflow.serve.auth import Principal
from harflow.serve.db.accounts import Accounts, SessionUser

SESSION_COOKIE = "harflow_session"
LOGIN_COOKIE = "harflow_login"  # the sign-in form's own CSRF token (double submit: no session exists yet)
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class LoginLimiter:
    """Failed sign-ins per account and per client address in a sliding window; over the limit, sign-in is
    refused (even with the right password) until the window has moved on. Kept per process: with several
    workers the effective limit is that many times higher."""

    def __init__(self, per_account: int, per_ip: int, window_s: float) -> None:
        self.limits = {"account": per_account, "ip": per_ip}
        self.window_s = window_s
        self.fails: dict[tuple[str, str], deque[float]] = {}

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        q = self.fails.get(key)
        if q is None:
            return deque()
        while q and q[0] <= now - self.window_s:
            q.popleft()
        if not q:
            del self.fails[key]
        return q

    def retry_after(self, account: str, ip: str) -> float:
        """Seconds until a sign-in may be tried again; 0 if now."""
        now = time.monotonic()
        wait = 0.0
        for kind, who in (("account", account.lower()), ("ip", ip)):
            q = self._recent((kind, who), now)
            if len(q) >= self.limits[kind]:
                wait = max(wait, q[0] + self.window_s - now)
        return wait

    def failed(self, account: str, ip: str) -> None:
        now = time.monotonic()
        for key in (("account", account.lower()), ("ip", ip)):
            self.fails.setdefault(key, deque()).append(now)
        if len(self.fails) > 100_000:  # a flood of distinct names must not grow memory without bound
            for k in list(self.fails)[:50_000]:
                del self.fails[k]

    def succeeded(self, account: str) -> None:
        self.fails.pop(("account", account.lower()), None)


@dataclass
class WebState:
    """What the web app keeps on ``app.state.web``."""

    accounts: Accounts
    limiter: LoginLimiter
    session_ttl_s: float
    cookie_secure: bool
    extra: dict = field(default_factory=dict)


def web_state(request: Request) -> WebState:
    return request.app.state.web


def principal_of(u: SessionUser) -> Principal:
    if u.role == "admin":
        return Principal("admin", "", user=u.username)
    return Principal("caregiver", "", user=u.username, persons=u.persons)


async def current_user(request: Request) -> SessionUser | None:
    """The signed-in user of the request's session cookie; None without a live session."""
    sid = request.cookies.get(SESSION_COOKIE)
    if not sid or len(sid) > 128:
        return None
    svc = request.app.state.svc
    return await svc.off_loop(web_state(request).accounts.session, sid)


def csrf_ok(user: SessionUser, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(user.csrf_token.encode(), presented.encode())


async def session_principal(request: Request) -> Principal:
    """For API routes called with the session cookie (the pages' scripts): the user's principal, after the
    CSRF check on state-changing methods."""
    user = await current_user(request)
    if user is None:
        raise HTTPException(401, "session expired or signed out: sign in again at /login")
    if request.method not in SAFE_METHODS and not csrf_ok(user, request.headers.get(CSRF_HEADER)):
        raise HTTPException(403, "missing or wrong CSRF token: send the session's token in X-CSRF-Token")
    return principal_of(user)


def set_session_cookie(response, sid: str, state: WebState) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        sid,
        max_age=int(state.session_ttl_s),
        httponly=True,
        secure=state.cookie_secure,
        samesite="strict",
        path="/",
    )


def make_web_state(svc) -> WebState:
    s = svc.settings
    return WebState(
        accounts=Accounts(svc.store.engine),
        limiter=LoginLimiter(s.login_max_failures, s.login_max_failures_ip, s.login_window_s),
        session_ttl_s=s.session_ttl_s,
        cookie_secure=s.cookie_secure,
    )
