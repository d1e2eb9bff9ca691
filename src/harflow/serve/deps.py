"""Dependencies of the routes: the service, the caller's principal, admin-only and device ownership.

Used as ``Annotated`` types, so a route states what it needs in its signature::

    async def timeline(svc: ServiceDep, device_id: OwnedDevice) -> ...
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request, Security
from fastapi.security import APIKeyHeader, HTTPBearer

from harflow.serve.auth import AuthError, Principal, credentials
from harflow.serve.protocol import ID_CHARS
from harflow.serve.service import Service
from harflow.serve.sessions import SESSION_COOKIE, session_principal

DEVICE_ID_CHARS = ID_CHARS  # the one id rule (protocol.ID_CHARS), for REST and WebSocket paths alike
_DEVICE_ID = re.compile(DEVICE_ID_CHARS)


def valid_device_id(device_id: str) -> bool:
    return _DEVICE_ID.fullmatch(device_id) is not None


# declared for OpenAPI's security schemes; the credential itself is read by auth.credentials
_bearer = HTTPBearer(auto_error=False, description="an admin API key or a device token")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="the same keys, as a header")


def get_service(request: Request) -> Service:
    return request.app.state.svc


ServiceDep = Annotated[Service, Depends(get_service)]


async def get_principal(
    request: Request, svc: ServiceDep, _b=Security(_bearer), _k=Security(_api_key)
) -> Principal:
    key = credentials(request.headers)
    if key is None and SESSION_COOKIE in request.cookies:  # the web app's pages calling the API
        return await session_principal(request)
    try:
        p = await svc.off_loop(svc.auth.authenticate, key)
    except AuthError as e:
        svc.metrics.errors.labels("auth").inc()
        raise HTTPException(e.status, str(e), headers={"WWW-Authenticate": "Bearer"}) from None
    if p.kind == "device":  # admin keys are the operators' own: not limited
        svc.limits.requests.take(p.key_hash)  # RateLimited → 429 (main.py)
    return p


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def admin_only(what: str):
    """A dependency refusing every principal but an admin, saying what only an admin may do."""

    def check(p: PrincipalDep) -> Principal:
        if not p.is_admin:
            raise HTTPException(403, f"only an admin key may {what}")
        return p

    return Depends(check)


def inference_caller(p: PrincipalDep) -> Principal:
    """Inference is for devices and operators; a caregiver's session has no use for it (least privilege)."""
    if p.kind == "caregiver":
        raise HTTPException(403, "a caregiver's session may not run inference (devices and admins may)")
    return p


InferenceCaller = Annotated[Principal, Depends(inference_caller)]


DevicePath = Annotated[str, Path(min_length=1, max_length=128, pattern=f"^{DEVICE_ID_CHARS}$")]


def owned_device(device_id: DevicePath, p: PrincipalDep) -> str:
    if not p.may_access(device_id):
        raise HTTPException(403, f"this token belongs to device {p.device_id!r}, not {device_id!r}")
    return device_id


OwnedDevice = Annotated[str, Depends(owned_device)]


PersonPath = Annotated[str, Path(min_length=1, max_length=128, pattern=f"^{DEVICE_ID_CHARS}$")]


async def person_of_request(person_id: PersonPath, p: PrincipalDep, svc: ServiceDep) -> dict:
    """The person in the path, if it exists and the caller may see it. Unknown and forbidden persons answer
    alike (404), so their existence is not disclosed to callers who may not see them."""
    person = await svc.off_loop(svc.persons.get, person_id) if p.may_access_person(person_id) else None
    if person is None:
        raise HTTPException(404, f"no person {person_id!r} that this key may see")
    return person


PersonDep = Annotated[dict, Depends(person_of_request)]
