"""The /v1/records routes: writes, reads, versions, diff, revert, delete; slash keys; errors."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from elephant.api.app import create_app
from elephant.settings import Settings
from tests.api.apihelpers import assert_problem, benchmark, note

SLASHY = "ranker/int8-dynamic-2026-03/run:1"


def test_record_lifecycle_on_both_backends(any_client: TestClient) -> None:
    c = any_client
    created = c.post("/v1/records", json=note(SLASHY, "first"))
    assert created.status_code == 201
    assert created.json()["status"] == "created" and created.json()["version"] == 1
    assert created.headers["etag"] == '"1"'
    assert created.headers["location"] == f"/v1/records/{SLASHY}"

    got = c.get(f"/v1/records/{SLASHY}")
    assert got.status_code == 200 and got.headers["etag"] == '"1"'
    assert got.json()["key"] == SLASHY and got.json()["title"] == "first" and got.json()["version"] == 1

    updated = c.put(f"/v1/records/{SLASHY}", json={"kind": "note", "title": "second"}, headers={"If-Match": '"1"'})
    assert updated.status_code == 200 and updated.json()["status"] == "updated"
    assert updated.headers["etag"] == '"2"'

    same = c.post("/v1/records", json=note(SLASHY, "second"))
    assert same.status_code == 200 and same.json()["status"] == "unchanged" and same.json()["version"] == 2

    stale = c.put(f"/v1/records/{SLASHY}", json={"kind": "note", "title": "lost"}, headers={"If-Match": '"1"'})
    body = assert_problem(stale, 412)
    assert body["error"] == "Conflict" and body["current"] == 2

    versions = c.get(f"/v1/records/{SLASHY}/versions")
    assert versions.status_code == 200
    assert [v["version"] for v in versions.json()["versions"]] == [1, 2]

    diff = c.get(f"/v1/records/{SLASHY}/diff", params={"from": 1, "to": 2})
    assert diff.status_code == 200
    assert diff.json()["changes"] == [{"path": "title", "change": "changed", "from": "first", "to": "second"}]

    old = c.get(f"/v1/records/{SLASHY}", params={"version": 1})
    assert old.json()["title"] == "first" and old.headers["etag"] == '"1"'
    as_of = c.get(f"/v1/records/{SLASHY}", params={"as_of": created.json()["recorded_at"]})
    assert as_of.json()["version"] == 1

    reverted = c.post(f"/v1/records/{SLASHY}/revert", json={"version": 1}, headers={"If-Match": '"2"'})
    assert reverted.status_code == 200 and reverted.json()["status"] == "reverted"
    assert c.get(f"/v1/records/{SLASHY}").json()["title"] == "first"

    deleted = c.delete(f"/v1/records/{SLASHY}", headers={"If-Match": '"3"'})
    assert deleted.status_code == 200 and deleted.json()["status"] == "deleted" and deleted.json()["version"] == 4
    gone = assert_problem(c.get(f"/v1/records/{SLASHY}"), 404)
    assert gone["error"] == "NotFound"
    assert c.get(f"/v1/records/{SLASHY}/versions").json()["total"] == 4


def test_sub_resource_names_do_not_clash_with_slash_keys(client: TestClient) -> None:
    # "a/b/versions" is the versions of "a/b", never a record read; "a/b" itself still reads.
    client.post("/v1/records", json=note("a/b", "ab"))
    client.post("/v1/records", json=note("a/b/c", "abc"))
    assert client.get("/v1/records/a/b").json()["title"] == "ab"
    assert client.get("/v1/records/a/b/c").json()["title"] == "abc"
    versions = client.get("/v1/records/a/b/versions").json()
    assert versions["key"] == "a/b" and versions["total"] == 1
    assert client.get("/v1/records/a/b/c/versions").json()["key"] == "a/b/c"
    assert client.get("/v1/records/a/b/diff", params={"from": 1}).json()["key"] == "a/b"
    # a single-segment key named like a sub-resource is a plain record
    client.post("/v1/records", json=note("versions", "just a key"))
    assert client.get("/v1/records/versions").json()["title"] == "just a key"


def test_keys_with_unusual_characters_round_trip(client: TestClient) -> None:
    key = "ml/ranker:v3/(exp)[1]+a=b,c~d"
    assert client.post("/v1/records", json=note(key)).status_code == 201
    assert client.get(f"/v1/records/{key}").json()["key"] == key
    from urllib.parse import quote

    assert client.get("/v1/records/" + quote(key, safe="")).json()["key"] == key


def test_put_without_key_in_body_and_mismatched_key(client: TestClient) -> None:
    created = client.put("/v1/records/ranker/x", json={"kind": "note", "title": "t"})
    assert created.status_code == 201 and created.json()["key"] == "ranker/x"
    body = assert_problem(client.put("/v1/records/ranker/x", json=note("ranker/y")), 422)
    assert body["errors"][0]["field"] == "key"


def test_if_none_match_star_creates_only(client: TestClient) -> None:
    assert client.put("/v1/records/k1", json=note("k1"), headers={"If-None-Match": "*"}).status_code == 201
    assert_problem(client.put("/v1/records/k1", json=note("k1", "again"), headers={"If-None-Match": "*"}), 412)


def test_if_match_forms(client: TestClient) -> None:
    client.post("/v1/records", json=note("k"))
    assert client.put("/v1/records/k", json=note("k", "2"), headers={"If-Match": 'W/"1"'}).status_code == 200
    assert client.put("/v1/records/k", json=note("k", "3"), headers={"If-Match": "*"}).status_code == 200
    bad = assert_problem(client.put("/v1/records/k", json=note("k", "4"), headers={"If-Match": "abc"}), 400)
    assert "If-Match" in bad["detail"]
    assert_problem(client.put("/v1/records/nope", json=note("nope"), headers={"If-Match": "*"}), 404)
    assert_problem(client.delete("/v1/records/k", headers={"If-Match": '"1"'}), 412)


def test_conditional_get_returns_304(client: TestClient) -> None:
    client.post("/v1/records", json=note("k"))
    cached = client.get("/v1/records/k", headers={"If-None-Match": '"1"'})
    assert cached.status_code == 304 and cached.headers["etag"] == '"1"'
    client.post("/v1/records", json=note("k", "changed"))
    assert client.get("/v1/records/k", headers={"If-None-Match": '"1"'}).status_code == 200


def test_invalid_records_name_the_field(client: TestClient) -> None:
    body = assert_problem(client.post("/v1/records", json={"kind": "benchmark", "key": "b", "title": "t",
                                                           "fields": {"batch_size": "many"}}), 422)
    assert body["error"] == "InvalidRecord"
    assert body["errors"][0]["field"] == "fields.batch_size" and body["errors"][0]["key"] == "b"
    body = assert_problem(client.post("/v1/records", json={"kind": "wat", "key": "b", "title": "t"}), 422)
    assert body["errors"][0]["field"] == "kind"
    body = assert_problem(client.post("/v1/records", json={"kind": "note", "key": "has space", "title": "t"}), 422)
    assert body["errors"][0]["field"] == "key"


def test_malformed_bodies_are_problems_not_500(client: TestClient) -> None:
    for raw in (b"{not json", b"[1, 2]", b'"text"', b"", b"\xff\xfe"):
        response = client.post("/v1/records", content=raw, headers={"Content-Type": "application/json"})
        assert 400 <= response.status_code < 500, (raw, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    body = assert_problem(client.post("/v1/records/k/revert", json={"version": "x"}), 422)
    assert body["errors"][0]["field"] == "body.version"
    body = assert_problem(client.get("/v1/records/k", params={"version": 0}), 422)
    assert body["errors"][0]["field"] == "query.version"
    assert_problem(client.get("/v1/records/k", params={"as_of": "yesterday-ish"}), 400)


def test_batch_writes_report_good_and_bad(client: TestClient) -> None:
    batch = {"records": [note("b/1"), benchmark("b/2", 40.0), {"kind": "note", "key": "b/3"}]}
    response = client.post("/v1/records", json=batch)
    assert response.status_code == 200
    report = response.json()
    assert report["ok"] is False
    assert report["counts"]["created"] == 2 and report["counts"]["failed"] == 1
    assert report["problems"][0]["key"] == "b/3" and report["problems"][0]["field"] == "title"
    all_bad = assert_problem(client.post("/v1/records", json={"records": [{"kind": "note"}]}), 422)
    assert all_bad["errors"]
    assert_problem(client.post("/v1/records", json={"records": "nope"}), 422)


def test_list_records_pages_and_filters(client: TestClient) -> None:
    for i in range(7):
        client.post("/v1/records", json=note(f"n/{i:02d}"))
    client.post("/v1/records", json=benchmark("ranker/bench", 30.0))
    first = client.get("/v1/records", params={"limit": 3, "kind": "note"}).json()
    assert [r["key"] for r in first["records"]] == ["n/00", "n/01", "n/02"] and first["next"] == "n/02"
    rest: list[str] = []
    cursor = first["next"]
    while cursor:
        page = client.get("/v1/records", params={"limit": 3, "kind": "note", "after": cursor}).json()
        rest += [r["key"] for r in page["records"]]
        cursor = page["next"]
    assert rest == [f"n/{i:02d}" for i in range(3, 7)]
    ranker = client.get("/v1/records", params={"model": "ranker"}).json()["records"]
    assert [r["key"] for r in ranker] == ["ranker/bench"]
    assert_problem(client.get("/v1/records", params={"kind": "nonsense"}), 422)
    assert_problem(client.get("/v1/records", params={"limit": 0}), 422)


def test_versions_are_paginated(client: TestClient) -> None:
    for i in range(5):
        client.post("/v1/records", json=note("p", f"v{i}"))
    page = client.get("/v1/records/p/versions", params={"limit": 2, "offset": 2}).json()
    assert page["total"] == 5 and [v["version"] for v in page["versions"]] == [3, 4]


def test_not_found_and_unknown_routes(client: TestClient) -> None:
    assert assert_problem(client.get("/v1/records/missing/key"), 404)["error"] == "NotFound"
    assert_problem(client.get("/v1/records/missing/versions"), 404)
    assert_problem(client.get("/v1/records/missing/diff", params={"from": 1, "to": 2}), 404)
    assert_problem(client.post("/v1/records/missing/revert", json={"version": 1}), 404)
    assert_problem(client.delete("/v1/records/missing"), 404)
    assert_problem(client.get("/v1/nothing-here"), 404)
    assert_problem(client.patch("/v1/records/x", json={}), 405)


def test_body_limit_gives_413(tmp_path: object) -> None:
    with TestClient(create_app(Settings(api_body_limit_bytes=1000))) as c:
        big = note("big", body="x" * 5000)
        body = assert_problem(c.post("/v1/records", json=big), 413)
        assert body["limit_bytes"] == 1000

        def chunks():  # no Content-Length: the limit is enforced while streaming
            yield json.dumps(big).encode()

        streamed = c.post("/v1/records", content=chunks(), headers={"Content-Type": "application/json"})
        assert_problem(streamed, 413)
        assert c.post("/v1/records", json=note("small")).status_code == 201


def test_author_is_the_key_name(client: TestClient, keys: dict[str, str]) -> None:
    response = client.post("/v1/records", json=note("authored"), headers={"Authorization": f"Bearer {keys['write']}"})
    assert response.status_code == 201
    history = client.get("/v1/records/authored/versions", headers={"Authorization": f"Bearer {keys['read']}"})
    assert history.json()["versions"][0]["author"] == "api:write-user"


@pytest.mark.parametrize("message", ["because", ""])
def test_message_is_kept(client: TestClient, message: str) -> None:
    client.post("/v1/records", json=note("m"), params={"message": message} if message else None)
    assert client.get("/v1/records/m").json()["message"] == message


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=1, max_value=999_999_999), st.sampled_from(['"{}"', 'W/"{}"', "{}", ' "{}" ']))
def test_if_match_parses_every_etag_form(version: int, form: str) -> None:
    from elephant.api.routes.records import etag, expected_version

    header = form.format(version)
    assert expected_version(None, "k", header) == version  # type: ignore[arg-type]
    assert expected_version(None, "k", etag(version)) == version  # type: ignore[arg-type]


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=30).filter(lambda t: t.strip() != "*"))
def test_if_match_garbage_is_a_usage_error_not_a_crash(header: str) -> None:
    from elephant.api.routes.records import expected_version
    from elephant.errors import UsageError

    try:
        value = expected_version(None, "k", header)  # type: ignore[arg-type]
    except UsageError:
        return
    assert isinstance(value, int) and value >= 0


def test_writes_warn_about_links_to_missing_keys_and_name_raised_regressions(client: TestClient) -> None:
    dangling = {**note("team/linked", "points elsewhere"), "links": [{"rel": "about", "key": "team/nowhere"}]}
    single = client.post("/v1/records", json=dangling)
    assert single.status_code == 201  # accepted: the other record may come later
    assert single.json()["warnings"] == [{"key": "team/linked", "field": "links[0]",
                                          "link": {"rel": "about", "key": "team/nowhere"},
                                          "message": single.json()["warnings"][0]["message"]}]
    assert "team/nowhere" in single.json()["warnings"][0]["message"]
    put = client.put("/v1/records/team/linked", json={**dangling, "title": "still elsewhere"})
    assert put.status_code == 200 and put.json()["warnings"][0]["link"]["key"] == "team/nowhere"
    client.post("/v1/records", json=note("team/nowhere", "here now"))
    assert client.post("/v1/records", json={**dangling, "title": "found"}).json()["warnings"] == []

    def bench(key: str, day: str, p99: float) -> dict:
        return {"kind": "benchmark", "key": key, "title": f"run {day}", "model": "svc", "occurred_at": day,
                "fields": {"hardware": "h1", "scenario": "server", "latency_ms": {"p99": p99}, "throughput_qps": 100}}

    batch = client.post("/v1/records", json={"records": [bench("svc/b1", "2026-01-01", 43),
                                                          bench("svc/b2", "2026-01-08", 50)]})
    assert batch.status_code == 200
    raised = batch.json()["regressions"]
    assert [(r["benchmark"], r["baseline"]) for r in raised] == [("svc/b2@1", "svc/b1@1")]
    assert raised[0]["finding"] == "regression/svc/b2@1" and raised[0]["figures"] == ["p99 43 → 50 ms (+16 %)"]
    assert raised[0]["message"] == "p99 43 → 50 ms (+16 %) vs svc/b1@1"
