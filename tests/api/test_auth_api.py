"""Auth: open until a key exists, then a key on every route but /healthz; scopes read < write < admin."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from elephant.api.app import create_app
from elephant.settings import Settings
from elephant.storage.apikeys import ApiKeys, split_key
from tests.api.apihelpers import assert_problem, bearer, note

RANK = {"read": 0, "write": 1, "admin": 2}


def _routes() -> list[tuple[str, str, dict[str, Any], str | None]]:
    """(method, path, request kwargs, scope needed) for every route."""
    upload = {"files": [("files", ("n.yaml", io.BytesIO(b"kind: note\nkey: up/n\ntitle: up\n")))]}
    return [
        ("GET", "/healthz", {}, None),
        ("GET", "/readyz", {}, None),  # open for probes (issue 17)
        ("GET", "/metrics", {}, "read"),
        ("GET", "/openapi.json", {}, "read"),
        ("GET", "/v1/records", {}, "read"),
        ("POST", "/v1/records", {"json": note("m/new")}, "write"),
        ("GET", "/v1/records/seed/k", {}, "read"),
        ("PUT", "/v1/records/seed/k", {"json": {"kind": "note", "title": "put"}}, "write"),
        ("DELETE", "/v1/records/seed/gone", {}, "write"),
        ("GET", "/v1/records/seed/k/versions", {}, "read"),
        ("GET", "/v1/records/seed/k/diff", {"params": {"from": 1, "to": 1}}, "read"),
        ("POST", "/v1/records/seed/k/revert", {"json": {"version": 1}}, "write"),
        ("POST", "/v1/search", {"json": {"query": "ranker"}}, "read"),
        ("POST", "/v1/ask", {"json": {"question": "what did we try for ranker?"}}, "read"),
        ("POST", "/v1/context", {"json": {"query": "ranker", "budget": 200}}, "read"),
        ("GET", "/v1/brief", {}, "read"),
        ("GET", "/v1/regressions", {}, "read"),
        ("POST", "/v1/ingest", upload, "write"),
        ("GET", "/v1/keys", {}, "admin"),
        ("POST", "/v1/keys", {"json": {"scope": "read"}}, "admin"),
        ("DELETE", "/v1/keys/000000000000", {}, "admin"),
        ("POST", "/mcp", {"json": {"jsonrpc": "2.0", "id": 1, "method": "ping"}}, "read"),
    ]


ROUTES = _routes()
CALLERS = ["none", "bad", "read", "write", "admin"]


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """One app and one key per scope for the whole matrix (110 requests; a fresh home each would be slow)."""
    settings = Settings(home=tmp_path_factory.mktemp("auth-home"), model="fake", database_url=None, chroma_url=None)
    with TestClient(create_app(settings)) as c:
        api_keys = ApiKeys(c.app.state.ctx.db.store)  # type: ignore[attr-defined]
        made = {scope: api_keys.create(scope=scope, name=f"{scope}-user").key for scope in ("read", "write", "admin")}
        yield c, made


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(("method", "path", "kwargs", "needed"), ROUTES, ids=[f"{m} {p}" for m, p, _, _ in ROUTES])
def test_auth_matrix(shared: tuple[TestClient, dict[str, str]], caller: str, method: str, path: str,
                     kwargs: dict[str, Any], needed: str | None) -> None:
    client, keys = shared
    admin = bearer(keys["admin"])
    client.post("/v1/records", json=note("seed/k"), headers=admin)
    client.post("/v1/records", json=note("seed/gone"), headers=admin)
    fixed: dict[str, dict[str, str]] = {"none": {}, "bad": bearer("elk_000000000000_not-a-real-secret")}
    headers = fixed[caller] if caller in fixed else bearer(keys[caller])
    if "files" in kwargs:  # a fresh upload body per request
        kwargs = {"files": [("files", ("n.yaml", io.BytesIO(b"kind: note\nkey: up/n\ntitle: up\n")))]}
    response = client.request(method, path, headers=headers, **kwargs)
    if needed is None:
        assert response.status_code == 200
    elif caller in ("none", "bad"):
        body = assert_problem(response, 401)
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert "not-a-real-secret" not in response.text
        assert body["error"] == "AuthError"
    elif RANK[caller] < RANK[needed]:
        assert assert_problem(response, 403)["error"] == "Forbidden"
    else:
        assert response.status_code not in (401, 403), response.text
        assert response.status_code < 500 or response.status_code == 501, response.text


def test_open_until_a_key_exists_then_closed_for_good(client: TestClient) -> None:
    assert client.post("/v1/records", json=note("open")).status_code == 201
    api_keys = ApiKeys(client.app.state.ctx.db.store)  # type: ignore[attr-defined]
    created = api_keys.create(scope="read")
    assert_problem(client.get("/v1/records/open"), 401)
    assert client.get("/v1/records/open", headers=bearer(created.key)).status_code == 200
    api_keys.revoke(created.info.id)
    # revoking every key must not reopen the server
    assert_problem(client.get("/v1/records/open"), 401)
    revoked = assert_problem(client.get("/v1/records/open", headers=bearer(created.key)), 401)
    assert "revoked" in revoked["detail"]


def test_first_key_cannot_be_made_over_http(client: TestClient) -> None:
    body = assert_problem(client.post("/v1/keys", json={"scope": "admin"}), 403)
    assert "elephant keys create" in body["detail"]


def test_admin_manages_keys_over_http(client: TestClient, keys: dict[str, str]) -> None:
    admin = bearer(keys["admin"])
    made = client.post("/v1/keys", json={"scope": "read", "name": "dash"}, headers=admin)
    assert made.status_code == 201
    secret = made.json()["key"]
    assert client.get("/v1/records", headers=bearer(secret)).status_code == 200
    listed = client.get("/v1/keys", headers=admin).json()["keys"]
    assert {k["name"] for k in listed} >= {"dash", "admin-user"}
    assert all("key" not in k and "secret_hash" not in k for k in listed)
    revoked = client.delete(f"/v1/keys/{made.json()['id']}", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["active"] is False
    assert_problem(client.get("/v1/records", headers=bearer(secret)), 401)
    assert_problem(client.delete("/v1/keys/unknown", headers=admin), 404)
    assert_problem(client.post("/v1/keys", json={"scope": "root"}, headers=admin), 422)


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer    ", "elk_x_y", "Token abc"])
def test_malformed_authorization_headers_are_401(client: TestClient, keys: dict[str, str], header: str) -> None:
    assert_problem(client.get("/v1/records", headers={"Authorization": header}), 401)


def test_right_id_wrong_secret_is_refused(client: TestClient, keys: dict[str, str]) -> None:
    key_id, _secret = split_key(keys["admin"]) or ("", "")
    assert_problem(client.get("/v1/records", headers=bearer(f"elk_{key_id}_wrong")), 401)


def test_keys_never_appear_in_logs(client: TestClient, keys: dict[str, str], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client.post("/v1/records", json=note("logged"), headers=bearer(keys["write"]))
    client.get("/v1/records/logged", headers=bearer(keys["read"]))
    client.post("/v1/records", json=note("refused"), headers=bearer(keys["read"]))
    client.get("/v1/records", headers=bearer(keys["admin"] + "x"))
    text = caplog.text
    for key in keys.values():
        assert split_key(key)[1] not in text  # type: ignore[index]
    access = [r for r in caplog.records if r.name == "elephant.access"]
    assert len(access) == 4
    write_id = split_key(keys["write"])[0]  # type: ignore[index]
    assert f'"key_id": "{write_id}"' in access[0].getMessage()
    assert '"route": "/v1/records"' in access[0].getMessage() and '"status": 201' in access[0].getMessage()


def test_the_open_check_is_inline_on_sqlite_and_sees_a_key_another_process_made(client: TestClient) -> None:
    """While no key exists, SQLite answers "open?" on the event loop; `elephant keys create` in another
    process closes the server for the very next request."""
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    assert ctx.keys_required_inline() is False
    assert client.post("/v1/records", json=note("inline/open")).status_code == 201
    made = subprocess.run([sys.executable, "-m", "elephant.cli.main", "keys", "create", "--scope", "read", "--json"],
                          cwd=Path(__file__).resolve().parents[2], env=dict(os.environ), capture_output=True,
                          text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    assert ctx.keys_required_inline() is True
    assert_problem(client.get("/v1/records/inline/open"), 401)


def test_the_open_check_uses_a_thread_where_it_would_block(any_client: TestClient, backend: str) -> None:
    ctx = any_client.app.state.ctx  # type: ignore[attr-defined]
    assert ctx.keys_required_inline() is (False if backend == "sqlite" else None)
    assert any_client.get("/v1/records").status_code == 200
    ApiKeys(ctx.db.store).create(scope="read")
    assert_problem(any_client.get("/v1/records"), 401)
    assert ctx.keys_required_inline() is True  # known for good: no query, no thread
