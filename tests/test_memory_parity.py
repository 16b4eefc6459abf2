"""One script of calls against both ``Memory`` implementations: ``Elephant`` in process, and ``Client``
through the real app served by uvicorn on a loopback port. Same arguments, same typed results, same errors."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import elephant
from elephant.answers.ask import AskResponse
from elephant.answers.brief import Brief
from elephant.answers.context import ContextPack
from elephant.answers.regressions import Finding
from elephant.errors import Conflict, InvalidRecord, NotFound, UsageError
from elephant.facade import Diff, PutReport
from elephant.memory import Memory
from elephant.retrieval.search import SearchResponse
from elephant.settings import Settings
from elephant.storage.store import StoredRecord, VersionInfo, WriteResult


@contextlib.contextmanager
def served(settings: Settings) -> Iterator[str]:
    """The app on a free loopback port in a thread, until the block ends; yields its base URL."""
    import uvicorn

    from elephant.api.app import create_app

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@pytest.fixture(params=["elephant", "client"])
def mem(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Memory]:
    """A fresh memory: the library in process, or ``Client`` against the app over HTTP."""
    settings = Settings(home=tmp_path / request.param)
    if request.param == "elephant":
        with elephant.open(settings=settings) as db:
            yield db
    else:
        with served(settings) as base, elephant.Client(base) as client:
            yield client


def bench(key: str, p99: float, day: str, **extra: Any) -> dict[str, Any]:
    return {"kind": "benchmark", "key": key, "title": f"ranker bench p99 {p99}", "model": "ranker",
            "occurred_at": day, "fields": {"hardware": "c6i", "scenario": "server",
                                           "latency_ms": {"p50": p99 / 3, "p99": p99}, "throughput_qps": 400},
            **extra}


def run_script(mem: Memory) -> dict[str, Any]:
    """Every call of the protocol once, asserting the types; returns the JSON of each result."""
    out: dict[str, Any] = {}
    created = mem.put({"kind": "note", "key": "ranker/notes/a", "title": "first", "model": "ranker"})
    assert isinstance(created, WriteResult) and created.status == "created" and created.version == 1
    assert mem.put({"kind": "note", "key": "ranker/notes/a", "title": "first", "model": "ranker"}).status == "unchanged"
    updated = mem.put({"kind": "note", "key": "ranker/notes/a", "title": "second", "model": "ranker"},
                      expected_version=1, message="retitled")
    assert updated.version == 2
    with pytest.raises(Conflict):
        mem.put({"kind": "note", "key": "ranker/notes/a", "title": "stale"}, expected_version=1)
    with pytest.raises(InvalidRecord) as invalid:
        mem.put({"kind": "benchmark", "key": "ranker/bad", "title": "t", "fields": {"batch_size": "x"}})
    assert invalid.value.problems[0].field == "fields.batch_size"

    record = mem.get("ranker/notes/a")
    assert isinstance(record, StoredRecord) and record.envelope["title"] == "second" and record.version == 2
    assert mem.get("ranker/notes/a", version=1).envelope["title"] == "first"
    with pytest.raises(UsageError):
        mem.get("ranker/notes/a", as_of="not a time")
    history = mem.history("ranker/notes/a")
    assert all(isinstance(v, VersionInfo) for v in history) and [v.message for v in history] == ["", "retitled"]
    diff = mem.diff("ranker/notes/a", 1, 2)
    assert isinstance(diff, Diff) and [(c.path, c.before, c.after) for c in diff.changes] == [
        ("title", "first", "second")]
    assert mem.revert("ranker/notes/a", 1).status == "reverted"
    assert mem.get("ranker/notes/a").envelope["title"] == "first"
    assert mem.delete("ranker/notes/a", expected_version=3).status == "deleted"
    with pytest.raises(NotFound):
        mem.get("ranker/notes/a")

    report = mem.put_many([bench("ranker/bench-1", 30.0, "2026-04-01"), bench("ranker/bench-2", 66.0, "2026-04-02"),
                           {"kind": "optimization", "key": "ranker/int8", "title": "INT8 quantization of the ranker",
                            "model": "ranker", "occurred_at": "2026-04-03",
                            "fields": {"technique": "quantization_int8", "status": "rejected"}},
                           {"kind": "note", "key": "other/n", "title": "a note on the other model", "model": "other"},
                           {"kind": "nope", "key": "x/y", "title": "refused"}])
    assert isinstance(report, PutReport) and not report.ok
    assert report.counts() == {"created": 4, "updated": 0, "unchanged": 0, "failed": 1}

    found = mem.search("ranker bench", kind=["benchmark", "optimization"], model="ranker", k=5)
    assert isinstance(found, SearchResponse) and not found.degraded
    assert {h.key for h in found.results} == {"ranker/bench-1", "ranker/bench-2", "ranker/int8"}
    narrowed = mem.search("ranker bench", kind="benchmark", where=["latency_ms.p99 > 40"], since="2026-04-02")
    assert [h.key for h in narrowed.results] == ["ranker/bench-2"]
    assert mem.search("note", model=["other"]).results[0].key == "other/n"

    answer = mem.ask("what did we try to cut ranker p99 with int8 quantization?", model="ranker", k=5)
    assert isinstance(answer, AskResponse) and answer.found and "ranker/int8@1" in answer.citations
    assert answer.attempts[0]["key"] == "ranker/int8"

    brief = mem.brief("ranker")
    assert isinstance(brief, Brief) and [m.model for m in brief.models] == ["ranker"]
    assert brief.models[0].needs_attention  # bench-2 regressed against bench-1
    assert mem.brief(at="2026-04-01", all_models=True).to_dict()["axis"] == "valid_time"

    findings = mem.regressions(model="ranker")
    assert findings and all(isinstance(f, Finding) for f in findings)
    assert findings[0].to_dict()["candidate"] == "ranker/bench-2@1"
    assert mem.regressions(model="ranker", status="resolved") == []

    pack = mem.context("ranker p99", budget=120, model="ranker")
    assert isinstance(pack, ContextPack) and 0 < pack.tokens <= 120 and pack.citations

    out.update(created=created.to_dict(), record=mem.get("ranker/bench-1").to_dict(),
               history=[v.to_dict() for v in history], diff=diff.to_dict(), report=report.to_dict(),
               search=found.to_dict(), narrowed=narrowed.to_dict(), ask=answer.to_dict(), brief=brief.to_dict(),
               regressions=[f.to_dict() for f in findings], context=pack.to_dict())
    return out


def test_the_protocol_script(mem: Memory) -> None:
    assert isinstance(mem, Memory)
    run_script(mem)


def _same_shape(value: Any) -> Any:
    """The JSON with what differs between two memories written at different moments blanked out."""
    text = json.dumps(value, sort_keys=True)
    return re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "T", text)


def test_both_memories_give_the_same_results(tmp_path: Path) -> None:
    with elephant.open(settings=Settings(home=tmp_path / "local")) as db:
        local = run_script(db)
    with served(Settings(home=tmp_path / "served")) as base, elephant.Client(base) as client:
        remote = run_script(client)
    for name in local:
        if name == "regressions":  # a finding over HTTP carries its listing, not its record's hash and time
            assert [f["key"] for f in local[name]] == [f["key"] for f in remote[name]]
            continue
        assert _same_shape(local[name]) == _same_shape(remote[name]), name
