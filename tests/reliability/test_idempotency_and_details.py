"""Rows 15 and 16 of issue 20.

Row 15: a key created with an Idempotency-Key never leaves its secret in the idempotency table (a
retry is refused with the reason instead of replayed), and a retry that finds its first request
still running waits for it and replays its response instead of answering 409.

Row 16: error details never carry SQL, bound values, or the database's host, user and name.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from elephant.api.app import create_app
from elephant.api.idempotency import request_hash
from elephant.settings import Settings
from elephant.storage.apikeys import ApiKeys
from elephant.storage.db import db_failure
from elephant.storage.idempotency import IdempotencyStore
from elephant.storage.schema import idempotency


def note(key: str, title: str = "a note") -> dict[str, Any]:
    return {"kind": "note", "key": key, "title": title}


# ---------------------------------------------------------------- row 15
def test_created_key_secret_is_not_kept_and_a_retry_is_refused_with_the_reason(api: TestClient) -> None:
    store = api.app.state.ctx.db.store  # type: ignore[attr-defined]
    admin = ApiKeys(store).create(scope="admin", name="ops").key
    headers = {"authorization": f"Bearer {admin}", "idempotency-key": "new-ci-key"}
    first = api.post("/v1/keys", json={"scope": "write", "name": "ci"}, headers=headers)
    assert first.status_code == 201, first.text
    secret = first.json()["key"]
    with store.read_connection() as conn:
        kept = [row.response for row in conn.execute(select(idempotency.c.response))]
    assert kept and all(secret not in text for text in kept)
    retry = api.post("/v1/keys", json={"scope": "write", "name": "ci"}, headers=headers)
    assert retry.status_code == 409
    assert retry.json()["error"] == "IdempotentReplayRefused" and "revoke" in retry.json()["detail"]
    assert secret not in retry.text
    assert [k.name for k in ApiKeys(store).list_keys()].count("ci") == 1  # no second key


def test_concurrent_retries_all_get_the_one_response(api: TestClient) -> None:
    barrier = threading.Barrier(8)

    def post(_i: int) -> tuple[int, str | None, int | None]:
        barrier.wait()
        r = api.post("/v1/records", json=note("idem/race", "once"), headers={"idempotency-key": "race"})
        return r.status_code, r.headers.get("idempotent-replayed"), r.json().get("version")

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(post, range(8)))
    assert [status for status, _r, _v in outcomes] == [201] * 8, outcomes
    assert sum(replayed is None for _s, replayed, _v in outcomes) == 1
    assert {version for _s, _r, version in outcomes} == {1}


def _reserve(api: TestClient, body: dict[str, Any], key: str) -> tuple[IdempotencyStore, str]:
    """A first request's reservation, as if another worker were still running it."""
    idem = IdempotencyStore(api.app.state.ctx.db.store)  # type: ignore[attr-defined]
    raw = json.dumps(body).encode()
    scope = {"method": "POST", "path": "/v1/records", "query_string": b""}
    assert idem.begin(f"-:{key}", "-", request_hash(scope, raw)).outcome == "proceed"
    return idem, raw.decode()


def test_a_retry_waits_for_the_running_first_request_and_replays_it(api: TestClient) -> None:
    body = note("idem/slow")
    idem, raw = _reserve(api, body, "slow")
    canned = json.dumps({"key": "idem/slow", "version": 1, "status": "created"})
    timer = threading.Timer(0.3, idem.finish, args=("-:slow", 201, [("content-type", "application/json")], canned))
    timer.start()
    try:
        retry = api.post("/v1/records", content=raw, headers={"content-type": "application/json",
                                                                "idempotency-key": "slow"})
    finally:
        timer.join()
    assert retry.status_code == 201 and retry.headers["idempotent-replayed"] == "true"
    assert retry.json()["status"] == "created"
    assert api.get("/v1/records/idem/slow").status_code == 404  # the canned first request wrote nothing


def test_a_retry_runs_the_write_when_the_first_request_gives_up(api: TestClient) -> None:
    body = note("idem/abandoned")
    idem, raw = _reserve(api, body, "gave-up")
    timer = threading.Timer(0.3, idem.abandon, args=("-:gave-up",))
    timer.start()
    try:
        retry = api.post("/v1/records", content=raw, headers={"content-type": "application/json",
                                                                "idempotency-key": "gave-up"})
    finally:
        timer.join()
    assert retry.status_code == 201 and "idempotent-replayed" not in retry.headers
    assert api.get("/v1/records/idem/abandoned").json()["version"] == 1


# ---------------------------------------------------------------- row 16
def test_database_failures_name_neither_statement_values_nor_server() -> None:
    driver = Exception('connection to server at "10.9.8.7", port 5433 failed: FATAL:  password authentication '
                       'failed for user "elephant_svc"\nDETAIL: database "team_memory"')
    exc = OperationalError("SELECT envelope FROM heads WHERE title = %(t)s", {"t": "another record's secret"}, driver)
    text = db_failure(exc)
    for leak in ("10.9.8.7", "5433", "elephant_svc", "team_memory", "SELECT", "another record"):
        assert leak not in text, text
    assert "password authentication failed" in text


def test_an_open_server_with_an_unreachable_database_says_only_that(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("psycopg")
    url = "postgresql://memory_owner:pw@127.0.0.1:1/private_memory_db?connect_timeout=3"
    monkeypatch.setenv("ELEPHANT_DATABASE_URL", url)
    with TestClient(create_app(Settings())) as client:
        for response in (client.get("/v1/records"), client.post("/v1/search", json={"query": "x"}),
                         client.get("/readyz")):
            assert response.status_code == 503, response.text[:300]
            for leak in ("memory_owner", "private_memory_db", "127.0.0.1", ":1/", "SELECT"):
                assert leak not in response.text, (leak, response.text[:300])


def test_failed_key_checks_are_limited_per_address(api: TestClient) -> None:
    from elephant.api.ratelimit import LIMIT

    store = api.app.state.ctx.db.store  # type: ignore[attr-defined]
    good = ApiKeys(store).create(scope="read", name="reader").key
    assert api.get("/v1/records", headers={"authorization": f"Bearer {good}"}).status_code == 200
    bad = {"authorization": "Bearer ek_nope_" + "x" * 40}
    assert [api.get("/v1/records", headers=bad).status_code for _ in range(LIMIT)] == [401] * LIMIT
    limited = api.get("/v1/records", headers=bad)
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert "too many failed" in limited.json()["detail"]
    # probes stay open; a request without a key is told it needs one, not limited
    assert api.get("/healthz").status_code == 200
    assert api.get("/v1/records").status_code == 401


def test_the_window_forgets_old_failures() -> None:
    from elephant.api.ratelimit import FailedKeyChecks

    checks = FailedKeyChecks(limit=3, window_s=60.0, max_clients=2)
    for t in (0.0, 1.0, 2.0):
        assert checks.retry_after("a", now=t) is None
        checks.failed("a", now=t)
    assert checks.retry_after("a", now=3.0) == 57
    assert checks.retry_after("b", now=3.0) is None
    assert checks.retry_after("a", now=60.5) is None  # the first failure aged out
    checks.failed("b", now=61.0)
    checks.failed("c", now=61.0)  # beyond max_clients: the least recent address is forgotten
    assert checks.retry_after("a", now=61.5) is None
