"""``Elephant``: the library facade that the CLI, REST API and MCP server sit on."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal, Protocol

from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict

from elephant.errors import ElephantError, FieldProblem, FieldProblemOut, InvalidRecord, UsageError
from elephant.records.diff import FieldChange, FieldChangeOut, diff_envelopes
from elephant.records.envelope import Record, validate_record
from elephant.records.limits import check_texts
from elephant.settings import Settings, settings_for
from elephant.storage.store import INDEX_TABLES, Store, StoredRecord, VersionInfo, WriteResult, WriteResultOut

if TYPE_CHECKING:  # imported where first used: `serve` and the CLI start without them
    from elephant.answers.ask import Answerer, AskResponse
    from elephant.answers.brief import Brief
    from elephant.answers.context import ContextPack
    from elephant.answers.regressions import Finding
    from elephant.retrieval.embedding import Embedder
    from elephant.retrieval.indexer import DrainReport, Indexer, ParkedJob, PhaseProgress
    from elephant.retrieval.search import ResultCache, SearchResponse
    from elephant.storage.archive import ImportReport


@with_config(ConfigDict(extra="forbid"))
class PutReportOut(TypedDict):
    """A ``PutReport`` as JSON."""

    ok: bool
    counts: dict[str, int]
    results: list[WriteResultOut]
    problems: list[FieldProblemOut]


# Functional form: "from" is a Python keyword. A ``Diff`` as JSON.
DiffOut = TypedDict("DiffOut", {"key": str, "from": int, "to": int, "from_deleted": bool, "to_deleted": bool,
                                "changes": list[FieldChangeOut]})


class IngestResult(Protocol):
    """What the installed ingestor returns (``elephant.ingest.pipeline.IngestReport``): ``to_dict()`` is the
    ``elephant ingest --json`` and ``POST /v1/ingest`` shape."""

    @property
    def ok(self) -> bool: ...

    def to_dict(self) -> dict[str, Any]: ...


class IndexStatus(TypedDict):
    """The outbox: jobs pending, jobs parked (dead letters, the newest with reasons) and the last drain error."""

    pending: int
    parked: int
    parked_jobs: list[ParkedJob]
    last_error: str | None
    vector_problem: str | None


@dataclass
class PutReport:
    """What a batch write did: results for the records written, problems for those refused."""

    results: list[WriteResult] = field(default_factory=list)
    problems: list[FieldProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def counts(self) -> dict[str, int]:
        refused = {(p.file, p.key) for p in self.problems}
        out = {"created": 0, "updated": 0, "unchanged": 0, "failed": len(refused)}
        for r in self.results:
            out[r.status] = out.get(r.status, 0) + 1
        return out

    def to_dict(self) -> PutReportOut:
        return {"ok": self.ok, "counts": self.counts(), "results": [r.to_dict() for r in self.results],
                "problems": [p.to_dict() for p in self.problems]}


@dataclass(frozen=True)
class Diff:
    key: str
    from_version: int
    to_version: int
    changes: list[FieldChange]
    from_deleted: bool = False
    to_deleted: bool = False

    def to_dict(self) -> DiffOut:
        return {"key": self.key, "from": self.from_version, "to": self.to_version,
                "from_deleted": self.from_deleted, "to_deleted": self.to_deleted,
                "changes": [c.to_dict() for c in self.changes]}


class Elephant:
    """An open Elephant home: the versioned store plus (lazily) the embedder and indexes."""

    def __init__(self, settings: Settings) -> None:
        from elephant.storage.db import create_db_engine, migrate

        # The home is found once (walking up from the working directory, else the per-user home) and kept.
        self.home_source = settings.home_source
        if settings.home is None:
            settings = settings.model_copy(update={"home": settings.resolved_home})
        self.settings = settings
        if settings.is_sqlite:
            settings.resolved_home.mkdir(parents=True, exist_ok=True)
        self.engine = create_db_engine(settings.resolved_database_url)
        migrate(self.engine)
        self.store = Store(self.engine)
        from elephant.answers.regressions import RegressionHook

        self.store.write_hooks.append(RegressionHook(self.store, threshold_pct=settings.regression_threshold_pct))
        self._lock = threading.RLock()
        self._embedder: Embedder | None = None
        self._indexer: Indexer | None = None
        self._answerer: Answerer | None = None
        self._search_cache: ResultCache | None = None
        self._last_drain = -1e9  # monotonic time of the last outbox drain

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Release the vector index and the database connections; the handle is not used afterwards."""
        try:
            self.indexer.close()
        finally:
            self.engine.dispose()

    def __enter__(self) -> Elephant:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def home(self) -> Path:
        return self.settings.resolved_home

    # ------------------------------------------------------------------ writes
    def put(self, record: Record | Mapping[str, Any], *, expected_version: int | None = None,
            author: str | None = None, message: str = "") -> WriteResult:
        """Write one record: a new key is v1, changed content v(n+1), identical content 'unchanged'."""
        check_texts(author=author, message=message)
        valid = record if isinstance(record, Record) else validate_record(record)
        expected = {valid.key: expected_version} if expected_version is not None else None
        result = self.store.write_records([valid], author=author or self.settings.author, message=message,
                                          expected_versions=expected)[0]
        self._after_write()
        return result

    def put_many(self, records: Iterable[Record | Mapping[str, Any]], *, author: str | None = None,
                 message: str = "", file: str | None = None) -> PutReport:
        """Validate every record; write the valid ones and report the invalid ones.

        Policy (docs/design.md §12): bad records never stop good ones, and nothing is half-written: each record
        is either written whole or refused with the reason. The valid ones commit in batches of
        ``BULK_BATCH`` (500) records, one transaction each (a crash loses no committed batch, leaves no half one).
        """
        check_texts(author=author, message=message)
        report = PutReport()
        valid: list[Record] = []
        for item in records:
            try:
                valid.append(item if isinstance(item, Record) else validate_record(item, file=file))
            except InvalidRecord as exc:
                report.problems.extend(exc.problems)
        seen: dict[str, int] = {}
        for i, rec in enumerate(valid):
            if rec.key in seen:
                report.problems.append(FieldProblem(field="key", file=file, key=rec.key,
                                                    message="appears more than once in this write; the later one was refused"))
                valid[i] = None  # type: ignore[call-overload]
            else:
                seen[rec.key] = i
        valid = [r for r in valid if r is not None]
        if valid:
            report.results = self.store.write_bulk(valid, author=author or self.settings.author, message=message)
            self._after_write()
        return report

    def put_files(self, paths: Sequence[str | Path], *, author: str | None = None, message: str = "") -> PutReport:
        """Read record files (YAML, JSON, Markdown with front matter) and write their records."""
        from elephant.records.files import read_record_file

        report = PutReport()
        pending: list[Record] = []
        for raw in paths:
            path = Path(raw)
            try:
                items = read_record_file(path, display=str(raw))
            except InvalidRecord as exc:
                report.problems.extend(exc.problems)
                continue
            for index, item in enumerate(items):
                try:
                    # A record from YAML knows its line (file:line); JSON's records are told apart by number.
                    located = len(items) == 1 or getattr(item, "lines", None)
                    record = validate_record(item, file=str(raw) if located else f"{raw}#{index + 1}")
                except InvalidRecord as exc:
                    report.problems.extend(exc.problems)
                    continue
                pending.append(record)
        sub = self.put_many(pending, author=author, message=message)
        report.results = sub.results
        report.problems.extend(sub.problems)
        return report

    def delete(self, key: str, *, expected_version: int | None = None, author: str | None = None,
               message: str = "") -> WriteResult:
        check_texts(key=key, author=author, message=message)
        result = self.store.delete(key, author=author or self.settings.author, message=message,
                                   expected_version=expected_version)
        self._after_write()
        return result

    def revert(self, key: str, version: int, *, expected_version: int | None = None, author: str | None = None,
               message: str = "") -> WriteResult:
        check_texts(key=key, author=author, message=message)
        result = self.store.revert(key, version, author=author or self.settings.author, message=message,
                                   expected_version=expected_version)
        self._after_write()
        return result

    # ------------------------------------------------------------------ reads
    def get(self, key: str, *, version: int | None = None, as_of: str | None = None) -> StoredRecord:
        check_texts(key=key, as_of=as_of)
        return self.store.get(key, version=version, as_of=as_of)

    def history(self, key: str) -> list[VersionInfo]:
        check_texts(key=key)
        return self.store.history(key)

    def diff(self, key: str, from_version: int, to_version: int) -> Diff:
        """Field-level changes from one version to another (either order)."""
        check_texts(key=key)
        a = self.store.get(key, version=from_version)
        b = self.store.get(key, version=to_version)
        left = {k: v for k, v in a.envelope.items() if k != "source"}
        right = {k: v for k, v in b.envelope.items() if k != "source"}
        if a.is_deleted:
            left = {}
        if b.is_deleted:
            right = {}
        return Diff(key, from_version, to_version, diff_envelopes(left, right), a.is_deleted, b.is_deleted)

    def counts(self) -> dict[str, int]:
        return self.store.counts()

    # ------------------------------------------------------------------ export / import
    def export(self, out: IO[str]) -> dict[str, int]:
        from elephant.storage.archive import write_export

        return write_export(self.store, out)

    def import_(self, lines: Iterable[str], *, name: str = "<import>",
                on_conflict: Literal["refuse", "skip"] = "refuse") -> ImportReport:
        from elephant.storage.archive import import_export

        report = import_export(self.store, lines, name=name, on_conflict=on_conflict)
        self._after_write()
        return report

    # ------------------------------------------------------------------ embedding
    @property
    def embedder(self) -> Embedder:
        """The configured embedder (``ELEPHANT_MODEL``), loaded on first use."""
        with self._lock:
            if self._embedder is None:
                from elephant.retrieval.embedding import load_embedder

                self._embedder = load_embedder(self.settings)
            return self._embedder

    # ------------------------------------------------------------------ index and search
    @property
    def indexer(self) -> Indexer:
        """The outbox consumer with its vector index (Chroma is opened on first use, not here)."""
        with self._lock:
            if self._indexer is None:
                from elephant.retrieval.indexer import Indexer
                from elephant.retrieval.vectors import embedded_directory, open_vector_index

                self._indexer = Indexer(self.store, embedder=lambda: self.embedder,
                                        vector_index=lambda: open_vector_index(self.settings),
                                        open_slot=lambda slot: open_vector_index(self.settings, slot),
                                        slot_directory=lambda slot: embedded_directory(self.settings, slot),
                                        vector_files=self.home / "vectors" if self.settings.shared_vectors else None)
            return self._indexer

    def process_outbox(self, *, progress: PhaseProgress | None = None) -> int:
        """Apply pending index jobs; returns how many were applied (the rest wait if the index is down).
        ``progress("index", done, total)`` after each batch."""
        self._last_drain = time.monotonic()
        return self.indexer.process_outbox(progress=progress).applied

    def index_status(self, *, limit: int = 20) -> IndexStatus:
        """The outbox: jobs pending, jobs parked (dead letters, with reasons) and the last drain error."""
        indexer = self.indexer
        total, parked = indexer.parked(limit=limit)
        return {"pending": indexer.pending(), "parked": total, "parked_jobs": parked,
                "last_error": indexer.last_error,
                "vector_problem": indexer.vector_count_problem() or indexer.vector_files_problem()}

    def outbox_backlog(self) -> int:
        """Index jobs written but not yet applied (``/metrics`` reports it)."""
        return self.indexer.pending()

    def _after_write(self) -> None:
        # The write has committed: indexing is best-effort here and the outbox keeps what fails, so no
        # index or model failure may make a committed write look failed to its caller.
        try:
            applied = self.process_outbox()
        except Exception as exc:
            if self._indexer is not None:
                self._indexer.last_error = str(exc)
            return
        # After a bulk load, the indexes' tables too (elephant.storage.store.ANALYZE_MIN_ROWS).
        self.store.refresh_statistics(INDEX_TABLES, applied)

    def reindex(self, *, progress: PhaseProgress | None = None) -> DrainReport:
        """Rebuild the lexical and vector indexes from SQL with the configured embedder;
        ``progress(phase, done, total)`` through its phases ("embed", "lexical", "index")."""
        return self.indexer.reindex(progress=progress)

    def search(self, query: str, *, kind: str | Sequence[str] | None = None, model: str | Sequence[str] | None = None,
               tags: str | Sequence[str] | None = None, since: str | None = None, until: str | None = None,
               where: str | Sequence[str] | None = None, k: int = 10) -> SearchResponse:
        """Hybrid (dense + lexical) search over current versions; see ``elephant.retrieval.search``."""
        check_texts(query=query, kind=kind, model=model, tags=tags, since=since, until=until, where=where)
        from elephant.retrieval.search import Filters, HybridSearch

        filters = Filters.of(kind=kind, model=model, tags=tags, since=since, until=until, where=where)
        # Drain jobs left by earlier processes (or by a failed index) lazily, not in open(): serve must start fast.
        if time.monotonic() - self._last_drain > 2.0:
            self._last_drain = time.monotonic()
            if self.indexer.has_pending():
                self.indexer.process_outbox(wait_s=0)  # another process draining now applies them
        lag = None
        if self.indexer.last_error:
            lag = f"the vector index is behind ({self.indexer.pending()} job(s) pending): {self.indexer.last_error}"
        return HybridSearch(self.store, self.indexer, cache=self.search_cache).search(query, filters, k=k,
                                                                                     index_lag=lag)

    @property
    def search_cache(self) -> ResultCache | None:
        """Recent search responses, each valid while the store is unchanged (``elephant.retrieval.search.ResultCache``);
        None when ``ELEPHANT_SEARCH_CACHE=0``."""
        with self._lock:
            if self._search_cache is None and self.settings.search_cache > 0:
                from elephant.retrieval.search import ResultCache

                self._search_cache = ResultCache(self.settings.search_cache)
            return self._search_cache

    def warm_up(self) -> None:
        """Load what the first search would otherwise pay for: the model, the indexes, a pending outbox.

        The model's session and the vector matrix load on two threads: onnxruntime and SQLite both
        release the GIL, so together they took 0.57 s against 0.98 s one after the other (2-core Xeon,
        10,963 records). A small index's matrix loads from SQL, so Chroma is not even opened until a
        write or a large index needs it. Freed heap goes back to the OS.
        """
        from elephant.osmem import release_free_memory

        embedder, indexer = self.embedder, self.indexer  # both cheap: the session loads on first use
        if hasattr(embedder, "model_path"):
            # Imported before the second thread starts: two threads importing numpy-based packages at
            # once raced inside numpy's own imports (see api.deps.AppContext.warm_up).
            import onnxruntime  # noqa: F401

        def load_matrix() -> None:
            with contextlib.suppress(Exception):  # the search below meets the same error and raises it
                indexer.matrix(wait=False)

        loader = threading.Thread(target=load_matrix, name="elephant-matrix-warm-up", daemon=True)
        loader.start()
        try:
            embedder.embed_query("warm up")
        finally:
            loader.join()
        self.search("warm up", k=1)
        release_free_memory()

    # ------------------------------------------------------------------ answers: ask, regressions, brief
    @property
    def answerer(self) -> Answerer:
        """The ``ask`` engine (SQL first, hybrid search as a candidate source); caches its vocabulary."""
        with self._lock:
            if self._answerer is None:
                from elephant.answers import Answerer

                def search(text: str, models: list[str] | None, k: int) -> tuple[list[str], bool, str | None]:
                    found = self.search(text, model=models, k=k)
                    return [hit.key for hit in found.results], bool(found.degraded), found.reason

                self._answerer = Answerer(self.store, search=search)
            return self._answerer

    def ask(self, question: str, *, model: str | None = None, k: int = 10) -> AskResponse:
        """"What did we try last time?": an ``AskResponse`` (Markdown answer, attempts, citations, degraded)."""
        check_texts(question=question, model=model)
        return self.answerer.ask(question, model=model, k=k)

    def regressions(self, *, model: str | None = None, status: str = "open") -> list[Finding]:
        """Regression findings (``elephant.answers.regressions.Finding``), newest first; status open, resolved or all."""
        check_texts(model=model, status=status)
        from elephant.answers.regressions import list_findings

        return list_findings(self.store, model=model, status=status)

    def resolve_regression(self, key: str, *, note: str = "", author: str | None = None) -> WriteResult:
        """Mark a regression finding resolved (a new version of it, with the note)."""
        check_texts(key=key, note=note, author=author)
        from elephant.answers.regressions import resolve_finding

        result = resolve_finding(self.store, key, note=note, author=author or self.settings.author)
        self._after_write()
        return result

    def brief(self, model: str | None = None, *, at: str | None = None, budget: int | None = None,
              all_models: bool = False) -> Brief:
        """The startup brief (``elephant.answers.brief.Brief``): per model config, percentiles, open problems.

        Without ``model`` it lists only the models that need attention (open regressions or incidents,
        in-progress attempts, a rolled-back deployment, features in drift) and counts the quiet ones;
        ``all_models`` lists every model. Either way it fits ``budget`` tokens of the embedding model's
        tokenizer (default ``DEFAULT_BRIEF_BUDGET``).
        ``at``: valid time — the brief as it stood in the world at that date or datetime (records by
        ``occurred_at``; ``elephant.answers.validtime``), not what Elephant knew then (that is ``get --as-of``).
        """
        check_texts(model=model, at=at)
        from elephant.answers.brief import build_brief, check_budget, fit_brief
        from elephant.answers.context import token_counter

        tokens = check_budget(budget)
        full: Brief
        if at is not None:
            from elephant.answers.validtime import build_brief_at

            full = build_brief_at(self.store, model, at)
        else:
            full = build_brief(self.store, model)
        count, _, _ = token_counter(self)
        return fit_brief(full, budget=tokens, count=count, every_model=all_models or model is not None)

    # ------------------------------------------------------------------ agent context
    def context(self, query: str, *, budget: int = 500, model: str | None = None) -> ContextPack:
        """A Markdown block for an agent's prompt within ``budget`` tokens (``elephant.answers.context.ContextPack``)."""
        check_texts(query=query, model=model)
        from elephant.answers.context import build_context

        return build_context(self, query, budget=budget, model=model)

    def prompt(self, template_text: str, *, name: str = "<template>") -> str:
        """Expand ``{{ elephant.* }}`` placeholders in a prompt template with current memory."""
        from elephant.answers.prompting import expand_prompt

        return expand_prompt(self, template_text, name=name)

    # ------------------------------------------------------------------ ingest (plug-in)
    def ingest(self, paths: Sequence[str | Path], **options: Any) -> IngestResult:
        """Parse artifacts into records through the installed ingestor (the ``ingest`` package).

        The ingestor is found through the ``elephant.ingestors`` entry point so that the core never
        imports ``ingest`` (dependencies point one way: ingest → elephant).
        """
        from importlib.metadata import entry_points

        found = entry_points(group="elephant.ingestors", name="default")
        if not found:
            raise ElephantError("no ingestor installed (the `ingest` package registers one)")
        ingest_paths = next(iter(found)).load()
        result: IngestResult = ingest_paths(self, paths, **options)
        return result


def open(home: str | Path | None = None, *, settings: Settings | None = None, **overrides: Any) -> Elephant:
    """Open (creating and migrating if needed) the Elephant home at ``home`` or ``$ELEPHANT_HOME``."""
    if settings is None:
        settings = settings_for(home, **overrides)
    elif home is not None or overrides:
        raise UsageError("pass either settings or home/overrides, not both")
    return Elephant(settings)
