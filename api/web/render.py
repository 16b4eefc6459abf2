"""HTML out of Jinja2 templates: the environment, its filters, Markdown, and the response headers.

Templates autoescape everything; the only markup that reaches a page unescaped is Markdown rendered with
raw HTML turned off (so a ``<script>`` in a record body shows as text) and links whose targets pass
markdown-it's own check (no ``javascript:``). Jinja2 and markdown-it load on the first page, not with the
app: ``elephant serve`` starts no slower for having pages.
"""

from __future__ import annotations

import functools
import html
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from starlette.responses import HTMLResponse

from elephant.kinds import kind_spec
from elephant.kinds.units import format_number, format_signed_percent

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

# Pages load nothing from another origin; ReDoc starts its search worker from a blob.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; frame-ancestors 'none'; "
       "base-uri 'none'; form-action 'self'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
           "X-Frame-Options": "DENY", "Cache-Control": "no-store"}



def kind_label(kind: Any) -> str:
    """A kind's name on a page ('serving config', 'runbook'); an unknown kind raises UnknownKind."""
    return kind_spec(str(kind)).view.display


OUTCOME_LABELS = {"adopted": "adopted", "rejected": "rejected", "rolled_back": "rolled back",
                  "in_progress": "in progress", "none": "other"}


def record_url(key: str, version: int | None = None) -> str:
    url = "/records/" + quote(key, safe="/@:+,=")
    return url + (f"?version={int(version)}" if version is not None else "")


def model_url(model: str, page: str = "") -> str:
    return "/models/" + quote(model, safe="@:+,=") + (f"/{page}" if page else "")


def diff_path(key: str) -> str:
    return "/diff/" + quote(key, safe="/@:+,=")


def diff_url(key: str, before: int, after: int) -> str:
    return diff_path(key) + f"?from={int(before)}&to={int(after)}"


def with_query(path: str, params: dict[str, Any]) -> str:
    pairs = [(k, v) for k, v in params.items() if v not in (None, "", [], ())]
    flat: list[tuple[str, Any]] = []
    for k, v in pairs:
        flat.extend((k, item) for item in v) if isinstance(v, list | tuple) else flat.append((k, v))
    return path + (f"?{urlencode(flat)}" if flat else "")


def number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "" if value is None else str(value)
    return format_number(value)


def day(value: Any) -> str:
    return str(value)[:10] if value else ""


def moment(value: Any) -> str:
    """'2026-03-12 10:00:00 UTC' out of a stored timestamp."""
    if not value:
        return ""
    text = str(value)
    if len(text) <= 10:
        return text
    return text[:19].replace("T", " ") + " UTC"


@functools.lru_cache(maxsize=1)
def _markdown() -> Any:
    from markdown_it import MarkdownIt

    # commonmark with tables; html=False: raw HTML in a body is shown as text, never run.
    return MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")


def markdown(text: str | None) -> Any:
    from markupsafe import Markup

    return Markup(_markdown().render(text or ""))


_CITED = re.compile(r"<code>([^<@\s]{1,512})@(\d{1,9})</code>")


def markdown_with_citations(text: str | None, citations: list[str] | None = None) -> Any:
    """Markdown where each cited ``key@version`` in a code span becomes a link to that version's page."""
    from markupsafe import Markup

    known = set(citations or [])
    rendered = _markdown().render(text or "")

    def link(found: re.Match[str]) -> str:
        key = html.unescape(found.group(1))
        if known and f"{key}@{found.group(2)}" not in known:
            return found.group(0)
        href = html.escape(record_url(key, int(found.group(2))), quote=True)
        return f'<a class="cite" href="{href}">{found.group(0)}</a>'

    return Markup(_CITED.sub(link, rendered))


def json_for_script(value: Any) -> Any:
    """JSON safe inside ``<script type="application/json">``: no ``</script>`` can close it early."""
    from markupsafe import Markup

    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


@functools.lru_cache(maxsize=1)
def environment() -> Any:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"]),
                      auto_reload=False, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(number=number, signed_percent=format_signed_percent, day=day, moment=moment, markdown=markdown, tojson_script=json_for_script,
                       kind_label=kind_label,
                       outcome_label=lambda o: OUTCOME_LABELS.get(str(o), str(o).replace("_", " ")))
    env.globals.update(record_url=record_url, model_url=model_url, diff_url=diff_url, diff_path=diff_path, with_query=with_query,
                       cited=markdown_with_citations, OUTCOME_LABELS=OUTCOME_LABELS)
    return env


def render_html(template: str, context: dict[str, Any], *, status: int = 200) -> HTMLResponse:
    body = environment().get_template(template).render(**context)
    return HTMLResponse(body, status_code=status, headers=HEADERS)
