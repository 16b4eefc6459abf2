"""search, ask, context, brief and regressions over HTTP: the library's answers, as the CLI prints them."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from elephant.api.app import create_app
from elephant.settings import Settings
from tests.api.apihelpers import assert_problem, benchmark

DEMO = Path(__file__).resolve().parents[2] / "fixtures" / "demo" / "ranker.yaml"


def _seed(client: TestClient) -> list[dict[str, Any]]:
    # YAML dates become strings, as a JSON client would send them
    records = json.loads(json.dumps(yaml.safe_load(DEMO.read_text())["records"], default=str))
    report = client.post("/v1/records", json={"records": records})
    assert report.status_code == 200 and report.json()["ok"], report.text
    return list(records)


@pytest.fixture
def seeded(client: TestClient) -> TestClient:
    _seed(client)
    return client


def test_search_finds_and_filters(seeded: TestClient) -> None:
    response = seeded.post("/v1/search", json={"query": "INT8 quantization ranker", "k": 5})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["degraded"] is False
    keys = [r["key"] for r in body["results"]]
    assert "ranker/int8-dynamic-2026-03" in keys
    hit = body["results"][0]
    assert set(hit) >= {"key", "version", "kind", "title", "model", "occurred_at", "score", "source"}
    only = seeded.post("/v1/search", json={"query": "ranker", "kind": "benchmark"}).json()["results"]
    assert only and {r["kind"] for r in only} == {"benchmark"}
    fast = seeded.post("/v1/search", json={"query": "ranker", "where": ["latency_ms.p99 < 40"]}).json()["results"]
    assert "ranker/bench-2026-03-10" not in [r["key"] for r in fast]


def test_search_validation(client: TestClient) -> None:
    assert_problem(client.post("/v1/search", json={"query": ""}), 422)
    assert_problem(client.post("/v1/search", json={"query": "x", "k": 0}), 422)
    body = assert_problem(client.post("/v1/search", json={"query": "x", "colour": "red"}), 422)
    assert body["errors"][0]["field"] == "body.colour"
    assert_problem(client.post("/v1/search", json={"query": "x", "since": "not a date"}), 400)
    assert_problem(client.post("/v1/search", json={"query": "x", "where": ["p99 <<< 3"]}), 400)


def test_ask_answers_with_citations(seeded: TestClient) -> None:
    response = seeded.post("/v1/ask", json={"question": "what did we try last time to cut ranker p99?"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["question"].startswith("what did we try")
    assert any(c.startswith("ranker/int8-dynamic-2026-03@") for c in body["citations"])
    assert "18" in body["answer"] and body["degraded"] is False
    assert any(a["key"] == "ranker/int8-dynamic-2026-03" and a.get("outcome") == "rolled_back"
               for a in body["attempts"])
    assert_problem(seeded.post("/v1/ask", json={}), 422)


def test_context_fits_its_budget(seeded: TestClient) -> None:
    response = seeded.post("/v1/context", json={"query": "ranker latency", "budget": 120})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["tokens"] <= 120 and body["budget"] == 120
    assert body["citations"] and all("@" in c for c in body["citations"])
    assert_problem(seeded.post("/v1/context", json={"query": "x", "budget": 0}), 422)


def test_brief_and_regressions(seeded: TestClient) -> None:
    first = benchmark("ranker/bench-a", 30.0, occurred_at="2026-04-01")
    worse = benchmark("ranker/bench-b", 60.0, occurred_at="2026-04-02")
    assert seeded.post("/v1/records", json=first).status_code == 201
    assert seeded.post("/v1/records", json=worse).status_code == 201
    regressions = seeded.get("/v1/regressions", params={"model": "ranker"})
    assert regressions.status_code == 200, regressions.text
    found = regressions.json()["regressions"]
    assert found and found[0]["model"] == "ranker" and found[0]["status"] == "open"
    assert seeded.get("/v1/regressions", params={"status": "resolved"}).json()["regressions"] == []
    assert_problem(seeded.get("/v1/regressions", params={"status": "maybe"}), 422)
    brief = seeded.get("/v1/brief", params={"model": "ranker"})
    assert brief.status_code == 200, brief.text
    models = brief.json()["models"]
    assert [m["model"] for m in models] == ["ranker"]
    assert models[0]["open_regressions"]
    quiet = benchmark("quiet/bench", 5.0, occurred_at="2026-04-01") | {"model": "quiet"}
    assert seeded.post("/v1/records", json=quiet).status_code == 201
    default = seeded.get("/v1/brief").json()
    assert [m["model"] for m in default["models"]] == ["ranker"] and default["quiet_models"] >= 1
    every = seeded.get("/v1/brief", params={"all": "true", "budget": 5000}).json()
    assert every["quiet_models"] == 0 and every["budget"] == 5000
    tiny = seeded.get("/v1/brief", params={"budget": 10}).json()
    assert tiny["tokens"] <= 10 and tiny["models"] == [] and tiny["truncated"]
    assert_problem(seeded.get("/v1/brief", params={"budget": 0}), 422)


def test_a_started_server_digests_the_records_for_ask_in_the_background(sqlite_settings: Settings) -> None:
    with TestClient(create_app(sqlite_settings)) as c:
        records = _seed(c)
    with TestClient(create_app(sqlite_settings)) as c:
        ctx = c.app.state.ctx  # type: ignore[attr-defined]
        assert ctx.warmed.wait(60)
        deadline = time.monotonic() + 30
        while len(ctx.db.answerer.words) < len(records) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(ctx.db.answerer.words) == len(records)
        assert c.post("/v1/ask", json={"question": "did we try int8 on the ranker?"}).status_code == 200


@pytest.mark.model
def test_search_and_ask_with_the_real_model(real_model: Path) -> None:
    with TestClient(create_app(Settings())) as c:
        _seed(c)
        c.app.state.ctx.warmed.wait(60)  # type: ignore[attr-defined]
        assert c.get("/readyz").status_code == 200
        hits = c.post("/v1/search", json={"query": "quantize the ranker to int8"}).json()
        assert hits["degraded"] is False and hits["results"][0]["key"] == "ranker/int8-dynamic-2026-03"
        answer = c.post("/v1/ask", json={"question": "did we try int8 on the ranker?"}).json()
        assert "ranker/int8-dynamic-2026-03" in " ".join(answer["citations"])
        metrics = c.get("/metrics").text
        assert 'elephant_embedding_duration_seconds_count{op="query"}' in metrics
