"""`model build` pieces that need no export (block-wise INT8 layout, manifests, agreement), and the CLI shell."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from elephant.errors import ModelError
from elephant.retrieval.embedding import read_manifest
from elephant.retrieval.embedding.manifest import write_manifest

onnx = pytest.importorskip("onnx")


def tiny_matmul_model(path: Path, weight: np.ndarray) -> None:
    from onnx import TensorProto, helper, numpy_helper

    k, n = weight.shape
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="/layer.0/output/dense/MatMul")], "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", n])],
        [numpy_helper.from_array(weight, "w")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def test_blockwise_int8_matmul_matches_float_matmul(tmp_path):
    import onnxruntime as ort

    from elephant.retrieval.embedding.build import quantize_blockwise

    rng = np.random.default_rng(0)
    weight = rng.normal(0, 0.05, size=(64, 48)).astype(np.float32)
    weight[3, :] *= 40  # an outlier input channel, as MiniLM has: per-block scales must contain it
    tiny_matmul_model(tmp_path / "f.onnx", weight)
    assert quantize_blockwise(tmp_path / "f.onnx", tmp_path / "q.onnx", block_size=32) == 1
    nodes = onnx.load(str(tmp_path / "q.onnx")).graph.node
    assert [n.op_type for n in nodes] == ["MatMulNBits"]
    x = rng.normal(size=(5, 64)).astype(np.float32)
    y = ort.InferenceSession(str(tmp_path / "q.onnx"), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    expected = x @ weight
    cosines = (y * expected).sum(1) / np.linalg.norm(y, axis=1) / np.linalg.norm(expected, axis=1)
    assert cosines.min() > 0.999
    # Row-wise activation blocks: a row's result does not depend on the other rows of the batch.
    alone = ort.InferenceSession(str(tmp_path / "q.onnx"), providers=["CPUExecutionProvider"]).run(
        None, {"x": x[:1]})[0]
    np.testing.assert_allclose(alone[0], y[0], atol=1e-5)


def test_blockwise_skips_excluded_nodes(tmp_path):
    from elephant.retrieval.embedding.build import quantize_blockwise

    tiny_matmul_model(tmp_path / "f.onnx", np.ones((32, 8), dtype=np.float32))
    converted = quantize_blockwise(tmp_path / "f.onnx", tmp_path / "q.onnx",
                                   nodes_to_exclude=["/layer.0/output/dense/MatMul"])
    assert converted == 0
    assert [n.op_type for n in onnx.load(str(tmp_path / "q.onnx")).graph.node] == ["MatMul"]


def test_topk_agreement_counts_shared_neighbours():
    from elephant.retrieval.embedding.build import topk_agreement

    reference = np.array([[0.9, 0.8, 0.7, 0.1], [0.1, 0.2, 0.3, 0.9]])
    assert topk_agreement(reference, reference, k=2) == 1.0
    swapped = np.array([[0.9, 0.1, 0.7, 0.8], [0.1, 0.2, 0.3, 0.9]])  # first query: {0, 3} vs {0, 1}
    assert topk_agreement(swapped, reference, k=2) == 0.75


def test_unknown_variant_is_a_usage_error(tmp_path):
    from elephant.errors import UsageError
    from elephant.retrieval.embedding.build import build_models

    with pytest.raises(UsageError, match="fp16"):
        build_models(tmp_path, variants=["fp16"])


# -- external data ----------------------------------------------------------------------------------

def table_model(path: Path, table: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> None:
    """ids → Gather(table) → MatMul(weight) + bias: a word-embedding lookup and a projection."""
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "ids"], ["rows"]),
         helper.make_node("MatMul", ["rows", "weight"], ["projected"]),
         helper.make_node("Add", ["projected", "bias"], ["y"])], "table",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["n"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", weight.shape[1]])],
        [numpy_helper.from_array(table, "table"), numpy_helper.from_array(weight, "weight"),
         numpy_helper.from_array(bias, "bias")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def external_locations(path: Path) -> dict[str, dict[str, str]]:
    graph = onnx.load(str(path), load_external_data=False).graph
    return {t.name: {e.key: e.value for e in t.external_data} for t in graph.initializer
            if t.data_location == onnx.TensorProto.EXTERNAL}


def test_externalize_moves_large_initializers_to_page_aligned_offsets(tmp_path):
    import onnxruntime as ort

    from elephant.retrieval.embedding.build import externalize_initializers
    from elephant.retrieval.embedding.onnx_embedder import sha256_file

    rng = np.random.default_rng(1)
    # 1.2 MB and 1.5 MB: neither a multiple of 4096, so the second tensor needs padding.
    table = rng.normal(size=(1000, 300)).astype(np.float32)
    weight = rng.normal(size=(300, 1250)).astype(np.float32)
    bias = rng.normal(size=(1250,)).astype(np.float32)
    model = tmp_path / "model-x.onnx"
    table_model(model, table, weight, bias)
    ids = np.array([0, 7, 999, 7], dtype=np.int64)
    before = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run(None, {"ids": ids})[0]

    entries = externalize_initializers(model)

    data = tmp_path / "model-x.onnx.data"
    assert entries == [{"file": data.name, "sha256": sha256_file(data), "size_bytes": data.stat().st_size,
                        "tensors": 2, "alignment": 4096}]
    locations = external_locations(model)
    assert set(locations) == {"table", "weight"}  # the 5 kB bias stays inside the model file
    for location in locations.values():
        assert location["location"] == data.name
        assert int(location["offset"]) % 4096 == 0
    assert int(locations["weight"]["offset"]) >= table.nbytes
    assert sorted(p.name for p in tmp_path.iterdir()) == [model.name, data.name]  # no temporary left
    assert model.stat().st_size < 100_000
    after = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run(None, {"ids": ids})[0]
    np.testing.assert_array_equal(after, before)


def test_externalize_leaves_a_small_model_a_single_file(tmp_path):
    from elephant.retrieval.embedding.build import externalize_initializers

    tiny_matmul_model(tmp_path / "f.onnx", np.ones((32, 8), dtype=np.float32))
    content = (tmp_path / "f.onnx").read_bytes()
    assert externalize_initializers(tmp_path / "f.onnx") == []
    assert [p.name for p in tmp_path.iterdir()] == ["f.onnx"]
    assert (tmp_path / "f.onnx").read_bytes() == content


# -- manifests ------------------------------------------------------------------------------------

def fake_manifest(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    write_manifest(directory, {
        "format": 1, "model": "m", "default": "q", "aliases": {"default": "q", "int8": "q"},
        "variants": {"fp32": {"file": "a.onnx", "sha256": "0" * 64, "runtime": {"max_batch_size": 32}},
                     "q": {"file": "b.onnx", "sha256": "1" * 64, "runtime": {"max_batch_size": 1}}}})


def test_manifest_resolves_names_aliases_and_default(tmp_path):
    fake_manifest(tmp_path)
    manifest = read_manifest(tmp_path)
    assert manifest.resolve(None).name == "q"
    assert manifest.resolve("default").name == "q"
    assert manifest.resolve("int8").name == "q"
    assert manifest.resolve("int8").max_batch_size == 1
    assert manifest.resolve("fp32").path == tmp_path / "a.onnx"
    with pytest.raises(ModelError, match="elephant model build"):
        manifest.resolve("fp16")


def test_manifest_lists_data_files_and_older_entries_have_none(tmp_path):
    fake_manifest(tmp_path)
    manifest = read_manifest(tmp_path)
    assert manifest.resolve("fp32").data_files == ()  # an entry written before external data
    data = manifest.data
    data["variants"]["fp32"]["data_files"] = [{"file": "a.onnx.data", "sha256": "2" * 64, "size_bytes": 9,
                                              "tensors": 1, "alignment": 4096}]
    write_manifest(tmp_path, data)
    (variant_file,) = read_manifest(tmp_path).resolve("fp32").data_files
    assert (variant_file.path, variant_file.sha256, variant_file.size_bytes) == (tmp_path / "a.onnx.data", "2" * 64, 9)


def test_unreadable_or_foreign_manifest_is_refused(tmp_path):
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ModelError, match="--force"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"format": 99}))
    with pytest.raises(ModelError, match="--force"):
        read_manifest(tmp_path)


# -- the CLI shell ----------------------------------------------------------------------------------

@pytest.fixture
def cli() -> typer.Typer:
    from elephant.cli.model_commands import register

    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """Test root."""

    register(app)
    return app


def test_embed_command_prints_vectors_as_json(cli, tmp_path):
    (tmp_path / "texts.txt").write_text("canary rollback\n\nint8 ranker\n")
    result = CliRunner().invoke(cli, ["embed", "p99 latency", "--file", str(tmp_path / "texts.txt"),
                                      "--model", "fake", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["fingerprint"] == "fake-hash:v1" and data["dim"] == 384
    assert [v["text"] for v in data["vectors"]] == ["p99 latency", "canary rollback", "int8 ranker"]
    assert abs(np.linalg.norm(data["vectors"][0]["vector"]) - 1.0) < 1e-4


def test_embed_command_without_text_is_misuse(cli):
    result = CliRunner().invoke(cli, ["embed", "--model", "fake"])
    assert result.exit_code == 2


def test_model_info_without_a_built_model_fails_with_the_build_hint(cli, tmp_path):
    result = CliRunner().invoke(cli, ["model", "info", "--model", "int8", "--model-dir", str(tmp_path), "--json"])
    assert result.exit_code == 1
    assert "elephant model build" in json.loads(result.stdout)["message"]


@pytest.mark.model
def test_model_info_and_build_report_the_built_model(cli, built_model_dir):
    info = CliRunner().invoke(cli, ["model", "info", "--model", "int8", "--model-dir", str(built_model_dir),
                                    "--json"])
    assert info.exit_code == 0, info.output
    data = json.loads(info.stdout)
    assert data["active"]["fingerprint"].startswith(f"all-MiniLM-L6-v2:{data['default']}:")
    assert data["variants"]["fp32"]["parity"]["min_cosine"] >= 0.9999
    # Already built: a no-op that says so, without importing torch's export path.
    build = CliRunner().invoke(cli, ["model", "build", "--model-dir", str(built_model_dir), "--json"])
    assert build.exit_code == 0, build.output
    assert json.loads(build.stdout)["unchanged"] is True
    human = CliRunner().invoke(cli, ["model", "info", "--model-dir", str(built_model_dir), "--model", "fp32"])
    assert human.exit_code == 0 and "fp32" in human.stdout
    assert "model-int8.onnx.data" in human.stdout  # the table lists each variant's data file
