"""Persons: who wears the devices (admin), their device assignments, and their daily activity metrics."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query

from harflow.serve.db.persons import Conflict
from harflow.serve.deps import PersonDep, PrincipalDep, ServiceDep, admin_only
from harflow.serve.schemas import Assignment, AssignmentIn, Daily, Person, PersonIn

router = APIRouter(prefix="/v1/persons", tags=["persons"])
DATE = r"^\d{4}-\d{2}-\d{2}$"


async def _write(svc, fn, *args):
    """A store write whose refusals are the client's: a contradiction 409, a bad value 422."""
    try:
        return await svc.off_loop(fn, *args)
    except Conflict as e:
        raise HTTPException(409, str(e)) from None
    except ValueError as e:
        raise HTTPException(422, str(e)) from None


@router.post("", response_model=Person, status_code=201, dependencies=[admin_only("create persons")])
async def create_person(body: PersonIn, svc: ServiceDep):
    return await _write(svc, svc.persons.create, body.id, body.display_name, body.tz)


@router.get("", response_model=list[Person])
async def list_persons(svc: ServiceDep, p: PrincipalDep):
    rows = await svc.off_loop(svc.persons.list)
    return [r for r in rows if p.may_access_person(r["id"])]


@router.get("/{person_id}", response_model=Person)
async def get_person(person: PersonDep):
    return person


@router.post(
    "/{person_id}/devices",
    response_model=Assignment,
    status_code=201,
    dependencies=[admin_only("assign devices")],
)
async def assign_device(body: AssignmentIn, person: PersonDep, svc: ServiceDep):
    return await _write(svc, svc.persons.assign, person["id"], body.device_id, body.t_from, body.t_to)


@router.get("/{person_id}/devices", response_model=list[Assignment])
async def list_devices(person: PersonDep, svc: ServiceDep):
    return await svc.off_loop(svc.persons.assignments, person["id"])


@router.get("/{person_id}/daily", response_model=Daily)
async def daily(
    person: PersonDep,
    svc: ServiceDep,
    date_from: str | None = Query(
        None, alias="from", pattern=DATE, description="first local day, YYYY-MM-DD"
    ),
    date_to: str | None = Query(None, alias="to", pattern=DATE, description="last local day, YYYY-MM-DD"),
):
    days = await svc.off_loop(svc.analytics.days, person["id"], date_from, date_to)
    return {"person_id": person["id"], "days": days}


@router.get("/{person_id}/rhythm")
async def rhythm(
    person: PersonDep,
    svc: ServiceDep,
    days: int = Query(28, ge=1, le=120, description="the last N days"),
    window: str | None = Query("7D", pattern=r"^\d{1,3}D$", description="rolling windows of whole days"),
):
    """IS, IV, RA, L5, M10 and their onsets (pyActigraphy's definitions) per window over the last days."""
    from harflow.serve.patterns_job import person_rhythm

    rows = await svc.off_loop(person_rhythm, svc.persons, person, days, window)
    return {"person_id": person["id"], "windows": rows}


@router.get("/{person_id}/forecast")
async def forecast(
    person: PersonDep,
    svc: ServiceDep,
    days: int = Query(7, ge=1, le=7, description="days ahead"),
):
    """The expected next days per daily metric with 80 % prediction intervals, from the stored history."""
    from harflow.serve.patterns_job import person_forecast

    rows = await svc.off_loop(person_forecast, svc.analytics, person["id"], days)
    return {"person_id": person["id"], "forecast": rows}
