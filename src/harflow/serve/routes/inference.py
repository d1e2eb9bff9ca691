"""Inference over REST: the served model's description and predictions for posted windows."""

from __future__ import annotations

import contextlib

import numpy as np
from fastapi import APIRouter, HTTPException, Request
from fastapi.exceptions import RequestValidationError

from harflow.serve.auth import Principal
from harflow.serve.deps import InferenceCaller, ServiceDep
from harflow.serve.predict_body import BodyError, decode_windows
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


async def _parse(request: Request, svc, p: Principal) -> np.ndarray:
    """The body's windows, read and decoded only now, after authentication (the route's dependencies): its
    size is bounded by BodyLimits, and decoding runs off the event loop (large bodies in a process of their
    own, :mod:`harflow.serve.decode_pool`) with bounded work (:mod:`harflow.serve.predict_body`)."""
    raw = await request.body()
    spec = svc.model.spec
    try:
        return await svc.decoder.run(decode_windows, raw, spec.length, len(spec.channels))
    except BodyError as e:
        if p.kind == "device":  # the decode was paid for: charged as the windows a body this size could hold
            with contextlib.suppress(RateLimited):  # the client gets its 422 now, a 429 on its next body
                svc.limits.windows.take(p.key_hash, len(raw) / BYTES_PER_WINDOW, debt=True)
        if e.plain:
            raise HTTPException(422, str(e)) from None
        raise RequestValidationError([e.entry()]) from None


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
    X = await _parse(request, svc, p)
    if p.kind == "device":
        svc.limits.windows.take(p.key_hash, len(X), debt=True)  # RateLimited → 429
    m = svc.model
    probs = await svc.batcher.submit(X)
    svc.metrics.windows.labels("rest").inc(len(X))
    preds = [
        {
            "activity": m.labels[int(q.argmax())],
            "probabilities": {n: round(float(v), 6) for n, v in zip(m.labels, q, strict=True)},
        }
        for q in probs
    ]
    return {"model_version": m.version, "predictions": preds}
