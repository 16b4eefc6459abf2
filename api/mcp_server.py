"""Elephant as an MCP server: the tools an agent uses to remember and recall what the team did.

One server definition, two transports: stdio (``elephant mcp``, one local agent) and streamable HTTP
mounted at ``/mcp`` in the REST app, behind the same API-key middleware as ``/v1``. Every tool
returns the Markdown an agent reads *and* the same JSON the REST API returns (``structuredContent``).
Tools are plain functions of the library facade; the SDK runs them in worker threads.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal

import yaml
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from elephant.answers.brief import DEFAULT_BRIEF_BUDGET, MAX_BRIEF_BUDGET
from elephant.answers.context import MAX_BUDGET
from elephant.errors import ElephantError
from elephant.kinds import WritableKindName
from elephant.kinds.phrases import clip
from elephant.kinds.render import TITLE_CHARS, figures_of, outcome_of, outcome_words
from elephant.records.envelope import validate_record
from elephant.storage.apikeys import require_scope

if TYPE_CHECKING:
    from elephant.facade import Elephant

SERVER_NAME = "elephant"
INSTRUCTIONS = (
    "Elephant is the ML team's memory: typed, versioned records of serving configs, benchmarks, "
    "optimization attempts, deployments, incidents and rollback procedures. Call `brief` on startup. "
    "Before proposing an optimization, call `ask` (\"what did we try last time?\") and respect what was "
    "rejected or rolled back. After a benchmark, optimization, deployment or incident, `remember` it "
    "with its numbers. Cite facts as key@version; open a cited record with `get` (it takes the citation), "
    "compare versions with `diff`, list regressions with `regressions`."
)
_READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True,
                             open_world_hint=False)


def _result(markdown: str, data: Mapping[str, Any]) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=markdown)], structured_content=dict(data))


def split_citation(key: str, version: int | None) -> tuple[str, int | None]:
    """'ranker/x@3' → ('ranker/x', 3): keys never hold '@', so a citation opens the version it names."""
    base, sep, number = key.rpartition("@")
    if not sep or not number.isdigit():
        return key, version
    if version is not None and version != int(number):
        raise ToolError(f"{key!r} names version {number} but version={version} was asked")
    return base, int(number)


def hit_line(hit: Mapping[str, Any], stored: Any) -> str:
    """A search hit in one line with its numbers: date · kind · model: **title** — outcome; figures [key@v]."""
    kind = str(hit.get("kind"))
    fields = (stored.envelope.get("fields") or {}) if stored is not None else {}
    said = [x for x in (outcome_of(kind, fields),) if x]
    said += figures_of(kind, fields)[:3]
    labels = [str(hit.get("occurred_at") or "undated")[:10], kind.replace("_", " ")]
    if hit.get("model"):
        labels.append(str(hit["model"]))
    line = f"- {' · '.join(labels)}: **{clip(str(hit.get('title') or hit['key']), TITLE_CHARS)}**"
    if said:
        line += " — " + "; ".join(str(x).replace("_", " ") for x in said)
    return f"{line} [{hit['key']}@{hit['version']}]"


BODY_SHOWN_CHARS = 4000


def _value(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 200 else text[:199] + "…"


def record_markdown(record: Any) -> str:
    """A record for an agent to read: what, when, outcome and figures, fields, links, body (clipped)."""
    env = record.envelope
    kind = str(env.get("kind"))
    fields = env.get("fields") or {}
    labels = [f"`{record.citation}`", kind.replace("_", " ")]
    labels += [str(env["model"])] if env.get("model") else []
    labels.append(str(env.get("occurred_at") or "undated")[:25])
    lines = [f"### {env.get('title') or record.key}", " · ".join(labels)
             + f" · recorded {record.recorded_at[:19]} by {record.author or '?'}"
             + (" · **deleted**" if record.is_deleted else "")]
    if record.is_deleted:
        return "\n".join(lines)
    lines.append(f"- Outcome: {outcome_words(kind, fields)}")
    if (shown := figures_of(kind, fields)):
        lines.append(f"- Figures: {', '.join(shown)}")
    if env.get("tags"):
        lines.append(f"- Tags: {', '.join(env['tags'])}")
    for link in env.get("links") or []:
        lines.append(f"- {link.get('rel')}: `{link.get('key')}`")
    if fields:
        lines += ["", "```yaml", yaml.safe_dump(fields, sort_keys=False, allow_unicode=True).rstrip(), "```"]
    body = str(env.get("body") or "").strip()
    if body:
        clipped = body if len(body) <= BODY_SHOWN_CHARS else (
            body[:BODY_SHOWN_CHARS] + f"\n\n… (body clipped at {BODY_SHOWN_CHARS} of {len(body)} characters; "
            "structuredContent has all of it)")
        lines += ["", clipped]
    return "\n".join(lines)


def _slug(text: str) -> str:
    return re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9]+", "-", text.lower())).strip("-")[:60] or "record"


def derive_key(kind: str, title: str, model: str | None, occurred_at: str | None) -> str:
    """A stable key for a record written without one: the same title again is a new version, not a copy."""
    day = (occurred_at or "")[:10]
    parts = [model or kind, f"{kind}-{_slug(title)}" + (f"-{day}" if day else "")]
    return "/".join(_slug(p) if i == 0 else p for i, p in enumerate(parts))


def _principal(ctx: Context | None) -> Any:
    """The API key of this HTTP request (set by the REST app's auth middleware); None on stdio or open servers."""
    if ctx is None:
        return None
    try:
        request = ctx.request_context.request
    except ValueError:
        return None
    state = getattr(request, "scope", {}).get("state") if request is not None else None
    return (state or {}).get("principal")


def _tool_errors(fn: Callable[..., CallToolResult]) -> Callable[..., CallToolResult]:
    """Domain errors reach the agent as a readable tool error (isError), never as a crash."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> CallToolResult:
        try:
            return fn(*args, **kwargs)
        except ElephantError as exc:
            raise ToolError(f"{type(exc).__name__}: {exc.message}") from exc

    return wrapper


def _index_pending(db: Elephant) -> None:
    # A remembered record should be recallable by the very next call: apply the outbox now rather
    # than waiting for the background indexer (the write itself has already committed).
    with contextlib.suppress(ElephantError):
        db.process_outbox()


def create_mcp_server(get_db: Callable[[], Elephant]) -> MCPServer:
    """The MCP server over the Elephant that ``get_db`` returns (called per tool call, so it may be lazy)."""
    from elephant import __version__

    server: MCPServer = MCPServer(SERVER_NAME, title="Elephant", instructions=INSTRUCTIONS, version=__version__,
                                  log_level="WARNING")

    @server.tool(title="Remember a record", description=(
        "Write a typed record to Elephant's versioned memory: a benchmark, optimization attempt, deployment, "
        "incident, serving config, feature definition, rollback procedure or note. Writing an existing key again "
        "creates its next version (identical content is 'unchanged'). Put numbers in `fields` with units in the "
        "names, e.g. optimization fields {technique, outcome, baseline: {latency_ms_p99, throughput_qps, accuracy}, "
        "result: {...}, reason}; benchmark fields {hardware, scenario, batch_size, latency_ms: {p50, p99}, "
        "throughput_qps}. Returns the citation key@version."),
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True,
                                    open_world_hint=False))
    @_tool_errors
    def remember(
        kind: Annotated[WritableKindName, Field(description="record kind")],
        title: Annotated[str, Field(description="one line saying what happened", min_length=1, max_length=500)],
        fields: Annotated[dict[str, Any] | None, Field(description="kind-specific fields (see the tool description)")]
        = None,
        model: Annotated[str | None, Field(description="the model the record is about, e.g. 'ranker'")] = None,
        key: Annotated[str | None, Field(description="stable identity, e.g. 'ranker/int8-2026-03'; derived from "
                                         "model, kind, title and date when omitted")] = None,
        occurred_at: Annotated[str | None, Field(description="when it happened (ISO-8601 date or datetime)")] = None,
        body: Annotated[str | None, Field(description="free text / Markdown: what was done and observed")] = None,
        tags: Annotated[list[str] | None, Field(description="tags such as 'latency', 'onnx'")] = None,
        links: Annotated[list[dict[str, str]] | None, Field(description="typed links: [{rel, key}], e.g. "
                                                            "{rel: baseline, key: ranker/bench-2026-03-10}")] = None,
        model_version: Annotated[str | None, Field(description="model version, e.g. 'v3'")] = None,
        message: Annotated[str, Field(description="message stored with this version")] = "",
        ctx: Context | None = None,
    ) -> CallToolResult:
        principal = _principal(ctx)
        require_scope(principal, "write")
        envelope: dict[str, Any] = {
            "kind": kind, "title": title, "key": key or derive_key(kind, title, model, occurred_at),
            "model": model, "model_version": model_version, "occurred_at": occurred_at, "body": body,
            "tags": tags, "links": links, "fields": fields or {},
        }
        record = validate_record({k: v for k, v in envelope.items() if v is not None}, file="remember")
        db = get_db()
        author = f"mcp:{principal.name or principal.id}" if principal is not None else None
        result = db.put(record, author=author, message=message or "remembered over MCP")
        _index_pending(db)
        data = result.to_dict()
        citation = f"{result.key}@{result.version}"
        return _result(f"Remembered **{record.title}** as `{citation}` ({result.status}).",
                       {**data, "citation": citation})

    @server.tool(title="Recall (search)", annotations=_READ_ONLY, description=(
        "Search Elephant's memory (dense + lexical, hybrid) for records matching a query; optional filters by "
        "kind, model, tags, occurred_at range (since/until) and field conditions (where, e.g. "
        "'latency_ms.p99<40', 'outcome=rolled_back'), as REST and the CLI take them. Each hit is one line: "
        "date, kind, model, title, outcome and headline figures (p99, qps, accuracy), and its key@version "
        "citation (open it with `get`)."))
    @_tool_errors
    def recall(
        query: Annotated[str, Field(description="what to look for, e.g. 'ranker INT8 p99'", min_length=1,
                                    max_length=4000)],
        kind: Annotated[str | None, Field(description="only this kind, e.g. 'optimization'")] = None,
        model: Annotated[str | None, Field(description="only records about this model")] = None,
        k: Annotated[int, Field(description="how many results", ge=1, le=100)] = 10,
        since: Annotated[str | None, Field(description="only records that occurred at or after this ISO date "
                                           "or datetime", max_length=64)] = None,
        until: Annotated[str | None, Field(description="only records that occurred before this ISO date or "
                                           "datetime", max_length=64)] = None,
        where: Annotated[list[str] | None, Field(description="field conditions, all must hold: "
                                                 "'latency_ms.p99<40', 'fields.outcome=rolled_back'",
                                                 max_length=20)] = None,
        tags: Annotated[list[str] | None, Field(description="only records with all of these tags",
                                                max_length=20)] = None,
    ) -> CallToolResult:
        db = get_db()
        data = db.search(query, kind=kind, model=model, tags=tags, since=since, until=until, where=where,
                         k=k).to_dict()
        hits = data.get("results") or []
        current = db.store.current_many([str(r["key"]) for r in hits])
        lines = [hit_line(r, current.get(str(r["key"]))) for r in hits]
        head = f"{len(lines)} record(s) for “{query}”" + (" (lexical only: the vector index is degraded)"
                                                          if data.get("degraded") else "")
        return _result("\n".join([head, *lines]) if lines else f"No memory found for “{query}”.", data)

    @server.tool(title="Open a record", annotations=_READ_ONLY, description=(
        "One record in full: its fields, numbers, links and body. `key` may be a citation ('key@3' opens "
        "version 3); `version` picks a version, `as_of` the version Elephant held at that moment. Use it to "
        "open a key@version that `brief`, `ask`, `recall` or `context` cited."))
    @_tool_errors
    def get(
        key: Annotated[str, Field(description="record key or citation, e.g. 'ranker/int8-dynamic-2026-03@2'",
                                  min_length=1, max_length=600)],
        version: Annotated[int | None, Field(description="this version (default: the current one)", ge=1)] = None,
        as_of: Annotated[str | None, Field(description="ISO-8601 time: the version current then (transaction "
                                           "time)", max_length=64)] = None,
    ) -> CallToolResult:
        key, version = split_citation(key, version)
        record = get_db().get(key, version=version, as_of=as_of)
        return _result(record_markdown(record), record.to_dict())

    @server.tool(title="Diff two versions", annotations=_READ_ONLY, description=(
        "Field-level changes of one record from one version to another (added, removed, changed, with both "
        "values), e.g. fields.outcome: rolled_back → rejected."))
    @_tool_errors
    def diff(
        key: Annotated[str, Field(description="record key", min_length=1, max_length=512)],
        from_version: Annotated[int, Field(description="the earlier version", ge=1)],
        to_version: Annotated[int, Field(description="the later version", ge=1)],
    ) -> CallToolResult:
        result = get_db().diff(key, from_version, to_version)
        lines = [f"`{key}` v{from_version} → v{to_version}: {len(result.changes)} change(s)"]
        for change in result.changes:
            if change.change == "added":
                lines.append(f"- + `{change.path}`: {_value(change.after)}")
            elif change.change == "removed":
                lines.append(f"- − `{change.path}`: {_value(change.before)}")
            else:
                lines.append(f"- ~ `{change.path}`: {_value(change.before)} → {_value(change.after)}")
        return _result("\n".join(lines), result.to_dict())

    @server.tool(title="Regressions", annotations=_READ_ONLY, description=(
        "Regression findings Elephant raised when a benchmark came in worse than its baseline (p95/p99 up or "
        "throughput down past the threshold), newest first, each with both sets of numbers and a citation; "
        "status open (default), resolved or all; optionally one model."))
    @_tool_errors
    def regressions(
        model: Annotated[str | None, Field(description="only this model")] = None,
        status: Annotated[Literal["open", "resolved", "all"], Field(description="which findings")] = "open",
    ) -> CallToolResult:
        findings = [f.to_dict() for f in get_db().regressions(model=model, status=status)]
        lines = [f"- {str(f.get('occurred_at') or 'undated')[:10]} · {f.get('model') or '-'} · {f['status']}: "
                 f"{'; '.join(figures_of('regression', {'metrics': f.get('metrics')})) or f.get('title')} "
                 f"(baseline `{f.get('baseline')}`) [{f['citation']}]" for f in findings]
        head = f"{len(findings)} {status if status != 'all' else ''} regression(s)".replace("  ", " ")
        return _result("\n".join([head + (f" for {model}" if model else ""), *lines]), {"regressions": findings})

    @server.tool(title="What did we try last time?", annotations=_READ_ONLY, description=(
        "Answer 'what did we try last time?' from memory: the matching optimization attempts, deployments, "
        "benchmarks and incidents of a model, newest first, each with date, outcome, metric deltas and a "
        "key@version citation. Ask before proposing an optimization."))
    @_tool_errors
    def ask(
        question: Annotated[str, Field(description="e.g. 'what did we try to cut ranker p99 last time?'",
                                       min_length=1, max_length=4000)],
        model: Annotated[str | None, Field(description="restrict to this model")] = None,
    ) -> CallToolResult:
        data = get_db().ask(question, model=model).to_dict()
        return _result(str(data.get("answer") or "No memory found."), data)

    @server.tool(title="Version history", annotations=_READ_ONLY, description=(
        "The versions of one record (newest last): number, when it was recorded, by whom, and the message. "
        "Nothing in Elephant is overwritten."))
    @_tool_errors
    def history(key: Annotated[str, Field(description="record key, e.g. 'ranker/int8-dynamic-2026-03'",
                                          min_length=1, max_length=512)]) -> CallToolResult:
        versions = get_db().history(key)
        items = [v.to_dict() for v in versions]
        lines = [f"- v{v.version} {v.recorded_at[:19]} by {v.author or '?'}{' (deleted)' if v.is_deleted else ''}"
                 f": {v.message or v.title} [{v.key}@{v.version}]" for v in versions]
        return _result(f"History of `{key}`:\n" + "\n".join(lines), {"key": key, "versions": items})

    @server.tool(title="Startup brief", annotations=_READ_ONLY, description=(
        "The startup briefing: the models that need attention (open regressions and incidents, in-progress "
        "attempts, rolled-back deployments), each with latest serving config, benchmark percentiles and last "
        "deployment, plus one line counting the quiet models. Fits `budget` tokens. Call it when a session starts."))
    @_tool_errors
    def brief(model: Annotated[str | None, Field(description="one model; the models that need attention when "
                                                 "omitted")] = None,
              at: Annotated[str | None, Field(description="valid time: the brief as it stood in the world at this "
                                              "ISO date or datetime, e.g. '2025-09-10'", max_length=40)] = None,
              budget: Annotated[int, Field(description="token budget of the brief", ge=1, le=MAX_BRIEF_BUDGET)]
              = DEFAULT_BRIEF_BUDGET,
              all: Annotated[bool, Field(description="every model, not only those that need attention")] = False,
              ) -> CallToolResult:
        value = get_db().brief(model=model, at=at, budget=budget, all_models=all)
        return _result(value.markdown(), value.to_dict())

    @server.tool(title="Context pack", annotations=_READ_ONLY, description=(
        "A Markdown block about a topic that fits a token budget (counted with Elephant's embedding-model "
        "tokenizer), most useful facts first, each cited key@version; explicit when nothing is known."))
    @_tool_errors
    def context(
        query: Annotated[str, Field(description="topic, e.g. 'INT8 quantization of the ranker'", min_length=1,
                                    max_length=4000)],
        budget: Annotated[int, Field(description="token budget of the block", ge=1, le=MAX_BUDGET)] = 500,
        model: Annotated[str | None, Field(description="restrict to this model")] = None,
    ) -> CallToolResult:
        pack = get_db().context(query, budget=budget, model=model)
        return _result(pack.context, pack.to_dict())

    return server


# ---------------------------------------------------------------- transports
def run_stdio(db: Elephant) -> None:
    """Serve one local agent over stdin/stdout until it disconnects.

    While the agent connects and lists tools, a background thread loads the model and the vector
    matrix and digests the records for ``ask``, so its first recall or ask does not pay for them
    (about 0.5 s and, at 10k records, up to 0.2 s per model). Failures are left to the tool calls,
    which report them (a search without its model answers degraded).
    """
    threading.Thread(target=_warm_up, args=(db,), name="elephant-mcp-warm-up", daemon=True).start()
    create_mcp_server(lambda: db).run("stdio")


def _warm_up(db: Elephant) -> None:
    with contextlib.suppress(Exception):
        db.warm_up()
    with contextlib.suppress(Exception):
        db.answerer.prime()


_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]", "testserver")


def _is_loopback_host(host: str) -> bool:
    name = host if host.endswith("]") else host.rsplit(":", 1)[0]
    return host in _LOOPBACK_HOSTS or name in _LOOPBACK_HOSTS


async def _problem(send: Any, scope: Any, receive: Any, status: int, title: str, detail: str) -> None:
    from starlette.responses import JSONResponse

    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, "instance": scope.get("path")}
    await JSONResponse(body, status_code=status, media_type="application/problem+json")(scope, receive, send)


class McpEndpoint:
    """The ASGI endpoint at ``/mcp``: hands requests to the session manager of the running lifespan.

    The SDK's session manager runs once per instance, so each lifespan (an app served twice, or a test
    client entered twice) gets a fresh one instead of failing on restart.

    Without API keys it answers only to loopback Host names: an open server is reachable by any web
    page through DNS rebinding (evil.example resolving to 127.0.0.1), and MCP can write. A bearer key is
    something such a page cannot send, so once keys exist the REST app's auth middleware decides.
    """

    def __init__(self, server: MCPServer, keys_required: Callable[[], bool]) -> None:
        self.server = server
        self.keys_required = keys_required
        self.manager: Any = None

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        # Stateless JSON responses: each POST stands alone, so requests may land on any worker and the
        # per-request key check covers every call (no long-lived session to hijack).
        self.server.streamable_http_app(
            stateless_http=True, json_response=True,
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        manager = self.server.session_manager
        async with manager.run():
            self.manager = manager
            try:
                yield
            finally:
                self.manager = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if self.manager is None:
            await _problem(send, scope, receive, 503, "MCP not running",
                           "the MCP session manager runs in the app's lifespan, which has not started")
            return
        host = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"host"), "")
        if not _is_loopback_host(host):
            from starlette.concurrency import run_in_threadpool

            if not await run_in_threadpool(self.keys_required):
                await _problem(send, scope, receive, 421, "Misdirected request",
                               "this server has no API keys, so /mcp answers only on loopback hosts; create a "
                               "key (elephant keys create) to serve MCP to other hosts")
                return
        await self.manager.handle_request(scope, receive, send)


def create_http_endpoint(get_db: Callable[[], Elephant], *, keys_required: Callable[[], bool]) -> McpEndpoint:
    """The streamable-HTTP endpoint; run ``endpoint.running()`` in the hosting app's lifespan."""
    return McpEndpoint(create_mcp_server(get_db), keys_required)
