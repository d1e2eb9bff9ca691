"""Operations: liveness, readiness, Prometheus metrics, model hot reload."""

from __future__ import annotations

import time

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from harflow.serve.deps import ServiceDep, admin_only

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(svc: ServiceDep):
    try:
        await svc.off_loop(svc.store.ping)
        db = "ok"
    except Exception as e:
        db = f"unreachable: {type(e).__name__}"
    ok = db == "ok" and not svc.draining
    body = {
        "status": "ready" if ok else "not ready",
        "model_version": svc.model.version,
        "backend": svc.model.backend.name,
        "database": db,
    }
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(svc: ServiceDep):
    if svc.batcher:
        svc.metrics.queue.set(svc.batcher.queued)
    return PlainTextResponse(generate_latest(svc.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.post("/v1/admin/reload", dependencies=[admin_only("reload the model")])
async def reload(svc: ServiceDep) -> dict:
    t = time.perf_counter()
    version = await svc.reload()
    return {"model_version": version, "seconds": round(time.perf_counter() - t, 3)}
