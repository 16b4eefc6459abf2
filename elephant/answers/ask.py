"""``ask``: "what did we try last time?" answered from typed records, newest first, every number cited.

The core is structured SQL over ``heads`` (current versions only); hybrid search, when it answers, adds
candidates and a ranking signal. Without it the answer still comes, marked ``degraded``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from elephant.answers.attempts import (
    DIGEST_CHUNK,
    Candidate,
    Gathered,
    WordCache,
    digest_current,
    fetch_candidates,
    linked_records,
    load_pool,
    missing_link_keys,
    reverse_links,
    score_pool,
    select_attempts,
)
from elephant.answers.markdown import attempt_line, outcome_of, outcome_words
from elephant.answers.questions import (
    Question,
    Vocabulary,
    build_vocabulary,
    parse_question,
    vocabulary_stamp,
)
from elephant.errors import UsageError
from elephant.storage.schema import heads
from elephant.storage.store import Store

# search(question, models or None, k) -> (ranked keys, degraded, reason); raises to mean "unavailable".
SearchFn = Callable[[str, list[str] | None, int], tuple[list[str], bool, str | None]]

MAX_QUESTION_CHARS = 2000
MAX_LINKS_SHOWN = 3


@dataclass
class AskResponse:
    """An answer: Markdown for people, attempts and citations for scripts (DESIGN §6)."""

    question: str
    answer: str
    attempts: list[dict[str, Any]] = field(default_factory=list)
    citations: list[str] = field(default_factory=list)
    degraded: bool = False
    reason: str | None = None  # why degraded; kept out of to_dict to hold the §6 shape

    def to_dict(self) -> dict[str, Any]:
        return {"question": self.question, "answer": self.answer, "attempts": self.attempts,
                "citations": self.citations, "degraded": self.degraded}


class Answerer:
    """Answers questions over one store; caches the vocabulary (until the store changes) and record words."""

    def __init__(self, store: Store, *, search: SearchFn | None = None) -> None:
        self.store = store
        self.search = search
        self.words = WordCache()
        self._vocab: Vocabulary | None = None
        self._lock = threading.Lock()

    def vocabulary(self, conn: Any) -> Vocabulary:
        stamp = vocabulary_stamp(conn)
        with self._lock:
            if self._vocab is None or self._vocab.stamp != stamp:
                self._vocab = build_vocabulary(conn)
            return self._vocab

    def prime(self, *, batch: int = DIGEST_CHUNK, pause_s: float = 0.002, stop: threading.Event | None = None) -> int:
        """Digest the current records a first ask would otherwise digest itself, newest first, up to the
        word cache's size; ``batch`` envelopes at a time with a pause between, so a server's requests
        keep their share of the interpreter meanwhile. Returns how many records were digested.

        Why: a model's first question digests every record of the model (at 10,963 records: 95-210 ms
        for the first "what did we try to cut X p99?" of each model, 7 ms once digested).
        """
        with self.store.read_connection() as conn:
            rows = conn.execute(select(heads.c.key, heads.c.content_hash).where(heads.c.is_deleted.is_(False))
                                .order_by(heads.c.occurred_at.desc()).limit(self.words.size)).all()
        missing = [r.key for r in rows if self.words.lookup(r.key, r.content_hash) is None]
        done = 0
        for start in range(0, len(missing), batch):
            if stop is not None and stop.is_set():
                break
            with self.store.read_connection() as conn:  # the current version, even if newer than listed
                done += len(digest_current(conn, missing[start:start + batch], self.words))
            time.sleep(pause_s)
        return done

    def ask(self, question: str, *, model: str | None = None, k: int = 10, now: datetime | None = None) -> AskResponse:
        text = (question or "").strip()
        if not text:
            raise UsageError("ask: the question is empty")
        if len(text) > MAX_QUESTION_CHARS:
            raise UsageError(f"ask: the question is {len(text)} characters; the limit is {MAX_QUESTION_CHARS}")
        if k < 1:
            raise UsageError("ask: k must be at least 1")
        with self.store.read_connection() as conn:
            vocab = self.vocabulary(conn)
            unknown_model = model is not None and model not in vocab.models
            # A question about a model reads the same pool of its records in every gather: read it once.
            options: dict[str, Any] = {"model": model, "unknown_model": unknown_model, "k": k, "now": now,
                                       "pools": {}}
            parsed, gathered = self._gather(conn, text, vocab, ranked=[], anchors=True, **options)
            ranked: list[str] = []
            degraded, reason = False, None
            if self._needs_search(parsed, gathered):
                ranked, degraded, reason = self._search(text, parsed.models or None, k)
                if ranked:
                    parsed, gathered = self._gather(conn, text, vocab, ranked=ranked, anchors=True, **options)
            if parsed.anchor is not None and (gathered.anchor_describes_answer
                                              or not (gathered.primary or gathered.related)):
                # "Did BGE get adopted after the A/B test?": the phrase names the answer, not a bound.
                parsed, gathered = self._gather(conn, text, vocab, ranked=ranked, anchors=False, **options)
            shown = gathered.primary + gathered.related
            extra = fetch_candidates(conn, missing_link_keys(shown, gathered.pool), self.words)
        return self._respond(text, parsed, gathered, extra, degraded=degraded, reason=reason)

    def _needs_search(self, parsed: Question, gathered: Gathered) -> bool:
        """SQL first; search only where it can add something: no model named, nothing found, or words of
        the question that no candidate holds (a paraphrase the vocabulary missed: dense retrieval's job).

        Measured at 10k records: hybrid search costs about as much as the whole SQL path, so skipping it
        when the structured answer is complete keeps ask's p50 inside its 30 ms budget.
        """
        if not parsed.models or parsed.unknown_names or not (gathered.primary or gathered.related):
            return True
        pool = gathered.pool.values()
        return any(not any(term in c.digest.words for c in pool) for term in parsed.terms)

    def _gather(self, conn: Any, text: str, vocab: Vocabulary, *, model: str | None, unknown_model: bool,
                ranked: list[str], k: int, now: datetime | None, anchors: bool,
                pools: dict[tuple[str, ...], dict[str, Candidate]]) -> tuple[Question, Gathered]:
        parsed = parse_question(text, vocab, now=now, model=None if unknown_model else model, anchors=anchors)
        if unknown_model:
            parsed.models, parsed.unknown_names = [], [str(model)]
        elif parsed.unknown_names:
            parsed.unknown_names = names_absent(conn, parsed.unknown_names)
        # Keyed by the models alone: with a model named, the pool is every record of the models
        # (search hits are not added), and each gather re-scores every candidate in it.
        key = tuple(parsed.models) if parsed.models and not parsed.unknown_names else None
        pool = pools.get(key) if key is not None else None
        if pool is None:
            pool = load_pool(conn, parsed, self.words,
                             extra_keys=[] if parsed.models or parsed.unknown_names else ranked)
            if key is not None:
                pools[key] = pool
        search_ranks = {key: i for i, key in enumerate(ranked)}
        if parsed.unknown_names:
            gathered = Gathered(pool=pool)
            if pool:
                score_pool(pool, parsed, search_ranks)
                gathered.closest = sorted(pool.values(), key=lambda c: (c.score, c.when), reverse=True)[:3]
        elif not parsed.has_signal and not parsed.models:
            gathered = Gathered(pool=pool)
        else:
            gathered = select_attempts(pool, parsed, search_ranks=search_ranks, k=k)
        return parsed, gathered

    def _search(self, text: str, models: list[str] | None, k: int) -> tuple[list[str], bool, str | None]:
        if self.search is None:
            return [], True, "search is not available; answered from SQL and lexical matching"
        try:
            keys, degraded, reason = self.search(text, models, max(20, 3 * k))
        except Exception as exc:  # any index failure: answer from SQL, say so
            return [], True, f"search failed ({type(exc).__name__}: {exc}); answered from SQL"
        return keys, degraded, reason

    # ------------------------------------------------------------------ rendering
    def _respond(self, text: str, q: Question, g: Gathered, extra: dict[str, Candidate], *, degraded: bool,
                 reason: str | None) -> AskResponse:
        citations: list[str] = []
        lines: list[str] = []
        shown = g.primary + g.related
        if not shown:
            lines.append(_nothing_line(q, g))
            if g.closest:
                lines.append("")
                lines.append("Closest records (not answers):")
                for cand in g.closest:
                    lines.append(_line(cand))
                    citations.append(cand.citation)
            for note in g.notes:
                lines.append(f"\n_{note}_")
            return AskResponse(text, "\n".join(lines), [], citations, degraded, reason)
        incoming = reverse_links(g.pool)
        lines.append(_headline(q, g))
        if g.anchor is not None and q.anchor is not None:
            lines.append(f"_{q.anchor.direction.capitalize()} {g.anchor.envelope.get('title')} "
                         f"({g.anchor.date_label}, `{g.anchor.citation}`):_")
            citations.append(g.anchor.citation)
        elif q.window.label:
            lines.append(f"_{q.window.label}:_")
        lines.append("")
        for cand in g.primary:
            self._attempt_lines(cand, g, extra, incoming, lines, citations)
        if g.related:
            lines.append("")
            lines.append("Related:")
            for cand in g.related:
                self._attempt_lines(cand, g, extra, incoming, lines, citations)
        for note in g.notes:
            lines.append(f"\n_{note}_")
        attempts = [_item(c) for c in shown]
        return AskResponse(text, "\n".join(lines), attempts, list(dict.fromkeys(citations)), degraded, reason)

    def _attempt_lines(self, cand: Candidate, g: Gathered, extra: dict[str, Candidate],
                       incoming: dict[str, list[tuple[str, Candidate]]], lines: list[str],
                       citations: list[str]) -> None:
        lines.append(_line(cand))
        citations.append(cand.citation)
        for rel, other in linked_records(cand, g.pool, extra, incoming)[:MAX_LINKS_SHOWN]:
            lines.append(f"  - ↳ {rel.replace('_', ' ')}: {other.kind.replace('_', ' ')} "
                         f"{other.envelope.get('title')} — {outcome_words(other.kind, other.fields)} "
                         f"[`{other.citation}`]")
            citations.append(other.citation)


def names_absent(conn: Any, names: list[str]) -> list[str]:
    """Identifier-like words of a question that no record contains: likely a model Elephant has never seen."""
    absent = []
    for name in names:
        hit = conn.execute(select(heads.c.key).where(heads.c.is_deleted.is_(False),
                                                     heads.c.envelope.ilike(f"%{name}%")).limit(1)).first()
        if hit is None:
            absent.append(name)
    return absent


def _line(cand: Candidate) -> str:
    return attempt_line(when=cand.date_label, kind=cand.kind,
                        title=str(cand.envelope.get("title", cand.key)), fields=cand.fields,
                        citation=cand.citation)


def _item(cand: Candidate) -> dict[str, Any]:
    source = cand.envelope.get("source") or {}
    return {"key": cand.key, "version": cand.version, "kind": cand.kind, "title": cand.envelope.get("title"),
            "model": cand.envelope.get("model"), "occurred_at": cand.envelope.get("occurred_at"),
            "score": round(cand.score, 4),
            "source": {"path": source.get("path"), "anchor": source.get("anchor")},
            "outcome": outcome_of(cand.kind, cand.fields)}


def _about(q: Question) -> str:
    if q.unknown_names:
        return " about " + ", ".join(f"'{n}'" for n in q.unknown_names)
    if q.models:
        return " about " + ", ".join(q.models)
    return ""


def _nothing_line(q: Question, g: Gathered) -> str:
    if q.unknown_names:
        return f"**Nothing in memory{_about(q)}**: no record names it."
    when = f" in {q.window.label}" if q.window.label else ""
    if g.anchor is not None and q.anchor is not None:
        when = f" {q.anchor.direction} {g.anchor.envelope.get('title')}"
    prefix = "**No**" if q.is_yes_no else "**Nothing matches**"
    return f"{prefix}: nothing in memory{_about(q)} matches this question{when}."


def _headline(q: Question, g: Gathered) -> str:
    first = g.primary[0] if g.primary else g.related[0]
    title = first.envelope.get("title", first.key)
    when = first.date_label
    outcome = outcome_words(first.kind, first.fields)
    count = len(g.primary) or len(g.related)
    also = f" (+{len(g.related)} related)" if g.primary and g.related else ""
    order = "first" if q.oldest_first else "latest"
    if q.is_yes_no:
        noun = "matching record" if count == 1 else "matching records"
        return f"**Yes** — {count} {noun}{also}; the {order} ({when}): {title} — {outcome} [`{first.citation}`]."
    if q.is_what_happened:
        return f"**{when}: {title} — {outcome}** [`{first.citation}`]."
    noun = "record" if count == 1 else "records"
    sequence = "oldest first" if q.oldest_first else "newest first"
    return f"{count} {noun}{_about(q)}{also}, {sequence}; {order}: {title} ({when}) — {outcome}."
