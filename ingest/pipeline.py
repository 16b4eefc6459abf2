"""``ingest_paths``: walk, skip unchanged files by hash, parse, write versions, tombstone what vanished.

Idempotency: each unit (a file, or an MLPerf result with the files it joins) is hashed before parsing;
the hash is stored in ``ingested_files`` in the same transaction as the unit's records, so a crash
never leaves a hash without its records (the unit is simply parsed again next time).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from elephant.errors import ElephantError
from elephant.ingest.parsers import ParseContext, ParseError, SkipFile, choose_parser, mlperf, parse_file
from elephant.ingest.parsers.base import MAX_FILE_BYTES
from elephant.ingest.walk import FoundFile, walk
from elephant.records.envelope import Record
from elephant.storage.store import SourceFileWrite

if TYPE_CHECKING:
    from elephant.facade import Elephant

# Units written per transaction: one commit per file costs ~1000 fsyncs on the corpus; a failing batch
# is retried unit by unit so one bad unit never takes the others down with it.
BATCH_UNITS = 64

# progress(phase, done, total, detail): "files" as each file is reached (detail: its path), then "index"
# as each batch of index jobs is applied (embedding, vectors, lexical documents).
Progress = Callable[[str, int, int, str], None]


@dataclass(frozen=True)
class FileProblem:
    path: str
    reason: str
    root: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason, "root": self.root}


@dataclass
class IngestReport:
    """What an ingest run saw and did; ``to_dict()`` is the ``--json`` / REST shape."""

    roots: list[str] = field(default_factory=list)
    dry_run: bool = False
    files_seen: int = 0
    files_unchanged: int = 0
    files_parsed: int = 0
    files_joined: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    skipped: list[FileProblem] = field(default_factory=list)
    failed: list[FileProblem] = field(default_factory=list)
    changes: list[dict[str, Any]] = field(default_factory=list)
    timings_s: dict[str, float] = field(default_factory=lambda: {
        "walk": 0.0, "hash": 0.0, "parse": 0.0, "store": 0.0, "index": 0.0, "total": 0.0})

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def records_written(self) -> int:
        return self.created + self.updated + self.deleted

    def counts(self) -> dict[str, int]:
        return {"files_seen": self.files_seen, "files_unchanged": self.files_unchanged,
                "files_parsed": self.files_parsed, "files_joined": self.files_joined,
                "files_skipped": len(self.skipped), "files_failed": len(self.failed),
                "created": self.created, "updated": self.updated, "unchanged": self.unchanged,
                "deleted": self.deleted}

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "dry_run": self.dry_run, "roots": self.roots, "counts": self.counts(),
                "skipped": [p.to_dict() for p in self.skipped], "failed": [p.to_dict() for p in self.failed],
                "changes": self.changes, "timings_s": {k: round(v, 4) for k, v in self.timings_s.items()}}


@dataclass
class _Unit:
    """One thing to ingest: a lead file plus (for MLPerf) the files it joins."""

    lead: FoundFile
    parser: str
    members: list[FoundFile] = field(default_factory=list)
    extra_identity: str = ""
    digest: str = ""
    data: bytes = b""
    related: dict[str, bytes] = field(default_factory=dict)
    records: list[Record] = field(default_factory=list)
    previous_keys: list[str] = field(default_factory=list)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _plan(files: list[FoundFile]) -> tuple[list[_Unit], int]:
    """Units in path order; MLPerf member files fold into their result's unit (returns units, joined count)."""
    by_rel = {f.rel: f for f in files}
    known = frozenset(by_rel)
    units: list[_Unit] = []
    joined: set[str] = set()
    for f in files:
        if choose_parser(f.rel) != "mlperf":
            continue
        members = [by_rel[m] for m in mlperf.group_members(f.rel, known)]
        joined.update(m.rel for m in members)
        earlier = mlperf.previous_round(f.rel, known)
        units.append(_Unit(lead=f, parser="mlperf", members=members, extra_identity=f"previous_round:{earlier or ''}"))
    for f in files:
        if f.rel in joined or choose_parser(f.rel) == "mlperf":
            continue
        units.append(_Unit(lead=f, parser=choose_parser(f.rel)))
    units.sort(key=lambda u: u.lead.rel)
    return units, len(joined)


def ingest_paths(db: Elephant, paths: Sequence[str | Path], *, dry_run: bool = False, prune: bool = False,
                 progress: Progress | None = None, max_file_bytes: int = MAX_FILE_BYTES,
                 author: str | None = None) -> IngestReport:
    """Ingest files and folders into ``db`` (an ``elephant.Elephant``); see the module docstring.

    Each path is its own root: keys and ``source.path`` are relative to it, ``source.root`` is its
    absolute path. ``dry_run`` parses and compares but writes nothing; ``prune`` tombstones records whose
    source file under a root no longer exists.
    """
    started = time.perf_counter()
    report = IngestReport(dry_run=dry_run)
    seen_keys: dict[str, str] = {}
    for raw in paths:
        target = Path(raw)
        if not target.exists() and not target.is_symlink():
            report.failed.append(FileProblem(str(raw), "no such file or directory"))
            continue
        _ingest_root(db, target, report, seen_keys, dry_run=dry_run, prune=prune, progress=progress,
                     max_file_bytes=max_file_bytes, author=author or db.settings.author)
    if not dry_run and report.records_written:
        t0 = time.perf_counter()
        db.process_outbox(progress=None if progress is None else (
            lambda phase, done, total: progress(phase, done, total, "")))
        report.timings_s["index"] += time.perf_counter() - t0
    report.timings_s["total"] = time.perf_counter() - started
    return report


def _ingest_root(db: Any, target: Path, report: IngestReport, seen_keys: dict[str, str], *, dry_run: bool,
                 prune: bool, progress: Progress | None, max_file_bytes: int, author: str) -> None:
    t0 = time.perf_counter()
    found = walk(target)
    root = str(found.root)
    report.roots.append(root)
    for rel, reason in found.skipped:
        report.skipped.append(FileProblem(rel, reason, root))
    report.files_seen += len(found.files)
    units, joined = _plan(found.files)
    report.files_joined += joined
    store = db.store
    previous = store.ingested_files_under(root)
    report.timings_s["walk"] += time.perf_counter() - t0

    pending: list[_Unit] = []
    unchanged_files: set[str] = set()  # member files are shared (one system file joins many results)
    total = len(units)
    for done, unit in enumerate(units, start=1):
        if progress is not None:
            progress("files", done, total, unit.lead.rel)
        if not _load(unit, report, root, max_file_bytes):
            continue
        known = previous.get(unit.lead.rel)
        unit.previous_keys = list(known["keys"]) if known else []
        if known is not None and known["sha256"] == unit.digest:
            unchanged_files.add(unit.lead.rel)
            unchanged_files.update(m.rel for m in unit.members)
            for key in unit.previous_keys:
                seen_keys.setdefault(key, unit.lead.rel)
            continue
        t1 = time.perf_counter()
        try:
            context = ParseContext(root=root, related=unit.related,
                                   known_paths=frozenset(f.rel for f in found.files) if unit.parser == "mlperf"
                                   else frozenset())
            unit.records = parse_file(unit.parser, unit.lead.rel, unit.data, context)
        except SkipFile as exc:
            report.skipped.append(FileProblem(unit.lead.rel, exc.reason, root))
            if unit.previous_keys:  # a file that used to give records and no longer does
                unit.records = []
                pending.append(unit)
            continue
        except ParseError as exc:
            report.failed.append(FileProblem(unit.lead.rel, exc.reason, root))
            continue
        except Exception as exc:  # a parser bug must not stop the batch; it is reported like bad input
            report.failed.append(FileProblem(unit.lead.rel, f"internal parser error: {type(exc).__name__}: {exc}",
                                             root))
            continue
        finally:
            report.timings_s["parse"] += time.perf_counter() - t1
        report.files_parsed += 1
        clash = next((r.key for r in unit.records if seen_keys.get(r.key, unit.lead.rel) != unit.lead.rel), None)
        if clash is None:
            keys = [r.key for r in unit.records]
            clash = next((k for k in keys if keys.count(k) > 1), None)
        if clash is not None:
            report.failed.append(FileProblem(unit.lead.rel, f"key {clash!r} is also produced by "
                                                             f"{seen_keys.get(clash, unit.lead.rel)}", root))
            continue
        for r in unit.records:
            seen_keys[r.key] = unit.lead.rel
        pending.append(unit)
        if len(pending) >= BATCH_UNITS:
            _flush(store, pending, report, root, dry_run=dry_run, author=author)
            pending = []
    _flush(store, pending, report, root, dry_run=dry_run, author=author)
    report.files_unchanged += len(unchanged_files)
    if prune:
        _prune(store, found.root, root, report, dry_run=dry_run, author=author)


def _load(unit: _Unit, report: IngestReport, root: str, max_file_bytes: int) -> bool:
    """Read and hash the unit's files; False (reported) when the lead file is unreadable or oversized."""
    t0 = time.perf_counter()
    try:
        if unit.lead.size > max_file_bytes:
            report.skipped.append(FileProblem(unit.lead.rel, f"oversized: {unit.lead.size} bytes "
                                                             f"(limit {max_file_bytes})", root))
            return False
        try:
            unit.data = unit.lead.abs.read_bytes()
        except OSError as exc:
            report.failed.append(FileProblem(unit.lead.rel, f"cannot read: {exc.strerror or exc}", root))
            return False
        material = [f"{unit.parser}\0{unit.lead.rel}\0{_sha256(unit.data)}"]
        for member in unit.members:
            try:
                if member.size > max_file_bytes:
                    raise OSError(f"oversized ({member.size} bytes)")
                blob = member.abs.read_bytes()
            except OSError as exc:
                report.skipped.append(FileProblem(member.rel, f"not joined to {unit.lead.rel}: {exc}", root))
                continue
            unit.related[member.rel] = blob
            material.append(f"{member.rel}\0{_sha256(blob)}")
        material.append(unit.extra_identity)
        unit.digest = _sha256(data=("\n".join(material)).encode()) if unit.members or unit.extra_identity \
            else _sha256(unit.data)
        return True
    finally:
        report.timings_s["hash"] += time.perf_counter() - t0


def _flush(store: Any, units: list[_Unit], report: IngestReport, root: str, *, dry_run: bool, author: str) -> None:
    if not units:
        return
    t0 = time.perf_counter()
    try:
        stale_live = _stale_live_keys(store, units)
        if dry_run:
            _predict(store, units, report, stale_live)
            return
        try:
            _write_units(store, units, report, root, stale_live, author)
        except ElephantError:
            if len(units) == 1:
                raise
            for unit in units:  # isolate the unit that failed; the others still commit
                try:
                    _write_units(store, [unit], report, root, stale_live, author)
                except ElephantError as exc:
                    report.failed.append(FileProblem(unit.lead.rel, f"write failed: {exc.message}", root))
    except ElephantError as exc:
        report.failed.append(FileProblem(units[0].lead.rel, f"write failed: {exc.message}", root))
    finally:
        report.timings_s["store"] += time.perf_counter() - t0


def _stale_live_keys(store: Any, units: list[_Unit]) -> dict[str, list[str]]:
    """Per lead path: keys the file gave last time, no longer gives, and that are still live."""
    stale = {u.lead.rel: [k for k in u.previous_keys if k not in {r.key for r in u.records}] for u in units}
    live = store.current_many([k for keys in stale.values() for k in keys])
    return {path: [k for k in keys if k in live] for path, keys in stale.items()}


def _write_units(store: Any, units: list[_Unit], report: IngestReport, root: str,
                 stale_live: dict[str, list[str]], author: str) -> None:
    files = [SourceFileWrite(root=root, path=unit.lead.rel, records=unit.records,
                             stale_keys=stale_live.get(unit.lead.rel, []), sha256=unit.digest,
                             size=unit.lead.size + sum(m.size for m in unit.members), parser=unit.parser)
             for unit in units]
    done = store.write_source_files(files, author=author)
    staged = [(unit, result.written, result.deleted) for unit, result in zip(units, done, strict=True)]
    # Counted only after the commit, so a rolled-back batch retried unit by unit is not counted twice.
    for unit, results, deleted in staged:
        for r in [*results, *deleted]:
            _count(report, r.status)
            if r.status != "unchanged":
                report.changes.append({"key": r.key, "version": r.version, "status": r.status,
                                       "kind": r.kind, "path": unit.lead.rel})


def _count(report: IngestReport, status: str) -> None:
    if status == "created":
        report.created += 1
    elif status in ("updated", "reverted"):
        report.updated += 1
    elif status == "deleted":
        report.deleted += 1
    else:
        report.unchanged += 1


def _predict(store: Any, units: list[_Unit], report: IngestReport, stale_live: dict[str, list[str]]) -> None:
    """What a real run would do, from content hashes, without writing."""
    current = store.current_many([r.key for u in units for r in u.records])
    for unit in units:
        for record in unit.records:
            head = current.get(record.key)
            status = "created" if head is None else ("unchanged" if head.content_hash == record.content_hash()
                                                     else "updated")
            _count(report, status)
            if status != "unchanged":
                report.changes.append({"key": record.key, "version": None, "status": status, "kind": record.kind,
                                       "path": unit.lead.rel})
        for key in stale_live.get(unit.lead.rel, []):
            _count(report, "deleted")
            report.changes.append({"key": key, "version": None, "status": "deleted", "path": unit.lead.rel})


def _prune(store: Any, root_path: Path, root: str, report: IngestReport, *, dry_run: bool, author: str) -> None:
    """Tombstone live records of this root whose source file no longer exists."""
    t0 = time.perf_counter()
    try:
        gone: dict[str, str] = {}
        for key, path in store.keys_from_source(root).items():
            if path and not (root_path / path).exists():
                gone[key] = path
        vanished_files = [p for p in store.ingested_files_under(root) if not (root_path / p).exists()]
        versions: dict[str, int | None] = dict.fromkeys(gone)
        if (gone or vanished_files) and not dry_run:
            results = store.prune_source_files(root=root, keys=sorted(gone), vanished_paths=vanished_files,
                                               author=author, message="ingest --prune: source file gone")
            versions = {r.key: r.version for r in results}
        # Counted after the commit: a failed prune reports a failure, not deletions that did not happen.
        for key in sorted(gone, key=lambda k: (gone[k], k)):
            _count(report, "deleted")
            report.changes.append({"key": key, "version": versions.get(key), "status": "deleted",
                                   "path": gone[key], "reason": "source file gone"})
    except ElephantError as exc:
        report.failed.append(FileProblem("(prune)", f"prune failed: {exc.message}", root))
    finally:
        report.timings_s["store"] += time.perf_counter() - t0


@dataclass(frozen=True)
class ParseOutcome:
    """What parsing one unit gave, without a database: records, or a skip / failure reason."""

    path: str
    parser: str
    records: list[Record] = field(default_factory=list)
    skipped: str | None = None
    failed: str | None = None
    joined: list[str] = field(default_factory=list)


def parse_tree(target: str | Path, *, exclude_suffixes: tuple[str, ...] = (),
               max_file_bytes: int = MAX_FILE_BYTES) -> dict[str, ParseOutcome]:
    """Parse every unit under ``target`` as ``ingest_paths`` would, writing nothing (goldens, debugging)."""
    found = walk(Path(target))
    files = [f for f in found.files if not f.rel.endswith(exclude_suffixes)]
    units, _ = _plan(files)
    known = frozenset(f.rel for f in files)
    root = str(found.root)
    out: dict[str, ParseOutcome] = {rel: ParseOutcome(rel, "walk", skipped=reason) for rel, reason in found.skipped}
    for unit in units:
        scratch = IngestReport()
        if not _load(unit, scratch, root, max_file_bytes):
            problem = (scratch.skipped or scratch.failed)[0]
            out[unit.lead.rel] = (ParseOutcome(unit.lead.rel, unit.parser, skipped=problem.reason) if scratch.skipped
                                  else ParseOutcome(unit.lead.rel, unit.parser, failed=problem.reason))
            continue
        joined = sorted(unit.related)
        try:
            records = parse_file(unit.parser, unit.lead.rel, unit.data,
                                 ParseContext(root=root, related=unit.related, known_paths=known))
        except SkipFile as exc:
            out[unit.lead.rel] = ParseOutcome(unit.lead.rel, unit.parser, skipped=exc.reason, joined=joined)
        except ParseError as exc:
            out[unit.lead.rel] = ParseOutcome(unit.lead.rel, unit.parser, failed=exc.reason, joined=joined)
        else:
            out[unit.lead.rel] = ParseOutcome(unit.lead.rel, unit.parser, records=records, joined=joined)
    return out
