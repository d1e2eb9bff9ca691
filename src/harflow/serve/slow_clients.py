"""A header read timeout for uvicorn's HTTP protocol: a client that does not finish a request's headers within
``HARFLOW_HEADER_TIMEOUT_S`` (nothing sent, or headers dribbled a line at a time) gets ``408`` and is
disconnected. uvicorn's own ``timeout_keep_alive`` only covers the silence between requests, and any byte
resets it. The body's deadline is :mod:`harflow.serve.body_limits`' (the ASGI app reads the body).

harflow serve passes this class as uvicorn's ``http`` protocol."""

from __future__ import annotations

import asyncio
import functools

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_408 = b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"


@functools.cache
def header_timeout_s() -> float:
    from harflow.serve.core.config import Settings

    return Settings().header_timeout_s


class HeaderTimeoutProtocol(HttpToolsProtocol):
    _header_timer: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(header_timeout_s(), self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.write(_408)
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # keep-alive: the next request's headers are due in time too (unless a pipelined one already started)
        idle = self.cycle is None or self.cycle.response_complete
        if idle and not self.transport.is_closing():
            self._arm()
