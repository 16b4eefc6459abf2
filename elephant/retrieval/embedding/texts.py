"""Fixed, deterministic text sets for parity checks: `model build`, `bench/embed.py` and the tests share them.

They are written in the domain Elephant serves (ML serving, benchmarks, incidents), because fidelity on
the texts we actually embed is what matters, and they are generated from a seeded RNG so that every run
measures the same inputs.
"""

from __future__ import annotations

import random

# Hand-written sentences of varied length and style: short queries, config fragments, numbers,
# prose. The edge cases (empty, whitespace, non-ASCII, emoji, control characters, very long) are
# appended by ``edge_texts`` because they stress the tokenizer rather than the model.
PARITY_TEXTS: tuple[str, ...] = (
    "int8 quantization of the ranker",
    "what did we try last time for p99 latency?",
    "Dynamic INT8 with onnxruntime, per-channel weights, cut p99 from 45 ms to 18 ms.",
    "Rolled back the canary of ranker v4 after error rate rose to 2.3 % at 10 % traffic.",
    "Triton dynamic batching: max_batch_size 32, max_queue_delay_ms 5, two instances per GPU.",
    "Feature user_ctr_7d drifted: training reads the warehouse snapshot, serving reads Redis with a 1 h lag.",
    "TensorRT FP16 engine for the detector gave 2.1x throughput but NDCG dropped 0.4 points.",
    "KServe InferenceService with minReplicas 2 and a CPU request of 4 cores.",
    "MLPerf offline scenario, ResNet-50, 12,000 samples per second on one A100.",
    "Shadow deployment of the new embedding model mirrored 100 % of traffic for 48 hours.",
    "Incident: p99 latency of the search API spiked to 900 ms after the tokenizer upgrade.",
    "Root cause: the tokenizer padded every request to 128 tokens instead of the batch maximum.",
    "Runbook: to roll back the ranker, set the traffic split to 0 % and redeploy version v3.",
    "Distillation of BERT-base into a 6-layer student kept 98 % of the accuracy at a third of the cost.",
    "Pruning 30 % of the attention heads made no measurable difference in latency on CPU.",
    "The A/B test of the re-ranker ran for two weeks; click-through rose 1.8 % with p < 0.01.",
    "ONNX export with opset 17 and dynamic axes for batch and sequence length.",
    "Thread spinning in onnxruntime moved the query latency by forty percent.",
    "Caching query embeddings cut the median search latency from 12 ms to 3 ms.",
    "latency budget",
    "GPU memory",
    "Why is the fraud model slower on Tuesdays?",
    "The canary failed its SLO: availability 99.2 % against a target of 99.9 %.",
    "Batch size 64 saturates the T4; beyond that, queueing delay dominates p95.",
    "We compared vLLM and TGI for the 7B chat model at 16 concurrent users.",
    "Quantization-aware training recovered the 0.6 point accuracy loss of post-training INT8.",
    "Training-serving skew: the serving path lowercased emails but the training pipeline did not.",
    "Deployment succeeded: ranker v5 at 100 % traffic, p99 21 ms, error rate 0.02 %.",
    "Feature store parity check verified on 2026-03-12 with a maximum absolute difference of 1e-6.",
    "Replicas were scaled from 4 to 12 during the Black Friday peak, then back to 6.",
    "Le modèle de classement a été déployé en canari à 5 % du trafic.",
    "Die Latenz des Modells stieg nach dem Update um 30 Prozent.",
    "推理服务的延迟在升级后增加了",
    "Latency went 🚀 after the ONNX export 🎉",
    "Mixed precision (bf16) training of the recommender halved the step time on H100s.",
    "Speculative decoding with a 1B draft model gave 1.9x tokens per second.",
    "The embedding index was rebuilt after switching from the fp32 to the int8 variant.",
    "max_queue_delay_ms: 10\nmax_batch_size: 16\ninstance_group [{ count: 2, kind: KIND_CPU }]",
    "Cold start of the serving container takes 14 s, most of it loading the 1.2 GB model.",
    "What was the p50 latency of the ranker on the c6i.2xlarge benchmark last March?",
)

_SUBJECTS = (
    "the ranker", "the fraud model", "the recommender", "the embedding service", "the detector",
    "the search API", "the chat model", "the churn classifier", "the ads CTR model", "the ASR pipeline",
)
_ACTIONS = (
    "was quantized to INT8 with onnxruntime", "was exported to ONNX with dynamic axes",
    "was compiled with TensorRT in FP16", "moved to dynamic batching on Triton",
    "was distilled into a smaller student", "got a query embedding cache",
    "was deployed as a canary at 5 % traffic", "was rolled back after an incident",
    "was benchmarked in the offline scenario", "had its feature pipeline checked for skew",
    "was pruned by 30 % of its attention heads", "switched to bf16 mixed precision",
)
_OUTCOMES = (
    "and p99 latency fell from {a} ms to {b} ms", "and throughput rose to {q} queries per second",
    "but accuracy dropped by {d} points", "and the error rate stayed below 0.1 %",
    "yet the p95 latency regressed by {p} %", "and memory use fell by {p} %",
    "so the team adopted it for production", "so the change was rejected",
)
_FILLER = (
    "The measurement ran on a two-core AVX2 machine with the same inputs as the baseline.",
    "Numbers are medians of five runs; the machine was shared and noisy.",
    "The config diff is in the serving repository under the release tag.",
    "The on-call engineer noted the change in the incident channel at 03:12 UTC.",
    "A follow-up will repeat the test with batch size 8 and 32 concurrent clients.",
    "We kept the previous version warm for an hour so that rollback would be instant.",
    "The regression was caught by the nightly benchmark rather than by users.",
    "Tokenizer settings were compared field by field between training and serving.",
    "Profiling showed most of the time in the attention MatMuls and the GELU.",
    "The dashboard links to the raw traces and the load generator settings.",
)


def _sentence(rng: random.Random) -> str:
    outcome = rng.choice(_OUTCOMES).format(
        a=rng.randint(20, 90), b=rng.randint(5, 19), q=rng.randint(100, 5000),
        d=round(rng.uniform(0.1, 2.0), 1), p=rng.randint(3, 60),
    )
    return f"{rng.choice(_SUBJECTS).capitalize()} {rng.choice(_ACTIONS)} {outcome}."


def generate_texts(count: int, seed: int = 20260312, min_words: int = 8, max_words: int = 150) -> list[str]:
    """``count`` texts of mixed length (about 10–200 tokens), the same for a given seed."""
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        target = rng.randint(min_words, max_words)
        parts: list[str] = []
        words = 0
        while words < target:
            part = _sentence(rng) if rng.random() < 0.6 else rng.choice(_FILLER)
            parts.append(part)
            words += len(part.split())
        text = " ".join(parts)
        if words > target:  # trim to the target length so short texts exist too
            text = " ".join(text.split()[:target])
        texts.append(text)
    return texts


def retrieval_set(corpus_size: int = 300, query_count: int = 50, seed: int = 7) -> tuple[list[str], list[str]]:
    """A corpus and queries for top-k neighbour agreement: the corpus mixes many near-duplicates on
    purpose, so that small embedding errors would reorder neighbours and show up in the figure."""
    rng = random.Random(seed)
    corpus = list(PARITY_TEXTS) + [_sentence(rng) for _ in range(corpus_size - len(PARITY_TEXTS))]
    subjects = [s.removeprefix("the ") for s in _SUBJECTS]
    topics = ("int8 quantization", "rollback", "canary deployment", "p99 latency regression",
              "TensorRT FP16", "dynamic batching", "feature skew", "distillation", "query cache",
              "throughput benchmark")
    queries = [f"{rng.choice(topics)} of {rng.choice(subjects)}" for _ in range(query_count)]
    return corpus, queries


def edge_texts() -> list[str]:
    """Inputs that stress tokenization: empty, whitespace only, very long, non-ASCII, emoji, controls."""
    return [
        "",
        "   \t\n  ",
        "p99 " * 2500,  # 10,000 characters: must be truncated, never rejected
        "naïve café résumé — Ünïcödé",
        "🔥🔥🔥 latency 🚀",
        "tab\there\x00null\x07bell\x1bescape",
        "a",
    ]
