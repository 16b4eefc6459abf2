"""What protects a server that has no API keys from the browser of whoever runs it (issue 20 row 10).

A keyless server trusts whoever can reach it; on loopback that is the local user. Two browser
tricks reach it on that user's behalf, and this module refuses both:

* **Cross-site writes.** A page on another site can send a form ``POST`` (multipart included, so
  ``/v1/ingest``) to ``http://127.0.0.1:8000`` without a CORS preflight. Browsers mark such a request
  with ``Sec-Fetch-Site: cross-site`` and an ``Origin`` that is not the server's; an unsafe method
  (anything but GET/HEAD/OPTIONS) carrying either mark, and no bearer key, is refused with 403.
  Clients that are not browsers (curl, ``elephant.Client``, MCP clients) send neither header.
* **DNS rebinding.** A name the attacker controls is re-pointed at 127.0.0.1, so the page becomes
  "same-origin" with the server. The ``Host`` header still carries the attacker's name: while the
  connection arrived on a loopback address and no key exists, ``Host`` must be a loopback name
  (``localhost``, ``127.0.0.1``, ``[::1]``, with any port) or one listed in ``ELEPHANT_ALLOWED_HOSTS``
  (comma-separated); anything else is a 421 Misdirected Request, as ``/mcp`` answers.

Once a key exists neither check runs: a browser cannot attach ``Authorization`` cross-site, and the
web pages' session and CSRF cookies are ``SameSite=Strict`` with a CSRF token in every form (and a
reverse proxy that rewrites ``Host`` keeps working). ``serve`` refuses to bind beyond loopback with
no key unless ``--insecure`` (``elephant.cli.api_commands``).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from starlette.types import Scope

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
# Sec-Fetch-Site values a browser sends for a request this server's own pages (or the user, typing
# a URL) started; "same-site" is another origin on the same registrable domain, so it is refused.
_OWN_FETCH_SITES = frozenset({"same-origin", "none"})


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _host_name(value: str) -> str:
    """``Host`` without its port, lower-cased (``[::1]:8000`` -> ``[::1]``)."""
    value = value.strip().lower()
    if value.startswith("["):
        return value.split("]", 1)[0] + "]"
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def is_loopback_address(address: str | None) -> bool:
    if not address:
        return False
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


def cross_site_write(scope: Scope) -> str | None:
    """Why this request is a browser's cross-site write (None: it is not)."""
    if scope["method"] in SAFE_METHODS:
        return None
    fetch_site = header(scope, b"sec-fetch-site")
    if fetch_site is not None and fetch_site.strip().lower() not in _OWN_FETCH_SITES:
        return f"cross-site request refused (Sec-Fetch-Site: {fetch_site.strip()[:32]})"
    origin = header(scope, b"origin")
    if origin is None:
        return None
    host = header(scope, b"host") or ""
    parts = urlsplit(origin.strip())
    if origin.strip().lower() == "null" or not parts.netloc or parts.netloc.lower() != host.strip().lower():
        return f"cross-site request refused (Origin {origin.strip()[:100]!r} is not this server)"
    return None


def foreign_host(scope: Scope, allowed: frozenset[str]) -> str | None:
    """Why the ``Host`` header is not acceptable on a loopback connection (None: it is, or the
    connection did not arrive on a loopback address)."""
    server = scope.get("server")
    if not server or not is_loopback_address(str(server[0])):
        return None
    host = header(scope, b"host")
    if host is None:
        return "a Host header is required"
    name = _host_name(host)
    if name in LOOPBACK_NAMES or name in allowed:
        return None
    return (f"Host {host.strip()[:100]!r} is not this server: a keyless server on loopback answers only "
            "localhost, 127.0.0.1 and [::1] (list other names in ELEPHANT_ALLOWED_HOSTS)")


def allowed_hosts(setting: str) -> frozenset[str]:
    return frozenset(_host_name(name) for name in setting.split(",") if name.strip())
