"""The MLflow metric mapping and tag convention as pure functions (no server, no mlflow package needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from elephant.errors import UsageError
from elephant.ingest.mlflow_records import (
    AliasMove,
    MetricMapping,
    RunData,
    RunProblem,
    alias_record,
    benchmark_record,
    normalise_metric_name,
    optimization_record,
)

URI = "http://127.0.0.1:5000"


def _run(run_id: str = "a" * 32, **changes: object) -> RunData:
    values: dict[str, object] = {"run_id": run_id, "experiment_id": "3", "experiment": "/Users/me/ranker",
                                 "run_name": "nightly", "status": "FINISHED", "start_time_ms": 1_757_505_600_000,
                                 "end_time_ms": None, "metrics": {}, "params": {}, "tags": {}}
    values.update(changes)
    return RunData(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize("logged", ["p99_latency_ms", "latency_p99_ms", "latency/p99", "Latency.P99.ms",
                                    "latency_ms_p99", "p99"])
def test_common_spellings_of_p99(logged: str) -> None:
    assert MetricMapping().pick({logged: 12.5})["latency_ms_p99"] == (logged, 12.5)


def test_normalised_names() -> None:
    assert normalise_metric_name(" Latency/P99-ms ") == "latency_p99_ms"


def test_benchmark_record_from_tags_and_params() -> None:
    run = _run(metrics={"qps": 900.0, "p50_latency_ms": 3.0, "loss": 0.1},
               params={"device": "L4", "concurrency": "16"},
               tags={"elephant.model": "ranker-v3", "elephant.scenario": "server", "elephant.tags": "nightly,l4"})
    record = benchmark_record(run, MetricMapping(), URI)
    assert record.key == f"mlflow/runs/{'a' * 32}" and record.model == "ranker-v3"
    assert record.occurred_at == "2025-09-10T12:00:00Z" and record.tags == ["mlflow", "nightly", "l4"]
    assert record.fields["hardware"] == "L4" and record.fields["scenario"] == "server"
    assert record.fields["concurrency"] == 16 and record.fields["latency_ms"] == {"p50": 3.0}
    assert record.fields["metrics"]["loss"] == 0.1


def test_model_falls_back_to_the_experiment_name() -> None:
    assert benchmark_record(_run(metrics={"qps": 1.0}), MetricMapping(), URI).model == "ranker"


def test_custom_mapping_file(tmp_path: Path) -> None:
    path = tmp_path / "map.yaml"
    path.write_text("throughput_qps: tokens_per_s\nlatency_ms_p99: [tail_ms, slowest]\n")
    mapping = MetricMapping.load(path)
    picked = mapping.pick({"tokens_per_s": 5.0, "slowest": 80.0, "qps": 1.0})
    assert picked["throughput_qps"] == ("tokens_per_s", 5.0) and picked["latency_ms_p99"] == ("slowest", 80.0)
    path.write_text("- not a mapping\n")
    with pytest.raises(UsageError, match=r"map\.yaml"):
        MetricMapping.load(path)


def test_optimization_keeps_any_technique_and_needs_a_baseline() -> None:
    base = _run("b" * 32, metrics={"p99": 40.0})
    tags = {"elephant.kind": "optimization", "elephant.technique": "int8", "elephant.baseline_run": "b" * 32}
    record = optimization_record(_run(metrics={"p99": 20.0}, tags=tags), base, MetricMapping(), URI)
    assert record.fields["technique"] == "quantization_int8"
    tags["elephant.technique"] = "speculative_decoding"  # not a known technique: kept, read as ``other``
    record = optimization_record(_run(metrics={"p99": 20.0}, tags=tags), base, MetricMapping(), URI)
    assert record.fields["technique"] == "speculative_decoding"
    tags["elephant.technique"] = "x" * 100
    with pytest.raises(RunProblem, match=r"elephant\.technique: technique is longer"):
        optimization_record(_run(metrics={"p99": 20.0}, tags=tags), base, MetricMapping(), URI)
    tags["elephant.technique"] = "pruning"
    with pytest.raises(RunProblem, match="not on the tracking server"):
        optimization_record(_run(metrics={"p99": 20.0}, tags=tags), None, MetricMapping(), URI)
    record = optimization_record(_run(metrics={"p99": 20.0}, tags=tags), base, MetricMapping(), URI)
    assert record.fields["baseline"] == {"latency_ms_p99": 40.0} and record.fields["result"] == {"latency_ms_p99": 20.0}


def test_alias_move_back_to_an_older_version_is_a_rollback() -> None:
    move = AliasMove("Ranker Prod", "ranker", "champion", 4, "3", "2", "2025-09-10T00:00:00Z")
    record = alias_record(move, URI)
    assert record.key == "mlflow/models/Ranker-Prod/aliases/champion/4"
    assert record.fields["strategy"] == "rollback" and record.model_version == "2"


def test_mlflow_is_imported_only_when_an_import_runs() -> None:
    import subprocess
    import sys

    code = ("import elephant, elephant.cli.main, elephant.ingest.pipeline, elephant.ingest.mlflow_sync, sys; "
            "print('mlflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "False"
