"""elephant.Client against a live `elephant serve` subprocess on a free loopback port."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import elephant
from elephant.errors import AuthError, Conflict, Forbidden, InvalidRecord, NotFound, UsageError
from tests.api.apihelpers import benchmark, note

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "elephant.cli.main", *args], cwd=REPO, env=dict(os.environ),
                          capture_output=True, text=True, timeout=120)


@contextlib.contextmanager
def running_server(*options: str, key: str | None = None) -> Iterator[tuple[str, Path]]:
    """`elephant serve` on a free port until ready; yields its base URL and its log file."""
    port = free_port()
    log = Path(os.environ["ELEPHANT_HOME"]) / f"serve-{port}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "elephant.cli.main", "serve", "--port", str(port), *options],
                                cwd=REPO, env=dict(os.environ), stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz", headers=headers, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"server not ready: {log.read_text()}"
            time.sleep(0.1)
        yield base, log
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture
def server() -> Iterator[tuple[str, dict[str, str]]]:
    keys = {}
    for scope in ("read", "write"):
        made = cli("keys", "create", "--scope", scope, "--name", f"{scope}-bot", "--json")
        assert made.returncode == 0, made.stderr
        keys[scope] = json.loads(made.stdout)["key"]
    with running_server(key=keys["read"]) as (base, log):
        yield base, keys
    text = log.read_text()
    assert '"event": "request"' in text  # the structured access log reaches the server's output
    for key in keys.values():
        secret = key.split("_", 2)[2]  # elk_<id>_<secret>; the secret itself may contain "_"
        assert secret not in text  # secrets never reach the server's output


def test_client_round_trip_against_a_live_server(server: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    base, keys = server
    with elephant.Client(base, api_key=keys["write"]) as mem:
        assert "elk_" not in repr(mem)
        created = mem.put(note("live/a/b", "first"))
        assert created.status == "created" and created.version == 1
        assert mem.put(note("live/a/b", "first")).status == "unchanged"
        updated = mem.put(note("live/a/b", "second"), expected_version=1)
        assert updated.version == 2
        with pytest.raises(Conflict):
            mem.put(note("live/a/b", "stale"), expected_version=1)
        record = mem.get("live/a/b")
        assert record.envelope["title"] == "second"
        assert record.version == 2 and record.key == "live/a/b"
        assert mem.get("live/a/b", version=1).envelope["title"] == "first"
        assert [v.version for v in mem.history("live/a/b")] == [1, 2]
        assert mem.diff("live/a/b", 1, 2).changes[0].path == "title"
        assert mem.revert("live/a/b", 1).status == "reverted"
        assert mem.delete("live/a/b", expected_version=3).status == "deleted"
        with pytest.raises(NotFound):
            mem.get("live/a/b")
        with pytest.raises(InvalidRecord) as invalid:
            mem.put({"kind": "benchmark", "key": "live/bad", "title": "t", "fields": {"batch_size": "x"}})
        assert invalid.value.problems[0].field == "fields.batch_size"
        with pytest.raises(UsageError):
            mem.get("live/x", as_of="not a time")

        report = mem.put_many([benchmark("live/bench-1", 30.0, occurred_at="2026-04-01"),
                               benchmark("live/bench-2", 66.0, occurred_at="2026-04-02")])
        assert report.ok and report.counts()["created"] == 2
        found = mem.search("ranker bench", model="ranker", k=5)
        assert {"live/bench-1", "live/bench-2"} <= {r.key for r in found.results} and found.degraded is False
        answer = mem.ask("what did we measure on the ranker?")
        assert answer.citations and isinstance(answer.answer, str)
        assert mem.context("ranker", budget=100).tokens <= 100
        assert mem.brief("ranker").models[0].model == "ranker"
        assert mem.regressions(model="ranker")
        (tmp_path / "up").mkdir()
        (tmp_path / "up" / "n.yaml").write_text("kind: note\nkey: live/uploaded\ntitle: via ingest\n")
        ingested = mem.ingest([tmp_path / "up"])
        assert ingested.ok and mem.get("live/uploaded").envelope["title"] == "via ingest"
        assert [r.key for r in mem.list_records(kind="note")] == ["live/uploaded"]
        assert mem.health() and mem.ready().status == "ready"

    with elephant.Client(base, api_key=keys["read"]) as reader:
        assert reader.get("live/uploaded").version == 1
        with pytest.raises(Forbidden):
            reader.put(note("live/nope"))
    with elephant.Client(base) as anonymous, pytest.raises(AuthError):
        anonymous.get("live/uploaded")
    with elephant.Client(base, api_key="elk_000000000000_wrong") as wrong, pytest.raises(AuthError):
        wrong.search("x")


def test_client_reports_an_unreachable_server() -> None:
    from elephant.errors import StoreError

    with elephant.Client(f"http://127.0.0.1:{free_port()}", timeout=2) as mem, pytest.raises(StoreError) as err:
        mem.get("x")
    assert "cannot reach" in str(err.value)


def test_two_workers_serve_one_store_and_metrics_count_both() -> None:
    with running_server("--workers", "2") as (base, _log):
        created = httpx.post(f"{base}/v1/records", json=note("live/shared", "written once"), timeout=10)
        assert created.status_code == 201, created.text
        # Fresh connections, so the kernel spreads them over both workers.
        for _ in range(20):
            response = httpx.get(f"{base}/v1/records/live/shared", timeout=10)
            assert response.status_code == 200 and response.json()["version"] == 1
        metrics = httpx.get(f"{base}/metrics", timeout=10).text
    counted = [float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
               if line.startswith("elephant_http_request_duration_seconds_count")
               and 'route="/v1/records/{key:path}"' in line and 'method="GET"' in line]
    assert sum(counted) == 20  # the figures of both workers, whichever one answered the scrape


def test_spawned_workers_do_not_rerun_the_cli() -> None:
    """uvicorn's workers are spawned: they would re-import the parent's __main__ (the whole CLI)."""
    import multiprocessing.spawn

    from elephant.cli.api_commands import _workers_skip_the_cli

    before = sys.modules["__main__"]
    with _workers_skip_the_cli():
        data = multiprocessing.spawn.get_preparation_data("worker")
        assert "init_main_from_name" not in data and "init_main_from_path" not in data
    assert sys.modules["__main__"] is before
