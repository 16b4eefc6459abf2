"""Exploration behind `elephant model build`'s choice of variant: quantization settings measured on this CPU.

Scratch benchmark, not part of the product. It exports the FP32 ONNX model once, derives one variant per
setting (fused or not; signed or unsigned weights; per-channel; reduce_range; QOperator vs QDQ; which
operators; which nodes stay FP32), and measures each on the same inputs:
query p50 (batch 1, ~12 tokens), bulk texts/s (length-sorted batches), mean/min cosine against
sentence-transformers (PyTorch FP32) and top-5 neighbour agreement. Writes bench/results/quant_sweep.json.

    .venv/bin/python bench/quant_sweep.py [--only NAME ...] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from stats import write_report

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from elephant.retrieval.embedding import build
from elephant.retrieval.embedding.onnx_embedder import OnnxEmbedder
from elephant.retrieval.embedding.texts import PARITY_TEXTS, generate_texts, retrieval_set

QUERY = "int8 quantization of the ranker model"  # 12 tokens with [CLS] and [SEP]


def measure(path: Path, tokenizer_dir: Path, ref: dict, threads: int, spinning: bool = False) -> dict:
    emb = OnnxEmbedder(path, tokenizer_dir, threads=threads, allow_spinning=spinning, query_cache_size=0)
    emb_b1 = OnnxEmbedder(path, tokenizer_dir, threads=threads, allow_spinning=spinning, max_batch_size=1)
    lat = []
    for i in range(230):
        t = time.perf_counter()
        emb.embed([QUERY])
        if i >= 30:
            lat.append((time.perf_counter() - t) * 1000)
    bulk = ref["bulk_texts"]
    rates = []
    for _ in range(2):
        t = time.perf_counter()
        emb.embed(bulk)
        rates.append(len(bulk) / (time.perf_counter() - t))
    t = time.perf_counter()
    emb_b1.embed(bulk)
    rate_b1 = len(bulk) / (time.perf_counter() - t)
    # Batch invariance: the same texts alone vs inside length-sorted padded batches.
    alone = emb_b1.embed(ref["fidelity_texts"][:60])
    fid = emb.embed(ref["fidelity_texts"])
    cos = (fid * ref["fidelity_ref"]).sum(1)
    corpus = emb.embed(ref["corpus"])
    queries = emb.embed(ref["queries"])
    agreement = build.topk_agreement(queries @ corpus.T, ref["scores"], k=5)
    lat.sort()
    return {
        "query_p50_ms": round(statistics.median(lat), 3),
        "query_p99_ms": round(lat[int(0.99 * len(lat)) - 1], 3),
        "bulk_texts_per_s": round(max(rates), 1),
        "bulk_batch1_texts_per_s": round(rate_b1, 1),
        "batch_vs_alone_max_abs": float(np.abs(alone - fid[:60]).max()),
        "mean_cos": round(float(cos.mean()), 5),
        "min_cos": round(float(cos.min()), 5),
        "top5_agreement": round(agreement, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", nargs="*")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--merge", action="store_true",
                        help="keep the rows of --out that this run does not measure again")
    parser.add_argument("--bulk-texts", type=int, default=300)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "quant_sweep.json"))
    args = parser.parse_args()

    source = build.locate_source_model()
    work = Path(tempfile.mkdtemp(prefix="quant_sweep_"))
    fp32 = work / "fp32.onnx"
    build.export_fp32(source, fp32)
    fused = work / "fused.onnx"
    build.fuse_transformer(fp32, fused, source)

    fidelity_texts = list(PARITY_TEXTS) + generate_texts(200, seed=11)
    corpus, queries = retrieval_set()
    st = build.load_reference(source)
    corpus_ref = build.reference_embeddings(st, corpus)
    ref = {
        "fidelity_texts": fidelity_texts,
        "fidelity_ref": build.reference_embeddings(st, fidelity_texts),
        "corpus": corpus,
        "queries": queries,
        "scores": build.reference_embeddings(st, queries) @ corpus_ref.T,
        "bulk_texts": generate_texts(args.bulk_texts, seed=5),
    }

    configs: dict[str, dict] = {
        "fp32": {"base": "fp32"},
        "fp32_fused": {"base": "fused"},
        "q_s8_pc": {"base": "fp32", "weight_type": "QInt8", "per_channel": True},
        "q_s8": {"base": "fp32", "weight_type": "QInt8", "per_channel": False},
        "q_s8_pc_rr": {"base": "fp32", "weight_type": "QInt8", "per_channel": True, "reduce_range": True},
        "q_u8_pc": {"base": "fp32", "weight_type": "QUInt8", "per_channel": True},
        "q_u8": {"base": "fp32", "weight_type": "QUInt8", "per_channel": False},
        "fq_s8_pc": {"base": "fused", "weight_type": "QInt8", "per_channel": True},
        "fq_s8_pc_rr": {"base": "fused", "weight_type": "QInt8", "per_channel": True, "reduce_range": True},
        "fq_u8_pc": {"base": "fused", "weight_type": "QUInt8", "per_channel": True},
        "fq_s8_pc_matmul": {"base": "fused", "weight_type": "QInt8", "per_channel": True, "op_types": ["MatMul"]},
        "fq_u8_pc_matmul": {"base": "fused", "weight_type": "QUInt8", "per_channel": True, "op_types": ["MatMul"]},
        "fq_s8_pc_rr_matmul": {"base": "fused", "weight_type": "QInt8", "per_channel": True,
                               "reduce_range": True, "op_types": ["MatMul"]},
        "fq_s8_pc_attn": {"base": "fused", "weight_type": "QInt8", "per_channel": True, "op_types": ["Attention"]},
        "fq_s8_pc_rr_matmul_keeplast": {"base": "fused", "weight_type": "QInt8", "per_channel": True,
                                        "reduce_range": True, "op_types": ["MatMul"], "exclude": "last_layer"},
        "fq_s8_pc_matmul_keeplast": {"base": "fused", "weight_type": "QInt8", "per_channel": True,
                                     "op_types": ["MatMul"], "exclude": "last_layer"},
        "fq_s8_pc_matmul_ffn2fp32": {"base": "fused", "weight_type": "QInt8", "per_channel": True,
                                     "op_types": ["MatMul"], "exclude": "ffn_out"},
        "fq_s8_pc_rr_matmul_ffn2fp32": {"base": "fused", "weight_type": "QInt8", "per_channel": True,
                                        "reduce_range": True, "op_types": ["MatMul"], "exclude": "ffn_out"},
        "nbits8_b32_acc4": {"base": "fp32", "blockwise": True, "bits": 8, "block_size": 32, "accuracy_level": 4},
        "nbits8_b128_acc4": {"base": "fp32", "blockwise": True, "bits": 8, "block_size": 128, "accuracy_level": 4},
        "f_nbits8_b32_acc4": {"base": "fused", "blockwise": True, "bits": 8, "block_size": 32, "accuracy_level": 4},
        "f_nbits8_b128_acc4": {"base": "fused", "blockwise": True, "bits": 8, "block_size": 128,
                               "accuracy_level": 4},
        "nbits8_b16_acc4": {"base": "fp32", "blockwise": True, "bits": 8, "block_size": 16, "accuracy_level": 4},
        "f_nbits8_b32_acc4_attnq": {"base": "fused", "blockwise": True, "bits": 8, "block_size": 32,
                                    "accuracy_level": 4, "then_dynamic_attention": True},
        "nbits8_b32_acc0": {"base": "fp32", "blockwise": True, "bits": 8, "block_size": 32, "accuracy_level": 0},
        "qdq_static_s8_pc": {"base": "fp32", "static": True, "weight_type": "QInt8", "per_channel": True},
    }
    if args.only:
        configs = {k: v for k, v in configs.items() if k in args.only}

    results = []
    for name, cfg in configs.items():
        base = fp32 if cfg["base"] == "fp32" else fused
        path = work / f"{name}.onnx"
        t = time.perf_counter()
        try:
            if name in ("fp32", "fp32_fused"):
                path = base
            elif cfg.get("blockwise"):
                build.quantize_blockwise(base, path, bits=cfg["bits"], block_size=cfg["block_size"],
                                         accuracy_level=cfg["accuracy_level"])
                if cfg.get("then_dynamic_attention"):  # fused Attention's QKV weights → QAttention
                    both = work / f"{name}_attn.onnx"
                    build.quantize_weights(path, both, op_types=["Attention"])
                    path = both
            elif cfg.get("static"):
                build.quantize_static_qdq(base, path, calibration_texts=generate_texts(64, seed=3),
                                          tokenizer_dir=source, per_channel=cfg["per_channel"])
            else:
                exclude: list[str] = []
                if cfg.get("exclude") == "last_layer":
                    exclude = build.nodes_of_layer(base, 5)
                elif cfg.get("exclude") == "ffn_out":
                    exclude = build.ffn_output_matmuls(base)
                build.quantize_weights(base, path, weight_type=cfg["weight_type"],
                                       per_channel=cfg["per_channel"], reduce_range=cfg.get("reduce_range", False),
                                       op_types=cfg.get("op_types"), nodes_to_exclude=exclude)
                cfg = {**cfg, "excluded_nodes": len(exclude)}
        except Exception as exc:  # a setting the toolchain refuses is a result too
            results.append({"name": name, "settings": cfg, "error": repr(exc)})
            print(f"{name:32s} ERROR {exc!r}", flush=True)
            continue
        build_s = time.perf_counter() - t
        row = {"name": name, "settings": cfg, "build_s": round(build_s, 2),
               "size_mb": round(path.stat().st_size / 1e6, 1),
               # The box is shared: timings taken at a high load average are only comparable to each other.
               "load_average_1m": round(os.getloadavg()[0], 2),
               "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        row.update(measure(path, source, ref, args.threads))
        if name in ("fp32", "fp32_fused") or "matmul" in name or "nbits" in name:
            row["spinning_on"] = {k: v for k, v in measure(path, source, ref, args.threads, spinning=True).items()
                                  if k in ("query_p50_ms", "query_p99_ms", "bulk_texts_per_s")}
        results.append(row)
        print(f"{name:32s} p50 {row['query_p50_ms']:6.2f} ms  bulk {row['bulk_texts_per_s']:7.1f}/s  "
              f"b1 {row['bulk_batch1_texts_per_s']:6.1f}/s  dev {row['batch_vs_alone_max_abs']:.1e}  "
              f"cos mean {row['mean_cos']:.5f} min {row['min_cos']:.5f}  top5 {row['top5_agreement']:.3f}"
              + (f"  spin p50 {row['spinning_on']['query_p50_ms']:.2f}" if "spinning_on" in row else ""),
              flush=True)

    if args.merge and Path(args.out).is_file():
        fresh = {r["name"] for r in results}
        previous = json.loads(Path(args.out).read_text()).get("results", [])
        results = [r for r in previous if r["name"] not in fresh] + results
    out = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": build.describe_machine(),
        "python": platform.python_version(),
        "threads": args.threads,
        "query": QUERY,
        "fidelity_texts": len(fidelity_texts),
        "results": results,
    }
    write_report("quant_sweep", out, Path(args.out))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
