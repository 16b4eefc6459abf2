"""Bearer-key authentication as ASGI middleware, so it covers every route and mounted app (``/mcp``).

Rules: while no key exists the server is open; once one exists, everything but ``/healthz`` and
``/readyz`` (probes) needs ``Authorization: Bearer KEY``. The web pages and API docs
(``elephant.api.web.paths``) take a session cookie instead when no bearer key is sent: they check it
themselves and send a visitor without one to the sign-in form. Reads (GET, and the query POSTs search/ask/context) need ``read``,
writes need ``write``, key management needs ``admin``. The authenticated ``ApiKey`` is put in
``scope["state"]["principal"]`` for routes and mounted apps (the MCP server checks ``write``
itself for its ``remember`` tool). The presented secret is never logged or echoed.

While no key exists, browsers' cross-site writes and foreign ``Host`` headers on loopback
connections are refused first: ``elephant.api.origin`` (issue 20 row 10).
"""

from __future__ import annotations

import functools
from typing import Any

import anyio
from starlette.types import ASGIApp, Receive, Scope, Send

from elephant.api.deps import AppContext
from elephant.api.origin import allowed_hosts, cross_site_write, foreign_host
from elephant.api.problems import error_response, problem_response
from elephant.api.ratelimit import client_address, failed_key_checks
from elephant.api.web.paths import is_browser_path
from elephant.errors import AuthError, ElephantError, Forbidden
from elephant.storage.apikeys import Scope as KeyScope
from elephant.storage.apikeys import require_scope

OPEN_PATHS = frozenset({"/healthz", "/readyz"})
READ_POSTS = frozenset({"/v1/search", "/v1/ask", "/v1/context"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def required_scope(method: str, path: str) -> KeyScope | None:
    """The scope a request needs (None: no key needed)."""
    if path in OPEN_PATHS:
        return None
    if path == "/v1/keys" or path.startswith("/v1/keys/"):
        return "admin"
    if method in SAFE_METHODS or path in READ_POSTS or path == "/mcp" or path.startswith("/mcp/"):
        return "read"
    return "write"


def bearer_token(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").strip().partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            return ""
    return None


class AuthMiddleware:
    def __init__(self, app: ASGIApp, ctx: AppContext) -> None:
        self.app = app
        self.ctx = ctx
        self.allowed_hosts = allowed_hosts(ctx.settings.allowed_hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path not in OPEN_PATHS and bearer_token(scope["headers"]) is None:
            keyed = self.ctx.keys_required_inline()
            if keyed is None:
                keyed = await anyio.to_thread.run_sync(self._keys_required, limiter=self.ctx.auth_limiter())
            if not keyed:
                refused = cross_site_write(scope)
                if refused is not None:
                    await problem_response(403, refused, instance=path)(scope, receive, send)
                    return
                refused = foreign_host(scope, self.allowed_hosts)
                if refused is not None:
                    await problem_response(421, refused, title="Misdirected request", instance=path)(
                        scope, receive, send)
                    return
        needed = required_scope(scope["method"], scope["path"])
        if needed is not None and is_browser_path(scope["path"]) and bearer_token(scope["headers"]) is None:
            needed = None  # a page: it checks its session cookie itself (elephant.api.web.access)
        state: dict[str, Any] = scope.setdefault("state", {})
        state.setdefault("principal", None)
        if needed is not None and self.ctx.keys_required_inline() is not False:
            checks = failed_key_checks(self.ctx)
            client = client_address(scope)
            wait = checks.retry_after(client) if bearer_token(scope["headers"]) else None
            if wait is not None:
                await problem_response(429, f"too many failed API key checks from this address; retry in {wait} s",
                                       instance=path, headers={"Retry-After": str(wait)})(scope, receive, send)
                return
            try:
                state["principal"] = await anyio.to_thread.run_sync(
                    functools.partial(self._authenticate, scope, needed), limiter=self.ctx.auth_limiter())
            except ElephantError as exc:
                if isinstance(exc, AuthError) and not isinstance(exc, Forbidden) and bearer_token(scope["headers"]):
                    checks.failed(client)
                await error_response(exc, scope["path"])(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _keys_required(self) -> bool:
        try:
            return self.ctx.keys_required()
        except ElephantError:
            return False  # the database is down: the request itself will say so (503)

    def _authenticate(self, scope: Scope, needed: KeyScope) -> Any:
        if not self.ctx.keys_required():
            return None
        token = bearer_token(scope["headers"])
        if token is None:
            raise AuthError("this server requires an API key: send 'Authorization: Bearer KEY'")
        if not token:
            raise AuthError("malformed Authorization header: expected 'Bearer KEY'")
        key = self.ctx.keys.verify(token)
        require_scope(key, needed)
        return key
