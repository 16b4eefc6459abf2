"""`elephant ingest --mlflow` against a real `mlflow server` (SQLite backend, local artifacts) on a loopback port.

No mocks: runs, tags and aliases are made with MLflow's own client, as a team's jobs would. Skipped, with the
reason, only where the `mlflow` extra is not installed (CI installs it through `make setup`).
"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

pytest.importorskip("mlflow", reason="the mlflow extra is not installed (pip install -e '.[mlflow]')")

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

import elephant
from elephant.cli.main import app
from elephant.errors import NotFound
from elephant.ingest.mlflow_sync import import_mlflow

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::FutureWarning"),
              pytest.mark.filterwarnings("ignore::UserWarning")]

DAY_MS = 86_400_000
SEPT_1_2025_MS = 1_756_684_800_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def mlflow_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real tracking server for this module; stopped (by its pid) at the end."""
    base = tmp_path_factory.mktemp("mlflow")
    port = _free_port()
    log = (base / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{base / 'mlflow.db'}",
         "--default-artifact-root", str(base / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1"],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "MLFLOW_ENABLE_TELEMETRY": "false"})
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{uri}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("mlflow server did not start:\n" + (base / "server.log").read_text()[-3000:])
            time.sleep(0.5)
        yield uri
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _run(client: MlflowClient, experiment_id: str, name: str, *, day: int, metrics: dict[str, float],
         params: dict[str, str] | None = None, tags: dict[str, str] | None = None) -> str:
    start = SEPT_1_2025_MS + day * DAY_MS
    run = client.create_run(experiment_id, run_name=name, start_time=start)
    rid = run.info.run_id
    client.log_batch(rid, metrics=[Metric(k, v, start, 0) for k, v in metrics.items()],
                     params=[Param(k, v) for k, v in (params or {}).items()],
                     tags=[RunTag(k, v) for k, v in (tags or {}).items()])
    client.set_terminated(rid, end_time=start + 60_000)
    return rid


def _db() -> Any:
    return elephant.open()


def test_runs_become_benchmarks_and_optimizations_idempotently(mlflow_uri: str) -> None:
    client = MlflowClient(mlflow_uri)
    name = f"ranker-{uuid.uuid4().hex[:6]}"
    eid = client.create_experiment(name)
    base = _run(client, eid, "fp32 baseline", day=0,
                metrics={"p99_latency_ms": 45.0, "latency_ms_p50": 20.0, "qps": 120.0, "accuracy": 0.912},
                params={"hardware": "a10g", "batch_size": "8", "lr": "0.01"}, tags={"team": "search"})
    opt = _run(client, eid, "int8 dynamic", day=2,
               metrics={"latency_p99_ms": 18.0, "throughput": 300.0, "accuracy": 0.905},
               params={"hardware": "a10g"},
               tags={"elephant.kind": "optimization", "elephant.technique": "quantization_int8",
                     "elephant.baseline_run": base, "elephant.outcome": "adopted",
                     "elephant.reason": "p99 within budget, accuracy -0.7 pt"})
    training = _run(client, eid, "train", day=1, metrics={"loss": 0.3})
    empty = _run(client, eid, "empty benchmark", day=3, metrics={"loss": 1.0}, tags={"elephant.kind": "benchmark"})
    nan = _run(client, eid, "nan p99", day=4, metrics={"p99_latency_ms": math.nan, "qps": 10.0})
    bad_param = _run(client, eid, "bad batch", day=5, metrics={"p99_latency_ms": 30.0},
                     params={"batch_size": "eight"})

    with _db() as db:
        report = import_mlflow(db, mlflow_uri, experiments=[name])
        assert not report.ok
        failed = {p.path: p.reason for p in report.failed}
        assert set(failed) == {f"runs:/{empty}", f"runs:/{nan}", f"runs:/{bad_param}"}
        assert "no latency or throughput metric" in failed[f"runs:/{empty}"]
        assert "p99_latency_ms" in failed[f"runs:/{nan}"] and "finite" in failed[f"runs:/{nan}"]
        assert "batch_size" in failed[f"runs:/{bad_param}"] and "eight" in failed[f"runs:/{bad_param}"]
        assert {p.path for p in report.skipped} == {f"runs:/{training}"}
        assert {(c["key"], c["version"], c["kind"]) for c in report.changes} == {
            (f"mlflow/runs/{base}", 1, "benchmark"), (f"mlflow/runs/{opt}", 1, "optimization")}
        for rid in (empty, nan, bad_param, training):  # reported, never half-written
            with pytest.raises(NotFound):
                db.get(f"mlflow/runs/{rid}")

        bench = db.get(f"mlflow/runs/{base}").envelope
        assert bench["model"] == name and bench["occurred_at"] == "2025-09-01T00:00:00Z"
        assert bench["source"] == {"path": f"runs:/{base}", "root": mlflow_uri}
        f = bench["fields"]
        assert f["latency_ms"] == {"p50": 20.0, "p99": 45.0} and f["throughput_qps"] == 120.0
        assert f["accuracy"] == {"accuracy": 0.912} and f["hardware"] == "a10g" and f["batch_size"] == 8
        assert f["params"]["lr"] == "0.01" and f["run_tags"] == {"team": "search"}

        optimization = db.get(f"mlflow/runs/{opt}").envelope
        assert optimization["kind"] == "optimization" and optimization["model"] == name
        of = optimization["fields"]
        assert of["technique"] == "quantization_int8" and of["outcome"] == "adopted"
        assert of["baseline"] == {"latency_ms_p50": 20.0, "latency_ms_p99": 45.0, "throughput_qps": 120.0,
                                  "accuracy": 0.912}
        assert of["result"] == {"latency_ms_p99": 18.0, "throughput_qps": 300.0, "accuracy": 0.905}
        assert optimization["links"] == [{"rel": "baseline", "key": f"mlflow/runs/{base}"}]

        again = import_mlflow(db, mlflow_uri, experiments=[name])
        assert again.created == again.updated == 0 and again.changes == []
        full = import_mlflow(db, mlflow_uri, experiments=[name], full=True)
        assert full.created == full.updated == 0 and full.runs_listed == 6

        # A corrected metric on the baseline: the run becomes version 2, and so does the optimization it anchors.
        client.log_metric(base, "p99_latency_ms", 47.0)
        client.set_terminated(base)
        changed = import_mlflow(db, mlflow_uri, experiments=[name])
        assert {(c["key"], c["version"]) for c in changed.changes} == {
            (f"mlflow/runs/{base}", 2), (f"mlflow/runs/{opt}", 2)}
        assert db.get(f"mlflow/runs/{base}").envelope["fields"]["latency_ms"]["p99"] == 47.0
        assert db.get(f"mlflow/runs/{opt}").envelope["fields"]["baseline"]["latency_ms_p99"] == 47.0
        assert [v.version for v in db.history(f"mlflow/runs/{base}")] == [1, 2]

        answer = db.ask(f"what did we try to make {name} faster?")
        assert f"mlflow/runs/{opt}@2" in answer.citations


def test_alias_moves_become_deployment_history(mlflow_uri: str) -> None:
    client = MlflowClient(mlflow_uri)
    model = f"scorer-{uuid.uuid4().hex[:6]}"
    eid = client.create_experiment(model)
    client.create_registered_model(model)
    runs = [_run(client, eid, f"train v{i}", day=i, metrics={"p99_latency_ms": 30.0 - i}) for i in (1, 2, 3)]
    for rid in runs:
        client.create_model_version(model, f"runs:/{rid}/model", run_id=rid)

    seen: list[str] = []
    with _db() as db:
        for version in ("1", "2", "3", "2"):  # set, moved twice, then rolled back: three moves after the first
            client.set_registered_model_alias(model, "champion", version)
            report = import_mlflow(db, mlflow_uri, experiments=[model])
            assert report.ok, report.failed
            seen += [c["key"] for c in report.changes if c["kind"] == "deployment"]
        prefix = f"mlflow/models/{model}/aliases/champion"
        assert seen == [f"{prefix}/1", f"{prefix}/2", f"{prefix}/3", f"{prefix}/4"]
        moves = [db.get(key).envelope for key in seen]
        assert [(m["fields"]["from_version"], m["fields"]["to_version"]) for m in moves] == [
            (None, "1"), ("1", "2"), ("2", "3"), ("3", "2")]
        assert [m["fields"]["strategy"] for m in moves] == ["full", "full", "full", "rollback"]
        assert all(m["model"] == model and m["kind"] == "deployment" for m in moves)
        assert moves[1]["links"] == [{"rel": "run", "key": f"mlflow/runs/{runs[1]}"}]
        assert [m["occurred_at"] for m in moves] == sorted(m["occurred_at"] for m in moves)

        unchanged = import_mlflow(db, mlflow_uri, experiments=[model])
        assert unchanged.changes == []

        client.transition_model_version_stage(model, "3", "Production")
        staged = import_mlflow(db, mlflow_uri, experiments=[model])
        assert [c["key"] for c in staged.changes] == [f"mlflow/models/{model}/versions/3/stage/1"]
        stage = db.get(f"mlflow/models/{model}/versions/3/stage/1").envelope["fields"]
        assert stage["stage"] == "Production" and stage["to_version"] == "3" and stage["strategy"] == "full"
        assert import_mlflow(db, mlflow_uri, experiments=[model]).changes == []


def test_cli_reports_and_exit_codes(mlflow_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client = MlflowClient(mlflow_uri)
    name = f"cli-{uuid.uuid4().hex[:6]}"
    eid = client.create_experiment(name)
    good = _run(client, eid, "ok", day=7, metrics={"latency_ms_p95": 12.0, "throughput_qps": 800.0})
    runner = CliRunner()
    monkeypatch.setenv("ELEPHANT_MLFLOW_URI", mlflow_uri)
    first = runner.invoke(app, ["ingest", "--experiment", name, "--json"], catch_exceptions=False)
    assert first.exit_code == 0, first.output
    data = json.loads(first.output)
    assert data["ok"] and data["mlflow"]["tracking_uri"] == mlflow_uri
    assert [c["key"] for c in data["changes"] if c["kind"] == "benchmark"] == [f"mlflow/runs/{good}"]

    mapping = tmp_path / "map.yaml"
    mapping.write_text("latency_ms_p95: [serving_p95]\n")
    _run(client, eid, "custom", day=8, metrics={"serving_p95": 9.0})
    human = runner.invoke(app, ["ingest", "--mlflow", mlflow_uri, "--experiment", name, "--metric-map", str(mapping)])
    assert human.exit_code == 0, human.output
    assert "1 created" in human.output

    bad_map = tmp_path / "bad.yaml"
    bad_map.write_text("latency_p999: [x]\n")
    refused = runner.invoke(app, ["ingest", "--mlflow", mlflow_uri, "--metric-map", str(bad_map)])
    assert refused.exit_code == 2 and "latency_p999" in refused.output and "Traceback" not in refused.output

    down = f"http://127.0.0.1:{_free_port()}"
    gone = subprocess.run([sys.executable, "-m", "elephant.cli.main", "ingest", "--mlflow", down, "--json"],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"})
    assert gone.returncode == 1, gone.stderr
    report = json.loads(gone.stdout)
    assert report["failed"][0]["path"] == down and "cannot read the MLflow tracking server" in \
        report["failed"][0]["reason"]
    assert "Traceback" not in gone.stderr
