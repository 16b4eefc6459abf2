"""The versioned record store: every write is a new immutable version, never an overwrite.

Each public write is one transaction that also queues an index job in the outbox (docs/design.md §5).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, NotRequired, cast

from pydantic import ConfigDict, with_config
from sqlalchemy import Connection, Engine, and_, bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from typing_extensions import TypedDict

from elephant.errors import Conflict, ElephantError, NotFound, StoreError, UsageError
from elephant.kinds.benchmark import series_key
from elephant.records.envelope import Record, SourceOut, content_hash
from elephant.records.numbers import numeric_leaves
from elephant.storage.db import db_failure
from elephant.storage.schema import head_numbers, heads, ingested_files, outbox, versions
from elephant.timeutil import format_ts, next_after, parse_ts, sortable_ts, time_problem, utc_now

WriteStatus = Literal["created", "updated", "unchanged", "deleted", "reverted"]


@with_config(ConfigDict(extra="forbid"))
class WriteResultOut(TypedDict):
    """A ``WriteResult`` as JSON."""

    key: str
    version: int
    status: WriteStatus
    content_hash: str
    recorded_at: str
    kind: str


@with_config(ConfigDict(extra="forbid"))
class RecordOut(TypedDict):
    """A ``StoredRecord`` as JSON: the envelope (its empty optional parts left out) plus what the store knows."""

    kind: str
    key: str
    title: str
    model: NotRequired[str]
    model_version: NotRequired[str]
    occurred_at: NotRequired[str]
    tags: NotRequired[list[str]]
    links: NotRequired[list[dict[str, str]]]
    body: NotRequired[str]
    fields: NotRequired[dict[str, Any]]
    source: NotRequired[SourceOut]
    version: int
    recorded_at: str
    content_hash: str
    author: str
    message: str
    deleted: bool


@with_config(ConfigDict(extra="forbid"))
class VersionOut(TypedDict):
    """A ``VersionInfo`` (one line of a history) as JSON."""

    key: str
    version: int
    content_hash: str
    recorded_at: str
    author: str
    message: str
    deleted: bool
    kind: str
    title: str
    occurred_at: str | None


@dataclass(frozen=True)
class WriteResult:
    """What one write did to one key."""

    key: str
    version: int
    status: WriteStatus
    content_hash: str
    recorded_at: str
    kind: str = ""

    @property
    def is_change(self) -> bool:
        return self.status != "unchanged"

    def to_dict(self) -> WriteResultOut:
        return {"key": self.key, "version": self.version, "status": self.status,
                "content_hash": self.content_hash, "recorded_at": self.recorded_at, "kind": self.kind}


@dataclass(frozen=True)
class StoredRecord:
    """One version of a record: the envelope plus what the store knows about that version."""

    envelope: dict[str, Any]
    version: int
    recorded_at: str
    content_hash: str
    author: str = ""
    message: str = ""
    is_deleted: bool = False

    @property
    def key(self) -> str:
        return str(self.envelope["key"])

    @property
    def kind(self) -> str:
        return str(self.envelope["kind"])

    @property
    def citation(self) -> str:
        return f"{self.key}@{self.version}"

    def to_dict(self) -> RecordOut:
        return cast(RecordOut, {**self.envelope, "version": self.version, "recorded_at": self.recorded_at,
                                "content_hash": self.content_hash, "author": self.author, "message": self.message,
                                "deleted": self.is_deleted})


@dataclass(frozen=True)
class VersionInfo:
    key: str
    version: int
    content_hash: str
    recorded_at: str
    author: str
    message: str
    is_deleted: bool
    kind: str
    title: str
    occurred_at: str | None

    def to_dict(self) -> VersionOut:
        return {"key": self.key, "version": self.version, "content_hash": self.content_hash,
                "recorded_at": self.recorded_at, "author": self.author, "message": self.message,
                "deleted": self.is_deleted, "kind": self.kind, "title": self.title,
                "occurred_at": self.occurred_at}


@dataclass
class ExportedVersion:
    """One line of an export file."""

    key: str
    version: int
    content_hash: str
    recorded_at: str
    author: str
    message: str
    deleted: bool
    envelope: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "version": self.version, "content_hash": self.content_hash,
                "recorded_at": self.recorded_at, "author": self.author, "message": self.message,
                "deleted": self.deleted, "envelope": self.envelope}


@dataclass(frozen=True)
class SourceFileWrite:
    """One ingested file's part of a write: its records and the keys it gave before but no longer does."""

    root: str
    path: str
    records: Sequence[Record]
    stale_keys: Sequence[str]
    sha256: str
    size: int
    parser: str
    # What to remember besides the records' keys, for sources that are not files (an MLflow alias keeps
    # the keys of all its moves; a watermark row has no record and must be kept all the same).
    keys: Sequence[str] | None = None
    keep_without_records: bool = False


@dataclass(frozen=True)
class SourceFileResult:
    path: str
    written: list[WriteResult]
    deleted: list[WriteResult]


def tombstone_hash(key: str) -> str:
    return content_hash({"tombstone": True, "key": key})


def _loads(text: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(text)
    return value


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


UNCONDITIONAL_ATTEMPTS = 5
# Records per transaction of a bulk write (``write_bulk``): large enough that statements, not round
# trips, dominate; small enough that a crash or a conflict costs little and the outbox drains as it goes.
BULK_BATCH = 500
_DEFERRED = "elephant_deferred_writes"  # Connection.info entry: derived writes waiting for their batch
# PostgreSQL plans from statistics that autovacuum refreshes only later: right after a bulk load a
# filtered search ran a nested loop over what the statistics still called an empty table, until
# ANALYZE. So a bulk write that changed at least ANALYZE_MIN_ROWS rows, and at least ANALYZE_FRACTION
# of what a table's statistics last counted, analyzes it at once (a growing table: log(N) times).
ANALYZE_MIN_ROWS = 1000
ANALYZE_FRACTION = 0.1
# The tables a bulk write of records changes (the indexes' tables: ``INDEX_TABLES``).
RECORD_TABLES = ("versions", "heads", "head_numbers", "outbox")
INDEX_TABLES = ("lexical_docs", "index_chunks")


class Store:
    """Versioned records on SQLAlchemy; one instance per database, safe to share across threads."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"
        # Called inside the write transaction after each new (non-tombstone) version, so that what
        # a write implies (e.g. a regression finding for a benchmark) commits atomically with it.
        self.write_hooks: list[Callable[[Connection, Record, WriteResult], None]] = []

    # ------------------------------------------------------------------ transactions
    @contextmanager
    def write_transaction(self) -> Iterator[Connection]:
        """One write transaction; SQLite takes its write lock up front."""
        try:
            with self.engine.connect() as conn:
                if self.is_sqlite:
                    conn = conn.execution_options(sqlite_begin="IMMEDIATE")
                with conn.begin():
                    yield conn
        except ElephantError:
            raise
        except IntegrityError as exc:
            # Two writers raced to the same new version number: the loser's write is stale.
            raise Conflict("a concurrent write changed the record first; re-read and retry") from exc
        except SQLAlchemyError as exc:
            raise StoreError(f"database write failed: {db_failure(exc)}") from exc

    @contextmanager
    def read_connection(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except ElephantError:
            raise
        except SQLAlchemyError as exc:
            raise StoreError(f"database read failed: {db_failure(exc)}") from exc

    # ------------------------------------------------------------------ writes
    def write_records(
        self,
        records: Sequence[Record],
        *,
        author: str,
        message: str = "",
        expected_versions: dict[str, int] | None = None,
    ) -> list[WriteResult]:
        """Write records in ONE transaction; a conflict on any of them writes none."""
        keys = [r.key for r in records]
        if len(set(keys)) != len(keys):
            dupes = sorted({k for k in keys if keys.count(k) > 1})
            raise UsageError(f"the same key appears twice in one write: {', '.join(dupes)}")
        expected_versions = expected_versions or {}
        # Unconditional writes that race to create the same new key both insert version 1 (there is no
        # row to lock yet) and the loser hits the unique constraint. Its caller asked for no particular
        # version, so the write is simply tried again: it then sees the winner's head and writes v2 (or
        # "unchanged"). Conditional writes keep their Conflict: the caller named a version.
        attempts = 1 if expected_versions else UNCONDITIONAL_ATTEMPTS
        for attempt in range(1, attempts + 1):
            try:
                with self.write_transaction() as conn:
                    if len(records) == 1:
                        record = records[0]
                        return [self._write_one(conn, record, author=author, message=message,
                                                expected_version=expected_versions.get(record.key))]
                    return self._write_batch(conn, records, author=author, message=message,
                                             expected_versions=expected_versions)
            except Conflict:
                if attempt == attempts:
                    raise
        raise AssertionError("unreachable")

    def _lock_head(self, conn: Connection, key: str) -> Any:
        query = select(heads).where(heads.c.key == key)
        if not self.is_sqlite:
            query = query.with_for_update()
        return conn.execute(query).first()

    @staticmethod
    def _check_expected(key: str, head: Any, expected_version: int | None) -> None:
        if expected_version is None:
            return
        current = head.version if head is not None else 0
        if current != expected_version:
            state = f"v{current}" if head is not None else "no version"
            raise Conflict(f"{key}: expected v{expected_version} but the store has {state}; re-read and retry",
                           key=key, expected=expected_version, current=current)

    def _write_one(self, conn: Connection, record: Record, *, author: str, message: str,
                   expected_version: int | None, status: WriteStatus | None = None) -> WriteResult:
        head = self._lock_head(conn, record.key)
        self._check_expected(record.key, head, expected_version)
        envelope = record.envelope()
        digest = content_hash(envelope)
        if head is not None and not head.is_deleted and head.content_hash == digest:
            return WriteResult(record.key, head.version, "unchanged", digest, head.recorded_at, record.kind)
        number = (head.version if head is not None else 0) + 1
        recorded_at = next_after(head.recorded_at if head is not None else None, utc_now())
        self._insert_version(conn, head, key=record.key, number=number, digest=digest, recorded_at=recorded_at,
                             author=author, message=message, is_tombstone=False, envelope=envelope)
        chosen: WriteStatus = status or ("created" if head is None else "updated")
        result = WriteResult(record.key, number, chosen, digest, recorded_at, record.kind)
        for hook in self.write_hooks:
            hook(conn, record, result)
        return result

    def write_bulk(self, records: Sequence[Record], *, author: str, message: str = "",
                   batch: int = BULK_BATCH, on_batch: Callable[[int], None] | None = None) -> list[WriteResult]:
        """Write many records, ``batch`` per transaction: each batch commits whole or not at all, so a
        crash loses no committed batch and leaves no half one. ``on_batch(n)`` after each commit."""
        keys = [r.key for r in records]
        if len(set(keys)) != len(keys):
            dupes = sorted({k for k in keys if keys.count(k) > 1})
            raise UsageError(f"the same key appears twice in one write: {', '.join(dupes)}")
        out: list[WriteResult] = []
        for start in range(0, len(records), max(1, batch)):
            part = records[start:start + batch]
            out += self.write_records(part, author=author, message=message)
            if on_batch is not None:
                on_batch(len(part))
        self.refresh_statistics(RECORD_TABLES, sum(r.status != "unchanged" for r in out))
        return out

    def refresh_statistics(self, tables: Sequence[str], changed: int) -> list[str]:
        """ANALYZE those of ``tables`` whose planner statistics ``changed`` rows made stale (PostgreSQL;
        see ANALYZE_MIN_ROWS); returns the tables analyzed. SQLite has no statistics until ANALYZE is
        first run, and its plans here were chosen without them (docs/design.md §7), so it is left as is."""
        if self.is_sqlite or changed < ANALYZE_MIN_ROWS:
            return []
        done: list[str] = []
        try:
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                for table in tables:
                    # reltuples: rows at the last ANALYZE or VACUUM; -1 (PostgreSQL 14+) or 0 before the first.
                    counted = conn.exec_driver_sql("SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)",
                                                   (table,)).scalar()
                    if counted is None or changed < ANALYZE_FRACTION * max(float(counted), 0.0):
                        continue
                    conn.exec_driver_sql(f'ANALYZE "{table}"')
                    done.append(table)
        except SQLAlchemyError:
            pass  # statistics only speed plans up; the write has committed, and autovacuum comes later
        return done

    def write_derived(self, conn: Connection, record: Record, *, author: str, message: str) -> None:
        """A write that a hook derives from another (a regression finding from a benchmark), in the same
        transaction: at once, or inside a batch after the batch's own hooks, batched in turn."""
        deferred = conn.info.get(_DEFERRED)
        if deferred is None:
            self._write_one(conn, record, author=author, message=message, expected_version=None)
        else:
            deferred.append((record, author, message))

    def _write_batch(self, conn: Connection, records: Sequence[Record], *, author: str, message: str,
                     expected_versions: dict[str, int] | None = None,
                     messages: Sequence[str] | None = None, authors: Sequence[str] | None = None) -> list[WriteResult]:
        """Write records inside the caller's transaction with a few statements per 500 (heads read and
        locked at once; versions, heads and outbox rows inserted with executemany), then run the write
        hooks in record order. What each record gets is what ``_write_one`` one by one would give: the
        same version numbers, statuses and hashes; ``recorded_at`` increases strictly in record order,
        so a hook sees the records before it in the batch and none after."""
        expected_versions = expected_versions or {}
        keys = [r.key for r in records]
        if len(set(keys)) != len(keys):  # a key twice (an ingested file may give one): in order, one by one
            return [self._write_one(conn, r, author=author, message=message,
                                    expected_version=expected_versions.get(r.key)) for r in records]
        found: dict[str, Any] = {}
        for start in range(0, len(keys), 500):
            query = select(heads).where(heads.c.key.in_(keys[start:start + 500]))
            if not self.is_sqlite:
                query = query.with_for_update()
            found.update({row.key: row for row in conn.execute(query)})
        results: list[WriteResult] = []
        written: list[tuple[Record, WriteResult]] = []
        version_rows: list[dict[str, Any]] = []
        new_heads: list[dict[str, Any]] = []
        moved_heads: list[dict[str, Any]] = []
        jobs: list[dict[str, Any]] = []
        previous: str | None = None
        for index, record in enumerate(records):
            head = found.get(record.key)
            self._check_expected(record.key, head, expected_versions.get(record.key))
            envelope = record.envelope()
            digest = content_hash(envelope)
            if head is not None and not head.is_deleted and head.content_hash == digest:
                results.append(WriteResult(record.key, head.version, "unchanged", digest, head.recorded_at,
                                           record.kind))
                continue
            number = (head.version if head is not None else 0) + 1
            floor = head.recorded_at if head is not None else None
            if previous is not None and (floor is None or previous > floor):
                floor = previous
            recorded_at = previous = next_after(floor, utc_now())
            version_row, head_row = _version_rows(record.key, number, digest, recorded_at,
                                                  authors[index] if authors else author,
                                                  messages[index] if messages else message, False, envelope)
            version_rows.append(version_row)
            if head is None:
                new_heads.append({"key": record.key, **head_row})
            else:
                moved_heads.append({"b_key": record.key, "b_old": head.version, **head_row})
            jobs.append({"key": record.key, "version": number, "op": "upsert", "created_at": recorded_at})
            result = WriteResult(record.key, number, "created" if head is None else "updated", digest,
                                 recorded_at, record.kind)
            results.append(result)
            written.append((record, result))
        if version_rows:
            conn.execute(insert(versions), version_rows)
        if new_heads:
            conn.execute(insert(heads), new_heads)
        if moved_heads:
            # The heads were read FOR UPDATE (PostgreSQL) or under SQLite's write lock: they cannot move.
            statement = update(heads).where(and_(heads.c.key == bindparam("b_key"),
                                                 heads.c.version == bindparam("b_old")))
            done = conn.execute(statement, moved_heads)
            if self.engine.dialect.supports_sane_multi_rowcount and done.rowcount != len(moved_heads):
                raise Conflict("a concurrent write changed a record of this batch first; re-read and retry")
        if jobs:
            conn.execute(insert(outbox), jobs)
        self._replace_numbers(conn, [m["b_key"] for m in moved_heads],
                              [(record.key, record.envelope()) for record, _result in written])
        if not written or not self.write_hooks:
            return results
        outer = conn.info.get(_DEFERRED)
        deferred: list[tuple[Record, str, str]] = []
        conn.info[_DEFERRED] = deferred
        try:
            for record, result in written:
                for hook in self.write_hooks:
                    hook(conn, record, result)
        finally:
            conn.info[_DEFERRED] = outer
        if deferred:
            derived = list({r.key: (r, a, m) for r, a, m in deferred}.values())  # the last one per key
            self._write_batch(conn, [r for r, _a, _m in derived], author=author, message=message,
                              messages=[m for _r, _a, m in derived], authors=[a for _r, a, _m in derived])
        return results

    @staticmethod
    def _replace_numbers(conn: Connection, stale: Sequence[str], live: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Keep ``head_numbers`` with the heads: drop the rows of ``stale`` keys, add those of ``live`` envelopes."""
        if stale:
            conn.execute(delete(head_numbers).where(head_numbers.c.key == bindparam("b_key")),
                         [{"b_key": key} for key in stale])
        rows = [{"key": key, "path": path, "value": value} for key, envelope in live
                for path, value in numeric_leaves(envelope)]
        if rows:
            conn.execute(insert(head_numbers), rows)

    def _insert_version(self, conn: Connection, head: Any, *, key: str, number: int, digest: str,
                        recorded_at: str, author: str, message: str, is_tombstone: bool,
                        envelope: dict[str, Any]) -> None:
        row, head_row = _version_rows(key, number, digest, recorded_at, author, message, is_tombstone, envelope)
        conn.execute(insert(versions).values(**row))
        if head is None:
            conn.execute(insert(heads).values(key=key, **head_row))
        else:
            updated = conn.execute(
                update(heads).where(and_(heads.c.key == key, heads.c.version == head.version)).values(**head_row)
            )
            if updated.rowcount != 1:
                raise Conflict(f"{key}: a concurrent write changed the record first; re-read and retry", key=key)
        conn.execute(insert(outbox).values(key=key, version=number, op="delete" if is_tombstone else "upsert",
                                           created_at=recorded_at))
        self._replace_numbers(conn, [key] if head is not None else [], [] if is_tombstone else [(key, envelope)])

    def delete(self, key: str, *, author: str, message: str = "", expected_version: int | None = None) -> WriteResult:
        """Write a tombstone version; history stays readable and a later write revives the key."""
        with self.write_transaction() as conn:
            return self._delete_one(conn, key, author=author, message=message, expected_version=expected_version)

    def _delete_one(self, conn: Connection, key: str, *, author: str, message: str,
                    expected_version: int | None) -> WriteResult:
        head = self._lock_head(conn, key)
        if head is None:
            raise NotFound(f"no record with key {key!r}", key=key)
        self._check_expected(key, head, expected_version)
        if head.is_deleted:
            raise NotFound(f"{key!r} is already deleted (v{head.version}); its history is still readable", key=key)
        number = head.version + 1
        recorded_at = next_after(head.recorded_at, utc_now())
        digest = tombstone_hash(key)
        self._insert_version(conn, head, key=key, number=number, digest=digest, recorded_at=recorded_at,
                             author=author, message=message or "deleted", is_tombstone=True,
                             envelope=_loads(head.envelope))
        return WriteResult(key, number, "deleted", digest, recorded_at, head.kind)

    def delete_many(self, keys: Iterable[str], *, author: str, message: str = "") -> list[WriteResult]:
        """Tombstone several keys in one transaction (used by ``ingest --prune``)."""
        with self.write_transaction() as conn:
            return [self._delete_one(conn, key, author=author, message=message, expected_version=None)
                    for key in keys]

    def revert(self, key: str, to_version: int, *, author: str, message: str = "",
               expected_version: int | None = None) -> WriteResult:
        """Write a new version whose content equals version ``to_version``."""
        with self.write_transaction() as conn:
            target = self._version_row(conn, key, to_version)
            envelope = _loads(target.envelope)
            if target.is_tombstone:
                head = self._lock_head(conn, key)
                self._check_expected(key, head, expected_version)
                if head.is_deleted:
                    return WriteResult(key, head.version, "unchanged", head.content_hash, head.recorded_at, head.kind)
                return self._delete_one(conn, key, author=author, expected_version=None,
                                        message=message or f"revert to v{to_version} (deleted)")
            from elephant.records.envelope import validate_record

            record = validate_record(envelope)
            return self._write_one(conn, record, author=author, message=message or f"revert to v{to_version}",
                                   expected_version=expected_version, status="reverted")

    # ------------------------------------------------------------------ reads
    def _version_row(self, conn: Connection, key: str, number: int) -> Any:
        row = conn.execute(select(versions).where(and_(versions.c.key == key, versions.c.version == number))).first()
        if row is None:
            if conn.execute(select(heads.c.version).where(heads.c.key == key)).first() is None:
                raise NotFound(f"no record with key {key!r}", key=key)
            raise NotFound(f"{key!r} has no version {number}", key=key, version=number)
        return row

    @staticmethod
    def _stored(row: Any) -> StoredRecord:
        return StoredRecord(envelope=_loads(row.envelope), version=row.version, recorded_at=row.recorded_at,
                            content_hash=row.content_hash, author=row.author, message=row.message,
                            is_deleted=bool(row.is_tombstone))

    def get(self, key: str, *, version: int | None = None, as_of: str | None = None,
            include_deleted: bool = False) -> StoredRecord:
        """The current version, version ``version``, or the version current at transaction time ``as_of``."""
        if version is not None and as_of is not None:
            raise UsageError("give either a version or an as-of time, not both")
        with self.read_connection() as conn:
            if version is not None:
                return self._stored(self._version_row(conn, key, version))
            query = select(versions).where(versions.c.key == key)
            if as_of is not None:
                query = query.where(versions.c.recorded_at <= _as_of_text(as_of))
            row = conn.execute(query.order_by(versions.c.version.desc()).limit(1)).first()
            if row is None:
                exists = conn.execute(select(heads.c.version).where(heads.c.key == key)).first() is not None
                if exists and as_of is not None:
                    raise NotFound(f"{key!r} did not exist yet at {as_of}", key=key)
                raise NotFound(f"no record with key {key!r}", key=key)
            if row.is_tombstone and not include_deleted:
                when = f" as of {as_of}" if as_of else ""
                raise NotFound(f"{key!r} was deleted{when} (v{row.version}); read an earlier version with "
                               f"--version", key=key, deleted_version=row.version)
            return self._stored(row)

    def history(self, key: str) -> list[VersionInfo]:
        with self.read_connection() as conn:
            rows = conn.execute(select(versions).where(versions.c.key == key).order_by(versions.c.version)).all()
        if not rows:
            raise NotFound(f"no record with key {key!r}", key=key)
        return [VersionInfo(r.key, r.version, r.content_hash, r.recorded_at, r.author, r.message,
                            bool(r.is_tombstone), r.kind, r.title, r.occurred_at) for r in rows]

    def current_many(self, keys: Sequence[str]) -> dict[str, StoredRecord]:
        """Current, non-deleted versions of several keys in one query."""
        if not keys:
            return {}
        out: dict[str, StoredRecord] = {}
        with self.read_connection() as conn:
            for start in range(0, len(keys), 500):
                chunk = list(keys[start:start + 500])
                rows = conn.execute(select(heads).where(and_(heads.c.key.in_(chunk), heads.c.is_deleted.is_(False))))
                for r in rows:
                    out[r.key] = StoredRecord(envelope=_loads(r.envelope), version=r.version,
                                              recorded_at=r.recorded_at, content_hash=r.content_hash)
        return out

    def iter_current(self, *, kind: str | None = None, model: str | None = None,
                     include_deleted: bool = False) -> Iterator[StoredRecord]:
        """Current versions, optionally filtered by kind and model, in key order."""
        query = select(heads)
        if not include_deleted:
            query = query.where(heads.c.is_deleted.is_(False))
        if kind is not None:
            query = query.where(heads.c.kind == kind)
        if model is not None:
            query = query.where(heads.c.model == model)
        with self.read_connection() as conn:
            for r in conn.execute(query.order_by(heads.c.key)):
                yield StoredRecord(envelope=_loads(r.envelope), version=r.version, recorded_at=r.recorded_at,
                                   content_hash=r.content_hash, is_deleted=bool(r.is_deleted))

    def last_version_id(self) -> int:
        """The id of the newest version row: it changes on every write (one indexed read)."""
        with self.read_connection() as conn:
            return int(conn.execute(select(func.coalesce(func.max(versions.c.id), 0))).scalar_one())

    def model_counts(self) -> dict[str, int]:
        """Live records per model, by model name."""
        with self.read_connection() as conn:
            rows = conn.execute(select(heads.c.model, func.count()).where(
                and_(heads.c.is_deleted.is_(False), heads.c.model.is_not(None))).group_by(heads.c.model)).all()
        return {str(m): int(n) for m, n in sorted(rows, key=lambda r: str(r[0]))}

    def browse_current(self, *, kinds: Sequence[str] = (), model: str | None = None, tag: str | None = None,
                       since: str | None = None, until: str | None = None, limit: int = 50,
                       offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """A page of live records, newest first by ``occurred_at`` (else ``recorded_at``), and the total.

        ``since``/``until`` are ISO times; a date-only ``until`` covers that whole day.
        """
        when = func.coalesce(heads.c.occurred_at, heads.c.recorded_at)
        conditions: list[Any] = [heads.c.is_deleted.is_(False)]
        if kinds:
            conditions.append(heads.c.kind.in_(list(kinds)))
        if model:
            conditions.append(heads.c.model == model)
        if tag:
            conditions.append(heads.c.tags.like("%" + json.dumps(tag)[:-1].replace("%", r"\%").replace("_", r"\_")
                                                + '"%', escape="\\"))
        if since:
            conditions.append(when >= sortable_ts(since))
        if until:
            end = sortable_ts(until) or ""
            conditions.append(when <= (end[:10] + "T23:59:59.999999Z" if len(until) == 10 else end))
        with self.read_connection() as conn:
            total = int(conn.execute(select(func.count()).select_from(heads).where(and_(*conditions))).scalar_one())
            rows = conn.execute(select(heads.c.key, heads.c.version, heads.c.kind, heads.c.title, heads.c.model,
                                       heads.c.occurred_at).where(and_(*conditions))
                                .order_by(when.desc(), heads.c.key).limit(limit).offset(offset)).all()
        return [{"key": r.key, "version": r.version, "kind": r.kind, "title": r.title, "model": r.model,
                 "occurred_at": r.occurred_at} for r in rows], total

    def counts(self) -> dict[str, int]:
        """Live records per kind, plus totals of keys and versions."""
        with self.read_connection() as conn:
            per_kind: dict[str, int] = dict(conn.execute(select(heads.c.kind, func.count()).where(heads.c.is_deleted.is_(False))
                                         .group_by(heads.c.kind)).all())
            total_versions = conn.execute(select(func.count()).select_from(versions)).scalar_one()
            deleted = conn.execute(select(func.count()).select_from(heads).where(heads.c.is_deleted.is_(True))).scalar_one()
        return {**{str(k): int(v) for k, v in per_kind.items()}, "_records": sum(per_kind.values()),
                "_deleted": int(deleted), "_versions": int(total_versions)}

    def keys_from_source(self, root: str) -> dict[str, str]:
        """Live keys whose source root is ``root``, mapped to their source path."""
        with self.read_connection() as conn:
            rows = conn.execute(select(heads.c.key, heads.c.source_path).where(
                and_(heads.c.source_root == root, heads.c.is_deleted.is_(False))))
            return {r.key: r.source_path for r in rows}

    # ------------------------------------------------------------------ ingest bookkeeping
    def ingested_file(self, root: str, path: str) -> dict[str, Any] | None:
        with self.read_connection() as conn:
            row = conn.execute(select(ingested_files).where(
                and_(ingested_files.c.root == root, ingested_files.c.path == path))).first()
        if row is None:
            return None
        return {"sha256": row.sha256, "size": row.size, "parser": row.parser, "keys": json.loads(row.keys),
                "ingested_at": row.ingested_at}

    def ingested_files_under(self, root: str) -> dict[str, dict[str, Any]]:
        with self.read_connection() as conn:
            rows = conn.execute(select(ingested_files).where(ingested_files.c.root == root)).all()
        return {r.path: {"sha256": r.sha256, "size": r.size, "parser": r.parser, "keys": json.loads(r.keys),
                         "ingested_at": r.ingested_at} for r in rows}

    def remember_ingested_file(self, conn: Connection, *, root: str, path: str, sha256: str, size: int,
                               parser: str, keys: Sequence[str]) -> None:
        """Inside the caller's write transaction, so the file hash commits with its records."""
        conn.execute(delete(ingested_files).where(and_(ingested_files.c.root == root, ingested_files.c.path == path)))
        conn.execute(insert(ingested_files).values(root=root, path=path, sha256=sha256, size=size, parser=parser,
                                                   keys=_dumps(list(keys)), ingested_at=format_ts(utc_now())))

    def forget_ingested_file(self, conn: Connection, *, root: str, path: str) -> None:
        conn.execute(delete(ingested_files).where(and_(ingested_files.c.root == root, ingested_files.c.path == path)))

    def write_source_files(self, files: Sequence[SourceFileWrite], *, author: str) -> list[SourceFileResult]:
        """Write what ingest parsed from files, in one transaction: each file's records, tombstones for
        the keys it no longer gives, and its content hash (so a re-ingest skips it until it changes)."""
        out: list[SourceFileResult] = []
        with self.write_transaction() as conn:
            for item in files:
                message = f"ingest {item.path}"
                written = self.write_in(conn, item.records, author=author, message=message)
                deleted = self.delete_in(conn, item.stale_keys, author=author,
                                         message=f"{message}: no longer in the file")
                if item.records or item.keep_without_records:
                    keys = [r.key for r in item.records] if item.keys is None else item.keys
                    self.remember_ingested_file(conn, root=item.root, path=item.path, sha256=item.sha256,
                                                size=item.size, parser=item.parser, keys=keys)
                else:
                    self.forget_ingested_file(conn, root=item.root, path=item.path)
                out.append(SourceFileResult(path=item.path, written=written, deleted=deleted))
        return out

    def prune_source_files(self, *, root: str, keys: Sequence[str], vanished_paths: Sequence[str],
                           author: str, message: str) -> list[WriteResult]:
        """Tombstone ``keys`` and forget the ingested files of ``root`` that no longer exist, in one transaction."""
        with self.write_transaction() as conn:
            results = self.delete_in(conn, keys, author=author, message=message)
            for path in vanished_paths:
                self.forget_ingested_file(conn, root=root, path=path)
        return results

    def write_in(self, conn: Connection, records: Sequence[Record], *, author: str, message: str = "") -> list[WriteResult]:
        """Write records inside a transaction the caller holds (``write_transaction``)."""
        if len(records) == 1:
            return [self._write_one(conn, records[0], author=author, message=message, expected_version=None)]
        return self._write_batch(conn, records, author=author, message=message)

    def delete_in(self, conn: Connection, keys: Iterable[str], *, author: str, message: str = "") -> list[WriteResult]:
        return [self._delete_one(conn, k, author=author, message=message, expected_version=None) for k in keys]

    # ------------------------------------------------------------------ export / import
    def export_versions(self) -> Iterator[ExportedVersion]:
        """Every version of every key, in (key, version) order."""
        with self.read_connection() as conn:
            rows = conn.execution_options(yield_per=1000).execute(
                select(versions).order_by(versions.c.key, versions.c.version))
            for r in rows:
                yield ExportedVersion(r.key, r.version, r.content_hash, r.recorded_at, r.author, r.message,
                                      bool(r.is_tombstone), _loads(r.envelope))

    def import_histories(self, histories: dict[str, list[ExportedVersion]], *,
                         on_conflict: Literal["refuse", "skip"] = "refuse") -> dict[str, list[str]]:
        """Insert whole histories verbatim (versions, hashes, recorded_at) in one transaction.

        A key that already exists with exactly the same history is left alone ("identical"); any other
        existing key is refused unless ``on_conflict="skip"``.
        """
        report: dict[str, list[str]] = {"imported": [], "identical": [], "skipped": []}
        with self.write_transaction() as conn:
            existing = self._existing_histories(conn, list(histories))
            conflicts = [k for k, hist in histories.items()
                         if k in existing and existing[k] != [(v.version, v.content_hash, v.recorded_at) for v in hist]]
            if conflicts and on_conflict == "refuse":
                from elephant.errors import ImportConflict

                shown = ", ".join(conflicts[:10]) + (" ..." if len(conflicts) > 10 else "")
                raise ImportConflict(f"{len(conflicts)} key(s) already exist with a different history: {shown}; "
                                     "import into an empty home or pass --skip-existing", keys=conflicts)
            version_rows: list[dict[str, Any]] = []
            head_rows: list[dict[str, Any]] = []
            jobs: list[dict[str, Any]] = []
            number_rows: list[dict[str, Any]] = []
            for key, hist in histories.items():
                if key in existing:
                    report["skipped" if key in conflicts else "identical"].append(key)
                    continue
                for item in hist:
                    row, head_row = _version_rows(key, item.version, item.content_hash, item.recorded_at,
                                                  item.author, item.message, item.deleted, item.envelope)
                    version_rows.append(row)
                    jobs.append({"key": key, "version": item.version, "op": "delete" if item.deleted else "upsert",
                                 "created_at": item.recorded_at})
                if hist:
                    head_rows.append({"key": key, **head_row})
                    if not hist[-1].deleted:
                        number_rows += [{"key": key, "path": path, "value": value}
                                        for path, value in numeric_leaves(hist[-1].envelope)]
                report["imported"].append(key)
                if len(version_rows) >= BULK_BATCH:
                    self._insert_rows(conn, version_rows, head_rows, jobs, number_rows)
            self._insert_rows(conn, version_rows, head_rows, jobs, number_rows)
        return report

    @staticmethod
    def _insert_rows(conn: Connection, version_rows: list[dict[str, Any]], head_rows: list[dict[str, Any]],
                     jobs: list[dict[str, Any]], number_rows: list[dict[str, Any]]) -> None:
        """Insert collected rows with executemany, then empty the lists."""
        for table, rows in ((versions, version_rows), (heads, head_rows), (outbox, jobs), (head_numbers, number_rows)):
            if rows:
                conn.execute(insert(table), rows)
                rows.clear()

    def _existing_histories(self, conn: Connection, keys: list[str]) -> dict[str, list[tuple[int, str, str]]]:
        out: dict[str, list[tuple[int, str, str]]] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            rows = conn.execute(select(versions.c.key, versions.c.version, versions.c.content_hash,
                                       versions.c.recorded_at).where(versions.c.key.in_(chunk))
                                .order_by(versions.c.key, versions.c.version))
            for r in rows:
                out.setdefault(r.key, []).append((r.version, r.content_hash, r.recorded_at))
        return out

    # ------------------------------------------------------------------ health
    def ping(self) -> None:
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
        except OperationalError as exc:
            raise StoreError(f"database unreachable: {db_failure(exc)}") from exc


def _version_rows(key: str, number: int, digest: str, recorded_at: str, author: str, message: str,
                  is_tombstone: bool, envelope: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``versions`` row and the ``heads`` values (without its key) of one new version."""
    occurred = sortable_ts(envelope.get("occurred_at"))
    source = envelope.get("source") or {}
    text = _dumps(envelope)
    row = {
        "key": key, "version": number, "content_hash": digest, "recorded_at": recorded_at,
        "author": author, "message": message, "is_tombstone": is_tombstone,
        "kind": envelope["kind"], "model": envelope.get("model"), "title": envelope["title"],
        "occurred_at": occurred, "envelope": text,
    }
    head_row = {
        "version": number, "content_hash": digest, "is_deleted": is_tombstone, "kind": envelope["kind"],
        "model": envelope.get("model"), "title": envelope["title"], "occurred_at": occurred,
        "recorded_at": recorded_at, "tags": _dumps(envelope.get("tags", [])),
        "source_root": source.get("root"), "source_path": source.get("path"), "envelope": text,
        "series": None if is_tombstone else series_key(envelope),
    }
    return row, head_row


def _as_of_text(value: str) -> str:
    try:
        return format_ts(parse_ts(value))
    except ValueError as exc:
        raise UsageError(f"--as-of: {time_problem(exc, value, 'time')}") from exc
