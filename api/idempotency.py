"""``Idempotency-Key`` for writes: a retried request gets the stored response instead of writing again.

The key is reserved (a row with status 0) in its own transaction before the write runs, then
completed with the response. Same key + same request → the stored response (header
``Idempotent-Replayed: true``); same key + a different request → 422; same key while the first
is still running → 409. Responses of 5xx are not kept, so a retry after a transient failure runs
again. Keys are scoped to the API key that sent them and forgotten after 24 hours. A reservation
left by a crashed server is taken over after five minutes; re-running a put is harmless anyway
(identical content is "unchanged", not a new version).
"""

from __future__ import annotations

import hashlib
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from elephant.api.deps import AppContext
from elephant.api.problems import problem_response
from elephant.storage.idempotency import IdempotencyStore

HEADER = b"idempotency-key"
MAX_KEY_LENGTH = 128
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
NOT_WRITES = frozenset({"/v1/search", "/v1/ask", "/v1/context"})
_KEPT_HEADERS = {b"content-type", b"etag", b"location"}


def request_hash(scope: Scope, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (scope["method"].encode(), scope["path"].encode(), scope.get("query_string", b""), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, ctx: AppContext) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["method"] not in WRITE_METHODS
                or not scope["path"].startswith("/v1/") or scope["path"] in NOT_WRITES):
            await self.app(scope, receive, send)
            return
        raw = next((v for k, v in scope["headers"] if k == HEADER), None)
        if raw is None:
            await self.app(scope, receive, send)
            return
        key = raw.decode("latin-1").strip()
        if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
            await problem_response(400, f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters",
                                   instance=scope["path"])(scope, receive, send)
            return
        body = await _read_body(receive)
        principal = getattr(scope.get("state", {}).get("principal"), "id", None) or "-"
        store_key = f"{principal}:{key}"
        idem = IdempotencyStore(self.ctx.db.store)
        begun = await run_in_threadpool(idem.begin, store_key, principal, request_hash(scope, body))
        if begun.outcome == "mismatch":
            await problem_response(422, "this Idempotency-Key was already used with a different request",
                                   title="Idempotency-Key reused", error="IdempotencyMismatch",
                                   instance=scope["path"])(scope, receive, send)
            return
        if begun.outcome == "in_progress":
            await problem_response(409, "a request with this Idempotency-Key is still being processed; retry later",
                                   title="Request in progress", error="IdempotencyInProgress",
                                   instance=scope["path"], headers={"Retry-After": "1"})(scope, receive, send)
            return
        if begun.outcome == "replay":
            headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in begun.headers or []]
            headers.append((b"idempotent-replayed", b"true"))
            encoded = begun.body.encode("utf-8")
            headers.append((b"content-length", str(len(encoded)).encode()))
            await send({"type": "http.response.start", "status": begun.status, "headers": headers})
            await send({"type": "http.response.body", "body": encoded})
            return
        await self._run_and_keep(scope, body, send, idem, store_key)

    async def _run_and_keep(self, scope: Scope, body: bytes, send: Send, idem: IdempotencyStore,
                            store_key: str) -> None:
        status = 0
        kept: list[tuple[str, str]] = []
        chunks: list[bytes] = []
        delivered = False

        async def replay_receive() -> Message:
            nonlocal delivered
            if delivered:
                return {"type": "http.disconnect"}
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                kept.extend((k.decode("latin-1"), v.decode("latin-1")) for k, v in message.get("headers", [])
                            if k.lower() in _KEPT_HEADERS)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, replay_receive, capture)
        except BaseException:
            await run_in_threadpool(idem.abandon, store_key)
            raise
        if 0 < status < 500:
            await run_in_threadpool(idem.finish, store_key, status, kept, b"".join(chunks).decode("utf-8", "replace"))
        else:
            await run_in_threadpool(idem.abandon, store_key)


async def _read_body(receive: Receive) -> bytes:
    parts: list[bytes] = []
    while True:
        message: dict[str, Any] = dict(await receive())
        if message["type"] == "http.disconnect":
            break
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(parts)
