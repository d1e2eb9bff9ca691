"""Devices: token issue (admin) and a device's stored history (timeline segments, change events)."""

from __future__ import annotations

from fastapi import APIRouter, Query

from harflow.serve.auth import hash_key, new_token
from harflow.serve.deps import DevicePath, OwnedDevice, ServiceDep, admin_only
from harflow.serve.protocol import Events, Timeline, TokenResponse

router = APIRouter(prefix="/v1/devices/{device_id}")
EVENT_FIELDS = ("type", "device_id", "t", "from_activity", "to_activity", "probability", "model_version")


@router.post(
    "/tokens",
    tags=["auth"],
    response_model=TokenResponse,
    status_code=201,
    dependencies=[admin_only("issue device tokens")],
)
async def issue_token(device_id: DevicePath, svc: ServiceDep):
    token = new_token()
    await svc.off_loop(svc.store.add_token, device_id, hash_key(token))
    return {"device_id": device_id, "token": token}


@router.get("/timeline", tags=["history"], response_model=Timeline)
async def timeline(
    device_id: OwnedDevice,
    svc: ServiceDep,
    t_from: float | None = Query(None, alias="from", allow_inf_nan=False),
    t_to: float | None = Query(None, alias="to", allow_inf_nan=False),
):
    return {
        "device_id": device_id,
        "segments": await svc.off_loop(svc.store.timeline, device_id, t_from, t_to),
    }


@router.get("/events", tags=["history"], response_model=Events)
async def device_events(
    device_id: OwnedDevice,
    svc: ServiceDep,
    t_from: float | None = Query(None, alias="from", allow_inf_nan=False),
    t_to: float | None = Query(None, alias="to", allow_inf_nan=False),
):
    rows = await svc.off_loop(svc.store.events, device_id, t_from, t_to)
    return {"device_id": device_id, "events": [{k: r[k] for k in EVENT_FIELDS} for r in rows]}
