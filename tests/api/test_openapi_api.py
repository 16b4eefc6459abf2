"""The committed OpenAPI schema matches the app, and the app survives schemathesis on its own schema."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from elephant.api.app import create_app
from elephant.api.openapi import SCHEMA_PATH, current_schema, render
from elephant.settings import Settings


def test_committed_schema_matches_the_app() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == render(current_schema()), (
        "api/openapi.json is stale: run `python -m api.openapi`")


def test_schema_documents_every_route_and_problem_responses() -> None:
    schema = current_schema()
    paths = schema["paths"]
    for path in ("/v1/records", "/v1/records/{key}", "/v1/records/{key}/versions", "/v1/records/{key}/diff",
                 "/v1/records/{key}/revert", "/v1/ingest", "/v1/search", "/v1/ask", "/v1/context", "/v1/brief",
                 "/v1/regressions", "/healthz", "/readyz", "/metrics"):
        assert path in paths, path
    put = paths["/v1/records/{key}"]["put"]
    assert put["responses"]["412"]["content"]["application/problem+json"]["schema"]["$ref"].endswith("/Problem")
    assert "application/json" not in put["responses"]["422"]["content"]


# Schemathesis parametrizes at import time, so the app under test gets its own home here rather
# than the per-test one (schemathesis.pytest.from_fixture does not work with this pytest).
_HOME = Path(tempfile.mkdtemp(prefix="elephant-fuzz-"))
atexit.register(shutil.rmtree, _HOME, True)
APP = create_app(Settings(home=_HOME, model="fake", database_url=None, chroma_url=None))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(scope="module", autouse=True)
def _seeded() -> Iterator[None]:
    with TestClient(APP) as client:
        for i, p99 in enumerate((45.0, 18.0)):
            client.post("/v1/records", json={
                "kind": "benchmark", "key": f"ranker/bench-{i}", "title": f"ranker p99 {p99}", "model": "ranker",
                "occurred_at": f"2026-03-1{i}", "fields": {"hardware": "cpu", "scenario": "server",
                                                            "latency_ms": {"p99": p99}, "throughput_qps": 300}})
        yield


@schema.parametrize()
@settings(max_examples=20, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_fuzz_no_5xx_and_responses_conform(case: Any) -> None:
    case.call_and_validate(checks=[not_a_server_error, status_code_conformance, content_type_conformance,
                                   response_headers_conformance, response_schema_conformance])
