"""Caregiver accounts (admin): create, list, change password, delete, and which persons each looks after."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Request
from pydantic import BaseModel, Field

from harflow.serve.db.accounts import MAX_PASSWORD, AccountError, NotFound
from harflow.serve.deps import PersonPath, ServiceDep, admin_only
from harflow.serve.sessions import web_state

router = APIRouter(prefix="/v1/users", tags=["users"], dependencies=[admin_only("manage user accounts")])
UserPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._@-]+$")]


class UserIn(BaseModel):
    username: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._@-]+$")
    password: str = Field(min_length=10, max_length=MAX_PASSWORD)
    role: Literal["caregiver", "admin"] = "caregiver"


class PasswordIn(BaseModel):
    password: str = Field(min_length=10, max_length=MAX_PASSWORD)


class User(BaseModel):
    username: str
    role: str
    created_at: float
    persons: list[str]


async def _call(request: Request, svc, fn, *args):
    try:
        return await svc.off_loop(fn, *args)
    except NotFound as e:
        raise HTTPException(404, str(e)) from None
    except AccountError as e:
        raise HTTPException(409 if "exists" in str(e) else 422, str(e)) from None


@router.post("", response_model=User, status_code=201)
async def create_user(body: UserIn, request: Request, svc: ServiceDep):
    acc = web_state(request).accounts
    return await _call(request, svc, acc.create, body.username, body.password, body.role)


@router.get("", response_model=list[User])
async def list_users(request: Request, svc: ServiceDep):
    return await svc.off_loop(web_state(request).accounts.list)


@router.get("/{username}", response_model=User)
async def get_user(username: UserPath, request: Request, svc: ServiceDep):
    u = await svc.off_loop(web_state(request).accounts.get, username)
    if u is None:
        raise HTTPException(404, f"no user {username!r}")
    return u


@router.put("/{username}/password", status_code=204)
async def set_password(username: UserPath, body: PasswordIn, request: Request, svc: ServiceDep):
    """Also signs the user out everywhere."""
    await _call(request, svc, web_state(request).accounts.set_password, username, body.password)


@router.delete("/{username}", status_code=204)
async def delete_user(username: UserPath, request: Request, svc: ServiceDep):
    await _call(request, svc, web_state(request).accounts.delete, username)


@router.put("/{username}/persons/{person_id}", response_model=User)
async def assign_person(username: UserPath, person_id: PersonPath, request: Request, svc: ServiceDep):
    return await _call(request, svc, web_state(request).accounts.assign, username, person_id)


@router.delete("/{username}/persons/{person_id}", response_model=User)
async def unassign_person(username: UserPath, person_id: PersonPath, request: Request, svc: ServiceDep):
    return await _call(request, svc, web_state(request).accounts.unassign, username, person_id)
