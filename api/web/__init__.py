"""Web pages for people, served by ``elephant serve`` under ``/``: home, model timelines, benchmark charts,
records with versions and diffs, search, ask, regressions, sign-in, and the API docs (Swagger UI and
ReDoc) with every asset in this package — nothing is loaded from another origin."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from elephant.api.web.render import STATIC


def mount_web(app: FastAPI) -> None:
    """Add the pages and ``/static`` to ``app`` (whose own /docs, /redoc and /openapi.json must be off)."""
    from elephant.api.web.pages import router

    app.include_router(router)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
