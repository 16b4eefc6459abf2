"""``Idempotency-Key`` for writes: a retried request gets the stored response instead of writing again.

The key is reserved (a row with status 0) in its own transaction before the write runs, then
completed with the response. Same key + same request → the stored response (header
``Idempotent-Replayed: true``); same key + a different request → 422; same key while the first
is still running → the retry waits for it (up to ``WAIT_FOR_FIRST``) and replays its response, and
only a first request still running after that is a 409. Responses of 5xx are not kept, so a retry
after a transient failure runs again.

Key creation (``POST /v1/keys``) keeps no response: its body holds the new key's secret, which
exists nowhere but in that one response (only its hash is stored, docs/design.md §8). A retry with
the same Idempotency-Key creates no second key and gets 409 ``IdempotentReplayRefused``, naming
the way out: list the keys and revoke the one whose secret was lost (issue 20 row 15). Keys are scoped to the API key that sent them and forgotten after 24 hours. A reservation
left by a crashed server is taken over after five minutes; re-running a put is harmless anyway
(identical content is "unchanged", not a new version).
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import anyio
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
# A retry that finds its first request still running waits this long for it (seconds), polling
# with a growing pause; writes take milliseconds, a large ingest seconds.
WAIT_FOR_FIRST = 15.0
# Responses never kept: their body carries a secret shown once (POST /v1/keys).
SECRET_RESPONSES = frozenset({("POST", "/v1/keys")})


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
        fingerprint = request_hash(scope, body)
        begun = await run_in_threadpool(idem.begin, store_key, principal, fingerprint)
        waited_until = time.monotonic() + WAIT_FOR_FIRST
        pause = 0.01
        while begun.outcome == "in_progress" and time.monotonic() < waited_until:
            await anyio.sleep(pause)
            pause = min(pause * 2, 0.25)
            if await run_in_threadpool(idem.settled, store_key):
                begun = await run_in_threadpool(idem.begin, store_key, principal, fingerprint)
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
        if begun.outcome == "replay" and begun.body == _SECRET_WITHHELD:
            await problem_response(409, "a key was already created with this Idempotency-Key; its secret is shown "
                                   "only once and is not kept, so it cannot be replayed. If the secret was lost, "
                                   "list the keys (GET /v1/keys) and revoke that one, then create another",
                                   title="Replay refused", error="IdempotentReplayRefused",
                                   instance=scope["path"])(scope, receive, send)
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
            kept_body = b"".join(chunks).decode("utf-8", "replace")
            if (scope["method"], scope["path"].rstrip("/")) in SECRET_RESPONSES and status < 300:
                kept, kept_body = [], _SECRET_WITHHELD
            await run_in_threadpool(idem.finish, store_key, status, kept, kept_body)
        else:
            await run_in_threadpool(idem.abandon, store_key)


_SECRET_WITHHELD = "\x00secret withheld"  # no response body is this: JSON never holds a raw NUL


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
