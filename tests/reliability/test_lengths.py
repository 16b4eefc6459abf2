"""Row 9: lengths the schema enforces are validated first, so PostgreSQL never sees an over-long value
(once a 503 with SQL in its detail, failing the whole batch): a link `rel` over 200 characters is a 422
naming the field, and one over-long record in a batch fails only itself, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.reliability.conftest import ready, record_count, run_cli

GOOD = {"kind": "note", "key": "good/one", "title": "a good one", "body": "okapiword"}
TOO_LONG = [
    pytest.param({"links": [{"rel": "r" * 201, "key": "good/one"}]}, "links[0].rel", id="long-rel"),
    pytest.param({"model": "m" * 201}, "model", id="long-model"),
    pytest.param({"source": {"path": "p/" * 513}}, "source.path", id="long-source-path"),
]


def bad(changes: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "note", "key": "bad/long", "title": "too long", **changes}


def test_a_rel_of_200_characters_is_stored(api: Any) -> None:
    record = {**GOOD, "links": [{"rel": "r" * 200, "key": "other/one"}]}
    assert api.post("/v1/records", json=record).status_code == 201
    assert api.get("/v1/records/good/one").json()["links"][0]["rel"] == "r" * 200


def test_a_rel_over_200_characters_is_a_422_naming_the_field(api: Any) -> None:
    response = api.post("/v1/records", json=bad({"links": [{"rel": "r" * 201, "key": "good/one"}]}))
    assert response.status_code == 422, response.text[:300]
    assert [problem["field"] for problem in response.json()["errors"]] == ["links[0].rel"]
    assert "SELECT" not in response.text and "INSERT" not in response.text
    assert record_count(api.app.state.ctx.db) == 0


@pytest.mark.parametrize(("changes", "field"), TOO_LONG)
def test_one_over_long_record_fails_only_itself_in_a_batch(api: Any, changes: dict[str, Any], field: str) -> None:
    response = api.post("/v1/records", json={"records": [GOOD, bad(changes)]})
    assert response.status_code == 200, response.text[:300]
    body = response.json()
    assert [(p["key"], p["field"]) for p in body["problems"]] == [("bad/long", field)]
    assert [r["key"] for r in body["results"]] == ["good/one"]
    assert record_count(api.app.state.ctx.db) == 1
    assert api.post("/v1/search", json={"query": "okapiword"}).json()["results"][0]["key"] == "good/one"


@pytest.mark.parametrize(("changes", "field"), TOO_LONG[:2])  # an upload's source is its own name
def test_one_over_long_file_fails_only_itself_in_an_upload(api: Any, changes: dict[str, Any], field: str) -> None:
    files = [("files", ("good.yaml", io.BytesIO(yaml.safe_dump(GOOD).encode()), "application/yaml")),
             ("files", ("long.yaml", io.BytesIO(yaml.safe_dump(bad(changes)).encode()), "application/yaml"))]
    response = api.post("/v1/ingest", files=files)
    assert response.status_code == 200, response.text[:300]
    body = response.json()
    assert body["ok"] is False
    failed = json.dumps(body["failed"])
    assert "long.yaml" in failed and field in failed and "good.yaml" not in failed
    assert record_count(api.app.state.ctx.db) == 1
    answer = ready(api)
    assert answer.status_code == 200, answer.text


def test_cli_put_of_a_long_rel_exits_1_naming_file_and_field(tmp_path: Path) -> None:
    file = tmp_path / "rel.yaml"
    file.write_text(yaml.safe_dump(bad({"links": [{"rel": "r" * 201, "key": "good/one"}]})), encoding="utf-8")
    result = run_cli("put", str(file))
    assert result.exit_code == 1, result.output
    assert "rel.yaml" in result.output and "links[0].rel" in result.output


def test_an_uploaded_files_own_long_source_path_is_replaced_by_its_name(api: Any) -> None:
    record = bad({"source": {"path": "p/" * 513}})
    files = [("files", ("long.yaml", io.BytesIO(yaml.safe_dump(record).encode()), "application/yaml"))]
    response = api.post("/v1/ingest", files=files)
    assert response.status_code == 200 and response.json()["ok"] is True, response.text[:300]
    assert api.get("/v1/records/bad/long").json()["source"]["path"] == "long.yaml"
