"""Idempotency-Key replays and If-Match under concurrent HTTP writers."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient

from tests.api.apihelpers import assert_problem, bearer, note


def test_retried_post_returns_the_stored_response(client: TestClient) -> None:
    headers = {"Idempotency-Key": "retry-1"}
    first = client.post("/v1/records", json=note("idem/a", "one"), headers=headers)
    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    # the record changes in between; the retry must not write again nor see the new state
    client.post("/v1/records", json=note("idem/a", "two"))
    again = client.post("/v1/records", json=note("idem/a", "one"), headers=headers)
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json() and again.headers["etag"] == first.headers["etag"]
    assert client.get("/v1/records/idem/a/versions").json()["total"] == 2


def test_retried_delete_and_revert_do_not_write_twice(client: TestClient) -> None:
    client.post("/v1/records", json=note("idem/d", "v1"))
    client.post("/v1/records", json=note("idem/d", "v2"))
    for _ in range(2):
        reverted = client.post("/v1/records/idem/d/revert", json={"version": 1}, headers={"Idempotency-Key": "rv"})
        assert reverted.status_code == 200 and reverted.json()["version"] == 3
    for _ in range(2):
        deleted = client.delete("/v1/records/idem/d", headers={"Idempotency-Key": "del"})
        assert deleted.status_code == 200 and deleted.json()["version"] == 4
    assert client.get("/v1/records/idem/d/versions").json()["total"] == 4


def test_same_key_different_request_is_refused(client: TestClient) -> None:
    client.post("/v1/records", json=note("idem/b", "one"), headers={"Idempotency-Key": "k"})
    body = assert_problem(client.post("/v1/records", json=note("idem/b", "other"), headers={"Idempotency-Key": "k"}), 422)
    assert body["error"] == "IdempotencyMismatch"
    assert client.get("/v1/records/idem/b").json()["title"] == "one"


def test_client_errors_are_replayed_too_but_not_kept_across_principals(client: TestClient,
                                                                       keys: dict[str, str]) -> None:
    bad = {"kind": "note", "key": "idem/c"}  # no title
    for _ in range(2):
        assert_problem(client.post("/v1/records", json=bad, headers={**bearer(keys["write"]), "Idempotency-Key": "x"}), 422)
    # another key's identical Idempotency-Key is its own namespace
    ok = client.post("/v1/records", json=note("idem/c"), headers={**bearer(keys["admin"]), "Idempotency-Key": "x"})
    assert ok.status_code == 201


def test_bad_idempotency_keys(client: TestClient) -> None:
    assert_problem(client.post("/v1/records", json=note("i"), headers={"Idempotency-Key": "x" * 200}), 400)


def test_reads_ignore_idempotency_keys(client: TestClient) -> None:
    response = client.post("/v1/search", json={"query": "x"}, headers={"Idempotency-Key": "s"})
    assert "idempotent-replayed" not in response.headers


def test_eight_concurrent_idempotent_posts_write_once(client: TestClient) -> None:
    barrier = threading.Barrier(8)

    def post(_i: int) -> tuple[int, int | None]:
        barrier.wait()
        r = client.post("/v1/records", json=note("idem/race", "once"), headers={"Idempotency-Key": "race"})
        return r.status_code, r.json().get("version")

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(post, range(8)))
    assert all(status in (201, 409) for status, _ in outcomes), outcomes
    assert any(status == 201 for status, _ in outcomes)
    assert client.get("/v1/records/idem/race/versions").json()["total"] == 1


def test_eight_concurrent_writers_with_if_match_lose_no_update(any_client: TestClient) -> None:
    """Each writer adds its own tag with read-modify-write; 412 means re-read and retry."""
    client = any_client
    client.post("/v1/records", json=note("race/tags", "shared", tags=["start"]))
    barrier = threading.Barrier(8)

    def writer(i: int) -> int:
        barrier.wait()
        conflicts = 0
        while True:
            current = client.get("/v1/records/race/tags")
            assert current.status_code == 200
            tags = [*current.json().get("tags", []), f"w{i}"]
            r = client.put("/v1/records/race/tags", json={"kind": "note", "title": "shared", "tags": tags},
                           headers={"If-Match": current.headers["etag"]})
            if r.status_code == 412:
                conflicts += 1
                continue
            assert r.status_code == 200, r.text
            return conflicts

    with ThreadPoolExecutor(8) as pool:
        retries = sum(pool.map(writer, range(8)))
    final = client.get("/v1/records/race/tags").json()
    assert sorted(final["tags"]) == sorted(["start", *[f"w{i}" for i in range(8)]])
    assert final["version"] == 9
    assert client.get("/v1/records/race/tags/versions").json()["total"] == 9
    # every lost race was a 412, and the server counted exactly those
    metrics = client.get("/metrics").text
    refused = 'elephant_http_request_duration_seconds_count{method="PUT",route="/v1/records/{key:path}",status="412"}'
    counted = next((float(line.split()[-1]) for line in metrics.splitlines() if line.startswith(refused)), 0.0)
    assert counted == retries
