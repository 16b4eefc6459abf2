"""Context packs: what Elephant knows about a query, as a Markdown block that fits an agent's token budget.

Tokens are counted with the embedding model's own tokenizer (``embedder.count_tokens``), so "fits in
300 tokens" means the same thing here as in the model the agent's retrieval runs on. The pack never
exceeds its budget: facts are added most useful first (the ``ask`` answer's attempts, then search
results), a fact that does not fit is tried in a shorter form and otherwise left out, and the whole
block is re-counted at the end.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict

from elephant.errors import IndexUnavailable, ModelError, UsageError
from elephant.kinds.phrases import clip
from elephant.kinds.render import TITLE_CHARS, fact_line

if TYPE_CHECKING:
    from elephant.facade import Elephant

MAX_BUDGET = 100_000
_QUERY_SHOWN_CHARS = 80
_ASK_CHARS = 2000  # the answerer refuses longer questions; the head of a long query carries its intent
# Ingest tags a collection's own README or SOURCES list so: it describes the files, not what the team did,
# and a prompt's "what was tried before" is no place for it (search still finds it when asked).
COLLECTION_DOC_TAG = "collection-doc"
_SECTION_TITLES = {
    "attempt": "What was tried before",
    "related": "Related records",
}


@dataclass(frozen=True)
class Candidate:
    """A record some retrieval step pointed at, before it is resolved to its current version."""

    key: str
    version: int | None
    origin: str  # "attempt" (from ask) or "related" (from search)


@dataclass(frozen=True)
class Fact:
    """One record rendered for the prompt, in a full and a short form, with its citation."""

    key: str
    version: int
    section: str
    line: str
    short: str

    @property
    def citation(self) -> str:
        return f"{self.key}@{self.version}"


@with_config(ConfigDict(extra="forbid"))
class ContextOut(TypedDict):
    """A ``ContextPack`` as JSON."""

    context: str
    tokens: int
    budget: int
    citations: list[str]
    degraded: bool
    reason: str | None
    query: str
    model: str | None
    truncated: bool
    tokenizer: str


@dataclass
class ContextPack:
    """A Markdown block for a prompt and what went into it (``to_dict`` is the JSON the CLI and REST return)."""

    query: str
    budget: int
    context: str
    tokens: int
    citations: list[str] = field(default_factory=list)
    truncated: bool = False
    degraded: bool = False
    tokenizer: str = ""
    model: str | None = None
    reason: str | None = None  # why degraded (issue 20 row 16)

    def to_dict(self) -> ContextOut:
        return {"query": self.query, "model": self.model, "context": self.context, "tokens": self.tokens,
                "budget": self.budget, "citations": list(self.citations), "truncated": self.truncated,
                "degraded": self.degraded, "reason": self.reason, "tokenizer": self.tokenizer}


# ---------------------------------------------------------------- token counting
def _upper_bound_tokens(text: str) -> int:
    # Every WordPiece token covers at least one non-space character, so this never under-counts:
    # when the model cannot be loaded, a pack sized with it still fits the real budget.
    return len(re.sub(r"\s+", "", text))


def token_counter(db: Elephant) -> tuple[Callable[[str], int], str, bool]:
    """(count, tokenizer description, is_estimate) for the configured embedding model."""
    try:
        embedder = db.embedder
        embedder.count_tokens("probe")
    except ModelError:
        return _upper_bound_tokens, "upper-bound estimate (embedding model unavailable)", True
    name = getattr(embedder, "model_name", None) or type(embedder).__name__
    return embedder.count_tokens, f"{name} tokenizer", False


# ---------------------------------------------------------------- rendering one record
def render_fact(envelope: Mapping[str, Any], version: int, *, section: str) -> Fact:
    """One Markdown bullet for a record version: when, what, the numbers, and its citation."""
    key = str(envelope["key"])
    citation = f"{key}@{version}"
    short = f"- **{clip(envelope.get('title') or key, TITLE_CHARS)}** [{citation}]"
    return Fact(key=key, version=version, section=section, line=fact_line(envelope, citation), short=short)


# ---------------------------------------------------------------- gathering
def _items(value: Any, name: str) -> list[Mapping[str, Any]]:
    data = value.to_dict() if hasattr(value, "to_dict") else value
    return list((data or {}).get(name) or []) if isinstance(data, Mapping) else []


def gather_candidates(db: Elephant, query: str, *, model: str | None, k: int) -> tuple[list[Candidate], str | None]:
    """The ``ask`` answer's attempts first, then search results; (candidates, why degraded or None)."""
    answer = db.ask(query[:_ASK_CHARS], model=model)
    reason = _degraded(answer)
    found = [Candidate(str(a["key"]), _int_or_none(a.get("version")), "attempt") for a in _items(answer, "attempts")]
    try:
        results = db.search(query, model=model, k=k)
    except (IndexUnavailable, ModelError) as exc:
        # Search refuses an index built by another model (reindex); ask already answered from SQL,
        # so the pack loses only its related records, and says so rather than failing the prompt.
        return found, f"related records left out: {exc.message}"
    found += [Candidate(str(r["key"]), _int_or_none(r.get("version")), "related") for r in _items(results, "results")]
    return found, reason or _degraded(results)


def _degraded(value: Any) -> str | None:
    """Why an answer or a search response is degraded (None: it is not)."""
    data = value.to_dict() if hasattr(value, "to_dict") else value
    if not (isinstance(data, Mapping) and data.get("degraded")):
        return None
    return str(getattr(value, "reason", None) or data.get("reason") or "degraded (no reason given)")


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def resolve_facts(db: Elephant, candidates: Iterable[Candidate]) -> list[Fact]:
    """Current versions only (a stale index hit is replaced by its newer version, a deleted record dropped),
    each key once, and no two facts with the same rendering (the same content under two keys)."""
    ordered: list[Candidate] = []
    seen_keys: set[str] = set()
    for cand in candidates:
        if cand.key not in seen_keys:
            seen_keys.add(cand.key)
            ordered.append(cand)
    current = db.store.current_many([c.key for c in ordered])
    facts: list[Fact] = []
    seen_text: set[str] = set()
    for cand in ordered:
        rec = current.get(cand.key)
        if rec is None or COLLECTION_DOC_TAG in (rec.envelope.get("tags") or ()):
            continue
        fact = render_fact(rec.envelope, rec.version, section=cand.origin)
        content = fact.line.rsplit(" [", 1)[0]
        if content in seen_text:
            continue
        seen_text.add(content)
        facts.append(fact)
    return facts


# ---------------------------------------------------------------- packing
def _show_query(query: str) -> str:
    flat = " ".join(query.split()).replace('"', "'")
    return flat if len(flat) <= _QUERY_SHOWN_CHARS else flat[: _QUERY_SHOWN_CHARS - 1] + "…"


def _header_ladder(query: str, budget: int, tokenizer: str) -> list[list[str]]:
    """Header variants, longest first; the last is empty so that even a 1-token budget holds."""
    shown = _show_query(query)
    return [
        [f'### Elephant memory: "{shown}"',
         f"_Most useful first; each fact cites key@version. Fits {budget} tokens ({tokenizer})._", ""],
        [f'### Elephant memory: "{shown}"', ""],
        ["### Elephant memory", ""],
        [],
    ]


def _no_memory_ladder(query: str) -> list[list[str]]:
    shown = _show_query(query)
    return [
        ["### Elephant memory", f'No memory found in Elephant for "{shown}".'],
        ["No memory found."],
        [],
    ]


def pack_facts(facts: list[Fact], *, query: str, budget: int, count: Callable[[str], int],
               tokenizer: str) -> tuple[str, list[str], bool]:
    """Fill the budget most useful fact first: (markdown, citations, truncated)."""
    if not facts:
        ladder = _no_memory_ladder(query)
        for lines in ladder:
            text = "\n".join(lines)
            if count(text) <= budget:
                return text, [], lines is not ladder[0]
        return "", [], True

    fallback: str | None = None
    for header in _header_ladder(query, budget, tokenizer):
        header_text = "\n".join(header)
        if count(header_text) > budget:
            continue
        if fallback is None:
            fallback = header_text.rstrip("\n")
        chosen, truncated = _fill(facts, header, budget, count)
        # The richest header that leaves room for a fact: saying what was counted, and how, is worth
        # more to the reader than one more fact; a bare header is used only when nothing else fits.
        if chosen:
            return _assemble(header, chosen), [f.citation for f, _ in chosen], truncated
    return fallback or "", [], True


def _assemble(header: list[str], chosen: list[tuple[Fact, str]]) -> str:
    lines = list(header)
    section = None
    for fact, rendered in chosen:
        if fact.section != section:
            if section is not None:
                lines.append("")
            lines.append(f"**{_SECTION_TITLES.get(fact.section, fact.section)}**")
            section = fact.section
        lines.append(rendered)
    return "\n".join(lines).rstrip("\n")


def _fill(facts: list[Fact], header: list[str], budget: int,
          count: Callable[[str], int]) -> tuple[list[tuple[Fact, str]], bool]:
    """Greedy fill under ``header``; (chosen renderings, whether anything was shortened or left out)."""
    # Lines are joined by newlines, and WordPiece splits on whitespace first, so per-line counts add
    # up: one count per line instead of re-counting the block for every fact. The exact count of the
    # assembled block is still checked below, so a tokenizer that merged across lines could not
    # push the block over budget.
    used = count("\n".join(header))
    chosen: list[tuple[Fact, str]] = []
    truncated = False
    section = None
    for fact in facts:
        extra = 0
        if fact.section != section:
            extra = count(f"**{_SECTION_TITLES.get(fact.section, fact.section)}**")
        for rendered in (fact.line, fact.short):
            cost = count(rendered) + extra
            if used + cost <= budget:
                chosen.append((fact, rendered))
                used += cost
                section = fact.section
                truncated |= rendered is fact.short
                break
        else:
            truncated = True
    while chosen and count(_assemble(header, chosen)) > budget:
        chosen.pop()
        truncated = True
    return chosen, truncated


def build_context(db: Elephant, query: str, *, budget: int, model: str | None = None) -> ContextPack:
    """A Markdown block about ``query`` that fits ``budget`` tokens of the embedding model's tokenizer."""
    if not isinstance(query, str) or not query.strip():
        raise UsageError("context needs a non-empty query")
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise UsageError(f"budget must be a positive number of tokens, got {budget!r}")
    if budget > MAX_BUDGET:
        raise UsageError(f"budget {budget} is larger than the {MAX_BUDGET}-token limit")
    count, tokenizer, estimated = token_counter(db)
    k = max(10, min(60, budget // 25))
    candidates, reason = gather_candidates(db, query, model=model, k=k)
    if estimated:
        reason = "; ".join(r for r in (reason, f"token counts are an {tokenizer}") if r)
    facts = resolve_facts(db, candidates)
    text, citations, truncated = pack_facts(facts, query=query, budget=budget, count=count, tokenizer=tokenizer)
    return ContextPack(query=query, budget=budget, context=text, tokens=count(text), citations=citations,
                       truncated=truncated, degraded=reason is not None, reason=reason, tokenizer=tokenizer,
                       model=model)
