"""Fuzz: real corpus files, mutated (bytes flipped, cut, spliced, duplicated), fed to every parser.
Nothing but ``ParseError`` (``SkipFile`` is one) may escape, and what is returned validates."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from elephant.ingest.parsers import PARSERS, ParseContext, ParseError, mlperf
from elephant.records.envelope import Record

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ingest"
MLPERF_SUMMARY = ("inference_v4.1/closed/NVIDIA/results/H200-SXM-141GBx8_TRT/llama2-70b-99.9/Offline/"
                  "performance/run_1/mlperf_log_summary.txt")
SAMPLES: dict[str, list[str]] = {
    "recordfile": ["recordfile/ranker-int8.yaml", "recordfile/incident.md", "recordfile/batch.json"],
    "mlperf": [f"mlperf/{MLPERF_SUMMARY}"],
    "triton": ["triton/triton-server/docs/examples/model_repository/simple_dyna_sequence/config.pbtxt",
               "triton/triton-server/deploy/gke-marketplace-app/benchmark/model-store/bert_base_trt_gpu/config.pbtxt"],
    "kserve": ["kserve/docs/samples/rollout-strategy/rollout-strategy-example.yaml",
               "kserve/config/runtimes/kserve-tritonserver.yaml"],
    "markdown": ["markdown/gitlab-com-runbooks/docs/cells/auto-deploy.md",
                 "markdown/gitlab-com-runbooks/docs/duo/code_suggestion_failover.md"],
    "model_card": ["tables/onnx-model-zoo/validated/text/machine_comprehension/bert-squad/README.md"],
    "delimited": ["tables/own/latency.csv", "tables/inference_v4.1/closed/NVIDIA/systems/system_descriptions.tsv"],
    "turnkey": ["tables/onnx-model-zoo/Computer_Vision/resnet50_Opset17_timm/turnkey_stats.yaml"],
    "yaml": ["kserve/docs/samples/v1beta1/rollout/canary.yaml", "kserve/helm/templates/hpa.yaml"],
    "json": ["mlperf/inference_v4.1/closed/NVIDIA/systems/H200-SXM-141GBx8_TRT.json"],
    "text": ["text/notes.txt"],
}


@st.composite
def mutated(draw: st.DrawFn, data: bytes) -> bytes:
    """A few edits of the original: the shapes real damage takes (truncation, bit rot, bad splices)."""
    blob = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "delete", "duplicate"]))
        at = draw(st.integers(0, max(len(blob) - 1, 0)))
        if op == "flip" and blob:
            blob[at] = draw(st.integers(0, 255))
        elif op == "cut":
            del blob[at:]
        elif op == "insert":
            blob[at:at] = draw(st.binary(min_size=1, max_size=16) | st.sampled_from(
                [b"{{ x }}", b"${y}", b"\n---\n", b"[", b"{", b"\x00", b"\xff\xfe", b"# h\n",
                 b"- [ ] step\n", b"|a|b|\n|--|--|\n", b"Scenario : Server\n", b"[" * 2000]))
        elif op == "delete":
            del blob[at:at + draw(st.integers(1, 200))]
        elif op == "duplicate":
            end = at + draw(st.integers(1, 300))
            blob[at:at] = blob[at:end]
    return bytes(blob)


def _context(parser: str, rel: str) -> tuple[str, ParseContext]:
    if parser != "mlperf":
        return rel, ParseContext(root="/fuzz")
    root = FIXTURES / "mlperf"
    known = frozenset(p.relative_to(root).as_posix() for p in root.rglob("*")
                      if p.is_file() and not p.name.endswith(".expected.json"))
    related = {m: (root / m).read_bytes() for m in mlperf.group_members(MLPERF_SUMMARY, known)}
    return MLPERF_SUMMARY, ParseContext(root="/fuzz", related=related, known_paths=known)


@pytest.mark.parametrize("parser", sorted(PARSERS))
def test_only_parse_errors_escape(parser: str) -> None:
    assert parser in SAMPLES, f"add a fuzz sample for parser {parser}"
    originals = [(rel, (FIXTURES / rel).read_bytes()) for rel in SAMPLES[parser]]

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.data())
    def run(data: st.DataObject) -> None:
        rel, original = data.draw(st.sampled_from(originals))
        blob = data.draw(mutated(original))
        path, context = _context(parser, rel.split("/", 1)[1])
        try:
            records = PARSERS[parser](path, blob, context)
        except ParseError as exc:
            assert exc.reason
            return
        assert all(isinstance(r, Record) for r in records)

    run()


def test_mutated_related_files_of_an_mlperf_result() -> None:
    """The joined files (system JSON, measurement JSON, accuracy) are damaged too, not only the summary."""
    path, context = _context("mlperf", "")
    summary = (FIXTURES / "mlperf" / path).read_bytes()

    @settings(max_examples=60, deadline=None)
    @given(st.data())
    def run(data: st.DataObject) -> None:
        member = data.draw(st.sampled_from(sorted(context.related)))
        related = dict(context.related)
        related[member] = data.draw(mutated(related[member]))
        try:
            PARSERS["mlperf"](path, summary, ParseContext(root="/fuzz", related=related,
                                                          known_paths=context.known_paths))
        except ParseError:
            pass

    run()
