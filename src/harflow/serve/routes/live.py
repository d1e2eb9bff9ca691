"""What the caregiver pages fetch and follow: today's timeline, daily metrics against the baseline band, and
the live channel (Server-Sent Events) of current activities and new alerts. Scoped like every person route:
a caregiver's session sees their assigned persons only."""

from __future__ import annotations

import asyncio
import json
import time
from functools import partial

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import StreamingResponse

from harflow.serve.deps import PersonDep, PrincipalDep, ServiceDep
from harflow.serve.sessions import SESSION_COOKIE, current_user
from harflow.serve.web_data import last_seen, today, trend

router = APIRouter(tags=["caregiver app"])
POLL_S = 1.0  # the live channel reads the store: it sees every worker's streams, not only this process's
RECHECK_SESSION_S = 15.0


@router.get("/v1/persons/{person_id}/today")
async def person_today(person: PersonDep, svc: ServiceDep):
    """Today's (person's local day) runs of one activity, and minutes per clinical class so far."""
    return {"person_id": person["id"], **await svc.off_loop(today, svc.persons, person)}


@router.get("/v1/persons/{person_id}/trend")
async def person_trend(person: PersonDep, svc: ServiceDep, days: int = Query(30, ge=1, le=366)):
    """Daily metrics of the last days with the personal baseline band (middle 80 % of usual days)."""
    return {"person_id": person["id"], **await svc.off_loop(trend, svc.analytics, person, days)}


def _event(kind: str, data: dict) -> str:
    return f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


@router.get(
    "/v1/live", include_in_schema=False
)  # an endless event stream: not for OpenAPI clients (docs/webapp.md)
async def live(
    request: Request,
    svc: ServiceDep,
    p: PrincipalDep,
    person: list[str] | None = Query(None, max_length=100, description="only these persons (repeatable)"),
):
    """Server-Sent Events: ``activity`` (a person's current activity changed or was seen again) and ``alert``
    (a new alert), for the persons the caller may see. A signed-out or expired session ends the stream."""
    people = await svc.off_loop(svc.persons.list)
    ids = [r["id"] for r in people if p.may_access_person(r["id"])]
    if person:
        missing = [x for x in person if x not in ids]
        if missing:
            raise HTTPException(404, f"no person {missing[0]!r} that this key may see")
        ids = person
    by_session = request.cookies.get(SESSION_COOKIE) is not None and p.user is not None

    async def events():
        seen: dict[str, tuple] = {}
        since = time.time()
        last_check = time.monotonic()
        yield "retry: 2000\n\n"
        while not await request.is_disconnected():
            if by_session and time.monotonic() - last_check > RECHECK_SESSION_S:
                last_check = time.monotonic()
                if await current_user(request) is None:
                    yield _event("signed_out", {})
                    return
            for pid in ids:
                s = await svc.off_loop(last_seen, svc.persons, pid)
                key = (s["t"], s["activity"]) if s else None
                if key != seen.get(pid, ()):
                    seen[pid] = key
                    yield _event("activity", {"person_id": pid, **(s or {"t": None, "activity": None})})
            new = await svc.off_loop(partial(svc.alerts.list, ids, since=since, limit=100))
            for a in reversed(new):
                since = max(since, a["created_at"] + 1e-6)
                yield _event(
                    "alert", {k: a[k] for k in ("id", "person_id", "kind", "metric", "severity", "onset")}
                )
            yield ": keep-alive\n\n"
            await asyncio.sleep(POLL_S)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
