"""``import_mlflow``: read a real MLflow tracking server through MLflow's own client and write records.

What is read and how it maps: docs/mlflow.md. How it stays idempotent and incremental:

- Every imported item (a run, an alias, a version's stage) has a row in ``ingested_files`` under the root
  ``mlflow:<tracking URI>``, holding the content hash of the record it gave; an item whose record hashes
  the same is skipped without a write, so a re-import writes nothing.
- A watermark per tracking URI (the latest run start or end time seen, in ms) limits the next listing to
  runs started or ended since then, less a look-back that absorbs clocks that disagree a little.
  ``full=True`` lists every run again (hashes still skip what is unchanged).
- MLflow keeps no history of aliases or stages: each import compares them with what it saw last time
  and writes one ``deployment`` record per change, dated when it was observed.

The ``mlflow`` package is imported here only, so the core never needs it (the ``mlflow`` extra).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from elephant.errors import ElephantError
from elephant.ingest.mlflow_records import (
    TAG_BASELINE,
    AliasMove,
    MetricMapping,
    RunData,
    RunProblem,
    StageMove,
    alias_record,
    benchmark_record,
    optimization_record,
    run_key,
    stage_record,
)
from elephant.ingest.pipeline import FileProblem, IngestReport
from elephant.records.envelope import Record
from elephant.storage.store import SourceFileWrite
from elephant.timeutil import format_ts, utc_now

BATCH_UNITS = 64
PAGE_SIZE = 1000
LOOKBACK_MS = 5 * 60 * 1000  # runs logged from machines whose clocks trail the newest run seen by this much
MODEL_TAG = "elephant.model"
INSTALL_HINT = "MLflow import needs the mlflow package: pip install 'elephant[mlflow]'"


def state_root(tracking_uri: str) -> str:
    return f"mlflow:{tracking_uri.rstrip('/')}"


@dataclass
class MlflowReport(IngestReport):
    """``IngestReport`` with the MLflow side: items listed, the watermark before and after."""

    tracking_uri: str = ""
    runs_listed: int = 0
    models_listed: int = 0
    watermark_before: str | None = None
    watermark_after: str | None = None
    full: bool = False

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["mlflow"] = {"tracking_uri": self.tracking_uri, "full": self.full, "runs_listed": self.runs_listed,
                          "models_listed": self.models_listed, "watermark_before": self.watermark_before,
                          "watermark_after": self.watermark_after}
        return data


@dataclass
class _Unit:
    """One item to write: its records and the state row that remembers it."""

    path: str  # state path: runs/<id>, aliases/<model>/<alias>, stages/<model>/<version>
    records: list[Record]
    digest: str
    size: int = 0
    parser: str = ""
    keys: list[str] = field(default_factory=list)


def _client(tracking_uri: str) -> Any:
    try:
        from mlflow.tracking import MlflowClient
    except ImportError as exc:
        raise ElephantError(INSTALL_HINT) from exc
    # MLflow retries a dead server for minutes by default; an import should fail in seconds and say why.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def _pages(fetch: Callable[[str | None], Any]) -> Iterator[Any]:
    token: str | None = None
    while True:
        page = fetch(token)
        yield from page
        token = getattr(page, "token", None)
        if not token:
            return


def _ms_iso(ms: int | None) -> str | None:
    return None if ms is None else format_ts(datetime.fromtimestamp(ms / 1000, UTC))


def run_data(run: Any, experiments: dict[str, str]) -> RunData:
    """A plain ``RunData`` from an ``mlflow.entities.Run``."""
    info, data = run.info, run.data
    return RunData(run_id=info.run_id, experiment_id=str(info.experiment_id),
                   experiment=experiments.get(str(info.experiment_id), str(info.experiment_id)),
                   run_name=info.run_name or info.run_id, status=str(info.status),
                   start_time_ms=info.start_time, end_time_ms=info.end_time,
                   metrics=dict(data.metrics), params=dict(data.params), tags=dict(data.tags))


def import_mlflow(db: Any, tracking_uri: str, *, full: bool = False, dry_run: bool = False,
                  mapping: MetricMapping | None = None, experiments: Iterable[str] | None = None,
                  lookback_ms: int = LOOKBACK_MS, author: str | None = None) -> MlflowReport:
    """Import runs, optimization pairs and alias/stage changes from ``tracking_uri`` into ``db`` (an Elephant).

    ``experiments`` limits runs to those experiments (names or ids); the registry is always read.
    ``dry_run`` converts and compares but writes nothing (state included).
    """
    started = time.perf_counter()
    mapping = mapping or MetricMapping()
    uri = tracking_uri.rstrip("/")
    report = MlflowReport(roots=[uri], dry_run=dry_run, tracking_uri=uri, full=full)
    root = state_root(uri)
    author = author or db.settings.author
    try:
        client = _client(uri)
        state = db.store.ingested_files_under(root)
        watermark = None if full else (state.get("watermark") or {}).get("size")
        report.watermark_before = _ms_iso(watermark)
        t0 = time.perf_counter()
        units, newest = _run_units(client, uri, state, report, mapping, experiments,
                                   since_ms=None if watermark is None else watermark - lookback_ms)
        units += _registry_units(client, uri, state, report)
        report.timings_s["parse"] += time.perf_counter() - t0
    except ElephantError:
        raise
    except Exception as exc:  # MlflowException, connection errors: the server or the URI is at fault
        report.failed.append(FileProblem(uri, f"cannot read the MLflow tracking server: {_short(exc)}", uri))
        report.timings_s["total"] = time.perf_counter() - started
        return report
    best = max(filter(None, [watermark, newest]), default=None)
    report.watermark_after = _ms_iso(best)
    if best is not None and best != watermark and not report.failed:
        units.append(_Unit("watermark", [], "-", size=int(best), parser="watermark"))
    _write(db, units, report, root, dry_run=dry_run, author=author)
    if not dry_run and report.records_written:
        t0 = time.perf_counter()
        db.process_outbox()
        report.timings_s["index"] += time.perf_counter() - t0
    report.timings_s["total"] = time.perf_counter() - started
    return report


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:400]


def _experiment_names(client: Any, wanted: Iterable[str] | None) -> dict[str, str]:
    from mlflow.entities import ViewType

    found = {str(e.experiment_id): e.name for e in _pages(lambda token: client.search_experiments(
        view_type=ViewType.ACTIVE_ONLY, max_results=PAGE_SIZE, page_token=token))}
    if wanted is None:
        return found
    chosen = set(wanted)
    picked = {eid: name for eid, name in found.items() if eid in chosen or name in chosen}
    missing = chosen - set(picked) - set(picked.values())
    if missing:
        raise ElephantError(f"no such MLflow experiment: {', '.join(sorted(missing))}")
    return picked


def _list_runs(client: Any, experiment_ids: list[str], since_ms: int | None) -> dict[str, Any]:
    from mlflow.entities import ViewType

    filters = [""] if since_ms is None else [f"attributes.start_time >= {since_ms}",
                                              f"attributes.end_time >= {since_ms}"]
    runs: dict[str, Any] = {}
    for text in filters:
        def fetch(token: str | None, text: str = text) -> Any:
            return client.search_runs(experiment_ids, filter_string=text, run_view_type=ViewType.ACTIVE_ONLY,
                                      max_results=PAGE_SIZE, page_token=token)

        for run in _pages(fetch):
            runs[run.info.run_id] = run
    return runs


def _run_units(client: Any, uri: str, state: dict[str, dict[str, Any]], report: MlflowReport,
               mapping: MetricMapping, experiments: Iterable[str] | None,
               since_ms: int | None) -> tuple[list[_Unit], int | None]:
    names = _experiment_names(client, experiments)
    listed = _list_runs(client, list(names), since_ms) if names else {}
    report.runs_listed = len(listed)
    runs = {rid: run_data(r, names) for rid, r in listed.items()}
    newest = max((t for r in runs.values() for t in (r.start_time_ms, r.end_time_ms) if t is not None), default=None)
    # Optimization runs whose baseline changed are rebuilt even when they were not listed themselves.
    dependants = {path.removeprefix("runs/"): row["parser"].removeprefix("opt:") for path, row in state.items()
                  if path.startswith("runs/") and row["parser"].startswith("opt:")}
    for rid, baseline in dependants.items():
        if baseline in runs and rid not in runs:
            try:
                runs[rid] = run_data(client.get_run(rid), names)
            except Exception as exc:
                report.skipped.append(FileProblem(f"runs:/{rid}", f"not re-read after its baseline changed: "
                                                                  f"{_short(exc)}", uri))
    fetched: dict[str, RunData | None] = {}

    def baseline_of(run: RunData) -> RunData | None:
        wanted = run.tags.get(TAG_BASELINE, "").strip()
        if not wanted:
            return None
        if wanted in runs:
            return runs[wanted]
        if wanted not in fetched:
            try:
                fetched[wanted] = run_data(client.get_run(wanted), names)
            except Exception:
                fetched[wanted] = None
        return fetched[wanted]

    units: list[_Unit] = []
    for rid in sorted(runs, key=lambda r: (runs[r].start_time_ms or 0, r)):
        run = runs[rid]
        report.files_seen += 1
        where = run.uri
        if run.kind in ("skip", "ignore"):
            report.skipped.append(FileProblem(where, "tagged elephant.kind=skip", uri))
            continue
        if run.status in ("RUNNING", "SCHEDULED"):
            report.skipped.append(FileProblem(where, f"still {run.status.lower()}; imported once it ends", uri))
            continue
        try:
            if run.kind == "optimization":
                record = optimization_record(run, baseline_of(run), mapping, uri)
                parser = f"opt:{run.tags[TAG_BASELINE].strip()}"
            else:
                record = benchmark_record(run, mapping, uri)
                parser = "run"
        except RunProblem as exc:
            if run.kind in ("benchmark", "optimization") or not exc.not_a_benchmark:
                report.failed.append(FileProblem(where, exc.reason, uri))
            else:  # an ordinary training run with no speed metric: not a benchmark, and not an error
                report.skipped.append(FileProblem(where, exc.reason, uri))
            continue
        report.files_parsed += 1
        digest = record.content_hash()
        known = state.get(f"runs/{rid}")
        if known is not None and known["sha256"] == digest:
            report.files_unchanged += 1
            report.unchanged += 1
            continue
        units.append(_Unit(f"runs/{rid}", [record], digest, parser=parser[:64], keys=[record.key]))
    return units, newest


def _registry_units(client: Any, uri: str, state: dict[str, dict[str, Any]], report: MlflowReport) -> list[_Unit]:
    observed = format_ts(utc_now())
    units: list[_Unit] = []
    for rm in _pages(lambda token: client.search_registered_models(max_results=PAGE_SIZE, page_token=token)):
        report.models_listed += 1
        name = rm.name
        model = (rm.tags or {}).get(MODEL_TAG, "").strip() or name
        aliases = rm.aliases if isinstance(rm.aliases, dict) else {}
        for alias, version in sorted(aliases.items()):
            report.files_seen += 1
            version = str(version)
            path = f"aliases/{name}/{alias}"
            known = state.get(path)
            if known is not None and known["parser"] == version:
                report.files_unchanged += 1
                report.unchanged += 1
                continue
            number = int(known["size"]) + 1 if known else 1
            mv = client.get_model_version(name, version)
            move = AliasMove(name, model, alias, number, known["parser"] if known else None, version, observed,
                             run_id=mv.run_id or None, source=mv.source)
            record = alias_record(move, uri)
            report.files_parsed += 1
            units.append(_Unit(path, [record], record.content_hash(), size=number, parser=version,
                               keys=[*(known["keys"] if known else []), record.key]))
        marker = f"models/{name}"
        updated = int(rm.last_updated_timestamp or 0)
        if (state.get(marker) or {}).get("size") == updated:
            continue  # a stage change updates the registered model's timestamp; nothing moved
        def versions(token: str | None, name: str = name) -> Any:
            return client.search_model_versions(filter_string=f"name='{_quote(name)}'", max_results=PAGE_SIZE,
                                                page_token=token)

        for mv in _pages(versions):
            stage = str(mv.current_stage or "None")
            path = f"stages/{name}/{mv.version}"
            known = state.get(path)
            if (known is None and stage == "None") or (known is not None and known["parser"] == stage):
                continue
            report.files_seen += 1
            number = int(known["size"]) + 1 if known else 1
            stage_move = StageMove(name, model, str(mv.version), number, known["parser"] if known else None, stage,
                                   observed, run_id=mv.run_id or None)
            record = stage_record(stage_move, uri)
            report.files_parsed += 1
            units.append(_Unit(path, [record], record.content_hash(), size=number, parser=stage[:64],
                               keys=[*(known["keys"] if known else []), record.key]))
        units.append(_Unit(marker, [], "-", size=updated, parser="model"))
    return units


def _quote(name: str) -> str:
    return name.replace("'", "\\'")


def _write(db: Any, units: list[_Unit], report: MlflowReport, root: str, *, dry_run: bool, author: str) -> None:
    t0 = time.perf_counter()
    try:
        if dry_run:
            current = db.store.current_many([r.key for u in units for r in u.records])
            for unit in units:
                for record in unit.records:
                    head = current.get(record.key)
                    status = "created" if head is None else (
                        "unchanged" if head.content_hash == record.content_hash() else "updated")
                    _count(report, status, record.key, None, record.kind, unit.path)
            return
        for start in range(0, len(units), BATCH_UNITS):
            batch = units[start:start + BATCH_UNITS]
            try:
                _write_units(db.store, batch, report, root, author)
            except ElephantError:
                for unit in batch:  # isolate the unit that failed; the others still commit
                    try:
                        _write_units(db.store, [unit], report, root, author)
                    except ElephantError as exc:
                        report.failed.append(FileProblem(unit.path, f"write failed: {exc.message}", root))
    finally:
        report.timings_s["store"] += time.perf_counter() - t0


def _write_units(store: Any, units: list[_Unit], report: MlflowReport, root: str, author: str) -> None:
    files = [SourceFileWrite(root=root, path=unit.path, records=unit.records, stale_keys=[], sha256=unit.digest,
                             size=unit.size, parser=unit.parser, keys=unit.keys or None, keep_without_records=True)
             for unit in units]
    done = store.write_source_files(files, author=author)
    for unit, result in zip(units, done, strict=True):  # counted after the commit: a retried batch counts once
        for r in result.written:
            _count(report, r.status, r.key, r.version, r.kind, unit.path)


def _count(report: MlflowReport, status: str, key: str, version: int | None, kind: str, path: str) -> None:
    if status == "created":
        report.created += 1
    elif status in ("updated", "reverted"):
        report.updated += 1
    else:
        report.unchanged += 1
        return
    report.changes.append({"key": key, "version": version, "status": status, "kind": kind, "path": path})


__all__ = ["MlflowReport", "import_mlflow", "run_data", "run_key", "state_root"]
