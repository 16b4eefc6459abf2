"""ASGI middleware: structured access logs with per-route latency metrics, and the request body limit."""

from __future__ import annotations

import itertools
import json
import logging
import os
import time
from typing import Any

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from elephant.api.metrics import ApiMetrics
from elephant.api.problems import problem_response

access_log = logging.getLogger("elephant.access")
# Request ids: a random prefix per process (workers are spawned, each draws its own) and a counter;
# 16 hex digits like a truncated uuid4, without its cost on every request.
_ID_PREFIX = os.urandom(3).hex()
_request_numbers = itertools.count(1)


def route_template(scope: Scope) -> str:
    """The matched route's template (``/v1/records/{key:path}``), so metrics stay low-cardinality."""
    # Recent FastAPI keeps included routers nested: the full template is on the effective route
    # context, while the plain route only knows its path inside its router.
    effective = (scope.get("fastapi") or {}).get("effective_route_context")
    path = getattr(effective, "path", None) or getattr(scope.get("route"), "path", None)
    if path:
        return str(path)
    root = scope.get("root_path", "")
    if root:  # a mounted app (/mcp): its mount point, never the raw sub-path
        return str(root)
    return "unmatched"


class AccessLogMiddleware:
    """One JSON line per request on the ``elephant.access`` logger, and the latency histogram.

    Logged: method, path, route, status, duration, client, request id and the key *id*. Never
    headers or query strings' secrets: the API takes keys only in the Authorization header.
    """

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        request_id = _header(scope, b"x-request-id") or f"{_ID_PREFIX}{next(_request_numbers):010x}"
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode("latin-1"))]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            seconds = time.perf_counter() - start
            route = route_template(scope)
            self.metrics.observe_request(scope["method"], route, status, seconds)
            if access_log.isEnabledFor(logging.INFO):
                principal = scope.get("state", {}).get("principal")
                client = scope.get("client")
                access_log.info(json.dumps({
                    "event": "request", "request_id": request_id, "method": scope["method"],
                    "path": scope["path"], "route": route, "status": status,
                    "duration_ms": round(seconds * 1000, 2), "client": client[0] if client else None,
                    "key_id": getattr(principal, "id", None),
                }))


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            text = value.decode("latin-1")[:64]
            return text if text.isprintable() else None
    return None


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body passes the limit.

    An HTTPException so that FastAPI's body parsing re-raises it as is instead of calling it a 400.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body is larger than the limit of {limit} bytes")


class BodyLimitMiddleware:
    """Refuse bodies over ``limit`` bytes: by Content-Length up front, or while streaming."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _header(scope, b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                await problem_response(400, "Content-Length is not a number", instance=scope["path"])(
                    scope, receive, send)
                return
            if declared > self.limit:
                await self._too_large(scope, receive, send)
                return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        async def send_wrapper(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, send_wrapper)
        except BodyTooLarge:
            if started:
                raise
            await self._too_large(scope, receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response: Any = problem_response(413, f"request body is larger than the limit of {self.limit} bytes",
                                         instance=scope["path"], limit_bytes=self.limit)
        await response(scope, receive, send)
