"""``ask``: "what did we try last time?" answered from typed records, newest first, every number cited.

The core is structured SQL over ``heads`` (current versions only); hybrid search, when it answers, adds
candidates and a ranking signal. Without it the answer still comes, marked ``degraded``.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ConfigDict, with_config
from sqlalchemy import or_, select
from typing_extensions import TypedDict

from elephant.answers.assemble import Assembly, assemble
from elephant.answers.attempts import (
    DIGEST_CHUNK,
    MIN_SCORE,
    AttemptOut,
    Candidate,
    Gathered,
    HeadsCatalog,
    WordCache,
    candidates_of,
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
from elephant.answers.plan import QueryPlan, Subject, build_plan, referring_words
from elephant.answers.questions import (
    IDENT_LIKE,
    Question,
    Vocabulary,
    build_vocabulary,
    parse_question,
    vocabulary_stamp,
)
from elephant.answers.validtime import answer_serving_at
from elephant.errors import UsageError
from elephant.storage.schema import heads
from elephant.storage.store import Store

# search(question, models or None, k) -> (ranked keys, degraded, reason); raises to mean "unavailable".
SearchFn = Callable[[str, list[str] | None, int], tuple[list[str], bool, str | None]]

MAX_QUESTION_CHARS = 2000
# Words that relate the described model to another one the description names.
RELATION_RE = re.compile(r"\b(?:teacher|student|parent|source|successor|predecessor|replac\w*|distill\w* (?:from|into)"
                         r"|fallback|upstream|downstream|feeds?|fed)\b")
MAX_LINKS_SHOWN = 3


@with_config(ConfigDict(extra="forbid"))
class AskOut(TypedDict):
    """An ``AskResponse`` as JSON."""

    question: str
    answer: str
    attempts: list[AttemptOut]
    citations: list[str]
    degraded: bool
    reason: str | None
    found: bool
    plan: dict[str, Any]


@dataclass
class AskResponse:
    """An answer: Markdown for people, attempts and citations for scripts (docs/design.md §9)."""

    question: str
    answer: str
    attempts: list[AttemptOut] = field(default_factory=list)
    citations: list[str] = field(default_factory=list)
    degraded: bool = False
    reason: str | None = None  # why degraded (null otherwise), as search says it (issue 20 row 16)
    found: bool = True  # False: nothing answers ("never tried", "no open incidents", an unknown model)
    plan: dict[str, Any] = field(default_factory=dict)  # the query plan (elephant.answers.plan), as JSON
    explanation: str = ""  # the plan for people (``elephant ask --explain``)

    def to_dict(self) -> AskOut:
        return {"question": self.question, "answer": self.answer, "attempts": self.attempts,
                "citations": self.citations, "degraded": self.degraded, "reason": self.reason, "found": self.found,
                "plan": self.plan}


class Answerer:
    """Answers questions over one store; caches the vocabulary (until the store changes) and record words."""

    def __init__(self, store: Store, *, search: SearchFn | None = None) -> None:
        self.store = store
        self.search = search
        self.words = WordCache()
        self.catalog = HeadsCatalog()
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
            self.catalog.refresh(conn)
            unknown_model = model is not None and model not in vocab.models
            # A question about a model reads the same pool of its records in every gather: read it once.
            options: dict[str, Any] = {"unknown_model": unknown_model, "k": k, "pools": {}}
            plan = self._plan(conn, text, vocab, model=model, unknown_model=unknown_model, now=now, anchors=True,
                              pools=options["pools"])
            if plan.valid_at is not None and plan.models:
                return self._serving_at(text, plan)
            ranked: list[str] = []
            degraded, reason = False, None
            # A question naming no model always needs search (its pool is a pre-filter): search first and
            # gather once, rather than gathering, searching and gathering again (half the no-model tail).
            search_first = plan.question is not None and not plan.question.models and not unknown_model
            if search_first:
                ranked, degraded, reason = self._search(text, None, k)
            parsed, gathered = self._gather(conn, plan, ranked=ranked, **options)
            if search_first or self._needs_search(parsed, gathered):
                if not search_first:
                    ranked, degraded, reason = self._search(text, parsed.models or None, k)
                if ranked and not parsed.models and plan.refers_to_model and not unknown_model and not parsed.features \
                        and not any(IDENT_LIKE.match(n) for n in parsed.unknown_names) \
                        and not any(s.how == "described" for s in plan.subjects):
                    # "the call transcription model": the model most of the best hits belong to (the dense
                    # side matches a description the store's words do not share).
                    voted = _vote_model(conn, ranked[:5])
                    if voted is not None:
                        plan.subjects = [Subject(voted, "searched")]
                        parsed.models, parsed.unknown_names = [voted], []
                        # The phrase that named it ("the 70B assistant") is spent, not content.
                        parsed.terms = [t for t in parsed.terms if t not in referring_words(plan.main_text)]
                        search_first = False  # the pool is now the voted model's: gather again
                if ranked and not search_first:
                    parsed, gathered = self._gather(conn, plan, ranked=ranked, **options)
            if parsed.anchor is not None and (gathered.anchor_describes_answer
                                              or not (gathered.primary or gathered.related)):
                # "Did BGE get adopted after the A/B test?": the phrase names the answer, not a bound.
                plan = self._plan(conn, text, vocab, model=model, unknown_model=unknown_model, now=now,
                                  anchors=False, pools=options["pools"], resolved=plan.subjects)
                parsed, gathered = self._gather(conn, plan, ranked=ranked, **options)
            elif gathered.anchor is not None and plan.time.anchors:
                plan.time.anchors[0].resolved_key = gathered.anchor.citation
                plan.time.anchors[0].resolved_at = gathered.anchor.when
            assembly = assemble(plan, gathered, gathered.pool) if not parsed.unknown_names else Assembly(found=False)
            shown = (assembly.primary if assembly.primary is not None else gathered.primary) + (
                assembly.related if assembly.related is not None else gathered.related)
            extra = fetch_candidates(conn, missing_link_keys(shown, gathered.pool), self.words)
        return self._respond(text, plan, parsed, gathered, assembly, extra, degraded=degraded, reason=reason)

    def _plan(self, conn: Any, text: str, vocab: Vocabulary, *, model: str | None, unknown_model: bool,
              now: datetime | None, anchors: bool, pools: dict[tuple[str, ...], dict[str, Candidate]],
              resolved: list[Subject] | None = None) -> QueryPlan:
        """The query plan, with a described subject resolved to a model by a sub-search."""
        plan = build_plan(text, vocab, now=now, model=None if unknown_model else model, anchors=anchors)
        if unknown_model:
            plan.subjects = [Subject(str(model), "unknown")]
        described = [s for s in plan.subjects if s.how == "described"]
        if described and resolved is not None:
            plan.subjects = resolved
        elif described:
            self._resolve_description(conn, described[0], vocab, now)
        if plan.question is not None and any(s.how == "described" for s in plan.subjects):
            plan.question.models = [s.model for s in plan.subjects if s.model]
        return plan

    def _resolve_description(self, conn: Any, subject: Subject, vocab: Vocabulary, now: datetime | None) -> None:
        """'the model whose shadow deployment was aborted in June': the best record for the description
        names the model (SQL first, hybrid search when SQL finds nothing)."""
        # The description is one event ("threw alarms after the PLC firmware push"): its "after" is no bound.
        sub_plan = build_plan(subject.description or "", vocab, now=now, anchors=False)
        sub = sub_plan.question
        assert sub is not None
        named = sub.models if len(sub.models) == 1 else []
        if not named:
            sub.models = []
        sub.unknown_names = []
        pool = load_pool(conn, sub, self.words, catalog=self.catalog)
        relation = bool(RELATION_RE.search(subject.description or ""))
        if relation and re.search(r"\bteacher|\bdistill", subject.description or ""):
            # The teacher is named by a distillation: among its records, those first.
            distilled = {k: c for k, c in pool.items() if c.digest.technique == "distillation"
                         or any(rel == "teacher" for rel, _key in c.digest.links)}
            pool = distilled or pool
        best = _best_match(pool, sub)
        if best is None and self.search is not None:
            keys, _degraded, _reason = self._search(subject.description or "", None, 10)
            if keys:
                sub.models = []
                pool = load_pool(conn, sub, self.words, extra_keys=keys, catalog=self.catalog)
                best = _best_match(pool, sub, {key: i for i, key in enumerate(keys)})
        if best is None or not best.envelope.get("model"):
            return
        model = str(best.envelope["model"])
        if relation and (not named or model == named[0]):
            # "the teacher of the upload tagger's distillation": the description names one model in a
            # relation to the subject, so the subject is the other model its best record names (by a
            # "teacher" link first, then in its text).
            linked = [(rel != "teacher", key.split("/", 1)[0]) for rel, key in best.digest.links
                      if key.split("/", 1)[0] in vocab.models and key.split("/", 1)[0] != model]
            others = [m for _later, m in sorted(linked)]
            others += [m for m in vocab.models if m != model and m.lower() in best.digest.text]
            if not others:
                return
            model = others[0]
        subject.model = model
        subject.resolved_from = best.citation
        subject.resolved_title = str(best.envelope.get("title") or best.key)
        subject.resolved_date = best.date_label

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

    def _gather(self, conn: Any, plan: QueryPlan, *, unknown_model: bool, ranked: list[str], k: int,
                pools: dict[tuple[str, ...], dict[str, Candidate]]) -> tuple[Question, Gathered]:
        parsed = plan.question
        assert parsed is not None
        if unknown_model:
            parsed.models, parsed.unknown_names = [], [s.model for s in plan.subjects if s.model]
        elif parsed.unknown_names:
            parsed.unknown_names = names_absent(conn, parsed.unknown_names)
        # Keyed by the models alone: with a model named, the pool is every record of the models
        # (search hits are not added), and each gather re-scores every candidate in it.
        key = tuple(parsed.models) if parsed.models and not parsed.unknown_names else None
        pool = pools.get(key) if key is not None else None
        if pool is None:
            pool = load_pool(conn, parsed, self.words, catalog=self.catalog,
                             extra_keys=[] if parsed.models or parsed.unknown_names else ranked)
            if key is not None:
                pools[key] = pool
        if plan.record_kind is not None and parsed.models and not any(c.kind == plan.record_kind
                                                                      for c in pool.values()):
            # "What is the ranker's latency budget?": a team-wide note that names the model answers it.
            pool = {**pool, **load_kind_mentioning(conn, plan.record_kind, parsed.models, self.words)}
        if plan.record_kind == "note" and not parsed.unknown_names and (not parsed.models or (plan.subjects and all(
                s.how in ("described-name", "disambiguated") for s in plan.subjects))):
            # "what gates does a model change have to pass?": the model was only guessed from the words (or
            # none was named), and a team-wide policy (a note of no model) may answer better than any
            # model's notes.
            pool = {**pool, **load_kind_of_no_model(conn, "note", self.words)}
        search_ranks = {key: i for i, key in enumerate(ranked)}
        if plan.comparison is not None and plan.comparison.around and plan.comparison.around_at is None:
            around = _best_match(pool, parse_question(plan.comparison.around, Vocabulary(), now=None))
            if around is not None:
                plan.comparison.around_key, plan.comparison.around_at = around.citation, around.when
        if plan.time.anchors and parsed.anchor is None:
            bounds = resolve_anchors(plan, pool)
            pool = {key: cand for key, cand in pool.items() if cand.citation not in bounds}
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
    def _serving_at(self, text: str, plan: QueryPlan) -> AskResponse:
        """"What was X serving on DATE?": the deployment and serving config in force then (valid time)."""
        found = answer_serving_at(self.store, plan.models, str(plan.valid_at))
        return AskResponse(text, found.answer, found.attempts, found.citations, found=found.found,
                           plan={**plan.to_dict(), "valid_at": plan.valid_at},
                           explanation=plan.explain() + f"\nvalid at:    {plan.valid_at} (deployments and configs "
                                                        "in force then, by occurred_at)")

    def _respond(self, text: str, plan: QueryPlan, q: Question, g: Gathered, a: Assembly,
                 extra: dict[str, Candidate], *, degraded: bool, reason: str | None) -> AskResponse:
        citations: list[str] = []
        lines: list[str] = []
        primary = a.primary if a.primary is not None else g.primary
        related = a.related if a.related is not None else g.related
        shown = primary + related
        plan_dict, explanation = plan.to_dict(), plan.explain()
        subject_line = _subject_line(plan)
        if subject_line:
            citations.extend(s.resolved_from for s in plan.subjects if s.resolved_from)
        if not shown:
            _lead_lines(a.lead or _nothing_line(q, g), subject_line, lines)
            closest = a.closest or g.closest
            if closest:
                lines.append("")
                lines.append("Closest records (not answers):")
                for cand in closest:
                    lines.append(_line(cand))
                    citations.append(cand.citation)
            for note in g.notes + a.notes:
                lines.append(f"\n_{note}_")
            return AskResponse(text, "\n".join(lines), [], list(dict.fromkeys(citations)), degraded, reason,
                               found=False, plan=plan_dict, explanation=explanation)
        incoming = reverse_links(g.pool)
        _lead_lines(a.lead or _headline(q, g, primary, related), subject_line, lines)
        if g.anchor is not None and q.anchor is not None:
            lines.append(f"_{q.anchor.direction.capitalize()} {g.anchor.envelope.get('title')} "
                         f"({g.anchor.date_label}, `{g.anchor.citation}`):_")
            citations.append(g.anchor.citation)
        elif q.window.label:
            lines.append(f"_{q.window.label}:_")
        lines.append("")
        for cand in primary:
            self._attempt_lines(cand, g, extra, incoming, lines, citations)
        if related:
            lines.append("")
            lines.append("Related:")
            for cand in related:
                self._attempt_lines(cand, g, extra, incoming, lines, citations)
        for note in g.notes + a.notes:
            lines.append(f"\n_{note}_")
        attempts = [_item(c) for c in shown]
        return AskResponse(text, "\n".join(lines), attempts, list(dict.fromkeys(citations)), degraded, reason,
                           found=a.found, plan=plan_dict, explanation=explanation)

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


def _best_match(pool: dict[str, Candidate], question: Question,
                search_ranks: dict[str, int] | None = None, *, by_head: bool = False) -> Candidate | None:
    """The record that matches ``question`` best; with ``by_head``, of two that match alike the one whose title,
    tags or key hold its words (the QAT attempt, not a later one whose body mentions "re-QAT")."""
    if not pool:
        return None
    score_pool(pool, question, search_ranks)
    window = question.window
    cands = [c for c in pool.values() if c.score >= MIN_SCORE and (window.since is None or c.when >= window.since)
             and (window.until is None or c.when < window.until)]
    if window.month is not None:
        cands = [c for c in cands if c.when[5:7] == f"{window.month:02d}"]
    if by_head:
        def head(c: Candidate) -> int:
            slug = c.key.rsplit("/", 1)[-1].replace("-", " ")
            return sum(t in c.digest.head or t in slug for t in question.terms)
        return max(cands, key=lambda c: (round(c.score, 1), head(c), c.when)) if cands else None
    return max(cands, key=lambda c: (c.score, c.when)) if cands else None


def _vote_model(conn: Any, keys: list[str]) -> str | None:
    """The model at least three of these records (and more than half) belong to, if there is one."""
    rows = conn.execute(select(heads.c.key, heads.c.model).where(heads.c.key.in_(keys))).all()
    models = [r.model for r in rows if r.model]
    if not models:
        return None
    top = max(set(models), key=models.count)
    return top if models.count(top) >= 3 and models.count(top) * 2 > len(keys) else None


def resolve_anchors(plan: QueryPlan, pool: dict[str, Candidate]) -> set[str]:
    """'between the shadow test and the 50 % ramp': each phrase's best record bounds the window by its date."""
    from elephant.answers.questions import Vocabulary as _Vocabulary

    question = plan.question
    assert question is not None
    for anchor in plan.time.anchors:
        sub = parse_question(anchor.phrase, _Vocabulary(), now=None)
        if re.search(r"\bones?\b", anchor.phrase):
            # "optimizations before the TensorRT one": the anchor is a record of the kind asked about.
            sub.kinds.add(plan.record_kind or "optimization")
        best = _best_match(pool, sub, by_head=True)
        if best is None:
            continue
        anchor.resolved_key, anchor.resolved_at = best.citation, best.when
        if anchor.bound == "since":
            question.window.since = best.when
            plan.time.since = best.when
        else:
            question.window.until = best.when
            plan.time.until = best.when
    # Records at the anchors' own moments are the bounds, not the answer.
    bounds = {a.resolved_key for a in plan.time.anchors if a.resolved_key}
    if plan.time.anchors and all(a.resolved_at for a in plan.time.anchors):
        labels = " and ".join(f"“{a.phrase}” ({str(a.resolved_at)[:10]})" for a in plan.time.anchors)
        question.window.label = plan.time.label = f"between {labels}" if len(plan.time.anchors) > 1 else labels
    return bounds


def load_kind_mentioning(conn: Any, kind: str, models: list[str], cache: WordCache) -> dict[str, Candidate]:
    """Records of ``kind`` of any model (team-wide notes) whose text names one of ``models``."""
    conditions = [heads.c.envelope.ilike(f"%{m}%") for m in models]
    rows = conn.execute(select(heads.c.key, heads.c.version, heads.c.occurred_at, heads.c.recorded_at,
                               heads.c.content_hash).where(heads.c.is_deleted.is_(False), heads.c.kind == kind,
                                                           or_(*conditions)).limit(50)).all()
    return candidates_of(conn, rows, cache)


def load_kind_of_no_model(conn: Any, kind: str, cache: WordCache) -> dict[str, Candidate]:
    """Current records of ``kind`` that belong to no model (team-wide notes and policies), newest first."""
    rows = conn.execute(select(heads.c.key, heads.c.version, heads.c.occurred_at, heads.c.recorded_at,
                               heads.c.content_hash).where(heads.c.is_deleted.is_(False), heads.c.kind == kind,
                                                           heads.c.model.is_(None))
                        .order_by(heads.c.recorded_at.desc()).limit(50)).all()
    return candidates_of(conn, rows, cache)


def names_absent(conn: Any, names: list[str]) -> list[str]:
    """Identifier-like words of a question that no record contains: likely a model Elephant has never seen."""
    absent = []
    for name in names:
        parts = [p for p in re.split(r"[-_]+", name) if len(p) >= 3]
        # "the spatula-tagged-as-knife problem": a phrase hyphenated into one word; records use its words.
        patterns = parts if len(re.split(r"[-_]+", name)) >= 3 and parts else [name]
        hit = conn.execute(select(heads.c.key).where(heads.c.is_deleted.is_(False),
                                                     *[heads.c.envelope.ilike(f"%{p}%") for p in patterns])
                           .limit(1)).first()
        if hit is None:
            absent.append(name)
    return absent


def _line(cand: Candidate) -> str:
    return attempt_line(when=cand.date_label, kind=cand.kind,
                        title=str(cand.envelope.get("title", cand.key)), fields=cand.fields,
                        citation=cand.citation)


def _item(cand: Candidate) -> AttemptOut:
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


YES_NO_LEAD_RE = re.compile(r"\*\*(?:Yes|No)\b")


def _lead_lines(lead: str, subject_line: str, lines: list[str]) -> None:
    """The lead, with the described subject named before it — or right after it when the lead answers yes or no,
    so that a yes/no question is answered by the answer's first word."""
    if subject_line and YES_NO_LEAD_RE.match(lead):
        lines.extend([lead, subject_line.removesuffix(" →") + "."])
    else:
        lines.extend([subject_line, lead] if subject_line else [lead])


def _subject_line(plan: QueryPlan) -> str:
    """'image-tagger — its shadow deployment was aborted (2025-06-12) [`key@2`]': a described subject, named."""
    for s in plan.subjects:
        if s.how == "described":
            if s.model is None:
                return f"_No record matches “{s.description}”; the model could not be resolved._"
            return f"**{s.model}** — {s.resolved_title} ({s.resolved_date}) [`{s.resolved_from}`] →"
    return ""


def _headline(q: Question, g: Gathered, primary: list[Candidate], related: list[Candidate]) -> str:
    first = primary[0] if primary else related[0]
    title = first.envelope.get("title", first.key)
    when = first.date_label
    outcome = outcome_words(first.kind, first.fields)
    count = len(primary) or len(related)
    also = f" (+{len(related)} related)" if primary and related else ""
    order = "first" if q.oldest_first else "latest"
    if q.is_yes_no:
        noun = "matching record" if count == 1 else "matching records"
        return f"**Yes** — {count} {noun}{also}; the {order} ({when}): {title} — {outcome} [`{first.citation}`]."
    if q.is_what_happened:
        return f"**{when}: {title} — {outcome}** [`{first.citation}`]."
    noun = "record" if count == 1 else "records"
    sequence = "oldest first" if q.oldest_first else "newest first"
    return f"{count} {noun}{_about(q)}{also}, {sequence}; {order}: {title} ({when}) — {outcome}."
