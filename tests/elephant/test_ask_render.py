"""Rendering of figures: units, percentages, points, missing baselines, zero values, negative deltas."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from elephant.answers.markdown import attempt_line, outcome_words
from elephant.kinds.benchmark import figures as benchmark_figures
from elephant.kinds.optimization import figures as optimization_deltas
from elephant.kinds.units import format_change, format_number, format_percent, format_points, metric_label


def test_changes_with_units_and_percentages() -> None:
    assert format_change("p99", 45, 18, "ms") == "p99 45 → 18 ms (−60 %)"
    assert format_change("throughput", 820, 1950, "qps") == "throughput 820 → 1,950 qps (+138 %)"
    assert format_change("p99", 14, 14.0, "ms") == "p99 14 → 14 ms (±0 %)"
    assert format_change("p99", 10, 10.4, "ms") == "p99 10 → 10.4 ms (+4.0 %)"


def test_missing_and_zero_baselines() -> None:
    assert format_change("p99", None, 18, "ms") == "p99 18 ms (no baseline)"
    assert format_change("p99", 45, None, "ms") == "p99 45 ms before, no result recorded"
    assert format_change("p99", None, None, "ms") is None
    # A ratio to zero means nothing: no percentage, just the numbers.
    assert format_change("errors", 0, 5) == "errors 0 → 5"
    assert format_percent(0, 5) is None
    assert format_change("errors", 0, 0) == "errors 0 → 0"


def test_accuracy_in_points() -> None:
    assert format_points("NDCG@10", 0.412, 0.393) == "NDCG@10 0.412 → 0.393 (−1.9 pt)"
    assert format_points("top-1", 76.1, 75.83) == "top-1 76.1 → 75.83 (−0.27 pt)"
    assert format_points("AUC", 0.962, 0.962) == "AUC 0.962 → 0.962 (±0 pt)"
    assert format_points("recall", None, 0.9) == "recall 0.9 (no baseline)"
    assert format_points("recall", 0.8, 0.85) == "recall 0.8 → 0.85 (+5 pt)"


def test_numbers_and_labels() -> None:
    assert format_number(31302.7) == "31,302.7"
    assert format_number(-3.5) == "−3.5"
    assert format_number(0.0004) == "0.0004"
    assert format_number(float("nan")) == "n/a"
    assert metric_label("ndcg_at_10") == "NDCG@10"
    assert metric_label("recall_at_100") == "recall@100"


def test_optimization_line_has_everything() -> None:
    fields = {"technique": "quantization_int8", "outcome": "rolled_back", "reason": "calibration drift",
              "baseline": {"latency_ms_p99": 45, "throughput_qps": 820, "accuracy": 0.412},
              "result": {"latency_ms_p99": 18, "throughput_qps": 1950, "accuracy": 0.408},
              "accuracy_metric": "ndcg_at_10"}
    assert optimization_deltas(fields) == ["p99 45 → 18 ms (−60 %)", "throughput 820 → 1,950 qps (+138 %)",
                                           "NDCG@10 0.412 → 0.408 (−0.4 pt)"]
    line = attempt_line(when="2026-03-12", kind="optimization", title="INT8 of ranker v3", fields=fields,
                        citation="ranker/int8@2")
    assert line == ("- **2026-03-12** · optimization · INT8 of ranker v3 — **rolled back: calibration drift**; "
                    "p99 45 → 18 ms (−60 %), throughput 820 → 1,950 qps (+138 %), NDCG@10 0.412 → 0.408 (−0.4 pt) "
                    "[`ranker/int8@2`]")


def test_optimization_without_baseline_and_with_dict_accuracy() -> None:
    fields = {"result": {"throughput_qps": 9400, "accuracy": {"cosine": 0.9998}}, "outcome": "adopted"}
    assert optimization_deltas(fields) == ["throughput 9,400 qps (no baseline)", "cosine 0.9998 (no baseline)"]
    assert optimization_deltas({"outcome": "adopted"}) == []


def test_benchmark_and_other_kinds() -> None:
    figures = benchmark_figures({"hardware": "g5.xlarge", "scenario": "server", "latency_ms": {"p50": 6, "p99": 11},
                                 "throughput_qps": 3100, "error_rate": 0.0})
    assert figures == ["p50 6 ms", "p99 11 ms", "3,100 qps (g5.xlarge, server)"]
    assert outcome_words("deployment", {"strategy": "canary", "traffic_percent": 10, "status": "rolled_back"}) \
        == "canary at 10 %, rolled back"
    assert outcome_words("incident", {"severity": "sev2"}) == "sev2, open"
    assert outcome_words("feature_definition", {"parity": "drift", "skew_metric": {"psi": 0.31}}) \
        == "parity drift (PSI 0.31)"
    assert outcome_words("rollback_procedure", {}) == "never tested"


def test_offline_runs_show_throughput_not_their_sample_completion_times() -> None:
    """MLPerf Offline percentiles are minutes into one batch run, not a serving latency."""
    offline = {"hardware": "8xH200", "scenario": "Offline", "latency_ms": {"p50": 1359118.5, "p99": 2645357.3},
               "throughput_qps": 110.1, "accuracy": {"rouge1": 44.59}}
    assert benchmark_figures(offline) == ["110.1 qps", "rouge1 44.59 (8xH200, Offline)"]
    server = {**offline, "scenario": "Server", "latency_ms": {"p99": 126269.2}}
    assert benchmark_figures(server)[0] == "p99 126,269.2 ms"


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e9, max_value=1e9),
       st.floats(allow_nan=False, allow_infinity=False, min_value=-1e9, max_value=1e9))
def test_change_sign_matches_direction(before: float, after: float) -> None:
    text = format_change("x", before, after, "ms")
    assert text is not None and text.startswith("x ")
    percent = format_percent(before, after)
    if percent is not None and percent != "±0 %":
        assert percent.startswith("+") == (after > before)
