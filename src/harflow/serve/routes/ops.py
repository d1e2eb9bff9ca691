"""Operations: liveness, readiness, Prometheus metrics, the OpenAPI document, model hot reload.

Readiness details (model version, backend, the database's error class) and metrics are for operators: with
``HARFLOW_OPS_PUBLIC`` off (the default) they need the admin key, and anyone else gets the readiness status
alone (which is what probes need)."""

from __future__ import annotations

import time

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from harflow.serve.auth import AuthError, credentials
from harflow.serve.deps import ServiceDep, admin_only

router = APIRouter(tags=["operations"])


async def _is_operator(request: Request, svc) -> bool:
    if svc.settings.ops_public:
        return True
    try:
        p = await svc.off_loop(svc.auth.authenticate, credentials(request.headers))
    except AuthError:
        return False
    return p.is_admin


@router.get("/healthz")
async def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request, svc: ServiceDep):
    try:
        await svc.off_loop(svc.store.ping)
        db = "ok"
    except Exception as e:
        db = f"unreachable: {type(e).__name__}"
    ok = db == "ok" and not svc.draining
    body = {"status": "ready" if ok else "not ready"}
    if await _is_operator(request, svc):
        body |= {"model_version": svc.model.version, "backend": svc.model.backend.name, "database": db}
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(request: Request, svc: ServiceDep):
    if not await _is_operator(request, svc):
        raise HTTPException(
            401,
            "metrics need the admin key (or HARFLOW_OPS_PUBLIC=true)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if svc.batcher:
        svc.metrics.queue.set(svc.batcher.queued)
    return PlainTextResponse(generate_latest(svc.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get(
    "/v1/admin/openapi.json",
    dependencies=[admin_only("read the API description")],
    summary="the OpenAPI document (public at /openapi.json with HARFLOW_API_DOCS=true)",
)
async def openapi_document(request: Request) -> dict:
    return request.app.openapi()


@router.post("/v1/admin/reload", dependencies=[admin_only("reload the model")])
async def reload(svc: ServiceDep) -> dict:
    t = time.perf_counter()
    version = await svc.reload()
    return {"model_version": version, "seconds": round(time.perf_counter() - t, 3)}
