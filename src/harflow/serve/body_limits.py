"""Bounded request bodies (ASGI middleware): a body over ``max_bytes`` is refused with 413 before it is read
(by its Content-Length) or as soon as it grows past the limit (chunked), and a body not complete within
``timeout_s`` of the request's start gets 408. Either answer closes the connection."""

from __future__ import annotations

import asyncio

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CLOSE = {"Connection": "close"}


class BodyLimits:
    def __init__(self, app: ASGIApp, max_bytes: int, timeout_s: float) -> None:
        self.app, self.max_bytes, self.timeout_s = app, max_bytes, timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            resp = JSONResponse(
                {"detail": f"request body over the {self.max_bytes}-byte limit", "kind": "too_large"},
                413,
                headers=CLOSE,
            )
            return await resp(scope, receive, send)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        seen, complete = 0, False

        async def bounded_receive() -> Message:
            nonlocal seen, complete
            if complete:  # after the body: only the disconnect is left to wait for, as long as it takes
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    msg = await receive()
            except TimeoutError:
                raise HTTPException(
                    408, f"request body not received within {self.timeout_s:g}s", headers=CLOSE
                ) from None
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                complete = not msg.get("more_body", False)
                if seen > self.max_bytes:
                    raise HTTPException(
                        413, f"request body over the {self.max_bytes}-byte limit", headers=CLOSE
                    )
            return msg

        await self.app(scope, bounded_receive, send)
