"""The FastAPI application: a factory that builds the service's state and includes one router per resource.

uvicorn --factory harflow.serve.main:create_app      # what `harflow serve` runs
"""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.trustedhost import TrustedHostMiddleware

from harflow.serve import errors
from harflow.serve.batcher import Busy
from harflow.serve.body_limits import BodyLimits
from harflow.serve.core.config import Settings
from harflow.serve.routes import (
    alerts,
    devices,
    inference,
    live,
    ops,
    person_data,
    persons,
    streams,
    users,
    web,
)
from harflow.serve.security_headers import SecurityHeaders
from harflow.serve.service import Service
from harflow.serve.sessions import make_web_state


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        svc = Service(settings)
        await svc.start()
        app.state.svc = svc
        app.state.web = make_web_state(svc)
        yield
        await svc.stop()

    app = FastAPI(
        title="harflow recognition service",
        version="1",
        lifespan=lifespan,
        description="Real-time human-activity recognition: stream sensor chunks over "
        "`/v1/streams/{device_id}` (WebSocket) or post windows to `/v1/predict`.",
        # no HTML docs: FastAPI's pages load their scripts from a CDN; the OpenAPI document is served
        # (publicly with HARFLOW_API_DOCS, else to admin keys: routes/ops.py) for any offline viewer
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.api_docs else None,
    )

    @app.exception_handler(Busy)
    async def _busy(request: Request, exc: Busy):
        request.app.state.svc.metrics.busy.inc()
        return JSONResponse(
            {"detail": str(exc), "kind": "busy"}, status_code=503, headers={"Retry-After": "1"}
        )

    errors.install(app)
    for r in (ops.router, inference.router, devices.router, streams.router, persons.router, alerts.router):
        app.include_router(r)
    # the caregiver web app (docs/webapp.md)
    for r in (person_data.router, users.router, live.router, web.router):
        app.include_router(r)
    app.add_exception_handler(web.SignIn, web.sign_in_redirect)
    app.mount("/static", StaticFiles(directory=web.WEB / "static"), name="static")
    # outermost last: the Host is checked, then the body bounded; every answer carries the headers
    app.add_middleware(BodyLimits, max_bytes=settings.max_body_bytes, timeout_s=settings.body_timeout_s)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=settings.trusted_host_list())
    app.add_middleware(SecurityHeaders, hsts=settings.hsts)
    return app
