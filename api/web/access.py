"""Who is looking at a page: an open server, a bearer key, or a browser signed in with a session cookie.

Once API keys exist, a page needs one of them. The sign-in form takes a key and sets an HttpOnly,
SameSite=Strict cookie holding a session token signed with that key's stored hash
(``elephant.storage.apikeys.open_session``), so every worker can check it and revoking the key ends it.
Forms that write carry a CSRF token: the session's own (derived from the same signature) when signed in,
or, on a server without keys, a random token also kept in a SameSite=Strict cookie (double submit). A
request authenticated by a bearer header needs none: a browser never adds that header across sites.
"""

from __future__ import annotations

import functools
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

import anyio
from fastapi import Request
from starlette.responses import Response

from elephant.api.deps import AppContext
from elephant.errors import AuthError, ElephantError, Forbidden
from elephant.storage.apikeys import ApiKey, Session, verify_session

SESSION_COOKIE = "elephant_session"
CSRF_COOKIE = "elephant_csrf"
SESSION_TTL_S = 12 * 3600


class SignInRequired(Exception):
    """Raised by a page whose visitor has no valid session; answered with the sign-in form."""

    def __init__(self, next_url: str, reason: str = "") -> None:
        super().__init__(reason or "sign in with an API key")
        self.next_url = next_url
        self.reason = reason


@dataclass
class Viewer:
    key: ApiKey | None  # None: the server has no keys and is open
    via: Literal["open", "bearer", "session"]
    csrf: str | None = None  # what write forms must carry; None when authenticated by a bearer header
    set_csrf_cookie: bool = False  # an open server's double-submit token is new: the response sets it

    @property
    def can_write(self) -> bool:
        return self.key is None or self.key.allows("write")

    @property
    def signed_in(self) -> bool:
        return self.via == "session"

    @property
    def label(self) -> str:
        if self.key is None:
            return "open server (no API keys)"
        return f"{self.key.name or self.key.id} ({self.key.scope})"


def context_of(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


async def keys_required(ctx: AppContext) -> bool:
    inline = ctx.keys_required_inline()
    if inline is not None:
        return inline
    return bool(await anyio.to_thread.run_sync(ctx.keys_required, limiter=ctx.auth_limiter()))


def here(request: Request) -> str:
    """The request's own path and query: where sign-in sends the visitor back to."""
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


async def current_viewer(request: Request) -> Viewer:
    """The page's viewer; raises SignInRequired when keys exist and no valid session or key came."""
    principal = getattr(request.state, "principal", None)
    if principal is not None:  # the middleware checked a bearer key for this request
        return Viewer(key=principal, via="bearer")
    ctx = context_of(request)
    if not await keys_required(ctx):
        token = request.cookies.get(CSRF_COOKIE, "")
        if len(token) != 43:
            return Viewer(key=None, via="open", csrf=secrets.token_urlsafe(32), set_csrf_cookie=True)
        return Viewer(key=None, via="open", csrf=token)
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise SignInRequired(here(request))
    try:
        session: Session = await anyio.to_thread.run_sync(
            functools.partial(verify_session, ctx.keys, cookie, now=int(time.time())), limiter=ctx.auth_limiter())
    except AuthError as exc:
        raise SignInRequired(here(request), exc.message) from None
    return Viewer(key=session.key, via="session", csrf=session.csrf)


def check_csrf(viewer: Viewer, presented: str | None) -> None:
    """Refuse a form write whose CSRF token is missing or wrong (Forbidden, 403)."""
    if viewer.via == "bearer":
        return
    if not presented or viewer.csrf is None or viewer.set_csrf_cookie \
            or not hmac.compare_digest(presented.encode(), viewer.csrf.encode()):
        raise Forbidden("this form's CSRF token is missing or stale: reload the page and try again")


def require_write(viewer: Viewer) -> None:
    if not viewer.can_write:
        raise Forbidden("this key has scope 'read'; this action needs 'write'")


def remember_csrf(response: Response, viewer: Viewer, *, secure: bool) -> None:
    if viewer.set_csrf_cookie and viewer.csrf:
        response.set_cookie(CSRF_COOKIE, viewer.csrf, httponly=True, samesite="strict", secure=secure, path="/")


def set_session(response: Response, token: str, *, secure: bool) -> None:
    response.set_cookie(SESSION_COOKIE, token, max_age=SESSION_TTL_S, httponly=True, samesite="strict",
                        secure=secure, path="/")


def clear_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")


def safe_next(value: str | None) -> str:
    """A local path to return to after sign-in; anything else (another host, a scheme) goes home."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def signin_url(next_url: str) -> str:
    return "/signin" + (f"?next={quote(next_url, safe='/')}" if next_url and next_url != "/" else "")


def error_status(exc: ElephantError) -> int:
    return int(getattr(exc, "http_status", 500) or 500)
