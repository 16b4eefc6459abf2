"""The web pages' routes: each reads its query, asks ``views`` for the data on a worker thread, renders HTML.

Every route here answers HTML, errors included (a missing record is a 404 page, not a problem+json), and
none is in the OpenAPI schema. The sign-in form and the static assets are the only pages open to a
visitor without a key once keys exist.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute

from elephant.api.deps import author_for
from elephant.api.problems import problem_response
from elephant.api.ratelimit import failed_key_checks
from elephant.api.web import views
from elephant.api.web.access import (
    CSRF_COOKIE,
    SESSION_TTL_S,
    SignInRequired,
    Viewer,
    check_csrf,
    clear_session,
    context_of,
    current_viewer,
    keys_required,
    remember_csrf,
    require_write,
    safe_next,
    set_session,
    signin_url,
)
from elephant.api.web.render import HEADERS, record_url, render_html
from elephant.errors import AuthError, ElephantError
from elephant.storage.apikeys import open_session

_log_name = "elephant.api"


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def _is_secure(request: Request) -> bool:
    return request.url.scheme == "https"


class PageRoute(APIRoute):
    """A route whose errors are pages: sign-in for a visitor without a session, an error page otherwise."""

    def get_route_handler(self) -> Callable[[Request], Any]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                response: Response = await handler(request)
                return response
            except SignInRequired as exc:
                if request.method in ("GET", "HEAD") and _wants_html(request):
                    return RedirectResponse(signin_url(exc.next_url), status_code=303, headers=HEADERS)
                # An API client (curl, a script) asking for /openapi.json: the API's own answer.
                return problem_response(401, exc.reason or "this server requires an API key: send "
                                        "'Authorization: Bearer KEY' or sign in at /signin",
                                        headers={"WWW-Authenticate": 'Bearer realm="elephant"'},
                                        error="AuthError", instance=request.url.path)
            except ElephantError as exc:
                status = int(getattr(exc, "http_status", 500) or 500)
                return render_html("error.html", {"viewer": None, "status": status, "title": exc.title,
                                                  "message": exc.message, "nav": ""}, status=status)

        return page_handler


router = APIRouter(route_class=PageRoute, include_in_schema=False)
ViewerDep = Annotated[Viewer, Depends(current_viewer)]


async def _page(request: Request, viewer: Viewer, template: str, build: Callable[..., dict[str, Any]],
                *args: Any, nav: str = "", status: int = 200) -> Response:
    """Build the page's data and render it on a worker thread, within the retrieval limit."""
    ctx = context_of(request)

    def work() -> Response:
        cpu = time.thread_time()
        data = build(ctx.db, *args)
        page = render_html(template, {"viewer": viewer, "nav": nav, "request_path": request.url.path, **data},
                           status=status)
        page.headers["Server-Timing"] = f"cpu;dur={(time.thread_time() - cpu) * 1000:.2f}"
        return page

    started = time.perf_counter()
    response: Response = await anyio.to_thread.run_sync(work, limiter=ctx.retrieval_limiter())
    # Wall time of the page's data and template (queueing for a thread included), and its CPU time alone.
    response.headers["Server-Timing"] = (f"page;dur={(time.perf_counter() - started) * 1000:.2f}, "
                                         + response.headers["Server-Timing"])
    remember_csrf(response, viewer, secure=_is_secure(request))
    return response


# ---------------------------------------------------------------- pages
@router.get("/")
async def home_page(request: Request, viewer: ViewerDep) -> Response:
    return await _page(request, viewer, "home.html", views.home, request.query_params, nav="home")


@router.get("/models/{model}/benchmarks")
async def benchmarks_page(request: Request, viewer: ViewerDep, model: str) -> Response:
    return await _page(request, viewer, "benchmarks.html", views.benchmarks, model, nav="models")


@router.get("/models/{model}")
async def timeline_page(request: Request, viewer: ViewerDep, model: str) -> Response:
    return await _page(request, viewer, "timeline.html", views.timeline, model, request.query_params, nav="models")


@router.get("/records/{key:path}")
async def record_page(request: Request, viewer: ViewerDep, key: str) -> Response:
    return await _page(request, viewer, "record.html", views.record, key, request.query_params)


@router.get("/diff/{key:path}")
async def diff_page(request: Request, viewer: ViewerDep, key: str) -> Response:
    return await _page(request, viewer, "diff.html", views.diff, key, request.query_params)


@router.get("/search")
async def search_page(request: Request, viewer: ViewerDep) -> Response:
    return await _page(request, viewer, "search.html", views.search, request.query_params, nav="search")


@router.get("/ask")
async def ask_page(request: Request, viewer: ViewerDep) -> Response:
    return await _page(request, viewer, "ask.html", views.ask, request.query_params, nav="ask")


@router.get("/regressions")
async def regressions_page(request: Request, viewer: ViewerDep) -> Response:
    return await _page(request, viewer, "regressions.html", views.regressions, request.query_params,
                       nav="regressions")


@router.post("/regressions/resolve")
async def resolve_regression(request: Request, viewer: ViewerDep) -> Response:
    """Resolve a finding from its page's form: a write key (or an open server) and the form's CSRF token."""
    form = await request.form()
    check_csrf(viewer, _text(form.get("csrf_token")))
    require_write(viewer)
    key = _text(form.get("key"))
    note = _text(form.get("note"))[:2000]
    if not key:
        from elephant.errors import UsageError

        raise UsageError("the form names no regression to resolve")
    ctx = context_of(request)
    author = author_for(viewer.key, ctx.settings)
    await anyio.to_thread.run_sync(functools.partial(ctx.db.resolve_regression, key, note=note, author=author))
    back = safe_next(_text(form.get("next")) or "/regressions")
    return RedirectResponse(back, status_code=303, headers=HEADERS)


# ---------------------------------------------------------------- sign-in
@router.get("/signin")
async def signin_form(request: Request) -> Response:
    ctx = context_of(request)
    required = await keys_required(ctx)
    return _signin_response(request, required=required, next_url=safe_next(request.query_params.get("next")),
                            error=None, status=200)


@router.post("/signin")
async def signin(request: Request) -> Response:
    ctx = context_of(request)
    form = await request.form()
    next_url = safe_next(_text(form.get("next")))
    if not await keys_required(ctx):
        return RedirectResponse(next_url, status_code=303, headers=HEADERS)
    cookie_token = request.cookies.get(CSRF_COOKIE, "")
    presented = _text(form.get("csrf_token"))
    import hmac

    if not cookie_token or not hmac.compare_digest(cookie_token.encode(), presented.encode()):
        return _signin_response(request, required=True, next_url=next_url, status=403,
                                error="The form had expired: try again.")
    secret = _text(form.get("key")).strip()
    if not secret:
        return _signin_response(request, required=True, next_url=next_url, status=401, error="Paste an API key.")
    checks, client = failed_key_checks(ctx), request.client.host if request.client else "-"
    wait = checks.retry_after(client)
    if wait is not None:
        return _signin_response(request, required=True, next_url=next_url, status=429,
                                error=f"Too many keys were not accepted from here: try again in {wait} s.")
    try:
        _session, token = await anyio.to_thread.run_sync(
            functools.partial(open_session, ctx.keys, secret, expires_at=int(time.time()) + SESSION_TTL_S),
            limiter=ctx.auth_limiter())
    except AuthError as exc:
        checks.failed(client)
        return _signin_response(request, required=True, next_url=next_url, status=401,
                                error=f"That key was not accepted: {exc.message}.")
    response = RedirectResponse(next_url, status_code=303, headers=HEADERS)
    set_session(response, token, secure=_is_secure(request))
    return response


@router.post("/signout")
async def signout(request: Request, viewer: ViewerDep) -> Response:
    form = await request.form()
    check_csrf(viewer, _text(form.get("csrf_token")))
    response = RedirectResponse("/signin", status_code=303, headers=HEADERS)
    clear_session(response)
    return response


def _signin_response(request: Request, *, required: bool, next_url: str, error: str | None,
                     status: int) -> Response:
    import secrets

    token = request.cookies.get(CSRF_COOKIE, "")
    fresh = len(token) != 43
    if fresh:
        token = secrets.token_urlsafe(32)
    response = render_html("signin.html", {"viewer": None, "nav": "", "required": required, "next": next_url,
                                           "error": error, "csrf_token": token}, status=status)
    if fresh:
        response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict", secure=_is_secure(request), path="/")
    return response


# ---------------------------------------------------------------- API docs, offline
@router.get("/openapi.json")
async def openapi_schema(request: Request, viewer: ViewerDep) -> Response:
    return JSONResponse(request.app.openapi())


@router.get("/docs")
async def swagger_page(request: Request, viewer: ViewerDep) -> Response:
    return render_html("docs.html", {"viewer": viewer, "nav": "docs"})


@router.get("/redoc")
async def redoc_page(request: Request, viewer: ViewerDep) -> Response:
    return render_html("redoc.html", {"viewer": viewer, "nav": "docs"})


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


__all__ = ["record_url", "router"]
