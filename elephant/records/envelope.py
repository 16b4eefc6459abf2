"""Records: the common envelope of docs/design.md §3, validated with pydantic; each kind's ``fields`` model lives in
its kind module and is looked up in the registry (``elephant.kinds``).

Minimum fields are typed (a wrong type is an error naming its path); unknown extra fields are kept.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Annotated, Any, NotRequired

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, with_config
from typing_extensions import TypedDict

from elephant.errors import FieldProblem, InvalidRecord
from elephant.kinds import KINDS, KindName, kind_spec
from elephant.kinds.base import normalise_timestamp
from elephant.records.limits import MAX_TAG_LENGTH, MAX_TAGS, value_problems

# A key is a path-like identity; '@' is reserved for citations (key@version).
KEY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-/:+=,~()\[\]]*$")
MAX_KEY_LENGTH = 512


# Lengths the SQL schema enforces (PostgreSQL refuses longer text; SQLite would accept it), checked
# here so both databases refuse the same records with a 422 instead of one of them failing a batch.
MAX_MODEL_LENGTH = 200
MAX_PATH_LENGTH = 1024
MAX_SHORT_TEXT = 200


class Link(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rel: str = Field(min_length=1, max_length=MAX_SHORT_TEXT)
    key: str = Field(min_length=1, max_length=MAX_KEY_LENGTH)


class Source(BaseModel):
    """Where a record came from: ``path`` relative to the ingest ``root``; ``anchor`` for a part of a file."""

    model_config = ConfigDict(extra="forbid")
    path: str = Field(max_length=MAX_PATH_LENGTH)
    anchor: str | None = Field(default=None, max_length=MAX_PATH_LENGTH)
    root: str | None = Field(default=None, max_length=MAX_PATH_LENGTH)


@with_config(ConfigDict(extra="forbid"))
class SourceOut(TypedDict):
    """``source`` as JSON: in an envelope only the parts that are set; in a search hit path and anchor, maybe null.

    The REST API fills a missing part with null (the defaults), as it always has."""

    path: NotRequired[Annotated[str | None, Field(default=None)]]
    anchor: NotRequired[Annotated[str | None, Field(default=None)]]
    root: NotRequired[Annotated[str | None, Field(default=None)]]


class Record(BaseModel):
    """A validated envelope: what a writer hands to the store."""

    model_config = ConfigDict(extra="forbid")

    kind: KindName
    key: str = Field(min_length=1, max_length=MAX_KEY_LENGTH)
    title: str = Field(min_length=1)
    model: str | None = Field(default=None, max_length=MAX_MODEL_LENGTH)
    model_version: str | None = Field(default=None, max_length=MAX_SHORT_TEXT)
    occurred_at: str | None = None
    tags: list[str] = Field(default_factory=list)
    links: list[Link] = Field(default_factory=list)
    body: str = ""
    fields: dict[str, Any] = Field(default_factory=dict)
    source: Source | None = None

    @field_validator("key")
    @classmethod
    def _check_key(cls, value: str) -> str:
        value = value.strip()
        if not KEY_PATTERN.match(value) or "//" in value or value.endswith("/"):
            raise ValueError(
                "a key is letters, digits and . _ - / : + = , ~ ( ) [ ] without spaces or '@', "
                "not starting with a symbol or ending with '/'"
            )
        if any(part in {".", ".."} for part in value.split("/")):
            # Clients that normalise URLs (browsers, httpx, curl) would turn /records/a/../b into
            # /records/b: such a record could be written but never read back over HTTP.
            raise ValueError("a key may not have '.' or '..' as a path segment")
        return value

    @field_validator("title")
    @classmethod
    def _check_title(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("title is empty")
        return value.strip()

    @field_validator("model", "model_version", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, str):
            return value.strip() or None
        return value

    _occurred = field_validator("occurred_at", mode="before")(normalise_timestamp)

    @field_validator("tags", mode="before")
    @classmethod
    def _tags(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [t for t in re.split(r"[,\s]+", value) if t]
        if isinstance(value, list):
            if len(value) > MAX_TAGS:
                raise ValueError(f"{len(value)} tags; a record holds at most {MAX_TAGS}")
            # A dict keeps first-seen order and de-duplicates in linear time (a list scan was
            # quadratic: 100k tags took ~50 s).
            seen: dict[Any, None] = {}
            for tag in value:
                text = str(tag).strip() if isinstance(tag, str | int | float) else tag
                if isinstance(text, str) and len(text) > MAX_TAG_LENGTH:
                    raise ValueError(f"a tag is {len(text)} characters; tags are at most {MAX_TAG_LENGTH}")
                try:
                    seen.setdefault(text, None)
                except TypeError:  # an unhashable item: pydantic reports its type below
                    return value
            return list(seen)
        return value

    def envelope(self) -> dict[str, Any]:
        """The JSON form stored with each version (empty optional parts left out)."""
        data = self.model_dump(mode="json", exclude_none=True)
        for empty in ("tags", "links", "fields"):
            if not data.get(empty):
                data.pop(empty, None)
        if not data.get("body"):
            data.pop("body", None)
        return data

    def content_hash(self) -> str:
        return content_hash(self.envelope())


def content_hash(envelope: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of an envelope; ``source`` is provenance, not content."""
    material = {k: v for k, v in envelope.items() if k != "source"}
    canonical = json.dumps(material, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _loc_parts(loc: tuple[Any, ...]) -> tuple[str | int, ...]:
    """A pydantic location without the union-branch labels pydantic adds to it."""
    return tuple(item if isinstance(item, int) else str(item) for item in loc
                 if isinstance(item, int) or not _is_union_label(str(item)))


def _loc_to_path(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in _loc_parts(loc):
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts)


def _is_union_label(item: str) -> bool:
    return "[" in item or item.startswith(("function-", "is-instance", "literal")) or item in {
        "str", "int", "float", "bool", "dict", "list", "none"}


Lines = Mapping[tuple[str | int, ...], int]


def _line_of(lines: Lines | None, path: tuple[str | int, ...]) -> int | None:
    """The line of ``path`` in the record file, else of its nearest parent that is there (a missing field
    points at the mapping that lacks it; ``()`` is the record itself)."""
    if not lines:
        return None
    for depth in range(len(path), -1, -1):
        if (line := lines.get(path[:depth])) is not None:
            return line
    return None


def _problems(exc: ValidationError, *, prefix: str, file: str | None, key: str | None,
              lines: Lines | None = None) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    seen: set[str] = set()
    for err in exc.errors():
        parts = _loc_parts(tuple(err["loc"]))
        path = _loc_to_path(tuple(err["loc"]))
        path = f"{prefix}.{path}" if prefix and path else (prefix or path)
        message = err["msg"]
        if err["type"] == "missing":
            message = "is required"
        elif err["type"] == "extra_forbidden":
            message = "is not an envelope field (kind-specific data goes under 'fields')"
        elif err["type"] == "literal_error" and path == "kind":
            message = f"unknown kind {err.get('input')!r}; expected one of {', '.join(KINDS)}"
        else:
            message = f"{message} (got {_short(err.get('input'))})"
        if path not in seen:  # a union reports each branch; the first says enough
            seen.add(path)
            line = _line_of(lines, ((prefix,) if prefix else ()) + parts)
            problems.append(FieldProblem(field=path, message=message, file=file, key=key, line=line))
    return problems


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def validate_record(data: Any, *, file: str | None = None, lines: Lines | None = None) -> Record:
    """Validate one envelope (a mapping) into a ``Record``; raise ``InvalidRecord`` naming file, line, key, field.

    One round: the envelope's problems and the kind's field problems are reported together (a record with
    a bad title and a bad p99 says both). ``lines`` maps paths to lines in the record's file; a
    ``LocatedRecord`` read by ``elephant.records.files`` brings its own.
    """
    lines = lines if lines is not None else getattr(data, "lines", None)
    if not isinstance(data, Mapping):
        raise InvalidRecord(FieldProblem(field="", file=file, line=_line_of(lines, ()),
                                         message=f"a record must be a mapping, got {type(data).__name__}"))
    raw_key = data.get("key")
    key = raw_key if isinstance(raw_key, str) else None
    tags = data.get("tags")
    if isinstance(tags, list) and len(tags) > MAX_TAGS:  # before walking them all
        raise InvalidRecord(FieldProblem(field="tags", file=file, key=key, line=_line_of(lines, ("tags",)),
                                         message=f"{len(tags)} tags; a record holds at most {MAX_TAGS}"))
    bounds = value_problems(data, file=file, key=key)
    if bounds:
        for problem in bounds:
            problem.line = _line_of(lines, ())
        raise InvalidRecord(bounds)
    problems: list[FieldProblem] = []
    record: Record | None = None
    try:
        record = Record.model_validate(dict(data))
    except ValidationError as exc:
        problems.extend(_problems(exc, prefix="", file=file, key=key, lines=lines))
    kind = record.kind if record is not None else data.get("kind")
    fields = record.fields if record is not None else data.get("fields", {})
    typed: Any = None
    if isinstance(kind, str) and kind in KINDS and isinstance(fields, Mapping):
        try:
            typed = kind_spec(kind).fields_model.model_validate(fields)
        except ValidationError as exc:
            problems.extend(_problems(exc, prefix="fields", file=file, key=record.key if record else key,
                                      lines=lines))
    if problems or record is None:
        raise InvalidRecord(problems)
    return record.model_copy(update={"fields": typed.model_dump(mode="json", exclude_unset=True)})
