"""Every error the API returns is ``application/problem+json`` (RFC 9457).

Members: ``type``, ``title``, ``status``, ``detail``, ``instance`` (the request path), ``error``
(the library's error class, which ``elephant.Client`` maps back to the same exception) and, for
validation errors, ``errors``: one item per bad field with its path (``field``) and message.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from elephant.errors import ElephantError, InvalidRecord

PROBLEM_JSON = "application/problem+json"
_log = logging.getLogger("elephant.api")
_RESERVED = {"type", "title", "status", "detail", "instance", "error", "errors"}
_HTTP_TITLES = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found",
                405: "Method not allowed", 406: "Not acceptable", 409: "Conflict", 411: "Length required",
                412: "Precondition failed", 413: "Request body too large", 415: "Unsupported media type",
                421: "Misdirected request",
                422: "Unprocessable content", 428: "Precondition required", 429: "Too many requests",
                500: "Internal server error", 501: "Not implemented", 503: "Service unavailable"}


def _slug(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def problem_type(name: str) -> str:
    return f"urn:elephant:problem:{_slug(name)}"


def problem_body(status: int, detail: str, *, title: str | None = None, error: str | None = None,
                 instance: str | None = None, errors: list[dict[str, Any]] | None = None,
                 **extra: Any) -> dict[str, Any]:
    name = error or _slug_http(status)
    body: dict[str, Any] = {"type": problem_type(name), "title": title or _HTTP_TITLES.get(status, "Error"),
                            "status": status, "detail": detail, "error": name}
    if instance is not None:
        body["instance"] = instance
    if errors is not None:
        body["errors"] = errors
    for k, v in extra.items():
        if k not in _RESERVED and _is_json(v):
            body[k] = v
    return body


def _slug_http(status: int) -> str:
    return "".join(w.capitalize() for w in _HTTP_TITLES.get(status, "Error").split())


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def problem_response(status: int, detail: str, *, headers: dict[str, str] | None = None,
                     **members: Any) -> JSONResponse:
    return JSONResponse(problem_body(status, detail, **members), status_code=status,
                        media_type=PROBLEM_JSON, headers=headers)


def error_response(exc: ElephantError, instance: str | None = None) -> JSONResponse:
    """The problem for a domain error, with its HTTP status taken from the error class."""
    errors = None
    if isinstance(exc, InvalidRecord):
        errors = [p.to_dict() for p in exc.problems]
    headers = {"WWW-Authenticate": 'Bearer realm="elephant"'} if exc.http_status == 401 else None
    return problem_response(exc.http_status, exc.message, title=exc.title, error=type(exc).__name__,
                            instance=instance, errors=errors, headers=headers, **exc.details)


def _loc_path(loc: tuple[Any, ...] | list[Any]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts)


def validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Field paths like ``body.query`` or ``query.limit`` with pydantic's message."""
    out = []
    for err in exc.errors():
        item = {"field": _loc_path(err.get("loc", ())), "message": err.get("msg", "invalid")}
        out.append(item)
    return out


async def on_elephant_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ElephantError)
    if exc.http_status >= 500:
        _log.warning("request failed: %s %s: %s", request.method, request.url.path, exc.message)
    return error_response(exc, request.url.path)


async def on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = validation_errors(exc)
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5]) or "invalid request"
    return problem_response(422, detail, title="Invalid request", error="RequestValidationError",
                            instance=request.url.path, errors=errors)


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else _HTTP_TITLES.get(exc.status_code, "Error")
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no such endpoint: {request.method} {request.url.path}"
    return problem_response(exc.status_code, detail, instance=request.url.path,
                            headers=dict(exc.headers) if exc.headers else None)


async def on_unexpected_error(request: Request, exc: Exception) -> Response:
    # A 500 is always our bug, never the caller's input: log it with the traceback, say little.
    _log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(500, "internal error; see the server log", instance=request.url.path)
