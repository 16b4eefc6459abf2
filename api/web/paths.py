"""Which request paths belong to the web pages (and the API docs) rather than to the REST API.

The bearer-key middleware leaves these to the pages' own check when no ``Authorization`` header is sent:
a browser proves itself with the session cookie set by the sign-in form, and an unknown visitor is sent
to that form rather than answered with a 401 problem. A request that does send a bearer key is checked
by the middleware as any other.
"""

from __future__ import annotations

PAGES = frozenset({"/", "/search", "/ask", "/regressions", "/regressions/resolve", "/signin", "/signout",
                   "/docs", "/redoc", "/openapi.json", "/favicon.ico"})
PREFIXES = ("/models/", "/records/", "/diff/", "/static/")


def is_browser_path(path: str) -> bool:
    return path in PAGES or path.startswith(PREFIXES)
