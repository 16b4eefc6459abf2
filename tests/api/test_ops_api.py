"""/healthz, /readyz, /metrics, and what the serving path imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from elephant.api.app import create_app
from elephant.settings import Settings
from elephant.storage.apikeys import ApiKeys
from tests.api.apihelpers import assert_problem, note

REPO = Path(__file__).resolve().parents[2]


def test_healthz_needs_nothing(client: TestClient) -> None:
    ApiKeys(client.app.state.ctx.db.store).create(scope="read")  # type: ignore[attr-defined]
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_every_response_carries_a_request_id(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    ids = [client.get("/healthz").headers["x-request-id"] for _ in range(3)]
    assert len(set(ids)) == 3 and all(len(i) == 16 and int(i, 16) >= 0 for i in ids)
    with caplog.at_level("INFO", logger="elephant.access"):
        assert client.get("/healthz", headers={"X-Request-Id": "trace-42"}).headers["x-request-id"] == "trace-42"
    assert any(json.loads(r.getMessage())["request_id"] == "trace-42" for r in caplog.records
               if r.name == "elephant.access")


def test_readyz_ready_with_a_usable_model(client: TestClient) -> None:
    client.app.state.ctx.warmed.wait(30)  # type: ignore[attr-defined]
    response = client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "model": "ok", "index": "ok"}}


def test_readyz_503_names_the_missing_model(tmp_path: Path) -> None:
    settings = Settings(model="int8", model_dir=tmp_path / "no-models")
    with TestClient(create_app(settings)) as c:
        c.app.state.ctx.warmed.wait(30)  # type: ignore[attr-defined]
        response = c.get("/readyz")
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "unavailable" and body["checks"]["database"] == "ok"
        assert "elephant model build" in body["checks"]["model"]
        # writes still commit while the model is missing (the outbox catches up later)
        assert c.post("/v1/records", json=note("still/writes")).status_code == 201
        search = c.post("/v1/search", json={"query": "writes"})
        assert search.status_code == 200 and search.json()["degraded"] is True
        metrics = c.get("/metrics").text
        assert 'elephant_degraded_answers_total{endpoint="search"} 1.0' in metrics


def test_readyz_503_when_the_database_is_unreachable(tmp_path: Path) -> None:
    settings = Settings(database_url="postgresql://nobody@127.0.0.1:1/none")
    app = create_app(settings)
    client = TestClient(app, raise_server_exceptions=False)  # no lifespan: open lazily, fail per request
    # /readyz needs no key (probes, issue 17), so it answers itself: 503 naming the store in its checks,
    # by its setting, never its host, user or name (issue 20 row 16: the server may be open)
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["status"] == "unavailable"
    assert "ELEPHANT_DATABASE_URL" in response.json()["checks"]["database"]
    # any other request still checks for keys first, which needs the database: a problem naming the store
    body = assert_problem(client.get("/v1/records"), 503)
    assert body["error"] == "StoreError" and "ELEPHANT_DATABASE_URL" in body["detail"]
    for leak in ("127.0.0.1", "nobody", "/none"):
        assert leak not in response.text and leak not in body["detail"]
    assert client.get("/healthz").status_code == 200


def test_metrics_exposes_route_latency_counts_and_backlog(client: TestClient) -> None:
    client.post("/v1/records", json=note("m/1"))
    client.get("/v1/records/m/1")
    client.get("/v1/records/m/1/versions")
    first = client.post("/v1/search", json={"query": "note"}).json()
    assert client.post("/v1/search", json={"query": "note"}).json() == first  # the second from the cache
    text = client.get("/metrics").text
    assert 'elephant_search_cache_total{result="hit"} 1.0' in text
    assert 'elephant_search_cache_total{result="miss"} 1.0' in text
    assert 'elephant_http_request_duration_seconds_count{method="GET",route="/v1/records/{key:path}",status="200"} 1.0' in text
    assert 'route="/v1/records/{key:path}/versions"' in text
    assert 'elephant_records{kind="note"} 1.0' in text
    assert "elephant_outbox_backlog " in text
    assert 'elephant_embedding_duration_seconds_count{op="query"}' in text
    assert "m/1" not in text  # keys never become label values


def test_serving_path_imports_no_torch_and_loads_heavy_modules_lazily(tmp_path: Path) -> None:
    code = (
        "import sys, json\n"
        "from api.app import create_app\n"
        "from elephant.settings import Settings\n"
        f"app = create_app(Settings(home={str(tmp_path)!r}, model='fake'))\n"
        "app.openapi()\n"
        "print(json.dumps({m: m in sys.modules for m in "
        "('torch', 'sentence_transformers', 'chromadb', 'onnxruntime', 'transformers')}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded == {"torch": False, "sentence_transformers": False, "chromadb": False, "onnxruntime": False,
                      "transformers": False}


def test_import_elephant_does_not_import_httpx() -> None:
    code = "import sys, elephant; print('httpx' in sys.modules); elephant.Client; print('httpx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]


def test_docs_and_openapi_are_served(client: TestClient) -> None:
    assert client.get("/openapi.json").json()["info"]["title"] == "Elephant"
    assert client.get("/docs").status_code == 200


@pytest.mark.model
def test_readyz_recovers_once_the_model_appears(built_model_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "models"
    with TestClient(create_app(Settings(model="int8", model_dir=target))) as c:
        ctx = c.app.state.ctx  # type: ignore[attr-defined]
        ctx.warmed.wait(30)
        assert c.get("/readyz").status_code == 503
        target.symlink_to(built_model_dir, target_is_directory=True)
        ctx.warmed_at = 0.0  # skip the 10 s between retries
        ready = c.get("/readyz")
        assert ready.status_code == 200, ready.text


def test_server_starts_when_the_database_is_down_and_says_why() -> None:
    settings = Settings(database_url="postgresql://nobody@127.0.0.1:1/none")
    with TestClient(create_app(settings)) as c:
        assert c.get("/healthz").status_code == 200
        assert assert_problem(c.get("/v1/records/x"), 503)["error"] == "StoreError"
