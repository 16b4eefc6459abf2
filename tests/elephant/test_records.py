"""Record validation: typed minimum fields, extras kept, errors naming file, key and field path."""

from __future__ import annotations

import pytest

from elephant.errors import InvalidRecord
from elephant.records.envelope import KINDS, validate_record


def test_every_kind_validates_with_minimal_envelope():
    for kind in KINDS:
        record = validate_record({"kind": kind, "key": f"m/{kind}", "title": kind})
        assert record.kind == kind


def test_typed_fields_are_coerced_and_extras_kept():
    record = validate_record({
        "kind": "benchmark", "key": "m/b", "title": "t", "occurred_at": "2026-03-12T12:00:00+02:00",
        "tags": "latency, onnx", "fields": {"batch_size": "8", "latency_ms": {"p99": "12.5", "p999": 30},
                                            "gpu_util": 0.7},
    })
    assert record.fields["batch_size"] == 8
    assert record.fields["latency_ms"] == {"p99": 12.5, "p999": 30}
    assert record.fields["gpu_util"] == 0.7
    assert record.occurred_at == "2026-03-12T10:00:00Z"
    assert record.tags == ["latency", "onnx"]


@pytest.mark.parametrize(
    ("data", "field", "text"),
    [
        ({"kind": "nope", "key": "a", "title": "t"}, "kind", "unknown kind"),
        ({"kind": "note", "title": "t"}, "key", "required"),
        ({"kind": "note", "key": "a"}, "title", "required"),
        ({"kind": "note", "key": "a", "title": "   "}, "title", "empty"),
        ({"kind": "note", "key": "a b", "title": "t"}, "key", "without spaces"),
        ({"kind": "note", "key": "a@2", "title": "t"}, "key", "'@'"),
        ({"kind": "note", "key": "a", "title": "t", "feilds": {}}, "feilds", "not an envelope field"),
        ({"kind": "serving_config", "key": "a", "title": "t", "fields": {"replicas": "many"}}, "fields.replicas", "integer"),
        ({"kind": "optimization", "key": "a", "title": "t", "fields": {"outcome": "maybe"}}, "fields.outcome", "adopted"),
        ({"kind": "deployment", "key": "a", "title": "t", "fields": {"traffic_percent": 140}}, "fields.traffic_percent", "100"),
        ({"kind": "benchmark", "key": "a", "title": "t", "fields": {"accuracy": {"top1": "high"}}}, "fields.accuracy.top1", "number"),
        ({"kind": "note", "key": "a", "title": "t", "occurred_at": "last tuesday"}, "occurred_at", "ISO-8601"),
        ({"kind": "note", "key": "a", "title": "t", "links": [{"rel": "baseline"}]}, "links[0].key", "required"),
    ],
)
def test_errors_name_file_key_and_field(data, field, text):
    with pytest.raises(InvalidRecord) as info:
        validate_record(data, file="history.yaml")
    problem = next(p for p in info.value.problems if p.field == field)
    assert text in problem.message
    assert problem.file == "history.yaml"
    assert "history.yaml" in str(info.value)


def test_not_a_mapping():
    with pytest.raises(InvalidRecord, match="mapping"):
        validate_record(["kind", "note"], file="f.json")


def test_content_hash_ignores_key_order_and_source():
    a = validate_record({"kind": "note", "key": "k", "title": "t", "fields": {"a": 1, "b": 2}})
    b = validate_record({"title": "t", "fields": {"b": 2, "a": 1}, "key": "k", "kind": "note",
                         "source": {"path": "x.md"}})
    assert a.content_hash() == b.content_hash()
