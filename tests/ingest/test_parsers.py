"""Parser details the goldens do not pin down: protobuf text syntax, key derivation, MLPerf quirks."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from elephant.ingest.parsers import (
    ParseContext,
    ParseError,
    SkipFile,
    choose_parser,
    markdown,
    mlperf,
    triton,
)
from elephant.ingest.parsers.base import derive_key
from elephant.ingest.parsers.pbtxt import parse_pbtxt
from elephant.records.envelope import validate_record
from tests.conftest import CORPUS


def test_pbtxt_syntax() -> None:
    text = """
    # comment
    name: "m"  # trailing comment
    max_batch_size: 8
    input [ { name: "a" dims: [ -1, 3 ] }, { name: "b" dims: [1] } ]
    instance_group { count: 2 kind: KIND_GPU }
    instance_group < count: 1, kind: KIND_CPU >
    parameters: { key: "k" value: { string_value: "v" "w" } }
    dynamic_batching { max_queue_delay_microseconds: 100 preferred_batch_size: [4, 8] }
    optimization { cuda { graphs: true } }
    version_policy: { latest { num_versions: 2 } }
    ratio: 1.5e-3
    """
    config = parse_pbtxt(text)
    assert config["name"] == "m" and config["max_batch_size"] == 8
    assert [i["dims"] for i in config["input"]] == [[-1, 3], [1]]
    assert [g["count"] for g in config["instance_group"]] == [2, 1]
    assert config["parameters"]["value"]["string_value"] == "vw"
    assert config["dynamic_batching"]["preferred_batch_size"] == [4, 8]
    assert config["optimization"]["cuda"]["graphs"] is True
    assert config["ratio"] == pytest.approx(0.0015)


@pytest.mark.parametrize(("text", "message"), [
    ("name: ", "end of file"),
    ("a { b: 1", "missing '}'"),
    ("a: 1\nb: }", "line 2"),
    ("a b", "expected ':'"),
    ("a: 1 %", "unexpected character"),
])
def test_pbtxt_errors_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse_pbtxt(text)


def test_triton_fields_from_a_config() -> None:
    data = b'name: "r"\nplatform: "onnxruntime_onnx"\nmax_batch_size: 16\n' \
           b'input [{ name: "x" data_type: TYPE_FP16 dims: [3] }]\n' \
           b'dynamic_batching { max_queue_delay_microseconds: 2500 }\ninstance_group [{ count: 3 kind: KIND_CPU }]\n'
    [record] = triton.parse("models/r/config.pbtxt", data, ParseContext(root="/r"))
    f = record.fields
    assert (f["replicas"], f["hardware"], f["precision"]) == (3, "cpu", "fp16")
    assert f["batching"] == {"max_batch_size": 16, "dynamic": True, "max_queue_delay_ms": 2.5}
    assert record.model == "r" and f["raw"] == data.decode()


@given(st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=6), st.none() | st.text(max_size=20))
def test_derived_keys_always_validate(parts: list[str], anchor: str | None) -> None:
    path = "/".join(parts)
    key = derive_key(path, anchor)
    record = validate_record({"kind": "note", "key": key, "title": "t"})
    assert record.key == key
    assert " " not in key and "@" not in key and "#" not in key


def test_keys_from_awkward_paths() -> None:
    assert derive_key("docs/My Runbook@v2#1.md") == "docs/My-Runbook-v2-1.md"
    assert derive_key("a/b.md", "Roll back / pin") == "a/b.md:Roll-back-pin"
    assert derive_key(".hidden/x.md") == "hidden/x.md"


def test_choose_parser() -> None:
    assert choose_parser("x/results/S/resnet50/offline/performance/run_1/mlperf_log_summary.txt") == "mlperf"
    assert choose_parser("m/config.pbtxt") == "triton"
    assert choose_parser("k/isvc.YAML") == "yaml"
    assert choose_parser("LICENSE") == "license"
    assert choose_parser("a/measurements/S/b/offline/pip_freeze.json") == "cm_capture"
    assert choose_parser("notes/readme") == "text"


def test_mlperf_summary_truncations() -> None:
    good = ("MLPerf Results Summary\nScenario : Server\nResult is : INVALID\n"
            "Completed samples per second : 10.5\n99.00 percentile latency (ns) : 2500000\n")
    parsed = mlperf.parse_summary(good)
    assert parsed["result"] == "INVALID" and parsed["samples_per_s"] == 10.5
    assert parsed["latency_ms"] == {"p99": 2.5}
    for cut in (good[:20], good.split("Result")[0], "MLPerf Results Summary\nScenario : Server\nResult is : VALID\n"):
        with pytest.raises(ParseError, match="truncated"):
            mlperf.parse_summary(cut)


@pytest.mark.parametrize(("text", "expected"), [
    ("{'rouge1': 44.5, 'gen_len': 100}\nhash=x", {"rouge1": 44.5}),
    ('{"exact_match": 82.9, "f1": 90.3}', {"exact_match": 82.9, "f1": 90.3}),
    ("accuracy=76.078%, good=38039, total=50000", {"accuracy": 76.078}),
    ("mAP=37.317%", {"mAP": 37.317}),
    ("AUC=80.310%, accuracy=0.000%, good=0, total=1", {"AUC": 80.31, "accuracy": 0.0}),
    ("Accuracy: mean = 0.86, kidney = 0.93, tumor = 0.78", {"dice_mean": 0.86, "dice_kidney": 0.93,
                                                          "dice_tumor": 0.78}),
    ("Accuracy Results: {'FID_SCORE': 23.1, 'CLIP_SCORE': 31.7}", {"FID_SCORE": 23.1, "CLIP_SCORE": 31.7}),
])
def test_mlperf_accuracy_formats(text: str, expected: dict[str, float]) -> None:
    assert mlperf.parse_accuracy(text) == expected


def test_scenario_folder_case_does_not_matter_for_rounds() -> None:
    known = ["inference_v4.0/open/X/results/S/bert-99/Offline/performance/run_1/mlperf_log_summary.txt",
             "inference_v4.1/open/X/results/S/bert-99/offline/performance/run_1/mlperf_log_summary.txt"]
    assert mlperf.previous_round(known[1], known) == known[0]
    assert mlperf.previous_round(known[0], known) is None


def test_markdown_headings_in_code_fences_are_not_sections() -> None:
    text = "# Title\n\n```\n# not a heading\n```\n\n## Rollback\n\n1. Stop traffic\n2. Roll back\n"
    [record] = markdown.parse("r.md", text.encode(), ParseContext())
    assert record.kind == "rollback_procedure"
    assert record.fields["steps"] == ["Stop traffic", "Roll back"]
    assert [s["anchor"] for s in record.fields["sections"]] == ["title", "rollback"]


def test_markdown_without_procedure_is_a_note_and_empty_is_skipped() -> None:
    [note] = markdown.parse("n.md", b"# Latency notes\n\nWe saw p99 of 40 ms.\n", ParseContext())
    assert note.kind == "note" and note.title == "Latency notes"
    with pytest.raises(SkipFile, match="empty"):
        markdown.parse("e.md", b"  \n", ParseContext())


ABOUT_A_CORPUS = b"""# A test corpus

Public files gathered for testing.

## Layout

- runbooks/ ... rollback runbooks

## 7. runbooks/gitlab-com-runbooks/ - rollback, deploy

- taken from gitlab.com
- commit abc123
""" + b"filler line of provenance text\n" * 300


@pytest.mark.parametrize("path", ["README.md", "SOURCES.md", "docs/SOURCES.md", "deep/NOTICE.md",
                                  "CHANGELOG.md"])
def test_a_collections_own_docs_become_one_tagged_note_never_a_procedure(path: str) -> None:
    assert markdown.is_collection_doc(path)
    [note] = markdown.parse(path, ABOUT_A_CORPUS, ParseContext(root="/corpus"))
    assert note.kind == "note" and "collection-doc" in note.tags
    assert note.key == path and note.title == "A test corpus"  # one record, not one per section
    assert [s["anchor"] for s in note.fields["sections"]][:2] == ["a-test-corpus", "layout"]


def test_a_readme_below_the_root_is_still_a_document() -> None:
    assert not markdown.is_collection_doc("serving/kserve/docs/samples/v1beta1/rollout/README.md")
    text = b"# Rollout\n\n## Rollback and pin the model\n\n1. kubectl apply -f pinned.yaml\n2. check traffic\n"
    [record] = markdown.parse("samples/rollout/README.md", text, ParseContext())
    assert record.kind == "rollback_procedure" and "collection-doc" not in record.tags


def test_triton_refuses_an_unknown_model_config_field_naming_the_closest() -> None:
    data = b'name: "m"\nmax_batch_sizes: 8\ninstance_group [ { count: 1 } ]\n'
    with pytest.raises(ParseError, match=r"unknown Triton ModelConfig field\(s\): 'max_batch_sizes' "
                                         r"\(did you mean 'max_batch_size'\?\)"):
        triton.parse("models/m/config.pbtxt", data, ParseContext())


CORPUS_PBTXT = sorted(CORPUS.rglob("*.pbtxt")) if CORPUS.is_dir() else []


@pytest.mark.skipif(not CORPUS_PBTXT, reason=f"no corpus at {CORPUS}")
@pytest.mark.parametrize("path", CORPUS_PBTXT, ids=lambda p: p.relative_to(CORPUS).as_posix())
def test_every_corpus_pbtxt_reads_as_a_triton_config_or_is_a_template(path: Path) -> None:
    rel = path.relative_to(CORPUS).as_posix()
    try:
        [record] = triton.parse(rel, path.read_bytes(), ParseContext(root=str(CORPUS)))
    except SkipFile as skip:
        assert "placeholder" in str(skip)  # the TensorRT-LLM template, '${...}' until rendered
        return
    config = parse_pbtxt(path.read_text(encoding="utf-8"))
    assert set(config) <= triton.MODEL_CONFIG_FIELDS and config
    fields = record.fields
    assert record.kind == "serving_config" and fields["runtime"] == "triton" and fields["raw"]
    assert record.model == (config.get("name") or path.parent.name)
    if isinstance(config.get("max_batch_size"), int):
        assert fields["batching"]["max_batch_size"] == config["max_batch_size"]
    groups = config.get("instance_group")
    if groups:
        groups = groups if isinstance(groups, list) else [groups]
        assert fields["replicas"] == sum(g.get("count", 1) for g in groups)
    names = [t["name"] for t in fields.get("inputs", [])]
    assert names == [t["name"] for t in (config["input"] if isinstance(config.get("input"), list)
                                         else [config["input"]] if config.get("input") else [])]


def test_markdown_sections_follow_commonmark() -> None:
    text = """# Runbook

~~~text
```
# inside a tilde fence that holds a backtick line: not a heading
~~~

Rollback steps
--------------

1. kubectl rollout undo deploy/ranker

> # a heading inside a quote opens no section

    # an indented code line is not a heading
"""
    preamble, sections = markdown.split_sections(text)
    assert preamble == []
    assert [(s.level, s.title) for s in sections] == [(1, "Runbook"), (2, "Rollback steps")]
    assert "# inside a tilde fence" in sections[0].text and "kubectl rollout undo" in sections[1].text
    assert "a heading inside a quote" in sections[1].text


def test_list_items_and_commands_come_from_the_commonmark_tree() -> None:
    text = """1. Drain the canary
   and wait for in-flight requests
   - [x] nested: `kubectl rollout undo deploy/ranker`
2) Pin the previous model

```yaml
kind: InferenceService
```

~~~bash

kubectl get isvc ranker
~~~

    - an indented code line, not a step
"""
    assert markdown.list_items(text) == ["Drain the canary and wait for in-flight requests",
                                         "nested: kubectl rollout undo deploy/ranker", "Pin the previous model"]
    assert markdown.code_commands(text) == ["kubectl get isvc ranker"]
