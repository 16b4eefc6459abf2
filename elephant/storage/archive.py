"""Export and import of the full history as JSON Lines: one version per line, in (key, version) order."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import IO, Any, Literal

from typing_extensions import TypedDict

from elephant.errors import FieldProblem, InvalidRecord
from elephant.records.envelope import content_hash, validate_record
from elephant.records.limits import text_problem
from elephant.storage.store import ExportedVersion, Store, tombstone_hash
from elephant.timeutil import format_ts, parse_ts

FORMAT = "elephant-export/1"
MAX_VERSION = 2**31 - 1  # versions are a 32-bit INTEGER column on both databases


def write_export(store: Store, out: IO[str]) -> dict[str, int]:
    """Write a header line, then every version. Returns counts."""
    out.write(json.dumps({"format": FORMAT}) + "\n")
    keys: set[str] = set()
    count = 0
    for item in store.export_versions():
        out.write(json.dumps(item.to_dict(), ensure_ascii=False, sort_keys=True) + "\n")
        keys.add(item.key)
        count += 1
    return {"keys": len(keys), "versions": count}


def read_export(lines: Iterable[str], *, name: str) -> dict[str, list[ExportedVersion]]:
    """Parse and verify an export: every line well-formed, hashes match content, versions 1..n."""
    histories: dict[str, list[ExportedVersion]] = {}
    problems: list[FieldProblem] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{name}:{number}"
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(FieldProblem(field="", file=where, message=f"malformed JSON: {exc.msg}"))
            continue
        except RecursionError:
            problems.append(FieldProblem(field="", file=where, message="refused JSON: nested too deeply"))
            continue
        if number == 1 and isinstance(data, dict) and "format" in data:
            if data["format"] != FORMAT:
                problems.append(FieldProblem(field="format", file=where, message=f"unsupported {data['format']!r}"))
            continue
        item = _parse_line(data, where, problems)
        if item is not None:
            histories.setdefault(item.key, []).append(item)
    for key, hist in histories.items():
        hist.sort(key=lambda v: v.version)
        numbers = [v.version for v in hist]
        if numbers != list(range(1, len(hist) + 1)):
            problems.append(FieldProblem(field="version", file=name, key=key,
                                         message=f"versions must run 1..n without gaps, got {numbers}"))
        stamps = [v.recorded_at for v in hist]
        if stamps != sorted(stamps):
            problems.append(FieldProblem(field="recorded_at", file=name, key=key,
                                         message="recorded_at must increase with the version"))
    if problems:
        raise InvalidRecord(problems)
    return histories


def _parse_line(data: Any, where: str, problems: list[FieldProblem]) -> ExportedVersion | None:
    if not isinstance(data, dict):
        problems.append(FieldProblem(field="", file=where, message="each line must be a JSON object"))
        return None
    missing = [f for f in ("key", "version", "content_hash", "recorded_at", "envelope") if f not in data]
    if missing:
        problems.append(FieldProblem(field=missing[0], file=where, key=data.get("key"), message="is required"))
        return None
    version = data["version"]
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= MAX_VERSION:
        problems.append(FieldProblem(field="version", file=where, key=str(data["key"])[:200],
                                     message=f"must be a whole number from 1 to {MAX_VERSION}, got {str(version)[:40]!r}"))
        return None
    try:
        format_ts(parse_ts(str(data["recorded_at"])))
    except ValueError as exc:
        problems.append(FieldProblem(field="recorded_at", file=where, key=str(data["key"])[:200],
                                     message=f"not an ISO-8601 time: {str(exc)[:120]}"))
        return None
    meta = {"author": data.get("author", ""), "message": data.get("message", "")}
    for field_name, value in meta.items():
        problem = text_problem(value) if isinstance(value, str) else "must be text"
        if problem is None and field_name == "author" and len(value) > 200:
            problem = "is longer than 200 characters"
        if problem:
            problems.append(FieldProblem(field=field_name, file=where, key=str(data["key"])[:200], message=problem))
            return None
    item = ExportedVersion(key=str(data["key"]), version=version, content_hash=str(data["content_hash"]),
                           recorded_at=str(data["recorded_at"]), author=str(data.get("author", "")),
                           message=str(data.get("message", "")), deleted=bool(data.get("deleted", False)),
                           envelope=data["envelope"])
    try:
        record = validate_record(item.envelope, file=where)
    except InvalidRecord as exc:
        problems.extend(exc.problems)
        return None
    if record.key != item.key:
        problems.append(FieldProblem(field="envelope.key", file=where, key=item.key, message="differs from the line's key"))
        return None
    expected = tombstone_hash(item.key) if item.deleted else content_hash(record.envelope())
    if expected != item.content_hash:
        problems.append(FieldProblem(field="content_hash", file=where, key=item.key,
                                     message="does not match the envelope (file edited or corrupt)"))
        return None
    return item


class ImportReport(TypedDict):
    """What an import did: keys and versions read, how many keys were imported, already identical or skipped."""

    keys: int
    versions: int
    imported: int
    identical: int
    skipped: int
    skipped_keys: list[str]


def import_export(store: Store, lines: Iterable[str], *, name: str,
                  on_conflict: Literal["refuse", "skip"] = "refuse") -> ImportReport:
    histories = read_export(lines, name=name)
    report = store.import_histories(histories, on_conflict=on_conflict)
    return {"keys": len(histories), "versions": sum(len(h) for h in histories.values()),
            "imported": len(report["imported"]), "identical": len(report["identical"]),
            "skipped": len(report["skipped"]), "skipped_keys": report["skipped"]}
