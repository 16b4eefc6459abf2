"""Row 1 (validation side) and 16's NaN/Infinity: numbers a record may hold are bounded at every door
(REST, CLI file, MCP), with a 422 / exit 1 naming the record and the field path, before anything is
written."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from elephant.errors import InvalidRecord
from elephant.records.envelope import validate_record
from tests.reliability.conftest import call_mcp, mcp_text, ready, record_count, run_cli

HUGE = int("9" * 400)

BAD_NUMBERS = [
    pytest.param({"n": HUGE}, "fields.n", id="400-digit-int"),
    pytest.param({"deep": {"n": -HUGE}}, "fields.deep.n", id="nested-negative"),
    pytest.param({"list": [1, 2, 2**63]}, "fields.list[2]", id="just-past-int64"),
    pytest.param({"x": math.nan}, "fields.x", id="nan"),
    pytest.param({"x": math.inf}, "fields.x", id="infinity"),
    pytest.param({"x": -math.inf}, "fields.x", id="minus-infinity"),
]


def note(fields: dict[str, Any], key: str = "bad/number") -> dict[str, Any]:
    return {"kind": "note", "key": key, "title": "a number too far", "fields": fields}


@pytest.mark.parametrize(("fields", "path"), BAD_NUMBERS)
def test_validator_names_the_field(fields: dict[str, Any], path: str) -> None:
    with pytest.raises(InvalidRecord) as caught:
        validate_record(note(fields))
    problem = caught.value.problems[0]
    assert problem.field == path and problem.key == "bad/number"


def test_bounds_are_inclusive() -> None:
    record = validate_record(note({"hi": 2**63 - 1, "lo": -(2**63), "f": 1.7976931348623157e308}))
    assert record.fields["hi"] == 2**63 - 1 and record.fields["lo"] == -(2**63)


@pytest.mark.parametrize(("fields", "path"), BAD_NUMBERS)
def test_rest_refuses_before_writing(api: Any, fields: dict[str, Any], path: str) -> None:
    db = api.app.state.ctx.db
    before = record_count(db)
    # json.dumps writes NaN/Infinity literals, as a careless client would.
    response = api.post("/v1/records", content=json.dumps(note(fields)), headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert path in response.text and "bad/number" in response.text
    assert record_count(db) == before


def test_rest_upload_then_search_after_a_refused_number(api: Any) -> None:
    """The reproduction of row 1: the huge integer is refused, so later writes and searches work."""
    assert api.post("/v1/records", content=json.dumps(note({"n": HUGE})),
                    headers={"content-type": "application/json"}).status_code == 422
    ok = api.post("/v1/records", json={"kind": "note", "key": "good/one", "title": "marmosetword here"})
    assert ok.status_code == 201
    found = api.post("/v1/search", json={"query": "marmosetword"})
    assert found.status_code == 200 and found.json()["results"][0]["key"] == "good/one"
    answer = ready(api)
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("text", [f"n: {'9' * 400}", "n: .nan", "n: .inf", "n: -.inf"])
def test_cli_put_exits_1_naming_file_and_field(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(f"kind: note\nkey: bad/number\ntitle: t\nfields:\n  {text}\n", encoding="utf-8")
    result = run_cli("put", str(path))
    assert result.exit_code == 1
    assert "bad.yaml" in result.output and "fields.n" in result.output
    assert run_cli("get", "bad/number").exit_code == 1  # nothing written


def test_mcp_remember_refuses_before_writing(db: Any) -> None:
    result = call_mcp(db, "remember", note({"n": HUGE}))
    assert result.is_error
    assert "fields.n" in mcp_text(result)
    assert record_count(db) == 0
