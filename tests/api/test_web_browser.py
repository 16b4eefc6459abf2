"""The web pages in a real browser: Playwright for Python driving Debian's Chromium against `elephant serve`.

Each test opens pages as a person would and asserts what they would see; every page is also photographed
at 1280 and 390 px wide (screenshots under the pytest temp dir, printed at the end of the module) and
checked for sideways scrolling at 390 px. Nothing downloads a browser: Chromium comes from Debian
(`apt-get install chromium`, which `.ci/run` does). Without it the tests skip, except under CI, where
they fail.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.webdata import INT8, RANKER_SERIES, RANKER_SERIES_POINTS, REGRESSION, RUNBOOK, load_demo

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = os.environ.get("ELEPHANT_TEST_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
ROLLED_BACK = "rgb(207, 34, 46)"  # --rolled_back in app.css
REPO = Path(__file__).resolve().parents[2]


def _missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (make setup)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    reason = _missing()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests must run in CI: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(home: Path, log: Path) -> Iterator[str]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELEPHANT_") or k.startswith("ELEPHANT_TEST_")}
    env.update(ELEPHANT_HOME=str(home), ELEPHANT_MODEL="fake", ANONYMIZED_TELEMETRY="False")
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "elephant.cli.main", "serve", "--host", "127.0.0.1",
                                 "--port", str(port), "--workers", "1", "--log-level", "warning"],
                                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"elephant serve did not become ready:\n{log.read_text()[-3000:]}")
                time.sleep(0.1)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


def _home(tmp: Path, *, keys: bool) -> dict[str, str]:
    import elephant

    made: dict[str, str] = {}
    with elephant.open(tmp / "home", model="fake") as db:
        load_demo(db)
        if keys:
            from elephant.storage.apikeys import ApiKeys

            api_keys = ApiKeys(db.store)
            made = {scope: api_keys.create(scope=scope, name=f"{scope}-user").key for scope in ("read", "write")}
    return made


@pytest.fixture(scope="module")
def open_server(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`elephant serve` on the demo history, no API keys (as `make demo` runs it)."""
    tmp = tmp_path_factory.mktemp("web-open")
    _home(tmp, keys=False)
    yield from _serve(tmp / "home", tmp / "serve.log")


@pytest.fixture(scope="module")
def locked_server(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """`elephant serve` on the demo history with a read and a write key."""
    tmp = tmp_path_factory.mktemp("web-locked")
    made = _home(tmp, keys=True)
    for base in _serve(tmp / "home", tmp / "serve.log"):
        yield base, made


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("screenshots")
    yield folder
    print(f"\nscreenshots: {folder}")


class Visit:
    """A browser page that remembers every request, fails on console errors, and photographs itself."""

    def __init__(self, browser: Any, base: str, shots: Path, width: int = 1280) -> None:
        self.base = base
        self.shots = shots
        self.context = browser.new_context(viewport={"width": width, "height": 900}, base_url=base)
        self.page = self.context.new_page()
        self.page.set_default_timeout(15_000)
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def go(self, path: str) -> Any:
        response = self.page.goto(path)
        assert response is not None
        return response

    def shot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 1000
        return path

    def check(self) -> None:
        foreign = [u for u in self.requests if not u.startswith((self.base, "data:", "blob:"))]
        assert not foreign, f"requests to other origins: {foreign}"
        # Source maps are only fetched by developer tools; anything else logged as an error is a bug.
        assert not [e for e in self.errors if ".map" not in e], self.errors

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def visit(browser: Any, open_server: str, shots: Path) -> Iterator[Visit]:
    v = Visit(browser, open_server, shots)
    yield v
    v.close()


# ---------------------------------------------------------------- what a person sees
def test_timeline_shows_the_rolled_back_int8_attempt(visit: Visit) -> None:
    page = visit.page
    visit.go("/")
    page.click("article[data-model='ranker'] h3 a")
    assert page.url.endswith("/models/ranker")
    item = page.locator(f"li.event[data-key='{INT8}']")
    assert item.locator("time").inner_text() == "2026-03-12"
    assert item.evaluate("e => getComputedStyle(e).borderLeftColor") == ROLLED_BACK
    assert "rolled back" in item.inner_text()
    dot = page.locator(f".axis a.dot[data-key='{INT8}']")
    assert dot.evaluate("e => getComputedStyle(e).backgroundColor") == ROLLED_BACK
    assert dot.get_attribute("data-date") == "2026-03-12"
    visit.shot("timeline-1280")
    item.locator("a.title").click()
    assert page.locator("h1").inner_text() == "INT8 dynamic quantization of ranker v3"
    assert "/records/ranker/int8-dynamic-2026-03" in page.url
    visit.check()


def test_the_chart_has_one_point_per_benchmark_and_a_regression_marker(visit: Visit) -> None:
    page = visit.page
    visit.go("/models/ranker/benchmarks")
    section = page.locator("section.series", has=page.get_by_role("heading", name=RANKER_SERIES, exact=True))
    chart = section.locator("div.chart")
    chart.locator("canvas").first.wait_for()
    assert chart.get_attribute("data-rendered") == str(RANKER_SERIES_POINTS)
    assert chart.get_attribute("data-rendered-regressions") == "1"
    assert section.locator("tr.regression-row").count() == 1
    assert "regression" in section.locator(".u-legend").inner_text()
    visit.shot("chart-1280")
    # A click on the regressed point (the third, 2026-04-14) opens its record.
    x, y = chart.evaluate("""el => { const u = el._uplot; const i = 2;
        const r = u.over.getBoundingClientRect();
        return [r.left + u.valToPos(u.data[0][i], 'x'), r.top + u.valToPos(u.data[3][i], 'ms')]; }""")
    page.mouse.move(x, y)
    page.mouse.click(x, y)
    page.wait_for_url("**/records/ranker/bench-2026-04-14?version=1")
    assert "after the feature-store client upgrade" in page.locator("h1").inner_text()
    visit.check()


def test_the_diff_page_shows_the_changed_field(visit: Visit) -> None:
    page = visit.page
    visit.go(f"/records/{RUNBOOK}")
    visit.shot("record-1280")
    page.check("input[name='from'][value='1']")
    page.check("input[name='to'][value='2']")
    page.get_by_role("button", name="Compare selected versions").click()
    page.wait_for_url(re.compile(r".*/diff/ranker/runbook/rollback\?.*"))
    assert sorted(page.url.split("?", 1)[1].split("&")) == ["from=1", "to=2"]
    row = page.locator("tr[data-path='fields.last_tested_at']")
    assert "changed" in row.inner_text()
    assert row.locator("td.before").inner_text() == "2026-01-21"
    assert row.locator("td.after").inner_text() == "2026-02-09"
    assert page.locator("tr[data-path='fields.trigger']").count() == 0  # unchanged fields are not listed
    visit.shot("diff-1280")
    visit.check()


def test_an_ask_citation_opens_the_record(visit: Visit) -> None:
    page = visit.page
    visit.go("/")
    page.fill("form.askform input[name='q']", "did we try INT8 on the ranker? what happened?")
    page.press("form.askform input[name='q']", "Enter")
    page.wait_for_url("**/ask?q=*")
    answer = page.get_by_test_id("answer")
    assert "rolled back" in answer.inner_text()
    visit.shot("ask-1280")
    answer.locator(f"a.cite[href='/records/{INT8}?version=1']").first.click()
    page.wait_for_url(f"**/records/{INT8}?version=1")
    assert page.locator("h1").inner_text() == "INT8 dynamic quantization of ranker v3"
    visit.check()


def test_search_from_the_home_page(visit: Visit) -> None:
    page = visit.page
    visit.go("/")
    page.fill("form.searchform input[name='q']", "tokenizer incident")
    page.select_option("form.searchform select[name='kind']", "incident")
    page.click("form.searchform button")
    page.wait_for_url("**/search?*")
    assert page.locator("li.result").count() >= 1
    assert all(t == "incident" for t in page.locator("li.result .kind").all_inner_texts())
    visit.shot("search-1280")
    visit.check()


def test_api_docs_work_offline(visit: Visit) -> None:
    page = visit.page
    visit.go("/docs")
    page.locator(".swagger-ui .information-container .title").filter(has_text="Elephant").wait_for()
    assert page.locator(".opblock-summary-path", has_text="/v1/search").count() >= 1
    visit.shot("docs-1280")
    visit.go("/redoc")
    page.locator("#redoc h1", has_text="Elephant").wait_for()
    visit.shot("redoc-1280")
    visit.check()


PAGES_390 = {"home": "/", "timeline": "/models/ranker", "chart": "/models/ranker/benchmarks",
             "record": f"/records/{INT8}", "diff": f"/diff/{RUNBOOK}?from=1&to=2",
             "search": "/search?q=int8+ranker", "ask": "/ask?q=what+did+we+try+on+the+ranker%3F",
             "regressions": "/regressions?status=all", "signin": "/signin"}


def test_every_page_is_readable_at_390_px(browser: Any, open_server: str, shots: Path) -> None:
    narrow = Visit(browser, open_server, shots, width=390)
    wide = Visit(browser, open_server, shots, width=1280)
    try:
        for name, path in PAGES_390.items():
            for v, width in ((narrow, 390), (wide, 1280)):
                assert v.go(path).status == 200, path
                v.page.wait_for_load_state("load")
                overflow = v.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                assert overflow <= 1, f"{path} scrolls sideways by {overflow} px at {width} px"
                v.shot(f"{name}-{width}")
        narrow.check()
        wide.check()
    finally:
        narrow.close()
        wide.close()


# ---------------------------------------------------------------- sign-in and writes
def _sign_in(v: Visit, key: str) -> None:
    v.go("/regressions")
    assert "/signin" in v.page.url
    v.page.fill("input[name='key']", key)
    v.page.click("form button[type='submit']")


def test_a_bad_key_is_refused(browser: Any, locked_server: tuple[str, dict[str, str]], shots: Path) -> None:
    base, _keys = locked_server
    v = Visit(browser, base, shots)
    try:
        _sign_in(v, "elk_000000000000_not-a-real-secret")
        assert "That key was not accepted" in v.page.get_by_test_id("signin-error").inner_text()
        assert "/signin" in v.page.url
        v.shot("signin-refused-1280")
        assert v.go("/").url.startswith(base + "/signin")
    finally:
        v.close()


def test_a_read_key_sees_no_write_controls(browser: Any, locked_server: tuple[str, dict[str, str]], shots: Path) -> None:
    base, keys = locked_server
    v = Visit(browser, base, shots)
    try:
        _sign_in(v, keys["read"])
        v.page.wait_for_url("**/regressions")
        assert v.page.get_by_test_id("viewer").inner_text() == "read-user (read)"
        assert v.page.locator(f"li.finding[data-key='{REGRESSION}']").count() == 1
        assert v.page.get_by_test_id("resolve-form").count() == 0
        assert v.page.get_by_role("button", name="Resolve").count() == 0
        cookie = next(c for c in v.context.cookies() if c["name"] == "elephant_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert v.page.evaluate("document.cookie").find("elephant_session") == -1
        v.shot("regressions-read-1280")
        v.check()
    finally:
        v.close()


def test_writes_need_a_write_key_and_the_csrf_token(browser: Any, locked_server: tuple[str, dict[str, str]],
                                                   shots: Path) -> None:
    base, keys = locked_server
    v = Visit(browser, base, shots)
    try:
        _sign_in(v, keys["write"])
        v.page.wait_for_url("**/regressions")
        form = v.page.locator(f"li.finding[data-key='{REGRESSION}'] form.resolve")
        assert form.count() == 1
        # A write without the form's token (what a forged request would be) is refused.
        status = v.page.evaluate("""key => fetch('/regressions/resolve', {method: 'POST',
            headers: {'content-type': 'application/x-www-form-urlencoded'},
            body: 'key=' + encodeURIComponent(key)}).then(r => r.status)""", REGRESSION)
        assert status == 403
        v.errors.clear()  # the browser logs that refusal as a failed load: it is the point here
        assert v.page.locator(f"li.finding[data-key='{REGRESSION}'] .pill").first.inner_text() == "open"
        v.shot("regressions-write-1280")
        form.locator("input[name='note']").fill("pooled the feature-store connections")
        form.get_by_role("button", name="Resolve").click()
        v.page.wait_for_load_state("load")
        assert v.page.locator(f"li.finding[data-key='{REGRESSION}']").count() == 0
        v.go("/regressions?status=resolved")
        assert "pooled the feature-store connections" in v.page.locator(f"li.finding[data-key='{REGRESSION}']").inner_text()
        v.check()
    finally:
        v.close()

