"""The embedding core: parity with sentence-transformers, batching invariance, edge inputs, safety."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from elephant.errors import ModelError
from elephant.retrieval.embedding import Embedder, HashEmbedder, OnnxEmbedder, load_embedder, read_manifest
from elephant.retrieval.embedding.texts import PARITY_TEXTS, edge_texts, generate_texts
from elephant.settings import settings_for

REPO = Path(__file__).resolve().parents[2]

# Documented in docs/embedding.md: the default variant must keep mean cosine >= 0.995 (docs/design.md §11);
# per text it may not drop below MIN_COSINE_DEFAULT on the parity set.
MEAN_COSINE_DEFAULT = 0.995
MIN_COSINE_DEFAULT = 0.99
TOP5_DEFAULT = 0.9


def embedder_for(model_dir: Path, variant: str, tmp_path: Path) -> Embedder:
    return load_embedder(settings_for(home=tmp_path, model=variant, model_dir=model_dir, embed_threads=2))


# -- reference ------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def parity_set(built_model_dir: Path):
    pytest.importorskip("sentence_transformers")
    from elephant.retrieval.embedding import build

    return build.ParitySet(build.load_reference(build.locate_source_model()))


# -- parity -----------------------------------------------------------------------------------------

@pytest.mark.model
def test_fp32_matches_sentence_transformers_per_text(built_model_dir, parity_set, tmp_path):
    vectors = embedder_for(built_model_dir, "fp32", tmp_path).embed(parity_set.texts)
    cosines = (vectors * parity_set.reference).sum(axis=1)
    worst = int(np.argmin(cosines))
    assert cosines.min() >= 0.9999, f"text {parity_set.texts[worst]!r}: cosine {cosines[worst]:.6f}"


@pytest.mark.model
def test_default_variant_meets_its_fidelity_budget(built_model_dir, parity_set, tmp_path):
    embedder = embedder_for(built_model_dir, "default", tmp_path)
    figures = parity_set.measure(embedder)
    assert figures["mean_cosine"] >= MEAN_COSINE_DEFAULT
    assert figures["min_cosine"] >= MIN_COSINE_DEFAULT
    assert figures["top5_agreement"] >= TOP5_DEFAULT


@pytest.mark.model
def test_manifest_records_hashes_settings_and_parity(built_model_dir):
    manifest = read_manifest(built_model_dir)
    assert manifest.default_variant in manifest.variants
    assert manifest.aliases["default"] == manifest.default_variant
    assert manifest.data["max_seq_length"] == 256
    for info in manifest.variants.values():
        assert len(info["sha256"]) == 64
        assert info["opset"] >= 17
        assert info["onnxruntime_version"]
        assert 0.9 < info["parity"]["mean_cosine"] <= 1.0 + 1e-6
    assert manifest.variants["fp32"]["parity"]["min_cosine"] >= 0.9999


# -- runtime behaviour ------------------------------------------------------------------------------

@pytest.fixture(scope="module", params=["fp32", "default"])
def onnx_embedder(request, built_model_dir, tmp_path_factory) -> OnnxEmbedder:
    embedder = embedder_for(built_model_dir, request.param, tmp_path_factory.mktemp("home"))
    assert isinstance(embedder, OnnxEmbedder)
    return embedder


@pytest.mark.model
def test_output_shape_dtype_and_norm(onnx_embedder):
    vectors = onnx_embedder.embed(list(PARITY_TEXTS[:5]))
    assert vectors.shape == (5, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert onnx_embedder.embed([]).shape == (0, 384)


@pytest.mark.model
def test_text_alone_equals_text_in_padded_length_sorted_batch(onnx_embedder):
    # Mixed lengths force padding and reordering; a vector must not depend on its batch neighbours,
    # or the index (bulk) and the query (alone) would disagree about the same text.
    texts = list(PARITY_TEXTS[:12]) + generate_texts(20, seed=99)
    batch = onnx_embedder.embed(texts)
    alone = np.stack([onnx_embedder.embed([t])[0] for t in texts])
    assert np.abs(batch - alone).max() <= 1e-5


@pytest.mark.model
def test_embedding_is_deterministic_across_calls_and_instances(onnx_embedder, built_model_dir, tmp_path):
    texts = generate_texts(10, seed=5)
    first = onnx_embedder.embed(texts)
    np.testing.assert_array_equal(first, onnx_embedder.embed(texts))
    other = embedder_for(built_model_dir, onnx_embedder.variant, tmp_path)
    np.testing.assert_array_equal(first, other.embed(texts))


@pytest.mark.model
def test_edge_inputs_give_unit_vectors(onnx_embedder):
    texts = edge_texts()
    vectors = onnx_embedder.embed(texts)
    assert np.isfinite(vectors).all()
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # Empty and whitespace-only both tokenize to [CLS] [SEP]: the same vector.
    np.testing.assert_allclose(vectors[0], vectors[1], atol=1e-6)


@pytest.mark.model
def test_long_text_is_truncated_at_256_tokens(onnx_embedder):
    long = "p99 " * 2500  # 10,000 characters
    assert onnx_embedder.count_tokens(long) > 256
    # Both exceed 256 tokens, so after truncation they are the same input.
    a, b = onnx_embedder.embed([long, "p99 " * 300])
    np.testing.assert_allclose(a, b, atol=1e-6)
    shorter = onnx_embedder.embed(["p99 " * 40])[0]
    assert float(a @ shorter) < 1.0 - 1e-6


@pytest.mark.model
def test_eight_threads_get_identical_vectors(onnx_embedder):
    texts = generate_texts(16, seed=8)
    expected = onnx_embedder.embed(texts)
    results: list[np.ndarray | BaseException] = [None] * 8  # type: ignore[list-item]

    def work(slot: int) -> None:
        try:
            for _ in range(3):
                results[slot] = onnx_embedder.embed(texts)
        except BaseException as exc:  # surfaced below
            results[slot] = exc

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for result in results:
        assert isinstance(result, np.ndarray), result
        np.testing.assert_array_equal(result, expected)


@pytest.mark.model
def test_query_cache_returns_the_same_frozen_vector(onnx_embedder):
    query = "what did we try last time for the ranker?"
    first = onnx_embedder.embed_query(query)
    assert first.shape == (384,)
    np.testing.assert_allclose(first, onnx_embedder.embed([query])[0], atol=1e-6)
    assert onnx_embedder.embed_query(query) is first
    with pytest.raises(ValueError):
        first[0] = 0.0  # shared between callers, so read-only


@pytest.mark.model
def test_count_tokens_uses_the_model_tokenizer_without_special_tokens(onnx_embedder):
    assert onnx_embedder.count_tokens("") == 0
    assert onnx_embedder.count_tokens("int8 quantization") == len(
        onnx_embedder.tokenizer.encode("int8 quantization", add_special_tokens=False).ids)
    assert onnx_embedder.count_tokens("hello world") == 2


@pytest.mark.model
def test_fingerprint_names_model_variant_and_weights(built_model_dir, tmp_path):
    manifest = read_manifest(built_model_dir)
    fp32 = embedder_for(built_model_dir, "fp32", tmp_path)
    default = embedder_for(built_model_dir, "default", tmp_path)
    assert fp32.fingerprint == f"all-MiniLM-L6-v2:fp32:{manifest.variants['fp32']['sha256'][:16]}"
    assert default.fingerprint.split(":")[1] == manifest.default_variant
    assert fp32.fingerprint != default.fingerprint


# -- failures ---------------------------------------------------------------------------------------

def copy_variant(built_model_dir: Path, target: Path, variant: str = "fp32") -> Path:
    manifest = read_manifest(built_model_dir)
    info = manifest.variants[variant]
    target.mkdir()
    for name in ("manifest.json", "tokenizer.json", info["file"], *(d["file"] for d in info["data_files"])):
        shutil.copyfile(built_model_dir / name, target / name)
    return target / info["file"]


@pytest.mark.model
def test_corrupted_model_file_is_refused_with_rebuild_hint(built_model_dir, tmp_path):
    model_file = copy_variant(built_model_dir, tmp_path / "models")
    data = bytearray(model_file.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped bit pattern in the weights
    model_file.write_bytes(bytes(data))
    embedder = embedder_for(tmp_path / "models", "fp32", tmp_path)
    with pytest.raises(ModelError) as info:
        embedder.embed(["anything"])
    assert "corrupt" in info.value.message
    assert "elephant model build" in info.value.message


@pytest.mark.model
def test_missing_model_file_is_refused_with_rebuild_hint(built_model_dir, tmp_path):
    copy_variant(built_model_dir, tmp_path / "models").unlink()
    with pytest.raises(ModelError, match="elephant model build"):
        embedder_for(tmp_path / "models", "fp32", tmp_path).embed(["anything"])


@pytest.mark.model
@pytest.mark.parametrize("damage", ["corrupt", "missing"])
def test_damaged_data_file_is_refused_naming_it(built_model_dir, tmp_path, damage):
    model_file = copy_variant(built_model_dir, tmp_path / "models", "int8")
    data_file = model_file.with_name(model_file.name + ".data")
    if damage == "corrupt":
        with data_file.open("r+b") as handle:  # one byte of the word-embedding table
            handle.seek(12345)
            byte = handle.read(1)
            handle.seek(12345)
            handle.write(bytes([byte[0] ^ 0xFF]))
    else:
        data_file.unlink()
    embedder = embedder_for(tmp_path / "models", "int8", tmp_path)
    with pytest.raises(ModelError) as info:
        embedder.embed(["anything"])
    assert str(data_file) in info.value.message
    assert ("corrupt" if damage == "corrupt" else "missing") in info.value.message
    assert "elephant model build" in info.value.message


# -- file layout ----------------------------------------------------------------------------------

@pytest.mark.model
def test_built_variants_keep_large_initializers_in_page_aligned_data_files(built_model_dir):
    onnx = pytest.importorskip("onnx")
    from elephant.retrieval.embedding.onnx_embedder import sha256_file

    manifest = read_manifest(built_model_dir)
    for name, info in manifest.variants.items():
        (data,) = info["data_files"]
        assert data["file"] == info["file"] + ".data"
        path = built_model_dir / data["file"]
        assert path.stat().st_size == data["size_bytes"] and sha256_file(path) == data["sha256"]
        graph = onnx.load(str(built_model_dir / info["file"]), load_external_data=False).graph
        external = {t.name: {e.key: e.value for e in t.external_data} for t in graph.initializer
                    if t.data_location == onnx.TensorProto.EXTERNAL}
        assert "model.embeddings.word_embeddings.weight" in external, name
        assert len(external) == data["tensors"]
        for location in external.values():
            assert location["location"] == data["file"]
            assert int(location["offset"]) % 4096 == 0


@pytest.fixture(scope="module")
def single_file_model_dir(built_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The int8 variant as builds before external data wrote it: one .onnx, no data file in the manifest."""
    onnx = pytest.importorskip("onnx")
    from elephant.retrieval.embedding.manifest import write_manifest
    from elephant.retrieval.embedding.onnx_embedder import sha256_file

    target = tmp_path_factory.mktemp("single-file")
    manifest = read_manifest(built_model_dir)
    info = dict(manifest.variants["int8"])
    model = onnx.load(str(built_model_dir / info["file"]))  # external data read back in
    (target / info["file"]).write_bytes(model.SerializeToString())
    shutil.copyfile(built_model_dir / "tokenizer.json", target / "tokenizer.json")
    del info["data_files"]
    info.update(sha256=sha256_file(target / info["file"]), size_bytes=(target / info["file"]).stat().st_size)
    write_manifest(target, {**manifest.data, "default": "int8", "aliases": {"default": "int8"},
                            "variants": {"int8": info}})
    return target


@pytest.mark.model
def test_single_file_model_of_an_older_build_still_loads_and_agrees(built_model_dir, single_file_model_dir,
                                                                   tmp_path):
    assert [p.name for p in single_file_model_dir.glob("*.data")] == []
    texts = list(PARITY_TEXTS) + edge_texts()
    old = embedder_for(single_file_model_dir, "int8", tmp_path).embed(texts)
    new = embedder_for(built_model_dir, "int8", tmp_path).embed(texts)
    np.testing.assert_allclose(new, old, atol=1e-6, rtol=0)


@pytest.mark.model
def test_a_single_file_build_counts_as_stale(single_file_model_dir):
    pytest.importorskip("onnx")
    from elephant.retrieval.embedding.build import _is_current

    # `elephant model build` without --force rebuilds it in the data-file layout.
    assert _is_current(single_file_model_dir, ["int8"]) is None


def test_missing_manifest_says_how_to_build(tmp_path):
    with pytest.raises(ModelError, match="elephant model build"):
        embedder_for(tmp_path / "nothing-here", "int8", tmp_path)


@pytest.mark.model
def test_unknown_variant_lists_the_built_ones(built_model_dir, tmp_path):
    with pytest.raises(ModelError, match="fp32"):
        embedder_for(built_model_dir, "fp16", tmp_path)


@pytest.mark.model
def test_model_setting_may_be_a_directory_holding_a_manifest(built_model_dir, tmp_path):
    embedder = load_embedder(settings_for(home=tmp_path, model=str(built_model_dir)))
    assert embedder.fingerprint.split(":")[1] == read_manifest(built_model_dir).default_variant


# -- the serving path stays light -----------------------------------------------------------------

@pytest.mark.model
def test_runtime_path_imports_no_torch(built_model_dir):
    script = (
        "import sys, json\n"
        "from elephant.retrieval.embedding import load_embedder\n"
        "from elephant.settings import settings_for\n"
        f"e = load_embedder(settings_for(model_dir={str(built_model_dir)!r}))\n"
        "v = e.embed(['int8 quantization of the ranker'])\n"
        "q = e.embed_query('p99 latency')\n"
        "heavy = [m for m in ('torch', 'transformers', 'sentence_transformers', 'onnx') if m in sys.modules]\n"
        "print(json.dumps({'shape': list(v.shape), 'heavy': heavy, 'tokens': e.count_tokens('a b')}))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELEPHANT_")}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, env=env,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"shape": [1, 384], "heavy": [], "tokens": 2}


# -- the fake -------------------------------------------------------------------------------------

def test_hash_embedder_is_a_deterministic_normalised_embedder():
    fake = HashEmbedder()
    assert isinstance(fake, Embedder)
    assert fake.fingerprint == "fake-hash:v1"
    vectors = fake.embed(["int8 quantization of the ranker", "int8 quantization of the detector",
                          "rollback runbook for the search API", "", "   "])
    assert vectors.shape == (5, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]  # shared words land closer
    np.testing.assert_array_equal(vectors, HashEmbedder().embed(
        ["int8 quantization of the ranker", "int8 quantization of the detector",
         "rollback runbook for the search API", "", "   "]))
    np.testing.assert_array_equal(fake.embed_query("int8 quantization of the ranker"), vectors[0])
    assert fake.count_tokens("p99 went 45 -> 18 ms") == 7
    assert fake.embed([]).shape == (0, 384)


def test_hash_embedder_vectors_are_stable_across_processes():
    script = ("from elephant.retrieval.embedding import HashEmbedder\n"
              "print(repr(float(HashEmbedder().embed(['canary rollback'])[0].sum())))\n")
    runs = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO,
                           env={**os.environ, "PYTHONHASHSEED": seed}, check=True).stdout for seed in ("1", "2")}
    assert len(runs) == 1


def test_fake_model_setting_selects_the_hash_embedder(tmp_path):
    assert isinstance(load_embedder(settings_for(home=tmp_path, model="fake")), HashEmbedder)


def test_embed_rejects_a_bare_string():
    with pytest.raises(TypeError):
        HashEmbedder().embed("not a list")  # type: ignore[arg-type]


def test_the_default_variant_follows_the_cpus_int8_instructions():
    """Issue 16: the variant is chosen at build time from what the CPU supports, and the manifest says why."""
    from elephant.retrieval.embedding.build import choose_default

    variant, reason = choose_default({"simd": ["avx2", "avx512f", "avx512_vnni"]}, ["fp32", "int8"])
    assert variant == "int8" and "fidelity" in reason
    variant, reason = choose_default({"simd": ["avx2", "fma"]}, ["fp32", "int8"])
    assert variant == "fp32" and "VNNI" in reason
    assert choose_default({"simd": ["avx2"]}, ["int8"])[0] == "int8"
