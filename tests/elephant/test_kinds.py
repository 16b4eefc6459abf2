"""The kind registry: every kind is one module with every part, and an unknown kind is an error, never a guess."""

from __future__ import annotations

import re

import pytest

from elephant.errors import InvalidRecord, UnknownKind
from elephant.kinds import KINDS, WRITABLE_KINDS, all_kinds, kind_spec
from elephant.kinds.base import FieldsModel, KindSpec
from elephant.records.envelope import validate_record


def test_registry_holds_the_contracts_kinds_in_order() -> None:
    assert KINDS == ("serving_config", "benchmark", "optimization", "feature_definition", "deployment", "incident",
                     "rollback_procedure", "note", "regression")
    assert [spec.name for spec in all_kinds()] == list(KINDS)
    assert KINDS[:-1] == WRITABLE_KINDS  # regression findings are written by Elephant itself


@pytest.mark.parametrize("name", ["nope", "", "Benchmark", None, 3])
def test_unknown_kind_raises(name: object) -> None:
    with pytest.raises(UnknownKind, match="unknown kind") as caught:
        kind_spec(name)  # type: ignore[arg-type]
    assert isinstance(caught.value, InvalidRecord)
    assert caught.value.problems[0].field == "kind"


@pytest.mark.parametrize("spec", all_kinds(), ids=lambda s: s.name)
def test_each_kind_module_holds_its_fields_model_and_words(spec: KindSpec) -> None:
    assert issubclass(spec.fields_model, FieldsModel)
    assert spec.fields_model.__module__ == f"elephant.kinds.{spec.name}"
    assert spec.words.label and spec.words.question
    for pattern in spec.words.question:
        re.compile(pattern)
    # The envelope validates a kind's fields with the model its module holds.
    record = validate_record({"kind": spec.name, "key": f"k/{spec.name}", "title": "t", "fields": {"extra": 1}})
    assert record.fields["extra"] == 1


@pytest.mark.parametrize(("written", "stored", "read_as"), [
    ("quantization_int8", "quantization_int8", "quantization_int8"),
    ("INT8", "quantization_int8", "quantization_int8"),
    ("int8-quantization", "quantization_int8", "quantization_int8"),
    ("Quantization FP8", "quantization_fp8", "quantization_fp8"),
    ("TensorRT", "tensorrt", "tensorrt"),
    ("other", "other", "other"),
    ("speculative_decoding", "speculative_decoding", "other"),
    ("  Speculative   decoding (EAGLE) ", "Speculative decoding (EAGLE)", "other"),
    ("AWQ", "AWQ", "other"),
])
def test_any_technique_is_accepted_known_spellings_become_the_enum(written: str, stored: str, read_as: str) -> None:
    from elephant.kinds.optimization import technique_class

    record = validate_record({"kind": "optimization", "key": "m/opt/x", "title": "t", "model": "m",
                              "fields": {"technique": written, "outcome": "adopted"}})
    assert record.fields["technique"] == stored
    assert technique_class(stored) == read_as


def test_unknown_technique_reads_as_other_and_keeps_its_words() -> None:
    from elephant.kinds.optimization import index_phrases, technique_class

    assert technique_class("speculative_decoding") == "other"
    assert technique_class("quantization_int4") == "quantization_int4"
    assert "technique: speculative decoding" in index_phrases({"technique": "speculative_decoding"})


@pytest.mark.parametrize("bad", [3, ["int8"], "x" * 81])
def test_a_technique_that_is_not_short_text_names_the_field(bad: object) -> None:
    with pytest.raises(InvalidRecord) as caught:
        validate_record({"kind": "optimization", "key": "m/opt/x", "title": "t", "fields": {"technique": bad}})
    assert any(p.field.endswith("technique") for p in caught.value.problems)
