"""The service's outer layer, in plain ASGI: the key and the body size are checked before a body byte is read.

FastAPI resolves ``File(...)`` parameters before dependencies, so a key or size
check written as a dependency runs after the whole multipart body has been
parsed (NOTES.md: 100 MB read before a 401). Here the key is checked from the
headers, a declared ``Content-Length`` over the limit is refused at once, and a
chunked body is counted as it arrives and cut off at the limit; what passes is
held in memory (never more than the limit) and replayed to the app. Every
response also gets ``X-Content-Type-Options: nosniff`` and frame protection.
"""

from __future__ import annotations

import hmac
import json
from typing import Awaitable, Callable

Scope = dict
Message = dict
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MULTIPART_OVERHEAD = 64_000  # form boundaries and part headers around the largest accepted image
DOCS_PATHS = ("/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect")
PUBLIC_PATHS = ("/", "/healthz")
METRICS_PATH = "/metrics"
SECURITY_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY")]


def needs_key(path: str, public_docs: bool, public_metrics: bool) -> bool:
    """Every path needs the key but the page and /healthz, the docs with FER_PUBLIC_DOCS and /metrics with
    FER_PUBLIC_METRICS: a route added later is keyed unless it is named here."""
    if path in PUBLIC_PATHS or (public_docs and path in DOCS_PATHS):
        return False
    return not (public_metrics and path == METRICS_PATH)


def key_matches(header: bytes | None, key: bytes) -> bool:
    """``Authorization: Bearer <key>``, compared in constant time."""
    scheme, _, token = (header or b"").partition(b" ")
    return scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), key)


async def refuse(send: Send, status: int, detail: str, headers: list | None = None) -> None:
    """A JSON error, closing the connection (the rest of the body is never read)."""
    body = json.dumps({"detail": detail}).encode()
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    head += [(b"connection", b"close"), *SECURITY_HEADERS, *(headers or [])]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})


class RequestGuard:
    """Wraps the app: key, then size, then the bounded in-memory body; security headers on every response."""

    def __init__(self, app: ASGIApp, key: bytes, max_upload_bytes: int, public_docs: bool, public_metrics: bool):
        self.app, self.key, self.public_docs, self.public_metrics = app, key, public_docs, public_metrics
        self.max_upload_bytes = max_upload_bytes
        self.max_body = max_upload_bytes + MULTIPART_OVERHEAD

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        if needs_key(scope["path"], self.public_docs, self.public_metrics) and not key_matches(
            headers.get(b"authorization"), self.key
        ):
            return await refuse(send, 401, "missing or wrong API key", [(b"www-authenticate", b"Bearer")])
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body):
            return await refuse(send, 413, f"upload larger than {self.max_upload_bytes} bytes")
        if scope["method"] in ("POST", "PUT", "PATCH"):
            body = await self.read_body(receive)
            if body is None:
                return await refuse(send, 413, f"upload larger than {self.max_upload_bytes} bytes")
            receive = replay(body, receive)
        await self.app(scope, receive, with_security_headers(send))

    async def read_body(self, receive: Receive) -> bytes | None:
        """The whole body, or None as soon as it passes the limit (a disconnect gives what came)."""
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return bytes(body)
            body += message.get("body", b"")
            if len(body) > self.max_body:
                return None
            if not message.get("more_body", False):
                return bytes(body)


def replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app the buffered body once, then whatever the client sends next."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


def with_security_headers(send: Send) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            present = {name.lower() for name, _ in message.get("headers", [])}
            extra = [(n, v) for n, v in SECURITY_HEADERS if n not in present]
            message = message | {"headers": [*message.get("headers", []), *extra]}
        await send(message)

    return sending
