"""Security headers on every HTTP response (ASGI middleware), so every router, present and future, has them:
a Content-Security-Policy that allows only the service's own origin, nosniff, no referrer, and HSTS when
the service is served over TLS (``HARFLOW_HSTS``; a plain-HTTP answer must not pin HTTPS on a host)."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
HSTS = "max-age=31536000; includeSubDomains"


class SecurityHeaders:
    def __init__(self, app: ASGIApp, hsts: bool = False) -> None:
        self.app, self.hsts = app, hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(msg: Message) -> None:
            if msg["type"] == "http.response.start":
                h = MutableHeaders(scope=msg)
                for k, v in HEADERS.items():
                    if k not in h:  # a route may set a stricter (or, for a page, its own) policy
                        h[k] = v
                if self.hsts:
                    h["Strict-Transport-Security"] = HSTS
            await send(msg)

        await self.app(scope, receive, send_with_headers)
