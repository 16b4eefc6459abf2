"""The FastAPI app: ``create_app(settings=None)`` builds one app around one ``Elephant``.

Middleware, outermost first: access log + latency metrics, body size limit, bearer-key auth,
Idempotency-Key. Auth is middleware rather than a dependency so that it also guards mounted
apps (the MCP server at ``/mcp``). Nothing here imports torch, and chromadb/onnxruntime load only
when the warm-up (or the first search) needs them.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from elephant import __version__
from elephant.api import problems
from elephant.api.auth import AuthMiddleware
from elephant.api.deps import AppContext
from elephant.api.idempotency import IdempotencyMiddleware
from elephant.api.mcp_mount import mount_mcp
from elephant.api.middleware import AccessLogMiddleware, BodyLimitMiddleware
from elephant.api.responses import Problem
from elephant.api.routes import ingest, keys, ops, records, retrieval
from elephant.api.web import mount_web
from elephant.errors import ElephantError
from elephant.osmem import limit_malloc_arenas
from elephant.settings import Settings, get_settings

_log = logging.getLogger("elephant.api")

# Error statuses every operation may answer, all as application/problem+json.
_ERROR_STATUSES = {
    "400": "Bad request (malformed header or parameter)",
    "401": "No or invalid API key",
    "403": "The key's scope does not allow this, or a browser's cross-site write to a keyless server",
    "404": "No such record, version or endpoint",
    "409": "Idempotency-Key still in progress after a wait, a key creation that cannot be replayed, or an "
           "import conflict",
    "412": "If-Match names a version that is no longer current",
    "413": "Request body too large",
    "421": "A keyless server on loopback asked under a Host name that is not its own (DNS rebinding)",
    "422": "Invalid request or record, with field paths in `errors`",
    "429": "Too many failed API key checks from this address (see Retry-After)",
    "500": "Server bug",
    "501": "Not available in this build",
    "503": "Database, model or index unavailable",
}


def create_app(settings: Settings | None = None) -> FastAPI:
    """The REST app for ``settings`` (default: the process settings from ``ELEPHANT_*``)."""
    settings = settings or get_settings()
    ctx = AppContext(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        limit_malloc_arenas()  # before the request and warm-up threads exist (elephant.osmem says why)
        try:
            ctx.db  # noqa: B018 - open (and migrate) before the first request, not during it
        except ElephantError as exc:
            # Serve anyway: /healthz answers, /readyz and every request say why (503), and the
            # database is opened again on the next request, so a restarting PostgreSQL heals.
            _log.error("cannot open the store: %s", exc.message)
        ctx.start_warm_up()
        async with contextlib.AsyncExitStack() as stack:
            for enter in ctx.lifespan_contexts:
                await stack.enter_async_context(enter())
            try:
                yield
            finally:
                ctx.close()

    app = FastAPI(
        title="Elephant",
        version=__version__,
        summary="The memory of an ML engineering team: typed, versioned records, search and answers.",
        description="Errors are `application/problem+json`. Once an API key exists, every endpoint but "
                    "`/healthz` and `/readyz` needs `Authorization: Bearer KEY`.",
        lifespan=lifespan,
        docs_url=None, redoc_url=None, openapi_url=None,  # served offline by the web pages, behind sign-in
    )
    app.state.ctx = ctx

    v1 = "/v1"
    app.include_router(records.router, prefix=v1)
    app.include_router(retrieval.router, prefix=v1)
    app.include_router(ingest.router, prefix=v1)
    app.include_router(keys.router, prefix=v1)
    app.include_router(ops.router)

    app.add_exception_handler(ElephantError, problems.on_elephant_error)
    app.add_exception_handler(RequestValidationError, problems.on_validation_error)
    app.add_exception_handler(StarletteHTTPException, problems.on_http_error)
    app.add_exception_handler(Exception, problems.on_unexpected_error)

    # add_middleware wraps: the last added is the outermost.
    app.add_middleware(IdempotencyMiddleware, ctx=ctx)
    app.add_middleware(AuthMiddleware, ctx=ctx)
    app.add_middleware(BodyLimitMiddleware, limit=settings.api_body_limit_bytes)
    app.add_middleware(AccessLogMiddleware, metrics=ctx.metrics)

    mount_mcp(app, ctx)  # the MCP server (issue 8) at /mcp; its SDK loads after startup
    mount_web(app)  # pages for people (issue 17) under /, with /docs, /redoc and /openapi.json
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema with every error documented as application/problem+json."""
    if app.openapi_schema:
        return app.openapi_schema
    from fastapi.openapi.utils import get_openapi

    schema = get_openapi(title=app.title, version=app.version, summary=app.summary,
                         description=app.description, routes=app.routes)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    security_scheme = {"bearer": {"type": "http", "scheme": "bearer"}}
    schema["components"]["securitySchemes"] = security_scheme
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status, description in _ERROR_STATUSES.items():
                entry = responses.get(status)
                if entry is None or status == "422":
                    responses[status] = {"description": description, "content": problem}
                elif status == "503" and "content" in entry:
                    # readyz: its own body on 503, plus a problem if the database is down
                    entry["content"].update(problem)
            if path not in ("/healthz", "/readyz"):
                operation["security"] = [{"bearer": []}, {}]
    app.openapi_schema = schema
    return schema
