"""Row 4 of issue 20: a ``where`` list is bounded (past MAX_CONDITIONS a clear refusal before any SQL
runs: a malformed filter, so 400 / exit 2 like every bad ``--where``) and, on PostgreSQL, all
conditions are one JSON path predicate over an envelope cast to JSONB once per row.

No test here sends more than a handful of conditions to the database: the refusal happens in Python.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy.dialects import postgresql

from elephant.errors import UsageError
from elephant.retrieval.search import MAX_CONDITIONS, Filters
from tests.reliability.conftest import run_cli

TOO_MANY = [f"n{i} < {i}" for i in range(MAX_CONDITIONS + 1)]


def test_facade_refuses_a_long_list(db: Any) -> None:
    with pytest.raises(UsageError, match=f"at most {MAX_CONDITIONS}"):
        db.search("x", where=TOO_MANY)


def test_rest_refuses_a_long_list_with_400(api: Any) -> None:
    response = api.post("/v1/search", content=json.dumps({"query": "x", "where": TOO_MANY}),
                        headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text[:300]
    assert f"at most {MAX_CONDITIONS}" in response.text


def test_cli_refuses_a_long_list_as_misuse() -> None:
    args = [arg for cond in TOO_MANY for arg in ("--where", cond)]
    result = run_cli("search", "x", *args)
    assert result.exit_code == 2, result.output
    assert f"at most {MAX_CONDITIONS}" in result.output



@pytest.mark.parametrize("value", ["nan", "inf", "-Infinity"])
def test_non_finite_values_are_usage_errors(value: str) -> None:
    with pytest.raises(UsageError, match="finite"):
        Filters.of(where=f"n < {value}")


def test_postgres_casts_the_envelope_once_for_all_conditions() -> None:
    filters = Filters.of(where=["latency_ms.p99 < 40", "outcome = adopted", "n >= 2", "kind != note"])
    sql = str(filters.clause("postgresql").compile(dialect=postgresql.dialect()))
    assert sql.count("heads.envelope") == 1, sql
    assert "jsonb_path_exists" in sql


def test_values_are_bound_not_spliced_into_the_path() -> None:
    filters = Filters.of(where=["title = ') || true || ('"])
    compiled = filters.clause("postgresql").compile(dialect=postgresql.dialect())
    assert "true ||" not in str(compiled)
    assert any("true ||" in str(v) for v in compiled.params.values())


SHAPES = [
    {"key": "w/a", "fields": {"n": 5, "s": "x", "arr": [1, 50], "nested": {"p": 3}}},
    {"key": "w/b", "fields": {"n": 50, "s": "y", "nested": {"p": "3"}}},
    {"key": "w/c", "fields": {"s": 7}},
]


@pytest.mark.parametrize(("where", "expected"), [
    (["n < 10"], {"w/a"}),
    (["n >= 5", "s != x"], {"w/b"}),             # both must hold
    (["arr < 40"], set()),                         # an array is neither a number nor admitted
    (["nested.p = 3"], {"w/a"}),                   # the number 3, not the string "3"
    (["nested.p = 3", "s = x", "n <= 5"], {"w/a"}),
    (["s != x"], {"w/b"}),                         # a number is not "not x": the types differ
    (["missing > 0"], set()),
    (["kind = note", "key != w/a", "n > 1"], {"w/b"}),
], ids=lambda v: repr(v))
def test_conditions_mean_the_same_on_both_databases(db: Any, where: list[str], expected: set[str]) -> None:
    for shape in SHAPES:
        db.put({"kind": "note", "title": f"where shape {shape['key']}", **shape})
    found = {hit.key for hit in db.search("where shape", where=where, k=10).results}
    assert found == expected
