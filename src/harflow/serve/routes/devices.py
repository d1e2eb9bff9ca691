"""Devices: tokens (issue, list, revoke: admin only) and a device's stored history (timeline segments, change
events)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query

from harflow.serve.auth import hash_key, new_token
from harflow.serve.db.tokens import ID_CHARS, TokenLimit, token_id
from harflow.serve.deps import DevicePath, OwnedDevice, ServiceDep, admin_only
from harflow.serve.protocol import Events, Timeline, TokenIn, TokenResponse, Tokens

router = APIRouter(prefix="/v1/devices/{device_id}")
EVENT_FIELDS = ("type", "device_id", "t", "from_activity", "to_activity", "probability", "model_version")


@router.post(
    "/tokens",
    tags=["auth"],
    response_model=TokenResponse,
    status_code=201,
    dependencies=[admin_only("issue device tokens")],
)
async def issue_token(device_id: DevicePath, svc: ServiceDep, body: TokenIn | None = None):
    s = svc.settings
    token, ttl = new_token(), (body.ttl_s if body and body.ttl_s else s.token_ttl_s)
    h = hash_key(token)
    try:
        expires = await svc.off_loop(svc.tokens.issue, device_id, h, ttl, s.max_tokens_per_device)
    except TokenLimit as e:
        raise HTTPException(409, str(e)) from None
    return {"device_id": device_id, "token": token, "id": token_id(h), "expires_at": expires}


@router.get("/tokens", tags=["auth"], response_model=Tokens, dependencies=[admin_only("list device tokens")])
async def list_tokens(device_id: DevicePath, svc: ServiceDep):
    return {"device_id": device_id, "tokens": await svc.off_loop(svc.tokens.list, device_id)}


TokenIdPath = Annotated[str, Path(pattern=f"^[0-9a-fA-F]{{{ID_CHARS}}}$", description="id from the listing")]


@router.delete("/tokens/{token_id}", tags=["auth"], dependencies=[admin_only("revoke device tokens")])
async def revoke_token(device_id: DevicePath, token_id: TokenIdPath, svc: ServiceDep) -> dict:
    n = await svc.off_loop(svc.tokens.revoke, device_id, token_id)
    if not n:
        raise HTTPException(404, f"device {device_id!r} has no unrevoked token {token_id!r}")
    return {"device_id": device_id, "revoked": n, "effective_within_s": svc.settings.token_cache_s}


@router.delete("/tokens", tags=["auth"], dependencies=[admin_only("revoke device tokens")])
async def revoke_all_tokens(device_id: DevicePath, svc: ServiceDep) -> dict:
    n = await svc.off_loop(svc.tokens.revoke, device_id, None)
    return {"device_id": device_id, "revoked": n, "effective_within_s": svc.settings.token_cache_s}


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
