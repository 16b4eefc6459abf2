"""Regression findings: each benchmark written is compared with the previous one of the same series.

A series is (model, hardware, scenario, and batch size / concurrency when both records give them). Past the
threshold (``settings.regression_threshold_pct``: p95/p99 latency or throughput that much worse, or any
accuracy drop beyond a rounding tolerance), a ``regression`` record is written in the SAME transaction as the
benchmark, so a finding never exists without its benchmark nor a benchmark without its check. Findings are
versioned records like any other: queryable, resolvable, with both citations.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import ConfigDict, with_config
from sqlalchemy import Connection, select, text
from typing_extensions import TypedDict

from elephant.errors import NotFound, UsageError
from elephant.kinds import regression
from elephant.kinds.benchmark import is_offline, series_key, series_parts
from elephant.kinds.units import as_number, lower_is_better
from elephant.records.envelope import Record, validate_record
from elephant.storage.schema import heads
from elephant.storage.store import Store, StoredRecord, WriteResult
from elephant.timeutil import sortable_ts

AUTHOR = "elephant/regressions"
KEY_PREFIX = "regression/"
# MLPerf-style accuracy figures wobble in the last digit between runs of the same system; a drop smaller
# than this share of the baseline is noise, not a regression.
ACCURACY_TOLERANCE_PCT = 0.1
# An accuracy drop under this share of the baseline, in a run that was faster past the threshold, is a
# chosen operating point (TensorRT FP16: F1 0.945 → 0.944 for p99 −44 %), not a regression.
TRADE_OFF_PCT = 0.5
LATENCY_PERCENTILES = ("p95", "p99")


@dataclass(frozen=True)
class Comparison:
    """One metric of a candidate benchmark against its baseline."""

    metric: str  # "latency_ms.p99", "throughput_qps", "accuracy.ndcg_at_10"
    baseline: float
    candidate: float
    change_pct: float | None
    worse: bool

    def to_dict(self) -> dict[str, Any]:
        return {"baseline": self.baseline, "candidate": self.candidate,
                "change_pct": None if self.change_pct is None else round(self.change_pct, 2), "worse": self.worse}


def series_of(envelope: dict[str, Any]) -> tuple[str, str, str]:
    return series_parts(envelope)


def _same_shape(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Batch size and concurrency must agree when both benchmarks give them."""
    for name in ("batch_size", "concurrency"):
        if a.get(name) is not None and b.get(name) is not None and a.get(name) != b.get(name):
            return False
    return True


def compare_benchmarks(baseline: dict[str, Any], candidate: dict[str, Any], *, threshold_pct: float) -> list[Comparison]:
    """Metric-by-metric comparison of two benchmark ``fields``; ``worse`` marks what passed the threshold.

    Two cases are not latency regressions: an offline run (its percentiles time one huge batch, only its
    throughput means anything), and a run that also served more than ``threshold_pct`` more throughput —
    a new operating point under more load (MLPerf Server rounds raise target_qps), not a slower system.
    Likewise an accuracy drop under ``TRADE_OFF_PCT`` in a run faster past the threshold is a trade chosen.
    """
    out: list[Comparison] = []
    b_qps, c_qps = as_number(baseline.get("throughput_qps")), as_number(candidate.get("throughput_qps"))
    qps_change = _change(b_qps, c_qps) if b_qps is not None and c_qps is not None else None
    more_load = qps_change is not None and qps_change > threshold_pct
    offline = is_offline(candidate)
    base_lat = baseline.get("latency_ms") or {}
    cand_lat = candidate.get("latency_ms") or {}
    if isinstance(base_lat, dict) and isinstance(cand_lat, dict):
        for pct in LATENCY_PERCENTILES:
            b, c = as_number(base_lat.get(pct)), as_number(cand_lat.get(pct))
            if b is None or c is None:
                continue
            change = _change(b, c)
            worse = c > b and (b == 0 or (change is not None and change > threshold_pct))
            out.append(Comparison(f"latency_ms.{pct}", b, c, change, worse and not (more_load or offline)))
    if b_qps is not None and c_qps is not None:
        out.append(Comparison("throughput_qps", b_qps, c_qps, qps_change,
                              qps_change is not None and -qps_change > threshold_pct))
    faster = (qps_change is not None and qps_change > threshold_pct) or any(
        c.metric.startswith("latency_ms.") and c.change_pct is not None and -c.change_pct > threshold_pct
        and not offline for c in out)
    base_acc = baseline.get("accuracy") or {}
    cand_acc = candidate.get("accuracy") or {}
    if isinstance(base_acc, dict) and isinstance(cand_acc, dict):
        for name in base_acc:
            b, c = as_number(base_acc.get(name)), as_number(cand_acc.get(name))
            if b is None or c is None:
                continue
            change = _change(b, c)
            drop = c - b if lower_is_better(name) else b - c  # WER, WAPE, log loss: a rise is the drop
            tolerance = abs(b) * (TRADE_OFF_PCT if faster else ACCURACY_TOLERANCE_PCT) / 100
            out.append(Comparison(f"accuracy.{name}", b, c, change, drop > tolerance))
    return out


def _change(before: float, after: float) -> float | None:
    return None if before == 0 else (after - before) / abs(before) * 100


class RegressionHook:
    """``Store.write_hooks`` entry: checks each new benchmark version inside its write transaction."""

    def __init__(self, store: Store, *, threshold_pct: float) -> None:
        self.store = store
        self.threshold_pct = threshold_pct

    def __call__(self, conn: Connection, record: Record, result: WriteResult) -> None:
        if record.kind != "benchmark" or not record.model:
            return
        fields = record.fields or {}
        if fields.get("valid") is False:
            return  # an invalid run proves nothing either way
        envelope = record.envelope()
        baseline = previous_benchmark(conn, envelope, exclude_key=record.key, recorded_at=result.recorded_at)
        if baseline is None:
            return
        base_env, base_version = baseline
        comparisons = compare_benchmarks(base_env.get("fields") or {}, fields, threshold_pct=self.threshold_pct)
        worse = [c for c in comparisons if c.worse]
        key = finding_key(record.key)
        existing = conn.execute(select(heads.c.envelope, heads.c.is_deleted).where(heads.c.key == key)).first()
        if not worse:
            if existing is not None and not existing.is_deleted:
                # The benchmark was corrected: its finding is resolved, not deleted (history keeps both).
                old = json.loads(existing.envelope)
                if (old.get("fields") or {}).get("status") != "resolved":
                    old["fields"]["status"] = "resolved"
                    old["fields"]["resolution"] = f"{record.key}@{result.version} is no longer past the threshold"
                    self.store.write_derived(conn, validate_record(old), author=AUTHOR,
                                             message="benchmark corrected")
            return
        baseline_cite = f"{base_env['key']}@{base_version}"
        candidate_cite = f"{record.key}@{result.version}"
        finding = build_finding(envelope, base_env, baseline_cite, candidate_cite, comparisons,
                                threshold_pct=self.threshold_pct)
        if existing is not None and not existing.is_deleted:
            old_fields = json.loads(existing.envelope).get("fields") or {}
            if old_fields.get("status") == "resolved" and old_fields.get("metrics") == finding["fields"]["metrics"]:
                finding["fields"]["status"] = "resolved"  # same numbers as when someone resolved it
                for name in ("resolution", "resolved_by"):
                    if name in old_fields:
                        finding["fields"][name] = old_fields[name]
        self.store.write_derived(conn, validate_record(finding), author=AUTHOR,
                                 message=f"{candidate_cite} against {baseline_cite}")


def finding_key(benchmark_key: str) -> str:
    return KEY_PREFIX + benchmark_key


# Statement text built once (SQLAlchemy Core's building and cache keys cost more than the two index
# reads); both ranges are read through ix_heads_series in order, LIMIT rows each.
_BASELINE_SQL = text(
    "SELECT * FROM (SELECT key, version, occurred_at, recorded_at, envelope FROM heads "
    "WHERE series = :series AND NOT is_deleted AND occurred_at IS NOT NULL AND occurred_at <= :when "
    "ORDER BY occurred_at DESC, recorded_at DESC LIMIT :limit) AS dated UNION ALL "
    "SELECT * FROM (SELECT key, version, occurred_at, recorded_at, envelope FROM heads "
    "WHERE series = :series AND NOT is_deleted AND occurred_at IS NULL AND recorded_at <= :when "
    "ORDER BY recorded_at DESC LIMIT :limit) AS undated")


def previous_benchmark(conn: Connection, envelope: dict[str, Any], *, exclude_key: str,
                       recorded_at: str) -> tuple[dict[str, Any], int] | None:
    """The latest benchmark of the same series that happened before this one (by occurred_at).

    Runs inside every benchmark write, so it reads the series' index range (``heads.series``) newest
    first, a page at a time, and decodes envelopes only until one qualifies. Only benchmarks recorded
    before this one count: in a bulk write, those before it in the batch and none after.
    """
    series = series_key(envelope)
    if series is None:
        return None
    fields = envelope.get("fields") or {}
    when = sortable_ts(envelope.get("occurred_at")) or recorded_at
    seen: set[str] = set()
    limit = 4
    while True:
        # Dated benchmarks by occurred_at, undated ones by recorded_at: each an ordered index range.
        found = conn.execute(_BASELINE_SQL, {"series": series, "when": when, "limit": limit}).all()
        dated = [r for r in found if r.occurred_at is not None]
        undated = [r for r in found if r.occurred_at is None]
        rows = sorted(dated + undated, key=lambda r: (r.occurred_at or r.recorded_at, r.recorded_at), reverse=True)
        for r in rows:
            if r.key in seen:
                continue
            seen.add(r.key)
            other_when = r.occurred_at or r.recorded_at
            if r.key == exclude_key or r.recorded_at >= recorded_at:
                continue
            # Earlier in the world, or simultaneous and written earlier (two rounds stamped with the same date).
            if not (other_when < when or (other_when == when and r.recorded_at < recorded_at)):
                continue
            other = json.loads(r.envelope)
            other_fields = other.get("fields") or {}
            if other.get("kind") != "benchmark" or series_of(other) != series_of(envelope):
                continue
            if other_fields.get("valid") is False or not _same_shape(fields, other_fields):
                continue
            return other, int(r.version)
        if len(dated) < limit and len(undated) < limit:
            return None
        limit *= 16


def build_finding(candidate: dict[str, Any], baseline: dict[str, Any], baseline_cite: str, candidate_cite: str,
                  comparisons: list[Comparison], *, threshold_pct: float) -> dict[str, Any]:
    fields = candidate.get("fields") or {}
    metrics = {c.metric: c.to_dict() for c in comparisons}
    worst = regression.figures({"metrics": metrics})
    where = ", ".join(str(fields[n]) for n in ("hardware", "scenario") if fields.get(n))
    title = f"Regression on {candidate.get('model')}" + (f" ({where})" if where else "") + ": " + "; ".join(worst)
    return {
        "kind": "regression",
        "key": finding_key(str(candidate["key"])),
        "title": title[:300],
        "model": candidate.get("model"),
        **({"model_version": candidate["model_version"]} if candidate.get("model_version") else {}),
        **({"occurred_at": candidate["occurred_at"]} if candidate.get("occurred_at") else {}),
        "tags": ["regression"],
        "links": [{"rel": "baseline", "key": baseline["key"]}, {"rel": "candidate", "key": candidate["key"]}],
        "body": f"{candidate_cite} compared with {baseline_cite} (threshold {threshold_pct:g} %): " + "; ".join(worst),
        "fields": {
            "status": "open",
            "baseline": baseline_cite,
            "candidate": candidate_cite,
            "hardware": fields.get("hardware"),
            "scenario": fields.get("scenario"),
            "threshold_pct": threshold_pct,
            "metrics": metrics,
        },
    }


# ---------------------------------------------------------------- reading and resolving findings
@with_config(ConfigDict(extra="forbid"))
class FindingOut(TypedDict):
    """A regression ``Finding`` as JSON, with both sets of numbers."""

    key: str
    version: int
    citation: str
    model: str | None
    title: str | None
    occurred_at: str | None
    status: str
    baseline: str | None  # key@version of the earlier benchmark
    candidate: str | None  # key@version of the benchmark that regressed
    hardware: Any  # free fields of the record, as written
    scenario: Any
    threshold_pct: float | None
    metrics: dict[str, Any]
    resolution: Any


@dataclass(frozen=True)
class Finding:
    """A regression record as the CLI, REST and brief show it."""

    record: StoredRecord

    @property
    def key(self) -> str:
        return self.record.key

    @property
    def fields(self) -> dict[str, Any]:
        return dict(self.record.envelope.get("fields") or {})

    @property
    def status(self) -> str:
        return str(self.fields.get("status", "open"))

    def to_dict(self) -> FindingOut:
        env = self.record.envelope
        fields = self.fields
        return {"key": self.key, "version": self.record.version, "citation": self.record.citation,
                "model": env.get("model"), "title": env.get("title"), "occurred_at": env.get("occurred_at"),
                "status": self.status, "baseline": fields.get("baseline"), "candidate": fields.get("candidate"),
                "hardware": fields.get("hardware"), "scenario": fields.get("scenario"),
                "threshold_pct": fields.get("threshold_pct"), "metrics": fields.get("metrics") or {},
                "resolution": fields.get("resolution")}


STATUSES = ("open", "resolved", "all")


def list_findings(store: Store, *, model: str | None = None, status: str = "open") -> list[Finding]:
    """Findings, newest first; ``status`` is open, resolved or all."""
    if status not in STATUSES:
        raise UsageError(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
    found = [Finding(r) for r in store.iter_current(kind="regression", model=model)]
    if status != "all":
        found = [f for f in found if f.status == status]
    return sorted(found, key=lambda f: (str(f.record.envelope.get("occurred_at") or ""), f.record.recorded_at),
                  reverse=True)


def resolve_finding(store: Store, key: str, *, note: str = "", author: str) -> WriteResult:
    """Mark a finding resolved: a new version of the regression record, so the history shows who and why."""
    current = store.get(key)
    if current.kind != "regression":
        raise NotFound(f"{key!r} is a {current.kind}, not a regression finding", key=key)
    envelope = {k: v for k, v in current.envelope.items()}
    fields = dict(envelope.get("fields") or {})
    fields["status"] = "resolved"
    fields["resolution"] = note or "resolved"
    fields["resolved_by"] = author
    envelope["fields"] = fields
    return store.write_records([validate_record(envelope)], author=author, message=f"resolved: {note}".strip(": "))[0]
