"""Streams: one WebSocket per device (``/v1/streams/{device_id}``); chunks in, committed predictions and
events out.

Per stream the work is sequential (so order is kept), across streams it is concurrent: windows meet in the
shared batcher, rows in the shared group-commit writer. A message goes to the client only after its rows are
committed. Bad input is answered with an ``error`` message and affects only that stream.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

import numpy as np
import orjson
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from harflow.patterns.online import ChangeDetector
from harflow.serve.auth import AuthError, Principal, credentials
from harflow.serve.batcher import Busy
from harflow.serve.db.queries import (
    Batch,
    InvalidRow,
    check_prediction_row,
    prediction_row,
    rounded_probabilities,
)
from harflow.serve.deps import valid_device_id
from harflow.serve.protocol import ProtocolError, decode_chunk_frame, parse_json_chunk
from harflow.serve.ratelimit import RateLimited
from harflow.serve.stream import DeviceStream

log = logging.getLogger("harflow.serve.stream")
POLICY_VIOLATION = 1008
router = APIRouter()


@router.websocket("/v1/streams/{device_id}")
async def stream(ws: WebSocket, device_id: str) -> None:
    svc = ws.app.state.svc
    s, m = svc.settings, svc.metrics
    await ws.accept()
    if not valid_device_id(device_id):
        await ws.close(POLICY_VIOLATION, "invalid device id")
        return
    try:
        p = await svc.off_loop(svc.auth.authenticate, credentials(ws.headers, ws.query_params.get("token")))
    except AuthError as e:
        m.errors.labels("auth").inc()
        await ws.close(POLICY_VIOLATION, str(e)[:120])
        return
    if not p.may_access(device_id):
        m.errors.labels("forbidden").inc()
        await ws.close(POLICY_VIOLATION, f"token is for device {p.device_id}, not {device_id}"[:120])
        return
    if p.kind == "device" and svc.streams_per_key.get(p.key_hash, 0) >= s.max_streams_per_key:
        m.errors.labels("stream_limit").inc()
        await ws.close(POLICY_VIOLATION, f"at most {s.max_streams_per_key} concurrent streams per token")
        return
    svc.streams_per_key[p.key_hash] = svc.streams_per_key.get(p.key_hash, 0) + 1
    m.streams.inc()
    try:
        await _serve_stream(ws, svc, device_id, p)
    except WebSocketDisconnect:
        pass
    finally:
        m.streams.dec()
        svc.streams_per_key[p.key_hash] -= 1


async def _serve_stream(ws: WebSocket, svc, device_id: str, p: Principal) -> None:
    """Receiving (parse, validate, window) and processing (infer, detect, commit, send) run as two tasks
    joined by a queue, so a slow batch or commit never stalls reading; a stream that fell behind catches
    up by processing everything queued in one go."""
    s, m = svc.settings, svc.metrics
    stream = DeviceStream(
        svc.model.spec,
        s.min_rate_hz,
        s.max_rate_hz,
        s.max_gap_s,
        s.max_samples_per_message,
        s.max_windows_per_message,
    )
    queue: asyncio.Queue = asyncio.Queue()
    send_lock = asyncio.Lock()

    async def send(payload: str) -> None:
        async with send_lock:
            await ws.send_text(payload)

    async def error(kind: str, message: str, **extra) -> None:
        m.errors.labels(kind).inc()
        await send(_dumps({"type": "error", "kind": kind, "message": message, **extra}))

    worker = asyncio.create_task(_process(queue, svc, device_id, send, error))
    idle, revoked = False, None
    limited = p.kind == "device"  # admin keys are not rate-limited
    authed_at = time.monotonic()
    strikes = 0  # bad messages in a row
    try:
        while True:
            try:  # asyncio.timeout, not wait_for: no Task per message (wait_for's was ~8 % of the loop)
                async with asyncio.timeout(s.idle_timeout_s):
                    msg = await ws.receive()
            except TimeoutError:
                m.errors.labels("idle").inc()
                idle = True
                return
            if msg["type"] == "websocket.disconnect":
                return
            t_recv = time.perf_counter()
            if limited:  # messages are counted before anything is parsed
                try:
                    svc.limits.messages.take(p.key_hash)
                except RateLimited as e:
                    await error("rate_limited", str(e), retry_after_s=e.wait_s)
                    await _penalty(e.retry_after_s)
                    continue
            data, text = msg.get("bytes"), msg.get("text")
            size = len(data) if data is not None else len((text or "").encode())
            if size > s.max_message_bytes:
                await error(
                    "too_large", f"message of {size} bytes exceeds the {s.max_message_bytes}-byte limit"
                )
                continue
            if limited and time.monotonic() - authed_at > max(s.token_cache_s, 1.0):
                # a revoked or expired token ends its open streams too, within seconds
                try:
                    await svc.off_loop(
                        svc.auth.authenticate, credentials(ws.headers, ws.query_params.get("token"))
                    )
                except AuthError as e:
                    m.errors.labels("auth").inc()
                    revoked = str(e)[:120]
                    return
                authed_at = time.monotonic()
            try:
                seq, t0, rate, samples = (
                    decode_chunk_frame(data) if data is not None else parse_json_chunk(text or "")
                )
                if limited and rate > 0:  # charged before any work, so a refused chunk can be resent
                    svc.limits.windows.take(
                        p.key_hash, len(samples) * stream.spec.rate_hz / rate / stream.spec.hop
                    )
                win = stream.push(seq, t0, rate, samples)
            except ProtocolError as e:
                await error(e.kind, str(e))
                strikes += 1
                if strikes > 3:  # a stream sending nothing but bad data is read ever more slowly
                    await _penalty(0.05 * (strikes - 3))
                continue
            except RateLimited as e:
                await error("rate_limited", str(e), seq=seq, retry_after_s=e.wait_s)
                await _penalty(e.retry_after_s)
                continue
            strikes = 0
            if len(win.X):
                queue.put_nowait((seq, win, t_recv))
    finally:
        queue.put_nowait(None)
        if ws.client_state.name == "CONNECTED":
            await worker  # finish (and acknowledge) what was received before a clean close
        else:
            await asyncio.wait_for(worker, 30)
        if idle:  # only now: replies still being processed reach the device before the close
            await ws.close(1000, f"idle for {s.idle_timeout_s:g}s")
        elif revoked:
            await ws.close(POLICY_VIOLATION, revoked)


async def _penalty(seconds: float) -> None:
    """Read nothing from this stream for a while: what it sends meanwhile waits in its TCP buffers, so a
    client that ignores errors slows itself down instead of the service (the idle timer restarts after)."""
    await asyncio.sleep(min(seconds, 5.0))


async def _process(queue: asyncio.Queue, svc, device_id: str, send, error) -> None:
    s = svc.settings
    model = svc.model
    detector = ChangeDetector(model.transitions, s.min_dwell, s.change_temperature)
    while True:
        items = [await queue.get()]
        while not queue.empty():
            items.append(queue.get_nowait())
        done = items[-1] is None
        items = [x for x in items if x is not None]
        if items:
            if svc.model is not model:  # hot reload: windows from here on go through the new model
                model = svc.model
                detector = ChangeDetector(model.transitions, s.min_dwell, s.change_temperature)
            try:
                await _predict(items, svc, model, detector, device_id, send, error)
            except Exception as e:  # a broken connection while sending ends this stream only
                log.info("stream %s: %s", device_id, e)
                return
        if done:
            return


async def _predict(items, svc, model, detector, device_id: str, send, error) -> None:
    m = svc.metrics
    X = np.concatenate([w.X for _, w, _ in items]) if len(items) > 1 else items[0][1].X
    seqs = [seq for seq, w, _ in items for _ in range(len(w.X))]
    t_start = np.concatenate([w.t_start for _, w, _ in items])
    t_end = np.concatenate([w.t_end for _, w, _ in items])
    try:
        probs = await svc.batcher.submit(X)
    except Busy as e:
        m.busy.inc()
        await error("busy", str(e), seq=seqs[-1], t_start=[float(t) for t in t_start])
        return
    batch, out, refused = Batch(), [], []
    labels, version = model.labels, model.version
    finite = np.isfinite(probs).all(axis=1)
    t_starts, t_ends = t_start.tolist(), t_end.tolist()
    for i in range(len(X)):
        # rows are checked before they join the shared commit: a bad one fails its own window only
        row = None
        if finite[i]:
            rounded = rounded_probabilities(probs[i])
            row = prediction_row(
                device_id, seqs[i], t_starts[i], t_ends[i], labels, probs[i], "", version, rounded
            )
            try:
                check_prediction_row(row)
            except InvalidRow:
                row = None
        if row is None:
            refused.append(i)
            continue
        smoothed, changes = detector.update(probs[i], t_starts[i])
        row["smoothed"] = smoothed
        batch.predictions.append(row)
        out.append(
            {
                "type": "prediction",
                "device_id": device_id,
                "seq": seqs[i],
                "t_start": row["t_start"],
                "t_end": row["t_end"],
                "activity": row["activity"],
                "smoothed": smoothed,
                "probability": row["probability"],
                "probabilities": dict(zip(labels, rounded, strict=True)),
                "model_version": version,
            }
        )
        for c in changes:
            ev = {
                "device_id": device_id,
                "type": c.type,
                "t": c.t,
                "from_activity": c.from_activity,
                "to_activity": c.to_activity,
                "probability": c.probability,
                "model_version": version,
            }
            batch.events.append(ev)
            out.append(ev)
            m.events.labels(c.type).inc()
    if refused:
        await error(
            "model_output",
            f"{len(refused)} windows of seq {seqs[refused[0]]}-{seqs[refused[-1]]} gave non-finite model "
            "outputs (are the samples in sensor units?); they are not stored",
            seq=seqs[refused[-1]],
            t_start=[float(t_start[i]) for i in refused],
        )
        if not batch.predictions:
            return
    try:
        earlier = await svc.writer.write(batch)
    except Exception as e:
        await error(
            "store",
            f"could not store windows of seq {seqs[0]}-{seqs[-1]}: {type(e).__name__}; not acknowledged",
        )
        return
    if earlier:  # a resend (or a second connection): the answer is what was stored the first time
        out = [_stored_answer(msg, earlier, model.labels) for msg in out]
    m.windows.labels("stream").inc(len(batch.predictions))
    if svc.live:  # the wearer's inactivity monitor, off this path
        svc.live.feed(
            device_id,
            np.array([r["t_start"] for r in batch.predictions]),
            [r["smoothed"] for r in batch.predictions],
        )
    await send(_dumps(out))  # results: always an array of messages
    now = time.perf_counter()
    for _, _, t_recv in items:
        m.e2e.observe(now - t_recv)


def _dumps(obj) -> str:
    """orjson: the reply is most of the per-window serialization cost, and orjson writes it in a fraction of
    ``json.dumps``'s time (same JSON values; no spaces after separators)."""
    return orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY).decode()


def _stored_answer(msg: dict, earlier: dict, labels: list[str]) -> dict:
    """A prediction message as first stored, for a window stored before (``"stored": "earlier"``)."""
    if msg["type"] != "prediction":
        return msg
    r = earlier.get((msg["device_id"], msg["t_start"]))
    if r is None:
        return msg
    probs = json.loads(r["probabilities"])
    return {
        **msg,
        "seq": r["seq"],
        "activity": r["activity"],
        "smoothed": r["smoothed"],
        "probability": r["probability"],
        "probabilities": dict(zip(labels, probs, strict=True))
        if len(probs) == len(labels)
        else msg["probabilities"],
        "model_version": r["model_version"],
        "stored": "earlier",
    }
