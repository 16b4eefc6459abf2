"""Hybrid search: dense (vector index) + lexical (SQL full-text), fused with reciprocal rank fusion.

Structured filters (kind, model, tags, time range, numeric fields) are SQL over ``heads`` — never
Chroma ``where``, which cost 182 ms p50 at 100k vectors against 5 ms unfiltered (docs/design.md §7). For
the dense side a filter is applied one of two ways, chosen per query from the filter's size:
a small candidate set is scored exactly (its vectors fetched by id, one matrix product), a large
one by over-fetching neighbours and keeping those the filter admits.
"""

from __future__ import annotations

import json
import math
import re
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

import numpy as np
from pydantic import ConfigDict, with_config
from sqlalchemy import Connection, String, and_, bindparam, case, cast, func, select, text
from sqlalchemy.dialects.postgresql import JSONB, JSONPATH
from sqlalchemy.sql.elements import ColumnElement
from typing_extensions import TypedDict

from elephant.errors import FingerprintMismatch, IndexUnavailable, ModelError, UsageError
from elephant.records.envelope import SourceOut
from elephant.retrieval import lexical
from elephant.retrieval.indexer import Indexer
from elephant.retrieval.vectors import key_of
from elephant.retrieval.vectors.matrix import EXACT_MAX_ROWS, VectorMatrix
from elephant.retrieval.vectors.shared import SharedMatrix
from elephant.storage.schema import head_numbers, heads
from elephant.storage.store import Store
from elephant.timeutil import format_ts, parse_ts, time_problem

RRF_K = 60
# Extra candidates each side fetches when liveness is checked once for both (deleted keys stay in
# the indexes until the outbox applies their tombstones).
LIVE_SLACK = 10
# Candidates ranked in numpy before tag/field conditions are checked in SQL; when fewer than k of
# them pass, the exact candidate set is read from SQL instead.
OVERFETCH = 1000

# The statements every search runs, as plain SQL: SQLAlchemy Core's building, cache-key and
# result handling cost ~0.1-0.25 ms per statement, a third of their time (10k records: stamp 0.11
# against 0.02 ms, 120 head rows 0.39 against 0.16 ms).
_STAMP_SQL = ("SELECT (SELECT coalesce(max(id), 0) FROM versions), "
              "(SELECT value FROM index_state WHERE name = 'generation')")
# "key is one of this list", with the list as one parameter (a JSON array for SQLite's json_each;
# any other backend is PostgreSQL, as in elephant.retrieval.lexical): one statement text whatever the list's
# length, so the drivers' statement caches keep it prepared.
_KEY_IN_LIST_SQLITE = "key IN (SELECT value FROM json_each(?))"
_KEY_IN_LIST_POSTGRES = "key = ANY(%s)"

_CONDITION = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(<=|>=|!=|==|=|<|>)\s*(.+?)\s*$")
_ENVELOPE_FIELDS = {"model_version", "title", "kind", "model", "key"}
# At most this many ``where`` conditions per search (issue 20 row 4: a list without a bound, each
# condition reading the envelope again, took one PostgreSQL backend to 21 GB). A human or agent
# filter names a handful of fields; 16 leaves room without leaving a lever.
MAX_CONDITIONS = 16


@dataclass(frozen=True)
class Condition:
    """One ``--where`` condition on a record field, e.g. ``latency_ms.p99 < 40``."""

    path: tuple[str, ...]
    op: str
    value: float | str

    @classmethod
    def parse(cls, text: str) -> Condition:
        match = _CONDITION.match(text)
        if not match:
            raise UsageError(f"--where {text!r}: expected FIELD OP VALUE, e.g. 'latency_ms.p99<40' "
                             "(OP is one of < <= > >= = !=)")
        name, op, raw = match.groups()
        parts = tuple(name.split("."))
        if parts[0] not in _ENVELOPE_FIELDS and parts[0] != "fields":
            parts = ("fields", *parts)
        if not parts or parts == ("fields",):
            raise UsageError(f"--where {text!r}: name a field, e.g. latency_ms.p99")
        raw = raw.strip().strip("'\"")
        try:
            value: float | str = float(raw)
        except ValueError:
            if op not in {"=", "==", "!="}:
                raise UsageError(f"--where {text!r}: {op} needs a number, got {raw!r}") from None
            value = raw
        if isinstance(value, float) and not math.isfinite(value):
            raise UsageError(f"--where {text!r}: {raw!r} is not a finite number (records hold no NaN or infinity)")
        return cls(parts, "=" if op == "==" else op, value)

    def jsonpath(self, var: str) -> str:
        """This condition as a strict SQL/JSON path predicate on ``@``, its value bound as ``$var``.

        Strict mode keeps the SQL semantics of ``clause``: a missing field, an array or a value of the
        other type makes the comparison unknown, so the record is not admitted (lax mode would unwrap
        arrays and admit ``[1, 50] < 40``). Names are quoted, so no name can change the path's shape.
        """
        steps = "".join("." + json.dumps(p) for p in self.path)
        op = "==" if self.op == "=" else "<>" if self.op == "!=" else self.op
        return f"@{steps} {op} ${var}"

    @property
    def is_numeric(self) -> bool:
        """Answered from the indexed ``head_numbers`` side table (a number compared with a number)."""
        return isinstance(self.value, float)

    def numbers_clause(self, *, match_only: bool = False) -> ColumnElement[bool]:
        """This numeric condition as ``key IN`` an index range of ``head_numbers`` (path, value), with the
        semantics of the JSON form: only a number reached through objects at that path is compared.

        For statements the numbers select keys for (the dense side's candidate set). Checking a short
        ranked list (lexical hits, over-fetched neighbours) keeps the JSON form on the few rows it reads:
        SQLite turned a correlated probe of the side table there into a scan driven by it.
        """
        value = head_numbers.c.value
        ops = {"<": value < self.value, "<=": value <= self.value, ">": value > self.value,
               ">=": value >= self.value, "=": value == self.value, "!=": value != self.value}
        match = and_(head_numbers.c.path == ".".join(self.path), ops[self.op])
        if match_only:  # the condition on head_numbers itself
            return match
        return heads.c.key.in_(select(head_numbers.c.key).where(match))

    def clause(self, dialect: str) -> ColumnElement[bool]:
        """One condition alone; ``Filters.clause`` compiles a list (on PostgreSQL, into one predicate)."""
        if dialect != "sqlite":
            return _jsonb_conditions([self])
        # On SQLite the list's bound (MAX_CONDITIONS) caps the work per row.
        path = "$." + ".".join(f'"{p}"' for p in self.path)
        raw = func.json_extract(heads.c.envelope, path)
        kind = func.json_type(heads.c.envelope, path)
        numeric = case((kind.in_(["integer", "real"]), raw), else_=None)
        textual = case((kind == "text", raw), else_=None)
        target = numeric if isinstance(self.value, float) else textual
        ops = {"<": target < self.value, "<=": target <= self.value, ">": target > self.value,
               ">=": target >= self.value, "=": target == self.value, "!=": target != self.value}
        return ops[self.op]


@dataclass
class Filters:
    """Structured filters over the current records; all given ones must hold."""

    kind: Sequence[str] | None = None
    model: Sequence[str] | None = None
    tags: Sequence[str] | None = None
    since: str | None = None
    until: str | None = None
    where: Sequence[Condition] = field(default_factory=list)

    @classmethod
    def of(cls, *, kind: str | Sequence[str] | None = None, model: str | Sequence[str] | None = None,
           tags: str | Sequence[str] | None = None, since: str | None = None, until: str | None = None,
           where: str | Sequence[str] | None = None) -> Filters:
        def listed(value: str | Sequence[str] | None) -> list[str] | None:
            if value is None or value == [] or value == "":
                return None
            return [value] if isinstance(value, str) else [str(v) for v in value]

        texts = listed(where) or []
        if len(texts) > MAX_CONDITIONS:
            raise UsageError(f"--where: {len(texts)} conditions; at most {MAX_CONDITIONS} per search "
                             "(filter further in the caller, or narrow by kind, model or tags)")
        conditions = [Condition.parse(w) for w in texts]
        return cls(kind=listed(kind), model=listed(model), tags=listed(tags), since=_bound(since, "since"),
                   until=_bound(until, "until"), where=conditions)

    @property
    def is_empty(self) -> bool:
        return not (self.kind or self.model or self.tags or self.since or self.until or self.where)

    def clause(self, dialect: str, *, driving: bool = False) -> ColumnElement[bool] | None:
        """All filters over ``heads``; ``driving`` when the statement selects its keys by them: numeric
        conditions are then index ranges of ``head_numbers`` (see ``Condition.numbers_clause``)."""
        parts: list[ColumnElement[bool]] = []
        if self.kind:
            parts.append(heads.c.kind.in_(list(self.kind)))
        if self.model:
            parts.append(heads.c.model.in_(list(self.model)))
        for tag in self.tags or []:
            parts.append(heads.c.tags.contains(json.dumps(tag), autoescape=True))
        if self.since:
            parts.append(heads.c.occurred_at >= self.since)
        if self.until:
            parts.append(heads.c.occurred_at < self.until)
        if driving:
            parts += [c.numbers_clause() for c in self.where if c.is_numeric]
        others = [c for c in self.where if not (driving and c.is_numeric)]
        if others and dialect != "sqlite":
            parts.append(_jsonb_conditions(others))
        else:
            parts += [c.clause(dialect) for c in others]
        return and_(*parts) if parts else None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "model": self.model, "tags": self.tags, "since": self.since,
                "until": self.until, "where": [f"{'.'.join(c.path)}{c.op}{c.value}" for c in self.where]}


def _jsonb_conditions(conditions: Sequence[Condition]) -> ColumnElement[bool]:
    """All conditions as one ``jsonb_path_exists`` over the envelope, which PostgreSQL casts to JSONB
    once per row (issue 20 row 4: a ``->`` chain per condition re-parsed a 10 MB envelope twice per
    condition per row, ~40 MB of backend memory each). Values are bound as path variables, never
    spliced into the path text."""
    predicate = " && ".join(f"({c.jsonpath(f'v{i}')})" for i, c in enumerate(conditions))
    variables = {f"v{i}": c.value for i, c in enumerate(conditions)}
    path = bindparam(None, f"strict $ ? ({predicate})", String)
    return func.jsonb_path_exists(cast(heads.c.envelope, JSONB), cast(path, JSONPATH),
                                  bindparam(None, variables, JSONB))


def _epoch(stored: str | None) -> int | None:
    return None if stored is None else int(parse_ts(stored).timestamp())


def _bound(value: str | None, name: str) -> str | None:
    """A time bound in stored form; a date-only ``until`` includes that whole day."""
    if not value:
        return None
    try:
        moment = parse_ts(value)
    except ValueError as exc:
        raise UsageError(f"--{name}: {time_problem(exc, value, 'date or time')}") from None
    if name == "until" and re.fullmatch(r"\d{4}-\d{2}(-\d{2})?", value.strip()):
        try:
            moment += timedelta(days=1) if len(value.strip()) == 10 else timedelta(days=31)
        except OverflowError:
            return None  # up to the end of 9999: no upper bound at all
        if len(value.strip()) == 7:  # a month: up to the first of the next month
            moment = moment.replace(day=1)
    try:
        return format_ts(moment)
    except ValueError as exc:
        raise UsageError(f"--{name}: {exc}") from None


@with_config(ConfigDict(extra="forbid"))
class SearchHitOut(TypedDict):
    """A ``SearchHit`` as JSON."""

    key: str
    version: int
    kind: str
    title: str
    model: str | None
    occurred_at: str | None
    score: float
    source: SourceOut


@with_config(ConfigDict(extra="forbid"))
class SearchOut(TypedDict):
    """A ``SearchResponse`` as JSON."""

    results: list[SearchHitOut]
    degraded: bool
    reason: str | None
    query: str


DensePlan = Literal["exact-all", "ann", "ann-overfetch", "mask", "exact-candidates", "overfetch"]
# Up to this many records admitted by a filter's SQL-only conditions (tags, fields), their vectors are
# scored exactly (one product over those rows); past it the filter is broad, and over-fetched
# neighbours checked in SQL find k admitted ones quickly.
EXACT_MAX_CANDIDATES = 20_000
# ... or up to one row in this many of the matrix, when that is more.
CANDIDATE_SHARE = 8


def plan_dense(filters: Filters, *, matrix_rows: int | None, candidates: int | None = None,
               exact_max_rows: int = EXACT_MAX_ROWS,
               exact_max_candidates: int = EXACT_MAX_CANDIDATES) -> DensePlan:
    """How the dense side answers a filter, by selectivity.

    ``matrix_rows``: rows of the in-process matrix (None while it loads); ``candidates``: records the
    SQL-only conditions admit (counted up to ``exact_max_candidates + 1``), when there are such.

    - unfiltered: an exact product over the whole matrix while it is small, else the ANN index;
    - kind, model and time alone: a numpy mask over the matrix, then an exact product (``mask``);
    - tags or field conditions admitting few records: their keys from SQL (indexes: ``head_numbers``
      for numbers), an exact product over their rows (``exact-candidates``);
    - broad ones: over-fetch from the masked matrix and keep what SQL admits (``overfetch``);
    - while the matrix loads: over-fetch from the ANN index.
    """
    if filters.is_empty:
        return "exact-all" if matrix_rows is not None and matrix_rows <= exact_max_rows else "ann"
    if matrix_rows is None:
        return "ann-overfetch"
    if not (filters.tags or filters.where):
        return "mask"
    if candidates is not None and candidates <= exact_max_candidates:
        return "exact-candidates"
    return "overfetch"


@dataclass(frozen=True)
class SearchHit:
    key: str
    version: int
    kind: str
    title: str
    model: str | None
    occurred_at: str | None
    score: float
    source_path: str | None = None
    source_anchor: str | None = None

    @property
    def citation(self) -> str:
        return f"{self.key}@{self.version}"

    def to_dict(self) -> SearchHitOut:
        return {"key": self.key, "version": self.version, "kind": self.kind, "title": self.title,
                "model": self.model, "occurred_at": self.occurred_at, "score": round(self.score, 6),
                "source": {"path": self.source_path, "anchor": self.source_anchor}}


@dataclass
class SearchResponse:
    """Results plus whether they came from the lexical index alone (``degraded``) and why."""

    query: str
    results: list[SearchHit]
    degraded: bool = False
    reason: str | None = None
    pending: int = 0
    cached: bool = False  # answered from the ResultCache; like ``reason``, not part of the JSON shape

    def to_dict(self) -> SearchOut:
        return {"results": [h.to_dict() for h in self.results], "degraded": self.degraded,
                "reason": self.reason, "query": self.query}


Stamp = tuple[int, int]


class ResultCache:
    """Recent responses per (query, filters, k), each valid only while the store is as it was.

    The stamp is (largest ``versions`` id, index generation): every write, delete, revert and import
    adds a version row, and every applied index batch bumps the generation, in SQL, so writes by
    other processes invalidate too. An agent asks the same things again (its startup context, the
    same question in a new session); a hit costs one indexed SQL read instead of a search. Degraded
    responses are never kept: the next query tries the index again.
    """

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[str, str, int], tuple[Stamp, SearchResponse]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(query: str, filters: Filters, k: int) -> tuple[str, str, int]:
        return query, json.dumps(filters.to_dict(), sort_keys=True), k

    def get(self, key: tuple[str, str, int], stamp: Stamp) -> SearchResponse | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != stamp:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
        cached = entry[1]
        return SearchResponse(query=cached.query, results=list(cached.results), cached=True)

    def put(self, key: tuple[str, str, int], stamp: Stamp, response: SearchResponse) -> None:
        if response.degraded:
            return
        with self._lock:
            self._entries[key] = (stamp, SearchResponse(query=response.query, results=list(response.results)))
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


class CandidateCache:
    """Recent tag/field filters' candidate keys and their matrix rows, each valid while the store is
    as it was (the same stamp as ``ResultCache``; rows also per matrix generation).

    A numeric condition's keys at 100k records (5.6k of them) cost ~1.5 ms to read and ~2 ms to map
    to matrix rows in Python, the same for every query under the same filter; an agent narrowing by
    one condition asks several questions in a row. One per store (``candidate_cache``); a few
    filters, and sets past EXACT_MAX_CANDIDATES are not kept (at most ~1.5 MB each).
    """

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self._entries: OrderedDict[str, tuple[Stamp, list[str], dict[tuple[int, int], np.ndarray]]] = OrderedDict()
        self._lock = threading.Lock()

    def keys(self, filters: Filters, stamp: Stamp) -> list[str] | None:
        name = _filter_key(filters)
        with self._lock:
            entry = self._entries.get(name)
            if entry is None or entry[0] != stamp:
                return None
            self._entries.move_to_end(name)
            return entry[1]

    def put(self, filters: Filters, stamp: Stamp, keys: list[str]) -> None:
        name = _filter_key(filters)
        with self._lock:
            self._entries[name] = (stamp, keys, {})
            self._entries.move_to_end(name)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def rows(self, filters: Filters, stamp: Stamp, matrix: VectorMatrix | SharedMatrix,
             keys: list[str]) -> np.ndarray:
        """``matrix.rows_for(keys)``, kept with the keys while the matrix stays at its generation."""
        slot = (id(matrix), matrix.generation)
        with self._lock:
            entry = self._entries.get(_filter_key(filters))
            if entry is None or entry[0] != stamp or entry[1] is not keys:
                entry = None
            elif slot in entry[2]:
                return entry[2][slot]
        rows = matrix.rows_for(keys)
        if entry is not None:
            with self._lock:
                entry[2].clear()
                entry[2][slot] = rows
        return rows

    def __len__(self) -> int:
        return len(self._entries)


def _filter_key(filters: Filters) -> str:
    return json.dumps(filters.to_dict(), sort_keys=True)


_CANDIDATE_CACHES: weakref.WeakKeyDictionary[Store, CandidateCache] = weakref.WeakKeyDictionary()
_CANDIDATE_CACHES_LOCK = threading.Lock()


def candidate_cache(store: Store) -> CandidateCache:
    """The store's ``CandidateCache`` (it lives as long as the store handle: no key of one database
    can answer for another's)."""
    with _CANDIDATE_CACHES_LOCK:
        cache = _CANDIDATE_CACHES.get(store)
        if cache is None:
            cache = _CANDIDATE_CACHES[store] = CandidateCache()
        return cache


class HybridSearch:
    """Dense, lexical and fused retrieval over the current versions in the store."""

    def __init__(self, store: Store, indexer: Indexer, *, cache: ResultCache | None = None) -> None:
        self.store = store
        self.indexer = indexer
        self.cache = cache
        self.dialect = store.engine.dialect.name
        self._conn: Connection | None = None
        self._generation: int | None = None  # read with the stamp, for the matrix's freshness check
        self.exact_max_candidates = EXACT_MAX_CANDIDATES
        self.plan: DensePlan | None = None  # how the last filtered dense query was answered (plan_dense)
        self._candidate_keys: list[str] | None = None  # this search's SQL candidates (see _candidates)
        self._candidate_limit: int | None = None  # the limit _candidate_keys was read with
        self._stamp_read: Stamp | None = None  # the store's stamp, when this search read it

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        """The search's own connection while ``search`` runs (one checkout and BEGIN per query, not four)."""
        if self._conn is not None:
            yield self._conn
        else:
            with self.store.read_connection() as conn:
                yield conn

    # ------------------------------------------------------------------ one side each
    def lexical(self, query: str, filters: Filters | None = None, *, n: int = 50,
                live: bool = True) -> list[tuple[str, float]]:
        """Keys by full-text relevance; ``live=False`` (unfiltered only) leaves the liveness check to the caller."""
        filters = filters or Filters()
        keys = self._candidate_keys
        if keys is not None and len(keys) <= self.exact_max_candidates and self.dialect == "sqlite":
            # The SQL candidates are known: rank in the full-text index alone and keep theirs (the same
            # ranked depth as the joined form, without reading the heads' JSON for 1,000 rows).
            with self._connection() as conn:
                return lexical.search_lexical(conn, query, kinds=filters.kind, models=filters.model,
                                              only_keys=frozenset(keys), limit=n)
        where = filters.clause(self.dialect)
        with self._connection() as conn:
            return lexical.search_lexical(conn, query, where=where, kinds=filters.kind, models=filters.model,
                                          tags=bool(filters.tags),
                                          others=bool(filters.since or filters.until or filters.where), limit=n,
                                          live_only=live)

    def dense(self, query: str, filters: Filters | None = None, *, n: int = 50,
              need: int | None = None, live: bool = True) -> list[tuple[str, float]]:
        """Keys by their best chunk's cosine similarity to the query; raises when the index is unusable.

        Unfiltered: exact over the in-process matrix while it is small and loaded, else the ANN index
        (Chroma HNSW); ``live=False`` leaves the liveness check to the caller. Filtered: the matrix,
        masked by kind, model and time in numpy; tag and field conditions are checked in SQL on an
        over-fetched candidate list, and when too few survive, on the exact SQL candidate set.
        """
        embedder = self.indexer.embedder()
        try:
            vector = np.asarray(embedder.embed_query(query), dtype=np.float32)
        except Exception as exc:
            raise ModelError(f"embedding the query failed: {exc}") from exc
        filters = filters or Filters()
        need = n if need is None else need
        if filters.is_empty:
            ranked = self._nearest(vector, n)
            return self._live(ranked, None, n) if live else ranked[:n]
        where = filters.clause(self.dialect)
        matrix = self._matrix()
        if matrix is None:
            # The matrix is still loading in the background: over-fetch from the ANN index meanwhile.
            self.plan = plan_dense(filters, matrix_rows=None)
            _embedder, index = self.indexer.ready_index()
            return self._live(self._best_per_key(index.query(vector, OVERFETCH)), where, n)
        keys: list[str] | None = None
        # Exact over the candidates while they are few in absolute terms or next to the matrix: at 1M records
        # a numeric condition admitting 55k keys is 4 % of the rows, and a product over those beats one over
        # all 1.28M rows followed by an SQL check of an over-fetched list (470 ms p50 measured that way).
        cap = self._candidate_cap(matrix)
        if filters.tags or filters.where:
            keys = self._candidates(filters, cap + 1)
        self.plan = plan_dense(filters, matrix_rows=matrix.rows, candidates=None if keys is None else len(keys),
                               exact_max_candidates=cap)
        if self.plan == "exact-candidates" and keys is not None:
            with matrix.lock:
                rows = (matrix.rows_for(keys) if self._stamp_read is None else
                        candidate_cache(self.store).rows(filters, self._stamp_read, matrix, keys))
                ranked = matrix.top(vector, rows, n * 2)
            return self._live(ranked, None, n)
        with matrix.lock:
            rows = np.flatnonzero(matrix.mask(kinds=filters.kind, models=filters.model,
                                              since_ts=_epoch(filters.since), until_ts=_epoch(filters.until)))
            needs_sql = self.plan == "overfetch"
            ranked = matrix.top(vector, rows, OVERFETCH if needs_sql else n * 2)
        found = self._live(ranked, where, n)  # the matrix's kind/model/time may lag the heads: SQL decides
        if needs_sql and len(found) < need and len(ranked) == OVERFETCH:
            keys = self._candidates(filters, None)
            with matrix.lock:
                ranked = matrix.top(vector, matrix.rows_for(keys), n * 2)
            found = self._live(ranked, None, n)
        return found

    def _candidate_cap(self, matrix: VectorMatrix | SharedMatrix | None) -> int:
        """Most candidates answered by an exact product over their rows: a fixed floor, or one row in
        ``CANDIDATE_SHARE`` of a large matrix."""
        rows = matrix.rows if matrix is not None else 0
        return max(self.exact_max_candidates, rows // CANDIDATE_SHARE)

    def _candidates(self, filters: Filters, limit: int | None) -> list[str]:
        """Keys of the live records the filters admit (at most ``limit``), selected through the indexes.

        Within one search the set is read once (``search`` asks before both sides run). Numeric
        conditions alone are answered from ``head_numbers`` without touching ``heads`` (its rows exist
        for live heads only): 5.5k keys at 100k records took 82 ms through ``heads``.
        """
        if self._candidate_keys is not None and limit is not None and limit == self._candidate_limit:
            return self._candidate_keys
        only_numbers = filters.where and all(c.is_numeric for c in filters.where) and not (
            filters.kind or filters.model or filters.tags or filters.since or filters.until)
        if only_numbers:
            found: list[str] | None = None
            with self._connection() as conn:
                for condition in filters.where:
                    keys = self._number_keys(conn, condition)
                    found = keys if found is None else sorted(set(found) & set(keys))
            found = found or []
            return found if limit is None else found[:limit]
        query = select(heads.c.key).where(heads.c.is_deleted.is_(False))
        where = filters.clause(self.dialect, driving=True)
        if where is not None:
            query = query.where(where)
        if limit is not None:
            query = query.limit(limit)
        with self._connection() as conn:
            return [row[0] for row in conn.execute(query)]

    @staticmethod
    def _number_keys(conn: Connection, condition: Condition) -> list[str]:
        """Keys whose number at the condition's path passes it: a range of the covering index
        (path, value, key), as plain SQL (5.6k keys at 100k records: through SQLAlchemy's row
        handling, 16 ms of CPU; plain, 1.5 ms)."""
        marker = "?" if conn.dialect.name == "sqlite" else "%s"
        # ``op`` is one of Condition's six operators, each the same in SQLite's and PostgreSQL's SQL.
        sql = f"SELECT key FROM head_numbers WHERE path = {marker} AND value {condition.op} {marker}"
        rows = conn.exec_driver_sql(sql, (".".join(condition.path), condition.value)).all()
        return [row[0] for row in rows]

    def _nearest(self, vector: np.ndarray, n: int) -> list[tuple[str, float]]:
        """About ``n`` keys nearest to ``vector`` over the whole index, live or not.

        Exact over the matrix while it is small (it loads from SQL, so a small store's searches never
        open Chroma); the ANN index when the matrix is large or still loading.
        """
        matrix = self._matrix()
        if matrix is not None and matrix.rows <= EXACT_MAX_ROWS:
            with matrix.lock:
                return matrix.top_all(vector, n)
        _embedder, index = self.indexer.ready_index()
        # Twice n chunks: a record has 1.3 chunks on average, and n already holds LIVE_SLACK spare
        # keys (3n cost Chroma 1.5 ms against 1.1 for 2n at 127k chunks).
        return self._best_per_key(index.query(vector, n * 2))

    def _matrix(self) -> VectorMatrix | SharedMatrix | None:
        with self._connection() as conn:
            return self.indexer.matrix(wait=False, conn=conn, generation=self._generation)

    @staticmethod
    def _best_per_key(hits: Sequence[tuple[str, float]]) -> list[tuple[str, float]]:
        best: dict[str, float] = {}
        for item, score in hits:
            key = key_of(item)
            if key not in best or score > best[key]:
                best[key] = score
        return sorted(best.items(), key=lambda kv: -kv[1])

    @staticmethod
    def _exact(vectors: dict[str, np.ndarray], query: np.ndarray, n: int) -> list[tuple[str, float]]:
        if not vectors:
            return []
        ids = list(vectors)
        scores = np.stack([vectors[i] for i in ids]) @ query
        return HybridSearch._best_per_key([(ids[i], float(scores[i])) for i in range(len(ids))])[:n]

    def _live(self, ranked: list[tuple[str, float]], where: ColumnElement[bool] | None,
              n: int) -> list[tuple[str, float]]:
        """Keep the ranked keys that are current, live and admitted by the filter (vectors may lag SQL)."""
        if not ranked:
            return []
        keys = list(dict.fromkeys(k for k, _s in ranked))
        # The filter is selected as a column, not put in WHERE: with `model IN (...)` in WHERE, SQLite
        # chose the model index and scanned 5k rows instead of 100 primary-key lookups (19 ms vs 0.1 ms).
        # The keys are one parameter (see _read_heads): an expanded IN of 120 parameters cost more to
        # build than the lookups.
        flag = (where if where is not None else heads.c.is_deleted.is_(False)).label("ok")
        sqlite = self.dialect == "sqlite"
        query = select(heads.c.key, heads.c.is_deleted, flag).where(
            text(_KEY_IN_LIST_SQLITE.replace("?", ":keys") if sqlite else "key = ANY(:keys)")
            .bindparams(keys=json.dumps(keys) if sqlite else keys))
        with self._connection() as conn:
            ok = {r.key for r in conn.execute(query).all() if r.ok and not r.is_deleted}
        return [(k, s) for k, s in ranked if k in ok][:n]

    # ------------------------------------------------------------------ fused
    def search(self, query: str, filters: Filters | None = None, *, k: int = 10,
               index_lag: str | None = None) -> SearchResponse:
        """Fused results; ``index_lag`` says why the vector index misses recent writes (also degraded)."""
        if k < 1:
            raise UsageError(f"-k must be at least 1, got {k}")
        filters = filters or Filters()
        depth = max(50, k * 3)
        # Unfiltered, both sides skip their own liveness check and one query over the union of their
        # candidates both checks them and reads the hits (one query instead of three).
        live = not filters.is_empty
        fetch = depth if live else depth + LIVE_SLACK
        cache_key = stamp = None
        with self.store.read_connection() as conn:
            self._conn = conn
            try:
                if self.cache is not None and not index_lag:
                    stamp = self._stamp(conn)
                    self._generation = stamp[1]
                    cache_key = ResultCache.key(query, filters, k)
                    cached = self.cache.get(cache_key, stamp)
                    if cached is not None:
                        return cached
                if filters.tags or filters.where:
                    stamp = stamp or self._stamp(conn)
                    self._generation = stamp[1]
                    self._stamp_read = stamp
                    cap = self._candidate_cap(self._matrix())
                    self._candidate_keys = candidate_cache(self.store).keys(filters, stamp)
                    if self._candidate_keys is None:
                        self._candidate_keys = self._candidates(filters, cap + 1)
                        if len(self._candidate_keys) <= cap:
                            candidate_cache(self.store).put(filters, stamp, self._candidate_keys)
                    self._candidate_limit = cap + 1
                lexical_ranked = self.lexical(query, filters, n=fetch, live=live)
                degraded, reason = False, None
                try:
                    dense_ranked = self.dense(query, filters, n=fetch, need=k, live=live)
                except FingerprintMismatch:
                    raise
                except (IndexUnavailable, ModelError) as exc:
                    dense_ranked, degraded, reason = [], True, exc.message
                if index_lag and not degraded:
                    degraded, reason = True, index_lag
                if not live:
                    alive = self._live_keys([key for key, _s in dense_ranked + lexical_ranked])
                    dense_ranked = [(key, s) for key, s in dense_ranked if key in alive][:depth]
                    lexical_ranked = [(key, s) for key, s in lexical_ranked if key in alive][:depth]
                fused = fuse([dense_ranked, lexical_ranked])[:k]
                hits = self.hits(fused)
            finally:
                self._conn = None
                self._generation = None
                self._candidate_keys = None
                self._candidate_limit = None
                self._stamp_read = None
        response = SearchResponse(query=query, results=hits, degraded=degraded, reason=reason)
        if self.cache is not None and cache_key is not None and stamp is not None:
            self.cache.put(cache_key, stamp, response)
        return response

    @staticmethod
    def _stamp(conn: Connection) -> Stamp:
        """What a cached response was computed from: the last version written and the index generation."""
        row = conn.exec_driver_sql(_STAMP_SQL).one()
        return int(row[0]), int(row[1])

    def _live_keys(self, keys: Sequence[str]) -> set[str]:
        """Those of ``keys`` that are current and live: a key-only read, the envelopes are read for the
        final hits alone (120 envelopes were 0.4 ms of a search's fetching)."""
        return {row[0] for row in self._read_heads(keys, ("key",))}

    def _head_rows(self, keys: Sequence[str]) -> dict[str, Any]:
        """The current, live heads rows of these keys."""
        return {r.key: r for r in self._read_heads(keys, ("key", "version", "kind", "title", "model", "envelope"))}

    def _read_heads(self, keys: Sequence[str], columns: tuple[str, ...]) -> Sequence[Any]:
        if not keys:
            return []
        unique = list(dict.fromkeys(keys))
        sqlite = self.dialect == "sqlite"
        sql = (f"SELECT {', '.join(columns)} FROM heads "
               f"WHERE {_KEY_IN_LIST_SQLITE if sqlite else _KEY_IN_LIST_POSTGRES} AND NOT is_deleted")
        with self._connection() as conn:
            return conn.exec_driver_sql(sql, (json.dumps(unique) if sqlite else unique,)).all()

    def hits(self, ranked: Sequence[tuple[str, float]]) -> list[SearchHit]:
        """Hits for ranked keys (current and live ones; the rest are skipped)."""
        if not ranked:
            return []
        rows = self._head_rows([k for k, _s in ranked])
        out: list[SearchHit] = []
        for key, score in ranked:
            row = rows.get(key)
            if row is None:
                continue
            envelope = json.loads(row.envelope)
            source = envelope.get("source") or {}
            out.append(SearchHit(key=key, version=row.version, kind=row.kind, title=row.title, model=row.model,
                                 occurred_at=envelope.get("occurred_at"), score=score,
                                 source_path=source.get("path"), source_anchor=source.get("anchor")))
        return out


def fuse(rankings: Sequence[Sequence[tuple[str, float]]], *, k: int = RRF_K) -> list[tuple[str, float]]:
    """Reciprocal rank fusion: each list adds 1/(k + rank); scores of different scales never mix."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, (key, _score) in enumerate(ranking, start=1):
            scores[key] = scores.get(key, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


__all__ = ["CandidateCache", "Condition", "DensePlan", "Filters", "HybridSearch", "ResultCache", "SearchHit",
           "SearchResponse", "candidate_cache", "fuse", "plan_dense"]
