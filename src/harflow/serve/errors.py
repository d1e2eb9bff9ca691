"""Error answers that never echo what a client sent: validation errors name the field and the rule, not the
input (a 20 KB id or a 30 MB body must not come back), and rate limits say when to retry."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from harflow.serve.ratelimit import RateLimited

MAX_ERRORS = 10
MAX_TEXT = 200


def _short(x: object) -> object:
    if isinstance(x, int | float) or x is None:
        return x
    s = str(x)
    return s if len(s) <= MAX_TEXT else s[:MAX_TEXT] + "…"


def validation_errors(errors: list[dict]) -> list[dict]:
    """The first errors, each with its location, type and message, without the offending input."""
    return [
        {
            "type": e.get("type"),
            "loc": [_short(p) for p in e.get("loc", ())][:16],
            "msg": _short(e.get("msg", "")),
        }
        for e in errors[:MAX_ERRORS]
    ]


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        errors = exc.errors()
        return JSONResponse({"detail": validation_errors(errors), "errors": len(errors)}, status_code=422)

    @app.exception_handler(RateLimited)
    async def _limited(request: Request, exc: RateLimited):
        request.app.state.svc.metrics.errors.labels("rate_limited").inc()
        return JSONResponse(
            {"detail": str(exc), "kind": "rate_limited"},
            status_code=429,
            headers={"Retry-After": exc.retry_after},
        )
