"""docs/ci.md's recipes, run as written: the CLI one on a fresh home, the curl one against `elephant serve`.

A baseline is posted, then a candidate with a 50 % worse p99: the step must fail and say "regression";
a candidate as fast as the baseline must pass.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "ci.md"
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.skipif(shutil.which("bash") is None or shutil.which("curl") is None,
                                reason="the recipes need bash and curl")


def recipe(name: str) -> str:
    found = re.search(rf"<!-- ci-recipe: {name} -->\n```bash\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert found, f"docs/ci.md has no {name} recipe"
    return found.group(1)


def run(script: str, cwd: Path, env: dict[str, str], **figures: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", script], cwd=cwd, env={**env, **figures}, capture_output=True, text=True,
                          timeout=180)


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELEPHANT_") or k.startswith("ELEPHANT_TEST_")}
    env.update(PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", ELEPHANT_HOME=str(home), ELEPHANT_MODEL="fake",
               HARDWARE="a10g")
    return env


BASELINE = {"COMMIT": "aaa111", "BENCH_AT": "2026-11-01T10:00:00Z", "P50_MS": "12", "P99_MS": "40", "QPS": "850"}
SLOWER = {"COMMIT": "bbb222", "BENCH_AT": "2026-11-02T10:00:00Z", "P50_MS": "13", "P99_MS": "60", "QPS": "840"}
FIXED = {"COMMIT": "ccc333", "BENCH_AT": "2026-11-03T10:00:00Z", "P50_MS": "12", "P99_MS": "39", "QPS": "860"}


def test_cli_recipe_reports_a_regression(tmp_path: Path) -> None:
    env, script = _env(tmp_path / "home"), recipe("cli")
    first = run(script, tmp_path, env, **BASELINE)
    assert first.returncode == 0, first.stderr
    assert "no regression" in first.stdout
    slower = run(script, tmp_path, env, **SLOWER)
    assert slower.returncode == 1, slower.stdout + slower.stderr
    assert "regression against the previous ranker benchmark on a10g" in slower.stderr
    assert "ranker/ci/bbb222" in slower.stderr  # the findings list names the candidate
    finding = json.loads((tmp_path / "regression.json").read_text())
    assert finding["fields"]["metrics"]["latency_ms.p99"]["candidate"] == 60
    again = run(script, tmp_path, env, **SLOWER)  # a retried job: unchanged record, same verdict
    assert again.returncode == 1
    fixed = run(script, tmp_path, env, **FIXED)
    assert fixed.returncode == 0, fixed.stderr
    broken = run(script, tmp_path, env, **{**FIXED, "COMMIT": "ddd444", "P99_MS": "fast"})
    assert broken.returncode != 0 and "Traceback" not in broken.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str, dict[str, str]]]:
    """`elephant serve` on a loopback port with a write key (so auth is on), stopped by its pid afterwards."""
    env = _env(tmp_path / "served-home")
    made = subprocess.run([str(BIN / "elephant"), "keys", "create", "--scope", "write", "--name", "ci", "--json"],
                          env=env, capture_output=True, text=True, timeout=120, check=True)
    key = json.loads(made.stdout)["key"]
    port = _free_port()
    proc = subprocess.Popen([str(BIN / "elephant"), "serve", "--port", str(port), "--log-level", "warning"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "elephant serve did not start"
            time.sleep(0.3)
        yield url, key, env
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        if proc.stderr is not None:
            proc.stderr.close()


def test_rest_recipe_reports_a_regression(served: tuple[str, str, dict[str, str]], tmp_path: Path) -> None:
    url, key, env = served
    env = {**env, "ELEPHANT_URL": url, "ELEPHANT_KEY": key}
    script = recipe("rest")
    first = run(script, tmp_path, env, **BASELINE)
    assert first.returncode == 0, first.stderr
    assert json.loads((tmp_path / "written.json").read_text())["status"] == "created"
    slower = run(script, tmp_path, env, **SLOWER)
    assert slower.returncode == 1, slower.stdout + slower.stderr
    assert "regression against the previous ranker benchmark on a10g" in slower.stderr
    assert '"key":"regression/ranker/ci/bbb222"' in slower.stderr.replace(" ", "")
    fixed = run(script, tmp_path, env, **FIXED)
    assert fixed.returncode == 0, fixed.stderr
    refused = run(script, tmp_path, {**env, "ELEPHANT_KEY": "wrong"}, **{**FIXED, "COMMIT": "eee555"})
    assert refused.returncode != 0  # curl -f: a bad key fails the step
