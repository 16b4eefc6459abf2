"""Row 10 of issue 20: a keyless server refuses browsers' cross-site writes (multipart /v1/ingest
included) and, on a loopback connection, Host names that are not its own (DNS rebinding); ``serve``
refuses a non-loopback bind with no key unless --insecure. One test speaks real HTTP to uvicorn."""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml
from fastapi.testclient import TestClient

from elephant.api.app import create_app
from elephant.settings import Settings
from tests.reliability.conftest import record_count, run_cli

RECORD = yaml.safe_dump({"kind": "note", "key": "csrf/one", "title": "written cross-site"}).encode()
LOOPBACK = "http://127.0.0.1:8000"


def upload() -> list[tuple[str, tuple[str, io.BytesIO, str]]]:
    return [("files", ("one.yaml", io.BytesIO(RECORD), "application/yaml"))]


@pytest.fixture
def local(backend: str) -> Iterator[TestClient]:
    """A keyless app whose connections arrive on 127.0.0.1:8000, as under `elephant serve`."""
    with TestClient(create_app(Settings()), base_url=LOOPBACK) as client:
        yield client


@pytest.mark.parametrize("headers", [{"origin": "https://evil.example"}, {"origin": "null"},
                                     {"sec-fetch-site": "cross-site"}, {"sec-fetch-site": "same-site"},
                                     {"origin": "http://127.0.0.1:9999"}],
                         ids=["foreign-origin", "null-origin", "fetch-cross-site", "fetch-same-site", "other-port"])
def test_cross_site_multipart_ingest_is_refused(local: TestClient, headers: dict[str, str]) -> None:
    response = local.post("/v1/ingest", files=upload(), headers=headers)
    assert response.status_code == 403, response.text[:300]
    assert "cross-site" in response.json()["detail"]
    assert record_count(local.app.state.ctx.db) == 0  # type: ignore[attr-defined]


def test_cross_site_json_write_and_delete_are_refused(local: TestClient) -> None:
    evil = {"origin": "https://evil.example"}
    assert local.post("/v1/records", json={"kind": "note", "key": "a/b", "title": "t"}, headers=evil).status_code == 403
    assert local.delete("/v1/records/a/b", headers=evil).status_code == 403


def test_same_origin_and_non_browser_writes_pass(local: TestClient) -> None:
    same = {"origin": LOOPBACK, "sec-fetch-site": "same-origin"}
    assert local.post("/v1/ingest", files=upload(), headers=same).status_code == 200
    # curl and the Python client send no Origin and no Sec-Fetch-Site
    assert local.post("/v1/records", json={"kind": "note", "key": "a/b", "title": "t"}).status_code == 201
    # a cross-site *read* is the browser's business (CORS keeps the answer from the page)
    assert local.get("/v1/records/a/b", headers={"origin": "https://evil.example"}).status_code == 200


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "127.0.0.1.evil.example"])
def test_foreign_host_on_loopback_is_refused(local: TestClient, host: str) -> None:
    response = local.get("/v1/records", headers={"host": host})
    assert response.status_code == 421, response.text[:300]
    assert "ELEPHANT_ALLOWED_HOSTS" in response.json()["detail"]
    assert local.get("/healthz", headers={"host": host}).status_code == 200  # probes stay open


@pytest.mark.parametrize("host", ["localhost:8000", "127.0.0.1:8000", "[::1]:8000", "LOCALHOST"])
def test_loopback_names_pass(local: TestClient, host: str) -> None:
    assert local.get("/v1/records", headers={"host": host}).status_code == 200


def test_configured_names_pass(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELEPHANT_ALLOWED_HOSTS", "memory.internal, other.lan:8000")
    with TestClient(create_app(Settings()), base_url=LOOPBACK) as client:
        assert client.get("/v1/records", headers={"host": "memory.internal:8000"}).status_code == 200
        assert client.get("/v1/records", headers={"host": "other.lan"}).status_code == 200
        assert client.get("/v1/records", headers={"host": "evil.example"}).status_code == 421


def test_checks_are_off_once_a_key_exists(local: TestClient) -> None:
    db = local.app.state.ctx.db  # type: ignore[attr-defined]
    from elephant.storage.apikeys import ApiKeys

    key = ApiKeys(db.store).create(scope="admin", name="ops").key
    # the key, not the Host or Origin, decides now (a proxy may rewrite Host)
    assert local.get("/v1/records", headers={"host": "memory.example"}).status_code == 401
    auth = {"authorization": f"Bearer {key}", "host": "memory.example", "origin": "https://memory.example"}
    assert local.post("/v1/ingest", files=upload(), headers=auth).status_code == 200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_real_http_on_loopback(backend: str) -> None:
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(Settings()), host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.started
        with httpx.Client(base_url=base, timeout=30) as http:
            assert http.get("/v1/records").status_code == 200
            rebound = http.get("/v1/records", headers={"host": f"rebind.example:{port}"})
            assert rebound.status_code == 421
            form = http.post("/v1/ingest", files=upload(), headers={"origin": "https://evil.example"})
            assert form.status_code == 403
            assert http.get("/v1/records/csrf/one").status_code == 404
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def test_serve_refuses_an_open_bind_without_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[Any] = []
    monkeypatch.setattr("uvicorn.run", lambda *a, **k: started.append(k))
    refused = run_cli("serve", "--host", "0.0.0.0")
    assert refused.exit_code == 2 and "--insecure" in refused.output and not started
    loud = run_cli("serve", "--host", "0.0.0.0", "--insecure", "--workers", "1")
    assert loud.exit_code == 0, loud.output
    assert "warning" in loud.output and started and started[0]["host"] == "0.0.0.0"
    local = run_cli("serve", "--workers", "1")
    assert local.exit_code == 0 and "warning" not in local.output
