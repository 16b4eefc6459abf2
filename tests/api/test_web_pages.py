"""The web pages server-side: every HTML route's status, escaping, sign-in, CSRF and scopes.

What a person sees in a real browser is tested in ``test_web_browser.py``; here each route is requested
as a browser would (``Accept: text/html``) through the ASGI app.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from elephant.api.app import create_app
from elephant.api.web.access import CSRF_COOKIE, SESSION_COOKIE
from elephant.api.web.fields import field_rows, unit_of
from elephant.api.web.paths import is_browser_path
from elephant.errors import AuthError
from elephant.settings import Settings
from elephant.storage.apikeys import ApiKeys, open_session, verify_session
from tests.api.apihelpers import assert_problem, bearer, benchmark
from tests.api.webdata import (
    DEMO_FILES,
    INT8,
    RANKER_SERIES,
    RANKER_SERIES_POINTS,
    REGRESSION,
    RUNBOOK,
    load_demo,
)

HTML = {"accept": "text/html,application/xhtml+xml"}
STATIC = Path(__file__).resolve().parents[2] / "api" / "web"


def _db(client: TestClient) -> Any:
    return client.app.state.ctx.db  # type: ignore[attr-defined]


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def demo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """A client on a home holding the demo history, once per backend for the module (pages only read)."""
    url = None
    if request.param == "postgres":
        import psycopg

        base = request.getfixturevalue("pg_database")
        schema = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        url = f"{base.replace('postgresql://', 'postgresql+psycopg://', 1)}?options=-csearch_path%3D{schema}"
    settings = Settings(home=tmp_path_factory.mktemp("web-demo"), model="fake", database_url=url, chroma_url=None)
    with TestClient(create_app(settings)) as c:
        load_demo(_db(c))
        yield c


@pytest.fixture(scope="module")
def sqlite_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(home=tmp_path_factory.mktemp("web-demo"), model="fake", database_url=None, chroma_url=None)
    with TestClient(create_app(settings)) as c:
        load_demo(_db(c))
        yield c


PAGES = [
    "/", "/?page=1", "/models/ranker", "/models/ranker?kind=optimization&kind=deployment&since=2026-01-01&until=2026-12-31",
    "/models/ranker?page=2", "/models/ranker/benchmarks", "/models/churn-model/benchmarks",
    f"/records/{INT8}", f"/records/{INT8}?version=1", f"/records/{RUNBOOK}?as_of=2100-01-01T00:00:00",
    f"/diff/{RUNBOOK}?from=1&to=2", f"/diff/{RUNBOOK}", "/search", "/search?q=int8+ranker",
    "/search?q=p99&kind=benchmark&model=ranker&since=2025-01-01&until=2026-12-31",
    "/search?kind=optimization&model=ranker&tag=quantization", "/search?q=int8&page=2",
    "/ask", "/ask?q=did+we+try+INT8+on+the+ranker%3F+what+happened%3F", "/regressions", "/regressions?status=all",
    "/regressions?status=resolved&model=ranker", "/signin", "/docs", "/redoc",
]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_answers_html_on_both_backends(demo: TestClient, path: str) -> None:
    response = demo.get(path, headers=HTML)
    assert response.status_code == 200, response.text[:2000]
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert "<html" in response.text and "Traceback" not in response.text


@pytest.mark.parametrize(("path", "status", "words"), [
    ("/records/no/such/key", 404, "no record with key"),
    ("/models/no-such-model", 404, "no records for model"),
    ("/models/no-such-model/benchmarks", 404, "no records for model"),
    (f"/records/{INT8}?version=99", 404, "has no version 99"),
    (f"/records/{INT8}?version=abc", 400, "version must be a version number"),
    (f"/records/{INT8}?version=1&as_of=2026-01-01", 400, "either a version or an as-of"),
    (f"/records/{INT8}?as_of=yesterday", 400, "as_of must be a date"),
    (f"/records/{INT8}?as_of=2000-01-01", 404, "did not exist yet"),
    (f"/diff/{RUNBOOK}?from=1&to=7", 404, "has no version 7"),
    ("/models/ranker?since=March", 400, "since must be a date"),
    ("/models/ranker?kind=bogus", 400, "unknown kind"),
    ("/search?page=0", 400, "page must be"),
    ("/regressions?status=closed", 400, "status must be open, resolved or all"),
])
def test_errors_are_pages_with_the_reason(sqlite_demo: TestClient, path: str, status: int, words: str) -> None:
    response = sqlite_demo.get(path, headers=HTML)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert words in response.text


def test_static_assets_and_vendored_licences_are_served(client: TestClient) -> None:
    for path in ("/static/app.css", "/static/charts.js", "/static/vendor/uplot/uPlot.iife.min.js",
                 "/static/vendor/swagger-ui/swagger-ui-bundle.js", "/static/vendor/redoc/redoc.standalone.js"):
        assert client.get(path).status_code == 200, path
    for folder in ("uplot", "swagger-ui", "redoc"):
        assert (STATIC / "static" / "vendor" / folder / "LICENSE").read_text().strip()
    assert client.get("/static/../app.py").status_code == 404


def test_pages_load_nothing_from_another_origin(sqlite_demo: TestClient) -> None:
    """No CDN: every script, stylesheet and image a page names is served from this server."""
    for path in ("/", "/models/ranker", "/models/ranker/benchmarks", f"/records/{INT8}", "/docs", "/redoc",
                 "/ask?q=int8+ranker", "/signin"):
        text = sqlite_demo.get(path, headers=HTML).text
        for url in re.findall(r'(?:src|href)="([^"]+)"', text):
            assert url.startswith(("/", "#", "?")), (path, url)
            if url.startswith("/static/"):
                assert sqlite_demo.get(url).status_code == 200, url
    own = [p for p in (STATIC / "templates").glob("*.html")] + [p for p in (STATIC / "static").glob("*.*")]
    for path in own:
        assert not re.search(r"(src|href)=[\"']https?://", path.read_text()), path


def test_the_openapi_schema_holds_no_page(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert all(p.startswith(("/v1/", "/healthz", "/readyz", "/metrics")) for p in paths), sorted(paths)
    assert all(is_browser_path(p) for p in ("/", "/models/x", "/records/a/b", "/docs", "/static/app.css"))
    assert not any(is_browser_path(p) for p in ("/v1/records", "/healthz", "/readyz", "/metrics", "/mcp"))


# ---------------------------------------------------------------- what the pages show
def test_home_lists_models_with_latest_figures(sqlite_demo: TestClient) -> None:
    text = sqlite_demo.get("/", headers=HTML).text
    assert 'data-model="ranker"' in text and 'data-model="fraud-detector"' in text
    assert "55.2 ms" not in text  # the latest ranker benchmark is 2026-05-05, p99 43.9
    assert "<strong>43.9 ms</strong> · 418 qps" in text
    assert "1 regression</a>" in text and "1 feature not verified" in text
    assert "2026-03-14: canary at 10 %, rolled back" in text  # the ranker's last deployment


def test_timeline_colours_the_rolled_back_int8_attempt(sqlite_demo: TestClient) -> None:
    text = sqlite_demo.get("/models/ranker", headers=HTML).text
    item = re.search(rf'<li class="event outcome-(\w+)" data-key="{re.escape(INT8)}"[^>]*>\s*<time datetime="([^"]+)"',
                     text)
    assert item is not None and item.groups() == ("rolled_back", "2026-03-12")
    assert f'data-key="{INT8}" data-date="2026-03-12" data-outcome="rolled_back"' in text
    adopted = sqlite_demo.get("/models/ranker?kind=optimization", headers=HTML).text
    assert 'data-outcome="adopted"' in adopted and 'data-outcome="rejected"' in adopted
    assert 'kind-deployment' not in adopted
    early = sqlite_demo.get("/models/ranker?until=2025-12-31", headers=HTML).text
    assert INT8 not in early and "ranker/opt/int8-dynamic-2025-03" in early


def test_benchmark_chart_data_has_one_point_per_benchmark_and_the_regression(sqlite_demo: TestClient) -> None:
    text = sqlite_demo.get("/models/ranker/benchmarks", headers=HTML).text
    charts = json.loads(re.search(r'<script type="application/json" id="chart-data">(.*?)</script>', text, re.S)[1])
    series = next(c for c in charts if c["label"] == RANKER_SERIES)
    assert len(series["x"]) == len(series["p99"]) == len(series["urls"]) == RANKER_SERIES_POINTS
    assert series["p99"] == [45.0, 46.0, 55.2, 43.9]
    assert series["regressions"] == [False, False, True, False]
    assert series["urls"][2] == "/records/ranker/bench-2026-04-14?version=1"
    assert f'data-points="{RANKER_SERIES_POINTS}"' in text and 'data-regressions="1"' in text
    assert f'href="/records/{REGRESSION}"' in text


def test_record_page_shows_fields_with_units_body_links_and_versions(sqlite_demo: TestClient) -> None:
    text = sqlite_demo.get("/records/ranker/bench-2026-04-14", headers=HTML).text
    row = re.search(r'data-field="latency_ms.p99">\s*<th[^>]*>latency_ms.p99</th>\s*<td class="num">([^<]+)</td>\s*'
                    r'<td class="muted">([^<]*)</td>', text)
    assert row is not None and row.groups() == ("55.2", "ms")
    assert "<p>p99 went up after the feature-store client" in text
    assert 'href="/records/ranker/bench-2026-03-24"' in text  # a link as a link
    runbook = sqlite_demo.get(f"/records/{RUNBOOK}", headers=HTML).text
    assert 'href="/records/ranker/runbook/rollback?version=1"' in runbook and "version 1 of 2" not in runbook
    old = sqlite_demo.get(f"/records/{RUNBOOK}?version=1", headers=HTML).text
    assert "version 1 of 2" in old and "How to roll back the ranker</h1>" in old


def test_as_of_shows_what_was_known_then(sqlite_demo: TestClient) -> None:
    db = _db(sqlite_demo)
    first = db.history(RUNBOOK)[0].recorded_at
    text = sqlite_demo.get(f"/records/{RUNBOOK}", params={"as_of": first}, headers=HTML).text
    assert "Elephant knew version 1" in text


def test_diff_page_shows_the_changed_fields(sqlite_demo: TestClient) -> None:
    text = sqlite_demo.get(f"/diff/{RUNBOOK}?from=1&to=2", headers=HTML).text
    assert '<tr class="change-changed" data-path="title">' in text
    assert '<tr class="change-changed" data-path="fields.last_tested_at">' in text
    assert 'data-path="fields.trigger"' not in text
    assert "v1 → v2" in text


def test_ask_page_links_each_citation_to_its_version(sqlite_demo: TestClient) -> None:
    text = sqlite_demo.get("/ask", params={"q": "did we try INT8 on the ranker? what happened?"}, headers=HTML).text
    assert f'<a class="cite" href="/records/{INT8}?version=1"><code>{INT8}@1</code></a>' in text
    assert f'<a class="cite mono" href="/records/{INT8}?version=1">{INT8}@1</a>' in text


def test_search_and_browse(sqlite_demo: TestClient) -> None:
    found = sqlite_demo.get("/search", params={"q": "INT8 quantization", "model": "ranker"}, headers=HTML).text
    assert f'href="/records/{INT8}?version=1"' in found
    browse = sqlite_demo.get("/search", params={"kind": "benchmark", "model": "ranker"}, headers=HTML).text
    assert browse.count('class="result"') == 6 and "kind-benchmark" in browse and "kind-optimization" not in browse
    tagged = sqlite_demo.get("/search", params={"tag": "weekly"}, headers=HTML).text
    assert tagged.count('class="result"') == 3


def test_lists_paginate(client: TestClient) -> None:
    db = _db(client)
    db.put_many([{"kind": "note", "key": f"many/n{i:03d}", "title": f"note {i}", "model": "many",
                  "occurred_at": f"2026-01-{1 + i % 28:02d}"} for i in range(120)])
    first = client.get("/models/many?kind=note", headers=HTML).text
    assert first.count('class="event ') == 50 and "1–50 of 120" in first and 'rel="next"' in first
    last = client.get("/models/many?kind=note&page=3", headers=HTML).text
    assert last.count('class="event ') == 20 and 'rel="next"' not in last
    browse = client.get("/search?model=many&page=6", headers=HTML).text
    assert browse.count('class="result"') == 20


# ---------------------------------------------------------------- escaping
NASTY = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_markup_in_records_renders_as_text(client: TestClient) -> None:
    db = _db(client)
    db.put({"kind": "optimization", "key": "evil/key-1", "title": NASTY, "model": "evil<script>",
            "tags": [NASTY], "links": [{"rel": "x", "key": "javascript:alert(1)"}],
            "body": f"{NASTY}\n\n[click](javascript:alert(1)) and [ok](https://example.com)",
            "fields": {"technique": "other", "outcome": "rejected", "reason": NASTY, "baseline": {"latency_ms_p99": 3},
                       "result": {"latency_ms_p99": 2}, "note_ms": NASTY}})
    pages = ["/", "/models/evil%3Cscript%3E", "/search?q=alert", "/search?model=evil%3Cscript%3E",
             "/records/evil/key-1", "/ask?q=" + NASTY, "/search?q=" + NASTY]
    for path in pages:
        response = client.get(path, headers=HTML)
        assert response.status_code == 200, (path, response.text[:500])
        assert "<script>alert" not in response.text, path
        assert "<img src=x" not in response.text, path
        assert 'href="javascript:' not in response.text, path
    record = client.get("/records/evil/key-1", headers=HTML).text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in record
    assert 'href="https://example.com"' in record  # a real link stays a link


def test_error_messages_are_escaped(client: TestClient) -> None:
    response = client.get("/records/%3Cscript%3Ealert(1)%3C/script%3E", headers=HTML)
    assert response.status_code == 404
    assert "<script>alert(1)" not in response.text and "&lt;script&gt;alert(1)" in response.text


def test_chart_json_cannot_close_its_script_tag(client: TestClient) -> None:
    db = _db(client)
    db.put(benchmark("x/bench", 10.0, title="</script><script>alert(1)</script>", model="x"))
    text = client.get("/models/x/benchmarks", headers=HTML).text
    assert "</script><script>alert(1)" not in text
    data = re.search(r'id="chart-data">(.*?)</script>', text, re.S)[1]
    assert json.loads(data)[0]["titles"] == ["</script><script>alert(1)</script>"]


# ---------------------------------------------------------------- sign-in, sessions, CSRF, scopes
@pytest.fixture
def locked(client: TestClient) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """The ranker's demo history (with its open regression) and a read and a write key."""
    report = _db(client).put_files([str(p) for p in DEMO_FILES[:2]])
    assert report.ok, report.problems
    api_keys = ApiKeys(_db(client).store)
    made = {scope: api_keys.create(scope=scope, name=f"{scope}-user").key for scope in ("read", "write")}
    yield client, made


def _sign_in(client: TestClient, key: str, next_url: str = "/") -> Any:
    form = client.get("/signin", params={"next": next_url}, headers=HTML)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)[1]
    return client.post("/signin", data={"key": key, "csrf_token": token, "next": next_url}, headers=HTML,
                       follow_redirects=False)


def _csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page)[1]


def test_with_keys_pages_send_visitors_to_sign_in(locked: tuple[TestClient, dict[str, str]]) -> None:
    client, _keys = locked
    for path in ("/", "/models/ranker", f"/records/{INT8}", "/docs", "/redoc", "/ask?q=x"):
        response = client.get(path, headers=HTML, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/signin")
    assert client.get("/models/ranker", headers=HTML, follow_redirects=False).headers["location"] == \
        "/signin?next=/models/ranker"
    assert_problem(client.get("/openapi.json"), 401)  # a script gets the API's answer, not a form
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code in (200, 503) and client.get("/readyz").json()["status"]
    assert client.get("/static/app.css").status_code == 200
    assert client.get("/signin", headers=HTML).status_code == 200


def test_sign_in_sets_a_strict_httponly_session(locked: tuple[TestClient, dict[str, str]]) -> None:
    client, keys = locked
    response = _sign_in(client, keys["read"], "/models/ranker")
    assert response.status_code == 303 and response.headers["location"] == "/models/ranker"
    cookie = next(v for k, v in response.headers.multi_items() if k == "set-cookie" and SESSION_COOKIE in v)
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict") and "Max-Age=43200" in cookie
    assert keys["read"] not in cookie
    page = client.get("/models/ranker", headers=HTML)
    assert page.status_code == 200 and "read-user (read)" in page.text
    assert client.get("/openapi.json").status_code == 200  # Swagger UI's fetch carries the cookie


def test_a_bad_key_is_refused(locked: tuple[TestClient, dict[str, str]]) -> None:
    client, _keys = locked
    response = _sign_in(client, "elk_000000000000_not-a-real-secret")
    assert response.status_code == 401 and "That key was not accepted" in response.text
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")
    assert "not-a-real-secret" not in response.text
    assert client.get("/", headers=HTML, follow_redirects=False).status_code == 303


def test_sign_in_needs_its_form_token(locked: tuple[TestClient, dict[str, str]]) -> None:
    client, keys = locked
    client.cookies.clear()
    response = client.post("/signin", data={"key": keys["read"]}, headers=HTML, follow_redirects=False)
    assert response.status_code == 403 and SESSION_COOKIE not in response.headers.get("set-cookie", "")


def test_sign_in_never_redirects_elsewhere(locked: tuple[TestClient, dict[str, str]]) -> None:
    client, keys = locked
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        assert _sign_in(client, keys["read"], target).headers["location"] == "/"


def test_a_read_key_sees_no_write_controls_and_cannot_write(locked: tuple[TestClient, dict[str, str]]) -> None:
    client, keys = locked
    _sign_in(client, keys["read"])
    page = client.get("/regressions", headers=HTML).text
    assert REGRESSION in page and 'data-testid="resolve-form"' not in page
    response = client.post("/regressions/resolve", data={"key": REGRESSION, "csrf_token": _csrf(page)}, headers=HTML)
    assert response.status_code == 403 and "needs &#39;write&#39;" in response.text
    assert _db(client).get(REGRESSION).envelope["fields"]["status"] == "open"


def test_a_write_key_resolves_with_the_csrf_token_only(locked: tuple[TestClient, dict[str, str]]) -> None:
    client, keys = locked
    _sign_in(client, keys["write"])
    page = client.get("/regressions", headers=HTML).text
    assert 'data-testid="resolve-form"' in page
    refused = client.post("/regressions/resolve", data={"key": REGRESSION, "note": "x"}, headers=HTML)
    assert refused.status_code == 403 and "CSRF" in refused.text
    forged = client.post("/regressions/resolve", data={"key": REGRESSION, "csrf_token": "0" * 64}, headers=HTML)
    assert forged.status_code == 403
    assert _db(client).get(REGRESSION).envelope["fields"]["status"] == "open"
    done = client.post("/regressions/resolve", data={"key": REGRESSION, "note": "pooled connections",
                                                     "csrf_token": _csrf(page)}, headers=HTML, follow_redirects=False)
    assert done.status_code == 303
    resolved = _db(client).get(REGRESSION)
    assert resolved.envelope["fields"]["status"] == "resolved" and resolved.author == "api:write-user"
    assert REGRESSION in client.get("/regressions?status=resolved", headers=HTML).text


def test_bearer_keys_work_on_pages_without_csrf(locked: tuple[TestClient, dict[str, str]]) -> None:
    client, keys = locked
    client.cookies.clear()
    assert client.get("/", headers={**HTML, **bearer(keys["read"])}).status_code == 200
    assert_problem(client.get("/", headers={**HTML, **bearer("elk_000000000000_wrong")}), 401)
    read_write = client.post("/regressions/resolve", data={"key": REGRESSION}, headers=bearer(keys["read"]))
    assert_problem(read_write, 403)  # the middleware's scope check: POST needs write
    ok = client.post("/regressions/resolve", data={"key": REGRESSION}, headers=bearer(keys["write"]),
                     follow_redirects=False)
    assert ok.status_code == 303


def test_sign_out_ends_the_session(locked: tuple[TestClient, dict[str, str]]) -> None:
    client, keys = locked
    _sign_in(client, keys["read"])
    page = client.get("/", headers=HTML).text
    assert client.post("/signout", data={}, headers=HTML).status_code == 403  # CSRF here too
    out = client.post("/signout", data={"csrf_token": _csrf(page)}, headers=HTML, follow_redirects=False)
    assert out.status_code == 303 and f'{SESSION_COOKIE}=""' in out.headers["set-cookie"]
    assert client.get("/", headers=HTML, follow_redirects=False).status_code == 303


def test_tampered_expired_and_revoked_sessions_end(locked: tuple[TestClient, dict[str, str]]) -> None:
    client, keys = locked
    api_keys = ApiKeys(_db(client).store)
    _session, token = open_session(api_keys, keys["read"], expires_at=int(time.time()) + 60)
    prefix, key_id, expires, mac = token.split(".")
    for forged in (f"{prefix}.{key_id}.{int(expires) + 3600}.{mac}", f"{prefix}.{key_id}.{expires}.{'0' * 64}",
                   "garbage", f"{prefix}.000000000000.{expires}.{mac}"):
        client.cookies.set(SESSION_COOKIE, forged)
        assert client.get("/", headers=HTML, follow_redirects=False).status_code == 303, forged
        with pytest.raises(AuthError):
            verify_session(api_keys, forged, now=int(time.time()))
    with pytest.raises(AuthError, match="expired"):
        verify_session(api_keys, token, now=int(expires))
    client.cookies.set(SESSION_COOKIE, token)
    assert client.get("/", headers=HTML).status_code == 200
    api_keys.revoke(key_id)
    assert client.get("/", headers=HTML, follow_redirects=False).status_code == 303


def test_open_server_writes_need_the_csrf_cookie_too(client: TestClient) -> None:
    assert _db(client).put_files([str(p) for p in DEMO_FILES[:2]]).ok
    page = client.get("/regressions", headers=HTML)
    assert CSRF_COOKIE in page.headers["set-cookie"] and "SameSite=strict" in page.headers["set-cookie"].replace(
        "Strict", "strict")
    token = _csrf(page.text)
    assert 'data-testid="resolve-form"' in page.text and "open server" in page.text
    client.cookies.delete(CSRF_COOKIE)
    assert client.post("/regressions/resolve", data={"key": REGRESSION, "csrf_token": token}, headers=HTML).status_code == 403
    again = client.get("/regressions", headers=HTML)
    done = client.post("/regressions/resolve", data={"key": REGRESSION, "csrf_token": _csrf(again.text)},
                       headers=HTML, follow_redirects=False)
    assert done.status_code == 303


# ---------------------------------------------------------------- units
@pytest.mark.parametrize(("path", "unit"), [("latency_ms.p99", "ms"), ("baseline.latency_ms_p99", "ms"),
                                            ("throughput_qps", "qps"), ("batching.max_queue_delay_ms", "ms"),
                                            ("traffic_percent", "%"), ("accuracy.ndcg@10", ""), ("status", ""),
                                            ("metrics.p99_ms", "ms"), ("warmup_s", "s"), ("users", "")])
def test_units_come_from_field_names(path: str, unit: str) -> None:
    assert unit_of(path) == unit


def test_field_rows_keep_lists_text_and_citations() -> None:
    rows = {r.path: r for r in field_rows({"steps": ["a", "b"], "raw": "x\ny\n", "baseline": "k/b@3", "metric": "ndcg@10",
                                           "latency_ms": {"p99": 45}, "valid": True, "extra": {}})}
    assert rows["steps"].style == "list" and rows["raw"].style == "pre" and rows["baseline"].style == "cite"
    assert rows["metric"].style == "text"
    assert rows["latency_ms.p99"].shown == "45" and rows["latency_ms.p99"].unit == "ms"
    assert rows["valid"].shown == "yes" and rows["extra"].style == "empty"


def test_pages_do_not_slow_the_app_import() -> None:
    """jinja2 and markdown-it load with the first page, not with ``create_app`` (serve's cold start)."""
    import subprocess
    import sys

    code = ("import sys; from elephant.api.app import create_app; from elephant.settings import Settings; "
            "create_app(Settings()); print('jinja2' in sys.modules, 'markdown_it' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]

