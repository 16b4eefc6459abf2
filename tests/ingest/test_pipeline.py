"""The ingest pipeline against a real store: idempotency, new versions, tombstones, prune, dry run,
bad input reported per file (path + reason) while the batch goes on."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from elephant.ingest.pipeline import IngestReport, ingest_paths

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ingest"
V41 = "inference_v4.1/closed/NVIDIA"
LLAMA_V41 = f"mlperf/{V41}/results/H200-SXM-141GBx8_TRT/llama2-70b-99.9/Offline"
LLAMA_V40 = "mlperf/inference_v4.0/closed/NVIDIA/results/H200-SXM-141GBx8_TRT/llama2-70b-99.9/Offline"


def _tree(tmp_path: Path, *formats: str) -> Path:
    """A copy of some fixture folders (without the goldens) that tests may change."""
    root = tmp_path / "tree"
    for fmt in formats:
        shutil.copytree(FIXTURES / fmt, root / fmt, ignore=shutil.ignore_patterns("*.expected.json"))
    return root


def _reasons(report: IngestReport) -> dict[str, str]:
    return {p.path: p.reason for p in [*report.failed, *report.skipped]}


def test_first_ingest_then_reingest_is_a_noop(db: Any, tmp_path: Path) -> None:
    root = _tree(tmp_path, "mlperf", "kserve", "triton")
    first = ingest_paths(db, [root])
    assert first.ok, first.failed
    assert first.created >= 10 and first.updated == 0
    versions = db.counts()["_versions"]

    again = ingest_paths(db, [root])
    assert (again.created, again.updated, again.deleted, again.unchanged) == (0, 0, 0, 0)
    assert again.files_parsed == 0
    assert again.files_unchanged == first.files_parsed + first.files_joined
    assert db.counts()["_versions"] == versions

    record = db.get(LLAMA_V41)
    assert record.version == 1
    assert record.envelope["fields"]["tokens_per_s"] == 31302.7
    assert record.envelope["source"] == {
        "path": f"{LLAMA_V41}/performance/run_1/mlperf_log_summary.txt", "root": str(root.resolve())}


def test_changed_file_becomes_a_new_version_and_dropped_records_are_tombstoned(db: Any, tmp_path: Path) -> None:
    root = _tree(tmp_path, "kserve")
    ingest_paths(db, [root])
    multi = root / "kserve/docs/samples/rollout-strategy/rollout-strategy-example.yaml"
    keys = [k for k in db.store.keys_from_source(str(root.resolve())) if "rollout-strategy-example" in k]
    assert len(keys) == 3
    # Drop the last YAML document and change the first: one record updated, one tombstoned.
    docs = multi.read_text().split("\n---")
    docs[0] = docs[0].replace('storageUri: "s3://my-bucket/model"', 'storageUri: "s3://my-bucket/model-v2"')
    multi.write_text("\n---".join(docs[:2]) + "\n")

    report = ingest_paths(db, [root])
    assert report.ok
    assert (report.created, report.updated, report.deleted) == (0, 1, 1)
    alive = [k for k in db.store.keys_from_source(str(root.resolve())) if "rollout-strategy-example" in k]
    assert len(alive) == 2
    first = db.get(f"{multi.relative_to(root).as_posix()}:inferenceservice-rollout-strategy-example")
    assert first.version == 2 and first.envelope["fields"]["storage_uri"] == "s3://my-bucket/model-v2"
    assert [v.is_deleted for v in db.history(sorted(set(keys) - set(alive))[0])] == [False, True]


def test_a_changed_joined_file_reparses_its_mlperf_result(db: Any, tmp_path: Path) -> None:
    root = _tree(tmp_path, "mlperf")
    ingest_paths(db, [root])
    system = root / f"mlperf/{V41}/systems/H200-SXM-141GBx8_TRT.json"
    data = json.loads(system.read_text())
    data["status"] = "preview"
    system.write_text(json.dumps(data))
    report = ingest_paths(db, [root])
    assert report.updated == 1 and report.created == 0
    record = db.get(LLAMA_V41)
    assert record.version == 2 and record.envelope["fields"]["system_status"] == "preview"


def test_rounds_of_one_result_are_linked(db: Any, tmp_path: Path) -> None:
    root = _tree(tmp_path, "mlperf")
    ingest_paths(db, [root])
    v41, v40 = db.get(LLAMA_V41).envelope, db.get(LLAMA_V40).envelope
    assert v41["links"] == [{"rel": "previous_round", "key": LLAMA_V40}]
    assert (v41["model"], v41["fields"]["hardware"], v41["fields"]["scenario"]) == (
        v40["model"], v40["fields"]["hardware"], v40["fields"]["scenario"])
    assert (v40["occurred_at"], v41["occurred_at"]) == ("2024-03-27", "2024-08-28")
    assert (v40["fields"]["tokens_per_s"], v41["fields"]["tokens_per_s"]) == (27738.3, 31302.7)


def test_dry_run_writes_nothing(db: Any, tmp_path: Path) -> None:
    root = _tree(tmp_path, "markdown", "tables")
    before = db.counts()
    report = ingest_paths(db, [root], dry_run=True)
    assert report.dry_run and report.created > 10
    assert db.counts() == before
    assert db.store.ingested_files_under(str(root.resolve())) == {}
    # After a real run, a dry run predicts nothing to do.
    real = ingest_paths(db, [root])
    assert real.created == report.created
    assert ingest_paths(db, [root], dry_run=True).records_written == 0


def test_prune_tombstones_records_whose_source_is_gone(db: Any, tmp_path: Path) -> None:
    root = _tree(tmp_path, "triton", "text")
    ingest_paths(db, [root])
    gone = root / "text/notes.txt"
    gone.unlink()
    kept = ingest_paths(db, [root])
    assert kept.deleted == 0 and db.get("text/notes.txt").version == 1

    dry = ingest_paths(db, [root], prune=True, dry_run=True)
    assert dry.deleted == 1 and db.get("text/notes.txt").version == 1
    pruned = ingest_paths(db, [root], prune=True)
    assert pruned.deleted == 1
    assert [c["key"] for c in pruned.changes] == ["text/notes.txt"]
    assert db.history("text/notes.txt")[-1].is_deleted
    assert "text/notes.txt" not in db.store.ingested_files_under(str(root.resolve()))
    assert ingest_paths(db, [root], prune=True).deleted == 0


def _bad_tree(tmp_path: Path) -> Path:
    root = tmp_path / "bad"
    results = root / "inference_v4.1/closed/X/results/SYS/resnet50/Offline/performance/run_1"
    results.mkdir(parents=True)
    (results / "mlperf_log_summary.txt").write_text(
        "================================================\nMLPerf Results Summary\n"
        "================================================\nSUT name : x\nScenario : Offline\n")
    (root / "broken.yaml").write_text("kind: InferenceService\nspec: [unclosed\n")
    (root / "broken.json").write_text('{"a": 1,,}')
    (root / "latin1.md").write_bytes("# Caf\xe9 runbook\n".encode("latin-1"))
    (root / "model.bin").write_bytes(b"\x00\x01\x02ONNX\x00")
    (root / "empty.md").write_text("")
    (root / "huge.txt").write_text("x" * 5000)
    (root / "template.pbtxt").write_text('name: "m"\nmax_batch_size: ${BATCH}\n')
    (root / "good.md").write_text("# Good note\n\nStill ingested.\n")
    (root / "loop").symlink_to(root, target_is_directory=True)
    (root / "self").symlink_to(root / "self")
    return root


def test_bad_input_is_reported_per_file_and_the_batch_goes_on(db: Any, tmp_path: Path) -> None:
    root = _bad_tree(tmp_path)
    report = ingest_paths(db, [root], max_file_bytes=4096)
    reasons = _reasons(report)
    summary = "inference_v4.1/closed/X/results/SYS/resnet50/Offline/performance/run_1/mlperf_log_summary.txt"
    assert "truncated" in reasons[summary]
    assert "malformed YAML" in reasons["broken.yaml"]
    assert "malformed JSON" in reasons["broken.json"]
    assert "UTF-8" in reasons["latin1.md"]
    assert "binary" in reasons["model.bin"]
    assert "empty" in reasons["empty.md"]
    assert "oversized" in reasons["huge.txt"]
    assert "placeholder" in reasons["template.pbtxt"]
    assert "symlink loop" in reasons["loop"]
    assert "symlink loop" in reasons["self"]
    assert {p.path for p in report.failed} == {summary, "broken.yaml", "broken.json"}
    assert not report.ok
    assert db.get("good.md").envelope["title"] == "Good note"
    assert report.created == 1
    # Failed files are not remembered: fixing one ingests it next time.
    (root / "broken.yaml").write_text("kind: ConfigMap\nmetadata: {name: fixed}\n")
    assert ingest_paths(db, [root], max_file_bytes=4096).created == 1


def test_missing_path_fails_without_stopping_others(db: Any, tmp_path: Path) -> None:
    root = _tree(tmp_path, "text")
    report = ingest_paths(db, [tmp_path / "nope", root])
    assert [p.reason for p in report.failed] == ["no such file or directory"]
    assert report.created == 1


def test_single_file_root_is_its_folder(db: Any, tmp_path: Path) -> None:
    root = _tree(tmp_path, "triton")
    config = root / "triton/triton-server/docs/examples/model_repository/simple_dyna_sequence/config.pbtxt"
    report = ingest_paths(db, [config])
    assert report.created == 1
    record = db.get("config.pbtxt").envelope
    assert record["source"] == {"path": "config.pbtxt", "root": str(config.parent.resolve())}
    assert record["fields"]["runtime"] == "triton"


def test_elephant_ingest_facade_uses_the_entry_point(db: Any, tmp_path: Path) -> None:
    root = _tree(tmp_path, "recordfile")
    report = db.ingest([root])
    assert isinstance(report, IngestReport)
    assert db.get("ranker/int8-dynamic-2026-03").envelope["fields"]["technique"] == "quantization_int8"
    assert db.get("ranker/int8-dynamic-2026-03").envelope["source"]["path"] == "recordfile/ranker-int8.yaml"
    assert [p.path for p in report.failed] == ["recordfile/broken.yaml"]


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_symlinked_folder_is_followed_once(db: Any, tmp_path: Path) -> None:
    root = _tree(tmp_path, "text")
    (root / "alias").symlink_to(root / "text", target_is_directory=True)
    report = ingest_paths(db, [root])
    assert report.files_seen == 1
    assert "already walked" in _reasons(report)["alias"]
    assert db.get("text/notes.txt").version == 1


def test_file_that_becomes_empty_drops_its_records_but_a_broken_one_keeps_them(db: Any, tmp_path: Path) -> None:
    root = _tree(tmp_path, "text", "kserve")
    ingest_paths(db, [root])
    (root / "text/notes.txt").write_text("")
    canary = root / "kserve/docs/samples/v1beta1/rollout/canary.yaml"
    canary.write_text(canary.read_text() + "\n  bad: [\n")
    report = ingest_paths(db, [root])
    assert _reasons(report)["text/notes.txt"] == "empty file"
    assert "malformed YAML" in _reasons(report)["kserve/docs/samples/v1beta1/rollout/canary.yaml"]
    assert report.deleted == 1 and db.history("text/notes.txt")[-1].is_deleted
    # A broken edit is not taken as "the records are gone": the last good version stays current.
    assert db.get("kserve/docs/samples/v1beta1/rollout/canary.yaml").version == 1
    assert "text/notes.txt" not in db.store.ingested_files_under(str(root.resolve()))
