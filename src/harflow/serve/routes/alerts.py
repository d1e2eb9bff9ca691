"""Alerts: a person's alerts, the inbox across every person the caller may see, and acknowledgement."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query

from harflow.serve.deps import PersonDep, PrincipalDep, ServiceDep
from harflow.serve.schemas import AckIn, Alert

router = APIRouter(tags=["alerts"])


@router.get("/v1/alerts", response_model=list[Alert])
async def inbox(
    svc: ServiceDep,
    p: PrincipalDep,
    open_only: bool = Query(False, alias="open", description="only unacknowledged alerts"),
    limit: int = Query(200, ge=1, le=1000),
):
    """Newest first, across every person the caller may see."""
    people = await svc.off_loop(svc.persons.list)
    ids = [r["id"] for r in people if p.may_access_person(r["id"])]
    return await svc.off_loop(lambda: svc.alerts.list(ids, open_only=open_only, limit=limit))


@router.get("/v1/persons/{person_id}/alerts", response_model=list[Alert])
async def person_alerts(
    person: PersonDep,
    svc: ServiceDep,
    open_only: bool = Query(False, alias="open"),
    limit: int = Query(200, ge=1, le=1000),
):
    return await svc.off_loop(lambda: svc.alerts.list([person["id"]], open_only=open_only, limit=limit))


@router.post("/v1/persons/{person_id}/alerts/{alert_id}/ack", response_model=Alert)
async def acknowledge(alert_id: int, body: AckIn, person: PersonDep, svc: ServiceDep, p: PrincipalDep):
    """Acknowledge once: who and when are kept; acknowledging again changes nothing."""
    alert = await svc.off_loop(svc.alerts.get, alert_id)
    if alert is None or alert["person_id"] != person["id"]:
        raise HTTPException(404, f"no alert {alert_id} for person {person['id']!r}")
    return await svc.off_loop(svc.alerts.acknowledge, alert_id, p.name, body.note)
