"""Valid time through every adapter: `elephant brief --at`, `GET /v1/brief?at=`, the MCP brief tool's `at`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
from fastapi.testclient import TestClient
from mcp import Client
from typer.testing import CliRunner

from elephant.api.mcp_server import create_mcp_server
from elephant.cli.main import app

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "validtime" / "ranker.yaml"


def test_cli_brief_at() -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["put", str(FIXTURE)]).exit_code == 0
    result = runner.invoke(app, ["brief", "ranker", "--at", "2025-09-10", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["at"] == "2025-09-10"
    assert data["models"][0]["last_deployment"]["citation"] == "ranker/deploy/v2-full@1"
    human = runner.invoke(app, ["brief", "ranker", "--at", "2025-09-16"])
    assert "As of 2025-09-16" in human.output and "ranker/deploy/v3-canary@1" in human.output
    bad = runner.invoke(app, ["brief", "ranker", "--at", "someday"])
    assert bad.exit_code == 2 and "not an ISO-8601" in bad.output and "Traceback" not in bad.output


def test_rest_brief_at(client: TestClient) -> None:
    import yaml

    records = json.loads(json.dumps(yaml.safe_load(FIXTURE.read_text())["records"], default=str))
    assert client.post("/v1/records", json={"records": records}).status_code in (200, 201)
    at = client.get("/v1/brief", params={"model": "ranker", "at": "2025-09-25"})
    assert at.status_code == 200, at.text
    model = at.json()["models"][0]
    assert at.json()["at"] == "2025-09-25"
    assert model["last_deployment"]["citation"] == "ranker/deploy/v3-rollback@1"
    assert model["serving_config"]["citation"] == "ranker/serving/triton-a10g-4@1"
    now = client.get("/v1/brief", params={"model": "ranker"}).json()
    assert "at" not in now
    bad = client.get("/v1/brief", params={"model": "ranker", "at": "yesterday-ish"})
    assert bad.status_code == 400 and bad.headers["content-type"].startswith("application/problem+json")


def test_mcp_brief_at(db: Any) -> None:
    assert db.put_files([FIXTURE]).ok

    async def call() -> None:
        async with Client(create_mcp_server(lambda: db)) as client:
            result = await client.call_tool("brief", {"model": "ranker", "at": "2025-09-16"})
            assert not result.is_error
            data = result.structured_content
            assert data["at"] == "2025-09-16"
            assert data["models"][0]["open_incidents"][0]["citation"] == "ranker/incidents/ndcg-drop@1"

    anyio.run(call)
