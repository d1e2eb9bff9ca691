"""A person's data as a whole (admin): export everything, erase everything (audited)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query

from harflow.serve.db.person_data import erase_person, erasure_log, export_person
from harflow.serve.deps import PersonPath, PrincipalDep, ServiceDep, admin_only

router = APIRouter(tags=["person data"])


@router.get("/v1/persons/{person_id}/export", dependencies=[admin_only("export a person's data")])
async def export(person_id: PersonPath, svc: ServiceDep):
    """Timeline segments, daily metrics, alerts and acknowledgements, device assignments: all of it."""
    data = await svc.off_loop(export_person, svc.store.engine, person_id)
    if data is None:
        raise HTTPException(404, f"no person {person_id!r}")
    return data


@router.delete("/v1/persons/{person_id}", dependencies=[admin_only("erase a person's data")])
async def erase(person_id: PersonPath, svc: ServiceDep, p: PrincipalDep):
    """Erase every row of the person and of their devices' recordings while worn by them, in one
    transaction; the erasure is audited (who, when, rows per table; the person as a SHA-256 reference)."""
    counts = await svc.off_loop(erase_person, svc.store.engine, person_id, p.name)
    if counts is None:
        raise HTTPException(404, f"no person {person_id!r}")
    return {"person_id": person_id, "erased": counts}


@router.get("/v1/erasures", dependencies=[admin_only("read the erasure audit")])
async def erasures(svc: ServiceDep, limit: int = Query(100, ge=1, le=1000)):
    return await svc.off_loop(erasure_log, svc.store.engine, limit)
