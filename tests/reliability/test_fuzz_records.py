"""A fuzzer over the record validator and the record-file loaders (issue 20): whatever the input,
the outcome is a valid ``Record`` or an ``InvalidRecord`` whose problems name the file (and, for a
record, a field or the record as a whole); never any other exception.

Hypothesis with a fixed seed (``derandomize=True``), so the suite sees the same cases every run;
the examples are bounded to keep it within a few seconds. Inputs: JSON-like values shaped like
envelopes with wrong types, NUL and lone surrogates, huge and non-finite numbers, deep nesting;
the same data written as YAML, JSON, Markdown front matter and export lines, then mangled.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from elephant.errors import InvalidRecord
from elephant.records.envelope import Record, validate_record
from elephant.records.files import parse_record_text, read_record_file
from elephant.storage.archive import read_export

FUZZ = settings(derandomize=True, max_examples=120, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])

nasty_text = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", "a\x00b", "a\ud800b", "\udfff", "9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+01:00",
                     "2026-02-30", "bad/../key", "a/./b", "x" * 300, "cli/m[/x]", "a[", "NaN", "Infinity",
                     "note", "benchmark", "optimization", "incident", "deployment", "ranker/opt/int8"]),
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(min_value=10**18, max_value=10**400),
                    st.floats(allow_nan=True, allow_infinity=True), nasty_text)
json_like = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                            st.dictionaries(nasty_text, inner, max_size=4)),
                         max_leaves=20)
KINDS = st.sampled_from(["note", "benchmark", "optimization", "incident", "deployment", "experiment", "nonsense"])
envelopes = st.fixed_dictionaries(
    {"kind": st.one_of(KINDS, json_like), "title": st.one_of(nasty_text, json_like)},
    optional={"key": st.one_of(nasty_text, json_like), "body": st.one_of(nasty_text, json_like),
              "model": st.one_of(nasty_text, json_like), "tags": st.one_of(st.lists(nasty_text, max_size=5), json_like),
              "occurred_at": st.one_of(nasty_text, json_like), "fields": st.one_of(
                  st.dictionaries(nasty_text, json_like, max_size=5), json_like),
              "source": st.one_of(st.fixed_dictionaries({"path": nasty_text}), json_like),
              "links": json_like, "model_version": json_like},
)


def assert_named(exc: InvalidRecord, name: str) -> None:
    assert exc.problems, exc
    for problem in exc.problems:
        assert problem.file is not None and problem.file.startswith(name), problem
        assert problem.message, problem
        assert isinstance(problem.field, str)


def validate_all(items: list[Any], name: str) -> None:
    for item in items:
        try:
            assert isinstance(validate_record(item, file=name), Record)
        except InvalidRecord as exc:
            assert_named(exc, name)


@FUZZ
@given(st.one_of(envelopes, json_like))
def test_validator_gives_a_record_or_names_the_problem(data: Any) -> None:
    validate_all([data], "fuzz.yaml")


@FUZZ
@given(st.one_of(envelopes, st.lists(envelopes, max_size=3), json_like),
       st.sampled_from(["yaml", "json", "md"]), st.integers(min_value=0, max_value=400), st.text(max_size=8))
def test_loaders_give_records_or_name_the_file(data: Any, fmt: str, cut: int, junk: str) -> None:
    name = f"fuzz.{fmt}"
    try:
        if fmt == "json":
            text = json.dumps(data, allow_nan=True)
        else:
            dumped = yaml.safe_dump(data, allow_unicode=True)
            text = f"---\n{dumped}---\nBody text.\n" if fmt == "md" else dumped
    except (ValueError, yaml.YAMLError, UnicodeEncodeError):
        return  # not representable in that format: the mangled texts below cover it
    for variant in (text, text[:cut] + junk + text[cut:], text[:cut]):
        try:
            items = parse_record_text(variant, name=name)
        except InvalidRecord as exc:
            assert_named(exc, name)
            continue
        validate_all(items, name)


@FUZZ
@given(st.binary(max_size=300), st.sampled_from([".yaml", ".yml", ".json", ".md", ".txt", ""]))
def test_file_bytes_give_records_or_name_the_file(tmp_path_factory: Any, raw: bytes, suffix: str) -> None:
    path: Path = tmp_path_factory.mktemp("fuzz") / f"record{suffix}"
    path.write_bytes(raw)
    try:
        items = read_record_file(path)
    except InvalidRecord as exc:
        assert_named(exc, str(path))
        return
    validate_all(items, str(path))


line_parts = st.fixed_dictionaries(
    {"key": st.one_of(nasty_text, json_like), "version": st.one_of(st.integers(-2, 3), json_like),
     "content_hash": st.one_of(st.just("0"), json_like), "recorded_at": st.one_of(nasty_text, json_like),
     "envelope": st.one_of(envelopes, json_like)},
    optional={"deleted": json_like, "author": json_like, "message": json_like},
)


@FUZZ
@given(st.lists(st.one_of(line_parts, json_like), max_size=4), st.text(max_size=20))
def test_export_lines_give_histories_or_name_the_line(lines: list[Any], junk: str) -> None:
    texts = [json.dumps({"format": "elephant-export/1"})]
    for item in lines:
        try:
            texts.append(json.dumps(item, allow_nan=True))
        except ValueError:
            texts.append(junk)
    texts.append(junk)
    try:
        read_export(texts, name="fuzz.jsonl")
    except InvalidRecord as exc:
        assert_named(exc, "fuzz.jsonl")


def test_deep_nesting_in_every_format_is_named() -> None:
    nested = "[" * 5000 + "1" + "]" * 5000
    text = '{"kind": "note", "key": "deep/one", "title": "deep", "fields": {"x": ' + nested + "}}"
    for name in ("deep.json", "deep.yaml"):  # JSON is YAML too
        try:
            validate_all(parse_record_text(text, name=name), name)
        except InvalidRecord as exc:
            assert_named(exc, name)


def test_deep_nesting_in_an_export_line_is_named() -> None:
    line = '{"key": "k/1", "version": 1, "envelope": ' + "[" * 5000 + "]" * 5000 + "}"
    try:
        read_export(['{"format": "elephant-export/1"}', line], name="deep.jsonl")
    except InvalidRecord as exc:
        assert_named(exc, "deep.jsonl")
        assert "deep.jsonl:2" in str(exc)
