"""Attempt assembly for ``ask``: candidate records from SQL (and search when it answers), scored against the
parsed question, bounded in time, and ordered by when they happened — always at their current version."""

from __future__ import annotations

import functools
import json
import math
import re
import sys
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ConfigDict, with_config
from sqlalchemy import and_, or_, select
from typing_extensions import TypedDict

from elephant.answers.questions import (
    TECHNIQUE_RE,
    Question,
    abbreviations_in,
    change_stamp,
    changed_keys,
    month_window,
    stem,
    tokens,
)
from elephant.answers.regressions import KEY_PREFIX as FINDING_PREFIX
from elephant.kinds import all_kinds
from elephant.kinds.optimization import QUANTIZATION
from elephant.records.envelope import SourceOut
from elephant.storage.schema import heads
from elephant.timeutil import sortable_ts

# Small priors that break ties towards what "what did we try" usually means (each kind's ``ask_prior``).
KIND_PRIOR = {spec.name: spec.ask_prior for spec in all_kinds()}
PRIMARY_SHARE = 0.8  # within this share of the best score, recency decides the order
RELATED_SHARE = 0.45  # between the two shares, records are shown as related, after the main list
MIN_SCORE = 1.5  # below this nothing was really matched (stop words and priors only)
# Newest first. A named model's records are all read up to POOL_LIMIT; a question without a model reads the
# newest PREFILTER_LIMIT records its words and kinds select (plus search hits) — scoring is linear in the pool.
POOL_LIMIT = 1500
PREFILTER_LIMIT = 600


@with_config(ConfigDict(extra="forbid"))
class AttemptOut(TypedDict):
    """One attempt an answer draws on, as JSON: the search hit's fields plus its outcome."""

    key: str
    version: int
    kind: str
    title: str | None
    model: str | None
    occurred_at: str | None
    score: float
    source: SourceOut | None
    outcome: str | None


@dataclass(slots=True, eq=False)
class Digest:
    """What scoring needs of one record version. The envelope itself stays JSON text, decoded again
    only for the few records an answer shows: a parsed envelope costs several times its text in memory."""

    content_hash: str
    raw: str  # the stored canonical JSON
    kind: str
    technique: Any
    outcome: Any
    status: Any
    strategy: Any
    rollback_key: str | None
    dated: str | None  # sortable date from the first of DATE_FIELDS that parses
    links: tuple[tuple[str, str], ...]  # (rel, key)
    words: frozenset[str]
    text: str
    head: str
    is_open: bool  # an incident not resolved, a regression open, a feature in drift


# Dates in fields that say when something happened, for records without occurred_at.
DATE_FIELDS = ("detected_at", "last_tested_at", "parity_checked_at")


def digest(content_hash: str, raw: str) -> Digest:
    envelope = json.loads(raw)
    fields = envelope.get("fields") or {}
    if not isinstance(fields, dict):
        fields = {}
    dated = None
    for name in DATE_FIELDS:
        value = fields.get(name)
        if isinstance(value, str) and value:
            try:
                dated = sortable_ts(value)
            except ValueError:
                continue
            if dated:
                break
    links = tuple((str(link.get("rel", "link")), link["key"]) for link in envelope.get("links") or []
                  if isinstance(link, dict) and isinstance(link.get("key"), str))
    rollback_key = fields.get("rollback_key")
    text = record_text(envelope)
    head = (str(envelope.get("title", "")) + " " + " ".join(map(str, envelope.get("tags", []) or []))).lower()
    return Digest(content_hash, raw, str(envelope.get("kind", "")), fields.get("technique"), fields.get("outcome"),
                  fields.get("status"), fields.get("strategy"),
                  rollback_key if isinstance(rollback_key, str) else None, dated, links, record_words(text), text,
                  head, _is_open(str(envelope.get("kind", "")), fields))


def _is_open(kind: str, fields: dict[str, Any]) -> bool:
    if kind == "incident":
        return not fields.get("resolved_at") and str(fields.get("status", "open")).lower() not in (
            "resolved", "closed", "mitigated")
    if kind == "regression":
        return str(fields.get("status") or "open") == "open"
    if kind == "feature_definition":
        return str(fields.get("parity") or "") == "drift"
    return False


def record_words(text: str) -> frozenset[str]:
    """Tokens, their stems and the stems of their parts. Interned: records share most of their words,
    so each distinct word is held once rather than once per record."""
    words = set()
    for t in tokens(text):
        words.add(t)
        words.add(stem(t))
        if any(sep in t for sep in "-_/."):
            words.update(stem(p) for p in _SEPARATORS.split(t) if p)
            if "-" in t and any(len(p) <= 2 for p in t.split("-")):
                words.add(stem(t.replace("-", "")))  # "x-ray" is also "xray", "e-mail" "email"
        fiscal = FISCAL_RE.fullmatch(t)
        if fiscal:  # "FY2026" is also "FY26", and the other way round
            words.add(f"fy{fiscal.group(1)[-2:]}" if len(fiscal.group(1)) == 4 else f"fy20{fiscal.group(1)}")
    words.update(abbreviations_in(text))
    return frozenset(sys.intern(w) for w in words)


FISCAL_RE = re.compile(r"fy-?((?:20)?\d\d)")


class WordCache:
    """A ``Digest`` per record key, for the version last seen; past ``size`` keys the oldest digested go.

    Eviction is by age rather than use: moving an entry on every hit cost 2 ms per ask (a pool is up to
    1,500 records), and at ``size`` keys a store is large enough that re-digesting a few is cheap.

    A version is immutable and its hash names its content, so an entry is valid while the hash
    matches; a warm ask then skips JSON decoding and tokenising (measured: most of the time of a
    cold ask at 10k records). Measured at 10,963 records: about 3 KB per entry, against 6.5 KB when
    it held parsed envelopes and per-record copies of every word.
    """

    def __init__(self, size: int = 20_000) -> None:
        self.size = size
        self._entries: OrderedDict[str, Digest] = OrderedDict()
        self._lock = threading.Lock()  # the REST server asks from several threads

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, key: str, content_hash: str) -> Digest | None:
        entry = self._entries.get(key)
        return entry if entry is not None and entry.content_hash == content_hash else None

    def remember(self, key: str, content_hash: str, raw: str) -> Digest:
        entry = digest(content_hash, raw)
        with self._lock:
            self._entries.pop(key, None)  # a new version goes to the young end
            self._entries[key] = entry
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return entry


@dataclass(slots=True)
class Candidate:
    """A current record considered for an answer: its digest for scoring, its envelope on demand."""

    key: str
    version: int
    digest: Digest
    occurred_at: str | None  # sortable UTC text
    recorded_at: str
    score: float = 0.0
    search_rank: int | None = None
    _envelope: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def envelope(self) -> dict[str, Any]:
        if self._envelope is None:
            self._envelope = json.loads(self.digest.raw)
        return self._envelope

    @property
    def kind(self) -> str:
        return self.digest.kind

    @property
    def fields(self) -> dict[str, Any]:
        value = self.envelope.get("fields") or {}
        return value if isinstance(value, dict) else {}

    @property
    def when(self) -> str:
        """When it happened in the world: ``occurred_at``, else a date in its fields, else when it was recorded."""
        return self.occurred_at or self.digest.dated or self.recorded_at

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
@dataclass(slots=True, frozen=True)
class HeadRow:
    """What chooses a pool, of one current record: its light columns and the few envelope facts the
    pre-filter tests (the envelope itself stays in the word cache)."""

    key: str
    version: int
    occurred_at: str | None
    recorded_at: str
    content_hash: str
    kind: str
    model: str | None
    title: str  # lower case
    technique: str | None
    failed: bool  # rejected or failed
    rolled_back: bool  # "rolled_back" anywhere in it


_TITLE_WORD = re.compile(r"[a-z0-9]+")
_HEAD_COLUMNS = (heads.c.key, heads.c.version, heads.c.occurred_at, heads.c.recorded_at, heads.c.content_hash,
                 heads.c.kind, heads.c.model, heads.c.title, heads.c.envelope)


class HeadsCatalog:
    """The current records' pool-choosing facts in memory, with an index per condition of the pre-filter,
    caught up after each write by the keys its new ``versions`` rows name, and the keys the index applied
    since (``questions.changed_keys``: writes of other processes that committed out of id order) — so a
    question that names no model chooses its pool without scanning ``heads``.

    Why: the pre-filter's ``LIKE '%…%'`` over envelopes scanned every row (measured at 10k records on
    2 busy cores: 13-80 ms per question, the tail of ``ask`` for questions naming no model).
    """

    def __init__(self) -> None:
        self.rows: dict[str, HeadRow] = {}
        self.rank: dict[str, int] = {}  # key -> place by occurred_at, newest first (undated last), as SQL orders
        self.by_model: dict[str | None, list[HeadRow]] = {}
        self.by_kind: dict[str, list[HeadRow]] = {}
        self.by_technique: dict[str, list[HeadRow]] = {}
        self.titles: list[tuple[str, HeadRow]] = []
        self.title_words: dict[str, list[HeadRow]] = {}  # a word of titles -> its records
        self.word_heads: dict[str, list[str]] = {}  # first 3 letters -> title words
        self.failed: list[HeadRow] = []
        self.rolled_back: list[HeadRow] = []
        self.stamp: tuple[int, int] | None = None  # questions.change_stamp when last refreshed
        self._lock = threading.Lock()

    def refresh(self, conn: Any) -> None:
        with self._lock:
            stamp = change_stamp(conn)
            if stamp == self.stamp:
                return
            if self.stamp is None or stamp[0] < self.stamp[0] or stamp[1] < self.stamp[1]:
                self.rows = {r.key: _head_row(r) for r in conn.execute(
                    select(*_HEAD_COLUMNS).where(heads.c.is_deleted.is_(False)))}
            else:
                changed = changed_keys(conn, self.stamp)
                for start in range(0, len(changed), DIGEST_CHUNK):
                    chunk = changed[start:start + DIGEST_CHUNK]
                    for key in chunk:
                        self.rows.pop(key, None)
                    for r in conn.execute(select(*_HEAD_COLUMNS).where(heads.c.key.in_(chunk),
                                                                       heads.c.is_deleted.is_(False))):
                        self.rows[r.key] = _head_row(r)
            self._index()
            self.stamp = stamp

    def _index(self) -> None:
        ordered = sorted(self.rows.values(), key=lambda r: (r.occurred_at is not None, r.occurred_at or ""),
                         reverse=True)
        self.rank = {r.key: i for i, r in enumerate(ordered)}
        self.by_model, self.by_kind, self.by_technique = {}, {}, {}
        for r in ordered:
            self.by_model.setdefault(r.model, []).append(r)
            self.by_kind.setdefault(r.kind, []).append(r)
            if r.technique is not None:
                self.by_technique.setdefault(r.technique, []).append(r)
        self.titles = [(r.title, r) for r in ordered]
        self.title_words = {}
        for r in ordered:
            for word in set(_TITLE_WORD.findall(r.title)):
                self.title_words.setdefault(word, []).append(r)
        self.word_heads = {}
        for word in self.title_words:
            self.word_heads.setdefault(word[:3], []).append(word)
        self.failed = [r for r in ordered if r.failed]
        self.rolled_back = [r for r in ordered if r.rolled_back]

    def choose(self, question: Question, extra_keys: Sequence[str]) -> list[HeadRow] | None:
        """``load_pool``'s rows, newest first; None when a condition needs SQL (an exact term)."""
        if question.models:
            rows = [r for m in question.models for r in self.by_model.get(m, [])]
            rows += [self.rows[k] for k in extra_keys if k in self.rows]
            return self._newest(rows, POOL_LIMIT)
        if question.exact:
            return None
        rows = [self.rows[k] for k in extra_keys if k in self.rows]
        for technique in question.techniques:
            rows += self.by_technique.get(technique, [])
        specific_kinds = question.kinds - {"optimization"}
        for kind in specific_kinds:
            rows += self.by_kind.get(kind, [])
        if question.wants_failure or question.wants_rollback:
            rows += self.rolled_back
        if question.wants_failure:
            rows += self.failed
        if question.wants_rollback:
            rows += self.by_kind.get("rollback_procedure", [])
        rows += [self.rows[k] for k in question.features if k in self.rows]
        titled = [t.lower() for t in question.terms[:6] if len(t) >= 4]
        for term in titled:
            rows += self._titled(term)
        # "which optimization lost the most accuracy, across all models?": every attempt is a candidate,
        # whichever words the titles happen to share with the question.
        if not (question.techniques or specific_kinds or question.wants_failure or question.wants_rollback
                or question.features) and "optimization" in question.kinds:
            rows += self.by_kind.get("optimization", [])
        return self._newest(rows, PREFILTER_LIMIT)

    def _titled(self, term: str) -> list[HeadRow]:
        """Records whose title has a word starting with ``term`` (a stem: 'speculativ', 'decod')."""
        if not _TITLE_WORD.fullmatch(term):  # 'two-tower': a phrase, read as the SQL pre-filter does
            return [r for title, r in self.titles if term in title]
        return [r for word in self.word_heads.get(term[:3], []) if word.startswith(term)
                for r in self.title_words[word]]

    def _newest(self, rows: list[HeadRow], limit: int) -> list[HeadRow]:
        unique = {r.key: r for r in rows}
        return sorted(unique.values(), key=lambda r: self.rank[r.key])[:limit]


def _head_row(r: Any) -> HeadRow:
    raw = str(r.envelope)
    try:
        fields = json.loads(raw).get("fields") or {}
    except ValueError:
        fields = {}
    if not isinstance(fields, dict):
        fields = {}
    technique = fields.get("technique")
    return HeadRow(r.key, r.version, r.occurred_at, r.recorded_at, r.content_hash, r.kind, r.model,
                   str(r.title or "").lower(), technique if isinstance(technique, str) else None,
                   fields.get("outcome") == "rejected" or fields.get("status") == "failed", "rolled_back" in raw)


def load_pool(conn: Any, question: Question, cache: WordCache, *,
              extra_keys: Sequence[str] = (), catalog: HeadsCatalog | None = None) -> dict[str, Candidate]:
    """Current records that could answer: the named models' records, or a structured pre-filter."""
    chosen = catalog.choose(question, extra_keys) if catalog is not None and catalog.stamp is not None else None
    if chosen is not None:
        return _candidates(conn, chosen, cache)
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


# Keys per envelope read when digesting: one IN list each.
DIGEST_CHUNK = 500


def digest_current(conn: Any, keys: Sequence[str], cache: WordCache) -> dict[str, Digest]:
    """Read the current envelopes of ``keys`` and digest them into ``cache``."""
    return {key: cache.remember(key, content_hash, text) for key, content_hash, text in conn.execute(
        select(heads.c.key, heads.c.content_hash, heads.c.envelope).where(heads.c.key.in_(list(keys))))}


def _candidates(conn: Any, rows: Sequence[Any], cache: WordCache) -> dict[str, Candidate]:
    """Candidates for head rows, reading and digesting only the envelopes the cache does not hold yet."""
    digests = {r.key: cache.lookup(r.key, r.content_hash) for r in rows}
    missing = [key for key, found in digests.items() if found is None]
    for start in range(0, len(missing), DIGEST_CHUNK):
        digests.update(digest_current(conn, missing[start:start + DIGEST_CHUNK], cache))
    pool: dict[str, Candidate] = {}
    for r in rows:
        found = digests.get(r.key)
        # A different hash only if a write raced between the two reads; skip the record this time.
        if found is not None and found.content_hash == r.content_hash:
            pool[r.key] = Candidate(r.key, r.version, found, r.occurred_at, r.recorded_at)
    return _without_covered_findings(pool)


def is_finding(c: Candidate) -> bool:
    """Elephant's own finding: keyed "regression/" + the benchmark it flags, which is its candidate link (a
    team may key its own regression records "regression/…" too)."""
    if c.kind != "regression" or not c.key.startswith(FINDING_PREFIX):
        return False
    flagged = c.key[len(FINDING_PREFIX):]
    return any(rel == "candidate" and key.split("@", 1)[0] == flagged for rel, key in c.digest.links)


def _without_covered_findings(pool: dict[str, Candidate]) -> dict[str, Candidate]:
    """Drops Elephant's own regression finding on a benchmark the team filed a regression about: the team's
    record (its status, its resolution) speaks for that benchmark; two answers about one event would not."""
    filed: set[str] = set()
    for c in pool.values():
        if c.kind == "regression" and not is_finding(c):
            filed.update(key.split("@", 1)[0] for rel, key in c.digest.links if rel == "candidate")
            if isinstance(c.fields.get("candidate"), str):
                filed.add(c.fields["candidate"].split("@", 1)[0])
    if not filed:
        return pool
    return {key: c for key, c in pool.items()
            if not (is_finding(c) and key[len(FINDING_PREFIX):] in filed)}


candidates_of = _candidates


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
def score_pool(pool: dict[str, Candidate], question: Question, search_ranks: dict[str, int] | None = None) -> None:
    """Give every candidate a relevance score for ``question`` (in place)."""
    search_ranks = search_ranks or {}
    terms = question.terms
    idf = _idf(pool.values(), terms) if terms else {}
    # A floor on the total keeps a term every candidate holds (idf ≈ 0) from counting as full coverage.
    total = max(sum(idf.values()), 2.0)
    for cand in pool.values():
        cand.search_rank = search_ranks.get(cand.key)
        cand.score = score_candidate(cand, question, idf, total)


def score_candidate(cand: Candidate, q: Question, idf: dict[str, float], total: float) -> float:
    facts = cand.digest
    record_words, text = facts.words, facts.text
    score = KIND_PRIOR[facts.kind]
    if q.techniques:
        technique = facts.technique
        if isinstance(technique, str) and technique in q.techniques:
            score += 4.0 if len(q.techniques) < len(QUANTIZATION) or technique in QUANTIZATION else 2.0
        elif mentions_technique(facts.head, q.techniques):
            score += 1.5
    if q.features:
        if cand.key in q.features:
            score += 6.0
        elif any(target in q.features for _rel, target in facts.links):
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
        if contains_exact(text, exact):
            score += 3.0
    if q.metrics and _has_metric(text, q.metrics):
        score += 0.5
    if cand.search_rank is not None:
        score += 1.2 / (1.0 + cand.search_rank / 3.0)
    return score


def _idf(cands: Iterable[Candidate], terms: list[str]) -> dict[str, float]:
    items = list(cands)
    n = len(items)
    df = dict.fromkeys(terms, 0)
    for cand in items:
        record_words = cand.digest.words
        for t in terms:
            if t in record_words:
                df[t] += 1
    # Terms that no candidate holds carry no weight: they cannot separate candidates.
    return {t: math.log((n + 1) / (d + 0.5)) for t, d in df.items() if d}


def contains_exact(text: str, needle: str) -> bool:
    needle = needle.lower()
    if re.fullmatch(r"\d+(?:\.\d+)?", needle):
        # A number, not a piece of a date or time ("20" must not match 2026-01-21T11:20:00Z).
        # Nor a piece of a version or name ("2" must not match "v2" or "l4").
        return re.search(rf"(?<![\w.:-]){re.escape(needle)}(?![\d:]|-\d|\.\d)", text) is not None
    if re.fullmatch(r"v\d+(?:\.\d+)*", needle):
        # A version: "v3" is not "v3.1".
        return re.search(rf"(?<![\w.]){re.escape(needle)}(?![\w]|\.\d)", text) is not None
    return needle in text


def mentions_technique(head: str, techniques: set[str]) -> bool:
    pattern = _techniques_pattern(frozenset(t for t in techniques if t in TECHNIQUE_RE))
    return pattern is not None and pattern.search(head) is not None


@functools.lru_cache(maxsize=256)
def _techniques_pattern(techniques: frozenset[str]) -> re.Pattern[str] | None:
    """One expression for several techniques: a pool of 600 is searched once per record, not once per technique."""
    if not techniques:
        return None
    return re.compile("|".join(f"(?:{TECHNIQUE_RE[t].pattern})" for t in sorted(techniques)))


_METRIC_WORDS = {"p50": ("p50",), "p90": ("p90",), "p95": ("p95",), "p99": ("p99",), "latency": ("latency", "p99"),
                 "throughput": ("throughput", "qps"), "accuracy": ("accuracy", "ndcg", "recall", "auc")}


def _has_metric(text: str, metrics: set[str]) -> bool:
    return any(word in text for m in metrics for word in _METRIC_WORDS.get(m, ()))


def is_failed(cand: Candidate) -> bool:
    facts = cand.digest
    return (facts.outcome in ("rejected", "rolled_back") or facts.status in ("failed", "rolled_back")
            or facts.kind == "incident")


def is_rolled_back(cand: Candidate) -> bool:
    facts = cand.digest
    return bool(facts.outcome == "rolled_back" or facts.status == "rolled_back" or facts.strategy == "rollback")


# ---------------------------------------------------------------- selection
def select_attempts(pool: dict[str, Candidate], question: Question, *, search_ranks: dict[str, int] | None = None, k: int = 10) -> Gathered:
    """Score, bound in time (window, 'before/after X'), split into primary and related, order by time."""
    gathered = Gathered(pool=pool)
    if question.anchor is not None and question.anchor.question is not None:
        anchor_q = question.anchor.question
        score_pool(pool, anchor_q)
        # "before medusa": the record titled with the anchor's words, not a later one that mentions them.
        def titled(c: Candidate) -> int:
            return sum(1 for t in anchor_q.terms if t in c.digest.head)
        ranked = sorted(pool.values(), key=lambda c: (c.score + 0.5 * titled(c), c.when), reverse=True)
        if ranked and ranked[0].score >= MIN_SCORE:
            gathered.anchor = ranked[0]
        else:
            gathered.notes.append(f"nothing in memory matches '{question.anchor.phrase}'; the time bound was ignored")
    score_pool(pool, question, search_ranks)
    if question.is_bare and question.models:
        # "What's the latest on the ranker?": everything about it (notes and runbooks aside), newest first.
        candidates = _apply_window([c for c in pool.values() if c.kind not in ("note", "rollback_procedure")],
                                   question)
        gathered.primary = order_by_time(candidates, oldest_first=question.oldest_first)[:k]
        return gathered
    candidates = [c for c in pool.values() if c.score >= MIN_SCORE]
    if not candidates and question.models and question.terms and not (
            question.techniques or question.features or question.exact or question.kinds - {"optimization"}
            or question.wants_rollback or question.wants_failure):
        # Words that half the model's records hold choose nothing ("the upload tagger" in every record of
        # the upload tagger): list the model's records as for a bare question.
        n = len(pool)
        if all(sum(t in c.digest.words for c in pool.values()) * 2 >= n for t in question.terms):
            candidates = [c for c in pool.values() if c.kind not in ("note", "rollback_procedure")
                          and (c.kind == "optimization" or "optimization" not in question.kinds)]
    bare_but_anchor = question.anchor is not None and question.models and not (
        question.techniques or question.features or question.terms or question.exact or question.kinds - {"optimization"}
        or question.metrics or question.wants_rollback or question.wants_failure)
    if gathered.anchor is not None and bare_but_anchor:
        # "ETA work since the daylight saving incident": everything of the model on the anchor's side of time.
        candidates = [c for c in pool.values() if c.kind not in ("note", "rollback_procedure")
                      and (c.kind == "optimization" or "optimization" not in question.kinds)]
    elif gathered.anchor is not None and candidates:
        # "search got slow after the tokenizer upgrade": when the anchor is itself among the best answers
        # to the rest of the question, the phrase describes the answer rather than bounding it.
        specific = bool(question.terms or question.techniques or question.features or question.exact)
        # "before the TensorRT one", "what was the next deployment after X": the phrase names a neighbour.
        sibling = question.anchor is not None and (re.search(r"\bones?\b", question.anchor.phrase) or re.search(
            r"\b(?:next|previous|following|subsequent|preceding|first)\b|\bwhat (?:did|have) we (?:try|tried)\b|"
            r"\b(?:right|just|immediately|directly|shortly|straight|came) (?:after|before)\b",
            question.text.lower()))
        if specific and not sibling and gathered.anchor.score >= PRIMARY_SHARE * max(c.score for c in candidates):
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
    # Two stable sorts: ties first, then time (descending keeps the tie order too).
    ordered = sorted(cands, key=lambda c: (-c.score, c.key))
    ordered.sort(key=lambda c: c.when, reverse=not oldest_first)
    return ordered


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
        for rel, target in other.digest.links:
            index.setdefault(target, []).append((rel, other))
    return index


def linked_records(cand: Candidate, pool: dict[str, Candidate], fetch: dict[str, Candidate],
                   incoming: dict[str, list[tuple[str, Candidate]]]) -> list[tuple[str, Candidate]]:
    """(relation, record) pairs: links this record names, links naming it, and an incident's rollback_key."""
    out: list[tuple[str, Candidate]] = []
    seen = {cand.key}
    for rel, key in cand.digest.links:
        target = pool.get(key) or fetch.get(key)
        if target is not None and target.key not in seen:
            out.append((rel, target))
            seen.add(target.key)
    rollback_key = cand.digest.rollback_key
    if rollback_key is not None:
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
        for _rel, key in cand.digest.links:
            if key not in pool and key not in keys:
                keys.append(key)
        rollback_key = cand.digest.rollback_key
        if rollback_key is not None and rollback_key not in pool and rollback_key not in keys:
            keys.append(rollback_key)
    return keys


def fetch_candidates(conn: Any, keys: Sequence[str], cache: WordCache) -> dict[str, Candidate]:
    if not keys:
        return {}
    rows = conn.execute(select(heads.c.key, heads.c.version, heads.c.occurred_at, heads.c.recorded_at,
                               heads.c.content_hash).where(
        and_(heads.c.key.in_(list(keys)), heads.c.is_deleted.is_(False)))).all()
    return _candidates(conn, rows, cache)

