"""Every kind is one complete module: the meta-test walks the registry, checks each kind has every part, and
renders each kind's golden record (``fixtures/kinds/<kind>.yaml``) to the line, card, context fact, index
header, brief line and search row stored next to it.

A changed expectation is regenerated with ``python -m tests.elephant.test_kind_modules`` and read in the diff.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from elephant.errors import UnknownKind
from elephant.kinds import all_kinds, kind_spec
from elephant.kinds.base import BriefPlace, FieldsModel, KindSpec
from elephant.kinds.render import date_of, fact_line, record_card, record_line, search_line
from elephant.records.envelope import validate_record
from elephant.retrieval.documents import render_header

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "kinds"
KINDS_DIR = Path(__file__).resolve().parents[2] / "elephant" / "kinds"


def render_all(data: dict[str, Any]) -> dict[str, Any]:
    """Every shape of one record, as the golden files hold them."""
    envelope = validate_record(data).envelope()
    kind, fields, citation = envelope["kind"], envelope.get("fields") or {}, f"{envelope['key']}@1"
    card = record_card(envelope, 1)
    place = kind_spec(kind).brief
    return {
        "line": record_line(when=date_of(envelope.get("occurred_at")), kind=kind, title=envelope["title"],
                            fields=fields, citation=citation),
        "card": {"display": card.display, "outcome": card.outcome, "outcome_class": card.outcome_class,
                 "summary": card.summary, "figures": card.figures},
        "fact": fact_line(envelope, citation),
        "index": render_header(envelope),
        "brief": None if place is None else {
            "slot": place.slot, "label": place.label, "open": place.is_open(fields),
            "summary": place.summary(fields, envelope["title"], date_of(envelope.get("occurred_at")))},
        "search": search_line(kind=kind, title=envelope["title"], citation=citation,
                              occurred_at=envelope.get("occurred_at")),
    }


def golden(name: str) -> dict[str, Any]:
    path = FIXTURES / f"{name}.yaml"
    assert path.exists(), f"kind {name!r} has no golden record: add {path.relative_to(FIXTURES.parents[1])}"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict) and {"record", "expected"} <= set(data), f"{path}: needs record and expected"
    return data


@pytest.mark.parametrize("spec", all_kinds(), ids=lambda s: s.name)
def test_each_kind_has_every_part(spec: KindSpec) -> None:
    assert (KINDS_DIR / f"{spec.name}.py").exists(), f"kind {spec.name!r} is not a module of its own"
    assert issubclass(spec.fields_model, FieldsModel)
    assert spec.fields_model.__module__ == f"elephant.kinds.{spec.name}"
    assert spec.words.label and spec.words.question
    view = spec.view
    for part in ("outcome", "outcome_words", "outcome_class", "figures", "fact", "index_phrases"):
        assert callable(getattr(view, part)), f"{spec.name}: {part} is not a function"
    assert isinstance(view.indexed_fields, frozenset)
    assert view.display.strip()
    # Every covered field is a field its model knows, so a typo cannot hide a field from the index.
    known = set(spec.fields_model.model_fields)
    assert view.indexed_fields <= known, f"{spec.name}: indexed_fields names unknown fields"
    # The brief place is a decision: a BriefPlace, or None written in the module.
    assert spec.brief is None or isinstance(spec.brief, BriefPlace)
    if spec.brief is not None:
        assert spec.brief.label and spec.brief.slot
        assert spec.brief.latest or spec.brief.open_sql is not None, "open kinds prefilter in SQL"


def test_brief_places_are_unique() -> None:
    places = [spec.brief for spec in all_kinds() if spec.brief is not None]
    assert len({p.slot for p in places}) == len(places)
    assert len({p.order for p in places}) == len(places)


@pytest.mark.parametrize("spec", all_kinds(), ids=lambda s: s.name)
def test_each_kind_renders_its_golden_record(spec: KindSpec) -> None:
    data = golden(spec.name)
    assert data["record"]["kind"] == spec.name
    assert render_all(data["record"]) == data["expected"]


@pytest.mark.parametrize("spec", all_kinds(), ids=lambda s: s.name)
def test_each_kind_reads_empty_fields(spec: KindSpec) -> None:
    # A record with none of its fields still renders: every reader copes with what is missing.
    envelope = {"kind": spec.name, "key": f"x/{spec.name}", "title": "bare"}
    rendered = render_all(envelope)
    assert rendered["line"].endswith(f"[`x/{spec.name}@1`]")
    assert rendered["card"]["figures"] == []


def test_unknown_kinds_fail_loudly() -> None:
    for render in (lambda: record_card({"kind": "no_such_kind", "key": "k", "title": "t"}, 1),
                   lambda: fact_line({"kind": "no_such_kind", "key": "k", "title": "t"}, "k@1"),
                   lambda: record_line(when="d", kind="no_such_kind", title="t", fields={}, citation="k@1"),
                   lambda: search_line(kind="no_such_kind", title="t", citation="k@1", occurred_at=None)):
        with pytest.raises(UnknownKind):
            render()


def test_every_golden_file_names_a_kind() -> None:
    names = {spec.name for spec in all_kinds()}
    assert {p.stem for p in FIXTURES.glob("*.yaml")} <= names


def _regenerate() -> None:
    for spec in all_kinds():
        path = FIXTURES / f"{spec.name}.yaml"
        data = golden(spec.name)
        data["expected"] = render_all(data["record"])
        head = path.read_text(encoding="utf-8").splitlines()[0]
        path.write_text(head + "\n" + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=110),
                        encoding="utf-8")
        print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    _regenerate()
