"""The caregiver web app's pages: sign-in and sign-out, overview, person, alerts inbox, acknowledgement.

Server-rendered (Jinja2, autoescaped); the pages' scripts (static/app.js) draw the charts and follow the live
channel. Every page needs a signed-in user: without one, the browser is sent to /login.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from harflow.serve.db.accounts import MAX_PASSWORD, SessionUser
from harflow.serve.db.alerts import SEVERITY
from harflow.serve.deps import PersonPath
from harflow.serve.sessions import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    csrf_ok,
    current_user,
    principal_of,
    set_session_cookie,
    web_state,
)
from harflow.serve.web_data import last_seen, today, trend

WEB = Path(__file__).resolve().parent.parent / "web"
templates = Jinja2Templates(directory=WEB / "templates")
router = APIRouter(include_in_schema=False)
# the policy the pages are written for: nothing inline, everything from /static
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
SEVERITY_ORDER = {"urgent": 0, "high": 1, "medium": 2, "low": 3}


class SignIn(Exception):
    """Raised by pages without a live session: answered with a redirect to /login."""

    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


def sign_in_redirect(request: Request, exc: SignIn) -> RedirectResponse:
    r = RedirectResponse(f"/login?next={quote(exc.next_path)}", status_code=303)
    r.delete_cookie(SESSION_COOKIE, path="/")
    return r


def _fmt_time(t: float | None, tz: str = "UTC") -> str:
    if t is None:
        return "—"
    return dt.datetime.fromtimestamp(t, ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


templates.env.filters["when"] = _fmt_time
templates.env.globals["severity_of"] = lambda kind: SEVERITY.get(kind, "low")


def render(request: Request, name: str, status: int = 200, **ctx) -> HTMLResponse:
    r = templates.TemplateResponse(request, name, ctx, status_code=status)
    r.headers["Content-Security-Policy"] = CSP
    r.headers["Cache-Control"] = "no-store"
    r.headers["X-Content-Type-Options"] = "nosniff"
    return r


async def _user(request: Request) -> SessionUser:
    user = await current_user(request)
    if user is None:
        raise SignIn(request.url.path)
    return user


def _safe_next(path: str | None) -> str:
    # only our own pages: never an absolute or protocol-relative URL (open redirect)
    if path and path.startswith("/app") and not path.startswith("//") and "\\" not in path:
        return path
    return "/app"


def _client(request: Request) -> str:
    return request.client.host if request.client else "?"


@router.get("/")
async def root() -> RedirectResponse:
    return RedirectResponse("/app", status_code=303)


def _login_page(request: Request, status: int = 200, error: str | None = None, next_path: str = "/app"):
    token = secrets.token_urlsafe(24)
    r = render(request, "login.html", status, error=error, csrf=token, next_path=_safe_next(next_path))
    state = web_state(request)
    r.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=900,
        httponly=True,
        secure=state.cookie_secure,
        samesite="strict",
        path="/login",
    )
    return r


@router.get("/login")
async def login_form(request: Request, next: str = "/app"):
    if await current_user(request) is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return _login_page(request, next_path=next)


@router.post("/login")
async def login(
    request: Request,
    username: str = Form(max_length=64),
    password: str = Form(max_length=MAX_PASSWORD),
    csrf: str = Form("", max_length=100),
    next: str = Form("/app", max_length=500),
):
    svc, state = request.app.state.svc, web_state(request)
    cookie = request.cookies.get(LOGIN_COOKIE, "")
    if not cookie or not secrets.compare_digest(cookie.encode(), csrf.encode()):
        return _login_page(request, 403, "The sign-in form expired or was not ours: please try again.", next)
    ip = _client(request)
    wait = state.limiter.retry_after(username, ip)
    if wait > 0:
        r = _login_page(
            request, 429, f"Too many failed sign-ins. Try again in {int(wait // 60) + 1} min.", next
        )
        r.headers["Retry-After"] = str(int(wait) + 1)
        return r
    user = await svc.off_loop(state.accounts.verify, username, password)
    if user is None:
        state.limiter.failed(username, ip)
        return _login_page(request, 401, "Wrong username or password.", next)
    state.limiter.succeeded(username)
    sid, _ = await svc.off_loop(state.accounts.open_session, user["id"], state.session_ttl_s)
    r = RedirectResponse(_safe_next(next), status_code=303)
    set_session_cookie(r, sid, state)
    r.delete_cookie(LOGIN_COOKIE, path="/login")
    return r


@router.post("/logout")
async def logout(request: Request, csrf: str = Form("", max_length=100)):
    user = await current_user(request)
    if user is not None:
        if not csrf_ok(user, csrf):
            raise HTTPException(403, "missing or wrong CSRF token")
        await request.app.state.svc.off_loop(
            web_state(request).accounts.close_session, request.cookies[SESSION_COOKIE]
        )
    r = RedirectResponse("/login", status_code=303)
    r.delete_cookie(SESSION_COOKIE, path="/")
    return r


async def _people(request: Request, user: SessionUser) -> list[dict]:
    svc = request.app.state.svc
    p = principal_of(user)
    rows = await svc.off_loop(svc.persons.list)
    return [r for r in rows if p.may_access_person(r["id"])]


def _overview_rows(svc, people: list[dict], open_alerts: list[dict]) -> list[dict]:
    now = time.time()
    out = []
    for person in people:
        seen = last_seen(svc.persons, person["id"])
        td = today(svc.persons, person, now)
        base = trend(svc.analytics, person, 1, now)["metrics"]
        out.append(
            {
                "person": person,
                "seen": seen,
                "today": td["minutes"],
                "baseline": {
                    m: base[m]["mid"][0] if m in base else None for m in ("active_min", "sedentary_min")
                },
                "band": {
                    m: (base[m]["low"][0], base[m]["high"][0]) if m in base else (None, None)
                    for m in ("active_min", "sedentary_min")
                },
                "open_alerts": sum(1 for a in open_alerts if a["person_id"] == person["id"]),
            }
        )
    return out


@router.get("/app")
async def overview(request: Request):
    user = await _user(request)
    svc = request.app.state.svc
    people = await _people(request, user)
    ids = [p["id"] for p in people]
    open_alerts = await svc.off_loop(lambda: svc.alerts.list(ids, open_only=True, limit=1000))
    rows = await svc.off_loop(_overview_rows, svc, people, open_alerts)
    return render(request, "overview.html", user=user, rows=rows, page="overview")


@router.get("/app/persons/{person_id}")
async def person_page(request: Request, person_id: PersonPath):
    user = await _user(request)
    svc = request.app.state.svc
    person = await svc.off_loop(svc.persons.get, person_id)
    if person is None or not principal_of(user).may_access_person(person_id):
        return render(request, "error.html", 404, user=user, message=f"No person {person_id!r} for you.")
    alerts = await svc.off_loop(lambda: svc.alerts.list([person_id], limit=200))
    seen = await svc.off_loop(last_seen, svc.persons, person_id)
    return render(request, "person.html", user=user, person=person, alerts=alerts, seen=seen, page="person")


@router.get("/app/alerts")
async def inbox(request: Request, open: bool = False):
    user = await _user(request)
    svc = request.app.state.svc
    people = await _people(request, user)
    names = {p["id"]: p for p in people}
    alerts = await svc.off_loop(lambda: svc.alerts.list(list(names), open_only=open, limit=500))
    return render(
        request, "alerts.html", user=user, alerts=alerts, names=names, open_only=open, page="alerts"
    )


@router.post("/app/persons/{person_id}/alerts/{alert_id}/ack")
async def acknowledge(
    request: Request,
    person_id: PersonPath,
    alert_id: int,
    csrf: str = Form("", max_length=100),
    note: str = Form("", max_length=2000),
    back: str = Form("/app", max_length=500),
) -> Response:
    user = await _user(request)
    if not csrf_ok(user, csrf):
        raise HTTPException(403, "missing or wrong CSRF token")
    svc = request.app.state.svc
    alert = await svc.off_loop(svc.alerts.get, alert_id)
    if (
        alert is None
        or alert["person_id"] != person_id
        or not principal_of(user).may_access_person(person_id)
    ):
        raise HTTPException(404, f"no alert {alert_id} for person {person_id!r} that you may see")
    await svc.off_loop(svc.alerts.acknowledge, alert_id, principal_of(user).name, note.strip() or None)
    return RedirectResponse(_safe_next(back), status_code=303)
