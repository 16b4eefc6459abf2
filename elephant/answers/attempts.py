"""Attempt assembly for ``ask``: candidate records from SQL (and search when it answers), scored against the
parsed question, bounded in time, and ordered by when they happened — always at their current version."""

from __future__ import annotations

import json
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, or_, select

from elephant.answers.questions import (
    QUANTIZATION,
    TECHNIQUE_RE,
    Question,
    month_window,
    stem,
    tokens,
)
from elephant.schema import heads
from elephant.timeutil import sortable_ts

# The kinds an answer is made of; notes and configs only when the question points at them.
ATTEMPT_KINDS = ("optimization", "deployment", "incident", "benchmark", "feature_definition", "rollback_procedure",
                 "regression", "serving_config", "note")
# Small priors that break ties towards what "what did we try" usually means.
KIND_PRIOR = {"optimization": 0.6, "deployment": 0.4, "incident": 0.4, "benchmark": 0.3, "feature_definition": 0.2,
              "regression": 0.2, "rollback_procedure": 0.1, "serving_config": 0.1, "note": -0.5}
PRIMARY_SHARE = 0.8  # within this share of the best score, recency decides the order
RELATED_SHARE = 0.45  # between the two shares, records are shown as related, after the main list
MIN_SCORE = 1.5  # below this nothing was really matched (stop words and priors only)
# Newest first. A named model's records are all read up to POOL_LIMIT; a question without a model reads the
# newest PREFILTER_LIMIT records its words and kinds select (plus search hits) — scoring is linear in the pool.
POOL_LIMIT = 1500
PREFILTER_LIMIT = 600


@dataclass
class Candidate:
    """A current record considered for an answer."""

    key: str
    version: int
    envelope: dict[str, Any]
    occurred_at: str | None  # sortable UTC text
    recorded_at: str
    content_hash: str
    score: float = 0.0
    search_rank: int | None = None

    @property
    def kind(self) -> str:
        return str(self.envelope.get("kind", ""))

    @property
    def fields(self) -> dict[str, Any]:
        value = self.envelope.get("fields") or {}
        return value if isinstance(value, dict) else {}

    @property
    def when(self) -> str:
        """When it happened in the world: ``occurred_at``, else a date in its fields, else when it was recorded."""
        if self.occurred_at:
            return self.occurred_at
        for name in ("detected_at", "last_tested_at", "parity_checked_at"):
            value = self.fields.get(name)
            if isinstance(value, str) and value:
                try:
                    return sortable_ts(value) or self.recorded_at
                except ValueError:
                    continue
        return self.recorded_at

    @property
    def date_label(self) -> str:
        if self.envelope.get("occurred_at"):
            return str(self.envelope["occurred_at"])[:10]
        return f"undated, recorded {self.recorded_at[:10]}"

    @property
    def citation(self) -> str:
        return f"{self.key}@{self.version}"


@dataclass
class Gathered:
    """What ``gather_attempts`` found for one question."""

    primary: list[Candidate] = field(default_factory=list)
    related: list[Candidate] = field(default_factory=list)
    closest: list[Candidate] = field(default_factory=list)  # when nothing matches
    anchor: Candidate | None = None
    pool: dict[str, Candidate] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    anchor_describes_answer: bool = False


class WordCache:
    """Parsed envelopes and tokenised text per (key, content hash).

    A version is immutable and its hash names its content, so entries never go stale; a warm ask then
    skips JSON decoding and tokenising (measured: most of the time of a cold ask at 10k records).
    """

    def __init__(self, size: int = 50_000) -> None:
        self.size = size
        self._envelopes: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()
        self._words: dict[tuple[str, str], tuple[frozenset[str], str, str]] = {}
        self._lock = threading.Lock()  # the REST server asks from several threads

    def envelope(self, key: str, content_hash: str) -> dict[str, Any] | None:
        return self._envelopes.get((key, content_hash))

    def remember(self, key: str, content_hash: str, envelope: dict[str, Any]) -> dict[str, Any]:
        ident = (key, content_hash)
        with self._lock:
            self._envelopes[ident] = envelope
            if len(self._envelopes) > self.size:
                old, _ = self._envelopes.popitem(last=False)
                self._words.pop(old, None)
        return envelope

    def get(self, cand: Candidate) -> tuple[frozenset[str], str]:
        words, text, _head = self.entry(cand)
        return words, text

    def head_text(self, cand: Candidate) -> str:
        return self.entry(cand)[2]

    def entry(self, cand: Candidate) -> tuple[frozenset[str], str, str]:
        ident = (cand.key, cand.content_hash)
        hit = self._words.get(ident)
        if hit is not None:
            return hit
        text = record_text(cand.envelope)
        words = set()
        for t in tokens(text):
            words.add(t)
            words.add(stem(t))
            if any(sep in t for sep in "-_/."):
                words.update(stem(p) for p in _SEPARATORS.split(t) if p)
        head = (str(cand.envelope.get("title", "")) + " "
                + " ".join(map(str, cand.envelope.get("tags", []) or []))).lower()
        value = (frozenset(words), text, head)
        with self._lock:
            if ident in self._envelopes:
                self._words[ident] = value
        return value


_SEPARATORS = re.compile(r"[-_/.]+")


def record_text(envelope: dict[str, Any]) -> str:
    """Everything searchable about a record, lower case: title, key, tags, body and field names and values."""
    parts = [str(envelope.get("title", "")), str(envelope.get("key", "")), str(envelope.get("model_version", "")),
             " ".join(str(t) for t in envelope.get("tags", []) or []), str(envelope.get("body", ""))]
    parts.extend(_flatten(envelope.get("fields") or {}))
    return " ".join(parts).lower()


# Field names are schema, not content ("baseline" is in every optimization); only names that are data —
# metric names under these fields, such as ndcg_at_10 or psi — are worth matching.
_NAMED_DATA = frozenset({"accuracy", "metrics", "skew_metric", "latency_ms"})


def _flatten(value: Any, prefix: str = "") -> Iterable[str]:
    if isinstance(value, dict):
        for k, v in value.items():
            if prefix in _NAMED_DATA:
                yield str(k)
            yield from _flatten(v, str(k))
    elif isinstance(value, list):
        for item in value:
            yield from _flatten(item, prefix)
    elif value is not None:
        yield str(value).replace("_", " ") + " " + str(value) if isinstance(value, str) else str(value)


# ---------------------------------------------------------------- the candidate pool
def load_pool(conn: Any, question: Question, cache: WordCache, *,
              extra_keys: Sequence[str] = ()) -> dict[str, Candidate]:
    """Current records that could answer: the named models' records, or a structured pre-filter."""
    conditions = []
    if question.models:
        conditions.append(heads.c.model.in_(question.models))
    else:
        conditions.extend(_prefilter(question))
    if extra_keys:
        conditions.append(heads.c.key.in_(list(extra_keys)))
    if not conditions:
        return {}
    limit = POOL_LIMIT if question.models else PREFILTER_LIMIT
    rows = conn.execute(select(heads.c.key, heads.c.version, heads.c.occurred_at, heads.c.recorded_at,
                               heads.c.content_hash).where(heads.c.is_deleted.is_(False), or_(*conditions))
                        .order_by(heads.c.occurred_at.desc()).limit(limit)).all()
    return _candidates(conn, rows, cache)


def _candidates(conn: Any, rows: Sequence[Any], cache: WordCache) -> dict[str, Candidate]:
    """Candidates for head rows, decoding only the envelopes the cache does not hold yet."""
    missing = [r.key for r in rows if cache.envelope(r.key, r.content_hash) is None]
    for start in range(0, len(missing), 500):
        chunk = missing[start:start + 500]
        for key, content_hash, text in conn.execute(select(heads.c.key, heads.c.content_hash, heads.c.envelope)
                                                    .where(heads.c.key.in_(chunk))):
            cache.remember(key, content_hash, json.loads(text))
    pool: dict[str, Candidate] = {}
    for r in rows:
        envelope = cache.envelope(r.key, r.content_hash)
        if envelope is not None:  # None only if a write raced between the two reads; skip it this time
            pool[r.key] = Candidate(r.key, r.version, envelope, r.occurred_at, r.recorded_at, r.content_hash)
    return pool


def _prefilter(question: Question) -> list[Any]:
    """SQL conditions for a question without a model: technique, kind, rollback, features and title words.

    Envelopes are stored as canonical JSON (sorted keys, no spaces), so '"technique":"tensorrt"' is a
    reliable substring on SQLite and PostgreSQL alike.
    """
    conditions: list[Any] = []
    for technique in sorted(question.techniques):
        conditions.append(heads.c.envelope.like(f'%"technique":"{technique}"%'))
    specific_kinds = question.kinds - {"optimization"}
    if specific_kinds:
        conditions.append(heads.c.kind.in_(sorted(specific_kinds)))
    if question.wants_failure:
        conditions.append(heads.c.envelope.like('%"outcome":"rejected"%'))
        conditions.append(heads.c.envelope.like("%rolled_back%"))
        conditions.append(heads.c.envelope.like('%"status":"failed"%'))
    if question.wants_rollback:
        conditions.append(heads.c.envelope.like("%rolled_back%"))
        conditions.append(heads.c.kind == "rollback_procedure")
    if question.features:
        conditions.append(heads.c.key.in_(sorted(question.features)))
    # Words reach titles here; bodies and fields are the lexical index's job (search adds its hits).
    for term in question.terms[:6]:
        if len(term) >= 4:
            conditions.append(heads.c.title.ilike(f"%{_like_escape(term)}%"))
    for exact in question.exact[:4]:
        conditions.append(heads.c.envelope.ilike(f"%{_like_escape(exact)}%"))
    if not conditions and "optimization" in question.kinds:
        conditions.append(heads.c.kind == "optimization")
    return conditions


def _like_escape(text: str) -> str:
    return text.replace("%", "")


# ---------------------------------------------------------------- scoring
def score_pool(pool: dict[str, Candidate], question: Question, words: WordCache,
               search_ranks: dict[str, int] | None = None) -> None:
    """Give every candidate a relevance score for ``question`` (in place)."""
    search_ranks = search_ranks or {}
    terms = question.terms
    idf = _idf(pool.values(), terms, words) if terms else {}
    # A floor on the total keeps a term every candidate holds (idf ≈ 0) from counting as full coverage.
    total = max(sum(idf.values()), 2.0)
    for cand in pool.values():
        cand.search_rank = search_ranks.get(cand.key)
        cand.score = score_candidate(cand, question, words, idf, total)


def score_candidate(cand: Candidate, q: Question, words: WordCache, idf: dict[str, float], total: float) -> float:
    record_words, text = words.get(cand)
    fields = cand.fields
    score = KIND_PRIOR.get(cand.kind, 0.0)
    if q.techniques:
        technique = fields.get("technique")
        if technique in q.techniques:
            score += 4.0 if len(q.techniques) < len(QUANTIZATION) or technique in QUANTIZATION else 2.0
        elif _mentions_technique(cand, q.techniques, words):
            score += 1.5
    if q.features:
        if cand.key in q.features:
            score += 6.0
        elif any(link.get("key") in q.features for link in _links(cand)):
            score += 2.5
    if cand.kind in q.kinds:
        score += 2.0
    if q.wants_failure and is_failed(cand):
        score += 3.0
    if q.wants_rollback:
        if is_rolled_back(cand):
            score += 3.0
        elif cand.kind == "rollback_procedure":
            score += 1.0
    if terms_matched := [t for t in idf if t in record_words]:
        score += 4.0 * sum(idf[t] for t in terms_matched) / total
    for exact in q.exact:
        if _contains_exact(text, exact):
            score += 3.0
    if q.metrics and _has_metric(text, q.metrics):
        score += 0.5
    if cand.search_rank is not None:
        score += 1.2 / (1.0 + cand.search_rank / 3.0)
    return score


def _idf(cands: Iterable[Candidate], terms: list[str], words: WordCache) -> dict[str, float]:
    items = list(cands)
    n = len(items)
    df = dict.fromkeys(terms, 0)
    for cand in items:
        record_words, _ = words.get(cand)
        for t in terms:
            if t in record_words:
                df[t] += 1
    # Terms that no candidate holds carry no weight: they cannot separate candidates.
    return {t: math.log((n + 1) / (d + 0.5)) for t, d in df.items() if d}


def _contains_exact(text: str, needle: str) -> bool:
    needle = needle.lower()
    if re.fullmatch(r"\d+(?:\.\d+)?", needle):
        # A number, not a piece of a date or time ("20" must not match 2026-01-21T11:20:00Z).
        return re.search(rf"(?<![\d.:t-]){re.escape(needle)}(?![\d:]|-\d|\.\d)", text) is not None
    return needle in text


def _mentions_technique(cand: Candidate, techniques: set[str], words: WordCache) -> bool:
    text = words.head_text(cand)
    return any(TECHNIQUE_RE[t].search(text) for t in techniques if t in TECHNIQUE_RE)


_METRIC_WORDS = {"p50": ("p50",), "p90": ("p90",), "p95": ("p95",), "p99": ("p99",), "latency": ("latency", "p99"),
                 "throughput": ("throughput", "qps"), "accuracy": ("accuracy", "ndcg", "recall", "auc")}


def _has_metric(text: str, metrics: set[str]) -> bool:
    return any(word in text for m in metrics for word in _METRIC_WORDS.get(m, ()))


def _links(cand: Candidate) -> list[dict[str, Any]]:
    links = cand.envelope.get("links") or []
    return [link for link in links if isinstance(link, dict)]


def is_failed(cand: Candidate) -> bool:
    fields = cand.fields
    return (fields.get("outcome") in ("rejected", "rolled_back") or fields.get("status") in ("failed", "rolled_back")
            or (cand.kind == "incident"))


def is_rolled_back(cand: Candidate) -> bool:
    fields = cand.fields
    return (fields.get("outcome") == "rolled_back" or fields.get("status") == "rolled_back"
            or fields.get("strategy") == "rollback")


# ---------------------------------------------------------------- selection
def select_attempts(pool: dict[str, Candidate], question: Question, words: WordCache, *,
                    search_ranks: dict[str, int] | None = None, k: int = 10) -> Gathered:
    """Score, bound in time (window, 'before/after X'), split into primary and related, order by time."""
    gathered = Gathered(pool=pool)
    if question.anchor is not None and question.anchor.question is not None:
        anchor_q = question.anchor.question
        score_pool(pool, anchor_q, words)
        ranked = sorted(pool.values(), key=lambda c: (c.score, c.when), reverse=True)
        if ranked and ranked[0].score >= MIN_SCORE:
            gathered.anchor = ranked[0]
        else:
            gathered.notes.append(f"nothing in memory matches '{question.anchor.phrase}'; the time bound was ignored")
    score_pool(pool, question, words, search_ranks)
    if question.is_bare and question.models:
        # "What's the latest on the ranker?": everything about it (notes aside), newest first.
        candidates = _apply_window([c for c in pool.values() if c.kind != "note"], question)
        gathered.primary = order_by_time(candidates, oldest_first=question.oldest_first)[:k]
        return gathered
    candidates = [c for c in pool.values() if c.score >= MIN_SCORE]
    if gathered.anchor is not None and candidates:
        # "search got slow after the tokenizer upgrade": when the anchor is itself among the best answers
        # to the rest of the question, the phrase describes the answer rather than bounding it.
        specific = bool(question.terms or question.techniques or question.features or question.exact)
        if specific and gathered.anchor.score >= PRIMARY_SHARE * max(c.score for c in candidates):
            gathered.anchor = None
            gathered.anchor_describes_answer = True
            return gathered
    if gathered.anchor is not None:
        anchor = gathered.anchor
        if question.anchor and question.anchor.direction == "before":
            candidates = [c for c in candidates if c.key != anchor.key and c.when <= anchor.when]
        else:
            candidates = [c for c in candidates if c.key != anchor.key and c.when >= anchor.when]
    candidates = _apply_window(candidates, question)
    if not candidates:
        ranked = sorted(pool.values(), key=lambda c: (c.score, c.when), reverse=True)
        gathered.closest = [c for c in ranked if c.score > 0][:3]
        return gathered
    best = max(c.score for c in candidates)
    primary = [c for c in candidates if c.score >= PRIMARY_SHARE * best]
    related = [c for c in candidates if RELATED_SHARE * best <= c.score < PRIMARY_SHARE * best]
    gathered.primary = order_by_time(primary, oldest_first=question.oldest_first)[:k]
    gathered.related = order_by_time(related, oldest_first=question.oldest_first)[: max(0, k - len(gathered.primary))]
    return gathered


def order_by_time(cands: Iterable[Candidate], *, oldest_first: bool = False) -> list[Candidate]:
    """By when it happened; ties broken by relevance, then by key for a stable answer."""
    if oldest_first:
        return sorted(cands, key=lambda c: (c.when, -c.score, c.key))
    return sorted(cands, key=lambda c: (_desc(c.when), -c.score, c.key))


def _desc(text: str) -> tuple[int, ...]:
    return tuple(-ord(ch) for ch in text)


def _apply_window(cands: list[Candidate], question: Question) -> list[Candidate]:
    window = question.window
    if window.month is not None:
        years = sorted({int(c.when[:4]) for c in cands if c.when and int(c.when[5:7]) == window.month}, reverse=True)
        if not years:
            return []
        chosen = month_window(years[0], window.month)
        window.since, window.until, window.label = chosen.since, chosen.until, chosen.label
    if window.since:
        cands = [c for c in cands if c.when >= window.since]
    if window.until:
        cands = [c for c in cands if c.when < window.until]
    return cands


def reverse_links(pool: dict[str, Candidate]) -> dict[str, list[tuple[str, Candidate]]]:
    """target key -> [(rel, record naming it)], built once per answer rather than once per attempt."""
    index: dict[str, list[tuple[str, Candidate]]] = {}
    for other in pool.values():
        for link in _links(other):
            target = link.get("key")
            if isinstance(target, str):
                index.setdefault(target, []).append((str(link.get("rel", "link")), other))
    return index


def linked_records(cand: Candidate, pool: dict[str, Candidate], fetch: dict[str, Candidate],
                   incoming: dict[str, list[tuple[str, Candidate]]]) -> list[tuple[str, Candidate]]:
    """(relation, record) pairs: links this record names, links naming it, and an incident's rollback_key."""
    out: list[tuple[str, Candidate]] = []
    seen = {cand.key}
    for link in _links(cand):
        target = pool.get(link["key"]) or fetch.get(link["key"])
        if target is not None and target.key not in seen:
            out.append((str(link.get("rel", "link")), target))
            seen.add(target.key)
    rollback_key = cand.fields.get("rollback_key")
    if isinstance(rollback_key, str):
        target = pool.get(rollback_key) or fetch.get(rollback_key)
        if target is not None and target.key not in seen:
            out.append(("rollback", target))
            seen.add(target.key)
    for rel, other in incoming.get(cand.key, []):
        if other.key not in seen:
            out.append((f"{rel} (from)", other))
            seen.add(other.key)
    return out


def missing_link_keys(cands: Iterable[Candidate], pool: dict[str, Candidate]) -> list[str]:
    keys: list[str] = []
    for cand in cands:
        for link in _links(cand):
            if link.get("key") not in pool and link.get("key") not in keys:
                keys.append(str(link["key"]))
        rollback_key = cand.fields.get("rollback_key")
        if isinstance(rollback_key, str) and rollback_key not in pool and rollback_key not in keys:
            keys.append(rollback_key)
    return keys


def fetch_candidates(conn: Any, keys: Sequence[str], cache: WordCache) -> dict[str, Candidate]:
    if not keys:
        return {}
    rows = conn.execute(select(heads.c.key, heads.c.version, heads.c.occurred_at, heads.c.recorded_at,
                               heads.c.content_hash).where(
        and_(heads.c.key.in_(list(keys)), heads.c.is_deleted.is_(False)))).all()
    return _candidates(conn, rows, cache)


def sortable(value: str | None) -> str | None:
    return sortable_ts(value) if value else None
