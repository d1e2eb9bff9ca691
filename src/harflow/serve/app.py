"""FastAPI application: REST (predict, history, tokens, operations) and the streaming WebSocket."""

from __future__ import annotations

import time
from contextlib import asynccontextmanager

import numpy as np
from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from harflow.serve.auth import AuthError, Principal, hash_key, new_token
from harflow.serve.batcher import Busy
from harflow.serve.protocol import Events, PredictRequest, PredictResponse, Timeline, TokenResponse
from harflow.serve.service import Service
from harflow.serve.settings import Settings
from harflow.serve.streaming import stream_handler

DEVICE_ID = Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")


def credentials(request_headers, query_token: str | None = None) -> str | None:
    auth = request_headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request_headers.get("x-api-key") or query_token


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        svc = Service(settings)
        await svc.start()
        app.state.svc = svc
        yield
        await svc.stop()

    app = FastAPI(
        title="harflow recognition service",
        version="1",
        lifespan=lifespan,
        description="Real-time human-activity recognition: stream sensor chunks over "
        "`/v1/streams/{device_id}` (WebSocket) or post windows to `/v1/predict`.",
    )

    def svc_of(request: Request) -> Service:
        return request.app.state.svc

    async def principal(request: Request) -> Principal:
        svc = svc_of(request)
        try:
            return await svc.off_loop(svc.auth.authenticate, credentials(request.headers))
        except AuthError as e:
            svc.metrics.errors.labels("auth").inc()
            raise HTTPException(e.status, str(e), headers={"WWW-Authenticate": "Bearer"}) from None

    def own_device(p: Principal, device_id: str) -> None:
        if not p.may_access(device_id):
            raise HTTPException(403, f"this token belongs to device {p.device_id!r}, not {device_id!r}")

    @app.exception_handler(Busy)
    async def _busy(request: Request, exc: Busy):
        svc_of(request).metrics.busy.inc()
        return JSONResponse(
            {"detail": str(exc), "kind": "busy"}, status_code=503, headers={"Retry-After": "1"}
        )

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"])
    async def readyz(request: Request):
        svc = svc_of(request)
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

    @app.get("/metrics", tags=["operations"], response_class=PlainTextResponse)
    async def metrics(request: Request):
        svc = svc_of(request)
        if svc.batcher:
            svc.metrics.queue.set(svc.batcher.queued)
        return PlainTextResponse(generate_latest(svc.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/model", tags=["model"])
    async def model_info(request: Request, p: Principal = Depends(principal)) -> dict:
        m = svc_of(request).model
        return {
            "model_version": m.version,
            "labels": m.labels,
            "window": m.spec.to_dict(),
            "backend": m.backend.name,
        }

    @app.post("/v1/predict", tags=["inference"], response_model=PredictResponse)
    async def predict(body: PredictRequest, request: Request, p: Principal = Depends(principal)):
        svc = svc_of(request)
        m = svc.model
        L, C = m.spec.length, len(m.spec.channels)
        for i, w in enumerate(body.windows):
            if len(w) != L or any(len(row) != C for row in w):
                shape = (len(w), sorted({len(r) for r in w}))
                raise HTTPException(
                    422, f"window {i} has shape {shape}; each must be {L} samples x {C} channels"
                )
        X = np.asarray(body.windows, dtype=np.float64)
        if not np.isfinite(X).all() or np.abs(X).max() > 1e6:
            bad = int(np.argwhere(~np.isfinite(X) | (np.abs(X) > 1e6))[0][0])
            raise HTTPException(422, f"window {bad} contains NaN, inf or absurd values (|x| > 1e6)")
        probs = await svc.batcher.submit(X.astype(np.float32))
        svc.metrics.windows.labels("rest").inc(len(X))
        preds = [
            {
                "activity": m.labels[int(q.argmax())],
                "probabilities": {n: round(float(v), 6) for n, v in zip(m.labels, q, strict=True)},
            }
            for q in probs
        ]
        return {"model_version": m.version, "predictions": preds}

    @app.post("/v1/devices/{device_id}/tokens", tags=["auth"], response_model=TokenResponse, status_code=201)
    async def issue_token(request: Request, device_id: str = DEVICE_ID, p: Principal = Depends(principal)):
        if not p.is_admin:
            raise HTTPException(403, "only an admin key may issue device tokens")
        token = new_token()
        svc = svc_of(request)
        await svc.off_loop(svc.store.add_token, device_id, hash_key(token))
        return {"device_id": device_id, "token": token}

    @app.get("/v1/devices/{device_id}/timeline", tags=["history"], response_model=Timeline)
    async def timeline(
        request: Request,
        device_id: str = DEVICE_ID,
        t_from: float | None = Query(None, alias="from", allow_inf_nan=False),
        t_to: float | None = Query(None, alias="to", allow_inf_nan=False),
        p: Principal = Depends(principal),
    ):
        own_device(p, device_id)
        svc = svc_of(request)
        return {
            "device_id": device_id,
            "segments": await svc.off_loop(svc.store.timeline, device_id, t_from, t_to),
        }

    @app.get("/v1/devices/{device_id}/events", tags=["history"], response_model=Events)
    async def device_events(
        request: Request,
        device_id: str = DEVICE_ID,
        t_from: float | None = Query(None, alias="from", allow_inf_nan=False),
        t_to: float | None = Query(None, alias="to", allow_inf_nan=False),
        p: Principal = Depends(principal),
    ):
        own_device(p, device_id)
        svc = svc_of(request)
        rows = await svc.off_loop(svc.store.events, device_id, t_from, t_to)
        return {
            "device_id": device_id,
            "events": [
                {
                    k: r[k]
                    for k in (
                        "type",
                        "device_id",
                        "t",
                        "from_activity",
                        "to_activity",
                        "probability",
                        "model_version",
                    )
                }
                for r in rows
            ],
        }

    @app.post("/v1/admin/reload", tags=["operations"])
    async def reload(request: Request, p: Principal = Depends(principal)) -> dict:
        if not p.is_admin:
            raise HTTPException(403, "only an admin key may reload the model")
        t = time.perf_counter()
        version = await svc_of(request).reload()
        return {"model_version": version, "seconds": round(time.perf_counter() - t, 3)}

    app.add_api_websocket_route("/v1/streams/{device_id}", stream_handler)
    return app
