"""Inference over REST: the served model's description and predictions for posted windows."""

from __future__ import annotations

import contextlib

import numpy as np
from fastapi import APIRouter, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from harflow.serve.auth import Principal
from harflow.serve.deps import InferenceCaller, ServiceDep
from harflow.serve.protocol import PredictRequest, PredictResponse
from harflow.serve.ratelimit import RateLimited

router = APIRouter()
_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": PredictRequest.model_json_schema()}},
    }
}


# the fewest bytes a window of 128 x 6 numbers takes in JSON ("0," each)
BYTES_PER_WINDOW = 128 * 6 * 2


async def _parse(request: Request, svc, p: Principal) -> PredictRequest:
    """The body, read and validated only now, after authentication (the route's dependencies): its size is
    bounded by BodyLimits, and parsing runs off the event loop."""
    raw = await request.body()
    try:
        return await svc.off_loop(PredictRequest.model_validate_json, raw)
    except ValidationError as e:
        if p.kind == "device":  # the parse was paid for: charged as the windows a body this size could hold
            with contextlib.suppress(RateLimited):  # the client gets its 422 now, a 429 on its next body
                svc.limits.windows.take(p.key_hash, len(raw) / BYTES_PER_WINDOW, debt=True)
        raise RequestValidationError([{**x, "loc": ("body", *x["loc"])} for x in e.errors()]) from None


@router.get("/v1/model", tags=["model"])
async def model_info(svc: ServiceDep, p: InferenceCaller) -> dict:
    m = svc.model
    return {
        "model_version": m.version,
        "labels": m.labels,
        "window": m.spec.to_dict(),
        "backend": m.backend.name,
    }


@router.post("/v1/predict", tags=["inference"], response_model=PredictResponse, openapi_extra=_BODY)
async def predict(request: Request, svc: ServiceDep, p: InferenceCaller):
    if p.kind == "device":  # an exhausted key is refused before its body is read
        svc.limits.windows.check(p.key_hash)
    body = await _parse(request, svc, p)
    if p.kind == "device":
        svc.limits.windows.take(p.key_hash, len(body.windows), debt=True)  # RateLimited → 429
    m = svc.model
    L, C = m.spec.length, len(m.spec.channels)
    for i, w in enumerate(body.windows):
        if len(w) != L or any(len(row) != C for row in w):
            shape = (len(w), sorted({len(r) for r in w}))
            raise HTTPException(422, f"window {i} has shape {shape}; each must be {L} samples x {C} channels")
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
