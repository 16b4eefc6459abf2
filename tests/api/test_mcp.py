"""The MCP server as agents use it: the SDK's own client over stdio (a real `elephant mcp` subprocess) and
over streamable HTTP against the REST app served by uvicorn on a loopback port, with and without keys."""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from elephant.api.mcp_server import create_mcp_server, derive_key

REPO = Path(__file__).resolve().parents[2]
TOOLS = {"remember", "recall", "ask", "history", "brief", "context", "get", "diff", "regressions"}
OPTIMIZATION = {
    "kind": "optimization", "key": "ranker/int8-dynamic-2026-03", "title": "INT8 dynamic quantization of ranker v3",
    "model": "ranker", "occurred_at": "2026-03-12",
    "fields": {"technique": "quantization_int8", "outcome": "rolled_back",
               "baseline": {"latency_ms_p99": 45}, "result": {"latency_ms_p99": 18},
               "reason": "NDCG dropped 0.8 pt"},
}


def text_of(result: Any) -> str:
    return "\n".join(block.text for block in result.content if getattr(block, "type", "") == "text")


async def exercise(client: Client) -> None:
    """List tools, write a record, recall it, ask about it, read its history and a context pack."""
    listed = await client.list_tools()
    by_name = {t.name: t for t in listed.tools}
    assert set(by_name) >= TOOLS
    assert "query" in by_name["recall"].input_schema["properties"]
    assert "question" in by_name["ask"].input_schema["required"]
    assert by_name["recall"].annotations.read_only_hint is True
    for tool in by_name.values():
        assert tool.description and len(tool.description) > 40

    written = await client.call_tool("remember", {k: v for k, v in OPTIMIZATION.items()})
    assert not written.is_error, text_of(written)
    assert written.structured_content["citation"] == "ranker/int8-dynamic-2026-03@1"
    assert "ranker/int8-dynamic-2026-03@1" in text_of(written)

    recalled = await client.call_tool("recall", {"query": "INT8 quantization ranker"})
    assert not recalled.is_error, text_of(recalled)
    keys = [r["key"] for r in recalled.structured_content["results"]]
    assert keys[0] == "ranker/int8-dynamic-2026-03"
    assert "[ranker/int8-dynamic-2026-03@1]" in text_of(recalled)
    # One line per hit with its numbers, not the title alone.
    assert "rolled_back" in text_of(recalled) or "rolled back" in text_of(recalled)
    assert "p99 45 → 18 ms (−60 %)" in text_of(recalled)

    answered = await client.call_tool("ask", {"question": "what did we try last time to cut ranker p99?"})
    assert not answered.is_error, text_of(answered)
    data = answered.structured_content
    assert "ranker/int8-dynamic-2026-03@1" in data["citations"]
    assert "ranker/int8-dynamic-2026-03@1" in text_of(answered)

    history = await client.call_tool("history", {"key": "ranker/int8-dynamic-2026-03"})
    assert [v["version"] for v in history.structured_content["versions"]] == [1]

    brief = await client.call_tool("brief", {"model": "ranker"})
    assert not brief.is_error, text_of(brief)
    assert "## ranker" in text_of(brief)
    assert "ranker" in str(brief.structured_content["models"])
    bounded = await client.call_tool("brief", {"all": True, "budget": 40})
    assert not bounded.is_error, text_of(bounded)
    assert bounded.structured_content["budget"] == 40 and bounded.structured_content["tokens"] <= 40

    pack = await client.call_tool("context", {"query": "INT8 quantization", "budget": 120})
    assert not pack.is_error, text_of(pack)
    assert pack.structured_content["tokens"] <= 120
    assert text_of(pack) == pack.structured_content["context"]
    assert "ranker/int8-dynamic-2026-03@1" in pack.structured_content["citations"]

    missing = await client.call_tool("history", {"key": "no/such-key"})
    assert missing.is_error and "NotFound" in text_of(missing)
    invalid = await client.call_tool("remember", {"kind": "benchmark", "title": "bad", "key": "has space"})
    assert invalid.is_error and "key" in text_of(invalid)


# ---------------------------------------------------------------- in-process (fast checks of the tools)
def test_in_process_round_trip(db: Any) -> None:
    server = create_mcp_server(lambda: db)
    anyio.run(_in_process, server)


async def _in_process(server: Any) -> None:
    async with Client(server) as client:
        await exercise(client)


def test_derived_keys_are_stable_and_valid() -> None:
    from elephant.records.envelope import validate_record

    key = derive_key("benchmark", "Ranker v3 on T4: p99 / batch 8!", "ranker", "2026-03-10T10:00:00Z")
    assert key == "ranker/benchmark-ranker-v3-on-t4-p99-batch-8-2026-03-10"
    assert validate_record({"kind": "note", "key": key, "title": "t"}).key == key
    assert derive_key("note", "x", None, None) == "note/note-x"


# ---------------------------------------------------------------- stdio
@pytest.mark.slow
def test_stdio_round_trip_with_the_sdk_client(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELEPHANT_") or k.startswith("ELEPHANT_TEST")}
    env.update(ELEPHANT_HOME=str(tmp_path / "stdio-home"), ELEPHANT_MODEL="fake", ANONYMIZED_TELEMETRY="False")
    params = StdioServerParameters(command=sys.executable, args=["-m", "elephant.cli.main", "mcp"], env=env, cwd=str(REPO))

    async def run() -> None:
        with (tmp_path / "stderr.log").open("w") as errlog:
            from mcp.client.stdio import stdio_client

            async with Client(stdio_client(params, errlog=errlog)) as client:
                await exercise(client)

    anyio.run(run)
    import elephant

    with elephant.open(home=tmp_path / "stdio-home", model="fake") as db:
        assert db.get("ranker/int8-dynamic-2026-03").version == 1  # really written to that home


def test_stdio_warms_up_in_the_background_while_the_agent_connects(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import elephant
    from elephant.api import mcp_server

    with elephant.open(home=tmp_path / "warm-home", model="fake") as db:
        db.put_many([{"kind": "note", "key": f"ranker/n{i}", "title": f"note {i}", "model": "ranker"}
                     for i in range(3)])
        seen: dict[str, Any] = {}

        class Server:  # stands in for the SDK's server: "connected" until the warm-up is seen done
            def run(self, transport: str) -> None:
                deadline = time.monotonic() + 30
                while len(db.answerer.words) < 3 and time.monotonic() < deadline:
                    time.sleep(0.02)
                seen.update(transport=transport, digested=len(db.answerer.words))

        monkeypatch.setattr(mcp_server, "create_mcp_server", lambda get_db: Server())
        mcp_server.run_stdio(db)
        assert seen == {"transport": "stdio", "digested": 3}


# ---------------------------------------------------------------- streamable HTTP in the REST app
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def live_server() -> Iterator[str]:
    """The REST app (with /mcp) served by uvicorn on a free loopback port, in this process."""
    import uvicorn

    from elephant.api.app import create_app

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _client(url: str, key: str | None = None) -> Client:
    import httpx2

    headers = {"Authorization": f"Bearer {key}"} if key else {}
    http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0))
    return Client(streamable_http_client(f"{url}/mcp", http_client=http))


@pytest.mark.slow
def test_http_round_trip_without_keys(live_server: str) -> None:
    async def run() -> None:
        async with _client(live_server) as client:
            await exercise(client)

    anyio.run(run)


def _create_key(scope: str) -> str:
    import elephant
    from elephant.storage.apikeys import ApiKeys

    with elephant.open() as db:
        return ApiKeys(db.store).create(scope=scope, name=f"test-{scope}").key


@pytest.mark.slow
def test_http_with_keys(live_server: str) -> None:
    write_key = _create_key("write")
    read_key = _create_key("read")
    init = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}

    # Without a key, or with a wrong one: refused before MCP sees the request, as problem+json.
    for auth in ({}, {"Authorization": "Bearer elk_nope_nope"}):
        response = httpx.post(f"{live_server}/mcp", json=init, headers={**headers, **auth}, timeout=30)
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("application/problem+json")

    async def refused() -> None:
        async with _client(live_server) as client:
            await client.list_tools()

    with pytest.raises(Exception):  # noqa: B017 - the SDK surfaces the 401 as its own error type
        anyio.run(refused)

    async def with_write_key() -> None:
        async with _client(live_server, write_key) as client:
            await exercise(client)

    anyio.run(with_write_key)

    async def with_read_key() -> None:
        async with _client(live_server, read_key) as client:
            found = await client.call_tool("recall", {"query": "INT8 quantization ranker"})
            assert not found.is_error
            assert found.structured_content["results"][0]["key"] == "ranker/int8-dynamic-2026-03"
            denied = await client.call_tool("remember", {"kind": "note", "title": "should not be written"})
            assert denied.is_error and "Forbidden" in text_of(denied)

    anyio.run(with_read_key)
    import elephant

    with elephant.open() as db:
        assert [v.author for v in db.history("ranker/int8-dynamic-2026-03")] == ["mcp:test-write"]
        assert db.counts().get("note", 0) == 0


@pytest.mark.slow
def test_open_server_answers_mcp_only_on_loopback_hosts(live_server: str) -> None:
    init = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    response = httpx.post(f"{live_server}/mcp", json=init, headers={**headers, "Host": "evil.example:8000"},
                          timeout=30)
    assert response.status_code == 421
    assert "loopback" in response.json()["detail"]


def test_http_app_can_start_twice_and_answers_plain_json_rpc() -> None:
    """Each lifespan gets its own session manager (the SDK's runs once), and a bare POST gets JSON back."""
    from fastapi.testclient import TestClient

    from elephant.api.app import create_app

    app = create_app()
    request = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    headers = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-06-18"}
    for _ in range(2):
        with TestClient(app) as client:
            response = client.post("/mcp", json=request, headers=headers)
            assert response.status_code == 200, response.text
            assert {t["name"] for t in response.json()["result"]["tools"]} >= TOOLS
    outside = TestClient(app).post("/mcp", json=request, headers=headers)  # no lifespan: a clear 503
    assert outside.status_code == 503
    assert outside.headers["content-type"].startswith("application/problem+json")


def test_an_mcp_that_fails_to_start_is_named_by_readyz_and_the_rest_api_serves(monkeypatch: Any) -> None:
    from fastapi.testclient import TestClient

    from elephant.api.app import create_app
    from elephant.api.mcp_mount import LazyMcpEndpoint

    def broken(self: LazyMcpEndpoint) -> Any:
        raise ImportError("No module named 'mcp'")

    monkeypatch.setattr(LazyMcpEndpoint, "_build", broken)
    request = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    with TestClient(create_app()) as client:
        response = client.post("/mcp", json=request)  # waits for the start to end, then says why
        assert response.status_code == 503
        assert "No module named 'mcp'" in response.json()["detail"]
        ready = client.get("/readyz")
        assert ready.status_code == 503 and "No module named 'mcp'" in ready.json()["checks"]["mcp"]
        assert client.post("/v1/search", json={"query": "anything"}).status_code == 200


# ---------------------------------------------------------------- get, diff, regressions and recall's filters
async def _tools_for_citations(server: Any) -> None:
    async with Client(server) as client:
        first = {**OPTIMIZATION, "occurred_at": "2026-03-12"}
        assert not (await client.call_tool("remember", first)).is_error
        second = {**OPTIMIZATION, "fields": {**OPTIMIZATION["fields"], "outcome": "rejected"}}
        assert not (await client.call_tool("remember", second)).is_error
        other = {"kind": "benchmark", "key": "search/bench-2025", "title": "search ranker p99 on c6i",
                 "model": "search", "occurred_at": "2025-01-10", "tags": ["latency"],
                 "fields": {"hardware": "c6i", "latency_ms": {"p99": 55}, "throughput_qps": 900}}
        assert not (await client.call_tool("remember", other)).is_error

        # get: a citation opens the version it names; version= and as_of= as REST takes them.
        opened = await client.call_tool("get", {"key": "ranker/int8-dynamic-2026-03@1"})
        assert not opened.is_error, text_of(opened)
        assert opened.structured_content["version"] == 1
        assert opened.structured_content["fields"]["outcome"] == "rolled_back"
        text = text_of(opened)
        assert "`ranker/int8-dynamic-2026-03@1`" in text and "p99 45 → 18 ms (−60 %)" in text
        assert "outcome: rolled_back" in text  # the fields, as YAML
        current = await client.call_tool("get", {"key": "ranker/int8-dynamic-2026-03"})
        assert current.structured_content["version"] == 2
        assert (await client.call_tool("get", {"key": "ranker/int8-dynamic-2026-03", "version": 1})
                ).structured_content["fields"]["outcome"] == "rolled_back"
        clash = await client.call_tool("get", {"key": "ranker/int8-dynamic-2026-03@1", "version": 2})
        assert clash.is_error and "names version 1" in text_of(clash)
        missing = await client.call_tool("get", {"key": "no/such@1"})
        assert missing.is_error and "NotFound" in text_of(missing)
        early = await client.call_tool("get", {"key": "ranker/int8-dynamic-2026-03", "as_of": "2000-01-01"})
        assert early.is_error and "NotFound" in text_of(early)

        # diff
        changed = await client.call_tool("diff", {"key": "ranker/int8-dynamic-2026-03", "from_version": 1,
                                                  "to_version": 2})
        assert not changed.is_error, text_of(changed)
        assert [c["path"] for c in changed.structured_content["changes"]] == ["fields.outcome"]
        assert '`fields.outcome`: "rolled_back" → "rejected"' in text_of(changed)

        # recall's filters, as REST and the CLI take them
        async def keys(**args: Any) -> list[str]:
            found = await client.call_tool("recall", {"query": "p99 latency", **args})
            assert not found.is_error, text_of(found)
            return [r["key"] for r in found.structured_content["results"]]

        assert await keys(since="2026-01-01") == ["ranker/int8-dynamic-2026-03"]
        assert await keys(until="2026-01-01") == ["search/bench-2025"]
        assert await keys(tags=["latency"]) == ["search/bench-2025"]
        assert await keys(where=["latency_ms.p99>50"]) == ["search/bench-2025"]
        assert await keys(where=["latency_ms.p99<50"]) == []
        bad = await client.call_tool("recall", {"query": "p99", "where": ["latency_ms.p99 ~ 5"]})
        assert bad.is_error
        line = text_of(await client.call_tool("recall", {"query": "search ranker p99", "model": "search"}))
        assert "2025-01-10 · benchmark · search: **search ranker p99 on c6i** — p99 55 ms" in line

        # regressions: open by default, a model filter, resolved ones on request
        slower = {"kind": "benchmark", "key": "search/bench-2025-02", "title": "search ranker p99 after upgrade",
                  "model": "search", "occurred_at": "2025-02-10",
                  "fields": {"hardware": "c6i", "latency_ms": {"p99": 80}, "throughput_qps": 900}}
        assert not (await client.call_tool("remember", slower)).is_error
        found = await client.call_tool("regressions", {})
        assert not found.is_error, text_of(found)
        [finding] = found.structured_content["regressions"]
        assert finding["model"] == "search" and finding["status"] == "open"
        assert "p99 55 → 80 ms" in text_of(found) and finding["citation"] in text_of(found)
        assert (await client.call_tool("regressions", {"model": "ranker"})).structured_content["regressions"] == []
        assert (await client.call_tool("regressions", {"status": "resolved"})
                ).structured_content["regressions"] == []
        assert (await client.call_tool("regressions", {"status": "maybe"})).is_error


def test_get_diff_regressions_and_recall_filters(db: Any) -> None:
    anyio.run(_tools_for_citations, create_mcp_server(lambda: db))
