"""The lexical index: SQLite FTS5 (bm25) or PostgreSQL full-text (ts_rank_cd), for exact terms.

Both live in the same database as the records, so structured filters are a join on ``heads`` and a
lexical search never needs the model or Chroma (it is what degraded mode answers from).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, column, func, select, table, text
from sqlalchemy.sql.elements import ColumnElement

from elephant.retrieval.documents import render_lexical
from elephant.storage.schema import heads

_FTS = table("lexical_fts", column("key"), column("title"), column("text"), column("facets"))
_DOCS = table("lexical_docs", column("key"), column("title"), column("text"), column("tsv"))
_ROWIDS = table("lexical_rowids", column("docid"), column("key"))

_TERM = re.compile(r"[\w.]+", re.UNICODE)
# Words that match nearly every record of an ML team and only dilute bm25.
_STOP = frozenset(["a", "an", "and", "are", "as", "at", "be", "by", "did", "do", "does", "for", "from", "had", "has", "have", "how", "i", "in", "is", "it", "last", "of", "on", "or", "our", "that", "the", "this", "time", "to", "try", "tried", "was", "we", "were", "what", "when", "which", "who", "why", "with"])


def query_terms(query: str) -> list[str]:
    """Search terms of a free-text query: words and numbers, lower-cased, stop words dropped."""
    out: list[str] = []
    for raw in _TERM.findall(query.lower()):
        for term in re.split(r"\.(?!\d)", raw.strip(".")):
            if term and term not in _STOP and term not in out:
                out.append(term)
    return out[:32]


def facet_token(label: str, value: str) -> str:
    """One FTS token per kind/model ("modelfrauddetector"): a phrase like "model fraud detector" made
    FTS5 decode the posting list of "model", which every document has (16 ms at 100k records)."""
    return label + re.sub(r"[^0-9a-z]+", "", value.lower())


def facets_of(envelope: dict[str, Any]) -> str:
    """Kind and model as FTS tokens for in-index filtering."""
    return f"{facet_token('kind', str(envelope.get('kind', '')))} {facet_token('model', str(envelope.get('model') or ''))}"


def upsert_documents(conn: Connection, envelopes: Sequence[dict[str, Any]]) -> None:
    """(Re)write the lexical documents of these records, inside the caller's transaction."""
    if not envelopes:
        return
    keys = [str(e["key"]) for e in envelopes]
    delete_documents(conn, keys)
    rows: list[dict[str, Any]] = []
    for envelope in envelopes:
        title, body = render_lexical(envelope)
        rows.append({"key": str(envelope["key"]), "title": title, "text": body, "facets": facets_of(envelope)})
    if conn.dialect.name == "sqlite":
        conn.execute(text("INSERT INTO lexical_rowids (key) VALUES (:key)"), [{"key": k} for k in keys])
        docids = _docids(conn, keys)
        for row in rows:
            row["docid"] = docids[row["key"]]
        conn.execute(text("INSERT INTO lexical_fts (rowid, key, title, text, facets) "
                          "VALUES (:docid, :key, :title, :text, :facets)"), rows)
    else:
        conn.execute(text("INSERT INTO lexical_docs (key, title, text) VALUES (:key, :title, :text)"), rows)


def _docids(conn: Connection, keys: Sequence[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for start in range(0, len(keys), 500):
        chunk = list(keys[start:start + 500])
        params = {f"k{i}": k for i, k in enumerate(chunk)}
        marks = ", ".join(f":k{i}" for i in range(len(chunk)))
        for docid, key in conn.execute(text(f"SELECT docid, key FROM lexical_rowids WHERE key IN ({marks})"), params):
            out[key] = int(docid)
    return out


def delete_documents(conn: Connection, keys: Sequence[str]) -> None:
    if not keys:
        return
    if conn.dialect.name == "sqlite":
        docids: list[int] = list(_docids(conn, keys).values())
        for start in range(0, len(docids), 500):
            chunk = docids[start:start + 500]
            marks = ", ".join(str(int(d)) for d in chunk)
            conn.execute(text(f"DELETE FROM lexical_fts WHERE rowid IN ({marks})"))
            conn.execute(text(f"DELETE FROM lexical_rowids WHERE docid IN ({marks})"))
        return
    for start in range(0, len(keys), 500):
        names = list(keys[start:start + 500])
        params = {f"k{i}": k for i, k in enumerate(names)}
        marks = ", ".join(f":k{i}" for i in range(len(names)))
        conn.execute(text(f"DELETE FROM lexical_docs WHERE key IN ({marks})"), params)


def clear(conn: Connection) -> None:
    if conn.dialect.name == "sqlite":
        conn.execute(text("DELETE FROM lexical_fts"))
        conn.execute(text("DELETE FROM lexical_rowids"))
    else:
        conn.execute(text("DELETE FROM lexical_docs"))


def _phrase(words_: str) -> str:
    return '"' + " ".join(_TERM.findall(words_.lower().replace(".", " "))).replace('"', '""') + '"'


def facet_match(kinds: Sequence[str] | None, models: Sequence[str] | None) -> str:
    """An FTS5 expression restricting matches to these kinds and models (approximate; SQL confirms)."""
    parts = []
    for label, values in (("kind", kinds), ("model", models)):
        if values:
            parts.append("facets : (" + " OR ".join(f'"{facet_token(label, v)}"' for v in values) + ")")
    return " AND ".join(parts)


# Document frequencies of query terms, cached for a few minutes: approximate counts are enough to
# decide which terms a query can afford (see plan_match). Small stores skip the decision.
_DF_CACHE: dict[tuple[int, str], tuple[float, int]] = {}
_DF_TTL_S = 300.0
COMMON_MIN_DOCS = 2000
# Counting a term's documents stops here (FTS5 reads ~20 ns per posting: 1 ms at this cap, once per
# term per few minutes); a term in more documents is common whatever its exact count. A cap at the
# ranking budget (3,000) made every term at 100k records look alike, so the "rarest" one kept was
# the first of the query, often "p99" in 64k documents: 41-58 ms to rank.
DF_CAP = 50_000


def _cached(conn: Connection, name: str, compute: Callable[[], int]) -> int:
    now = time.monotonic()
    cache_key = (id(conn.engine), name)
    hit = _DF_CACHE.get(cache_key)
    if hit is not None and now - hit[0] < _DF_TTL_S:
        return hit[1]
    value = compute()
    if len(_DF_CACHE) > 50_000:
        _DF_CACHE.clear()
    _DF_CACHE[cache_key] = (now, value)
    return value


def _document_frequency(conn: Connection, term: str, *, raw: bool = False, cap: int = DF_CAP) -> int:
    """Documents matching ``term`` (a word, or with ``raw`` an FTS5 expression), up to ``cap``; cached."""
    return _cached(conn, f"{cap}\x00{term}", lambda: int(conn.execute(
        text("SELECT count(*) FROM (SELECT 1 FROM lexical_fts WHERE lexical_fts MATCH :m LIMIT :cap)"),
        {"m": term if raw else _phrase(term), "cap": cap}).scalar_one()))


def search_lexical(conn: Connection, query: str, *, where: ColumnElement[bool] | None = None,
                   kinds: Sequence[str] | None = None, models: Sequence[str] | None = None,
                   tags: bool = False, others: bool = False, limit: int = 50,
                   live_only: bool = True, only_keys: frozenset[str] | None = None) -> list[tuple[str, float]]:
    """Keys matching any query term, best first, with the engine's relevance score (higher is better).

    ``only_keys`` (SQLite): the keys the caller's filter admits, read already, instead of ``where``.
    ``where`` is a filter over ``heads``; ``kinds``/``models`` (which ``where`` must also enforce) let
    SQLite intersect inside the full-text index; ``tags``/``others`` say that ``where`` holds more
    than kind/model conditions. Only current, live records are returned, unless ``live_only`` is
    False and there is no ``where``: then the caller checks liveness itself (documents of a deleted
    record stay until the outbox applies its tombstone), and SQLite skips the join on ``heads`` that
    doubled the cost of the query (2.5 vs 1.2 ms at 10k records).
    """
    terms = query_terms(query)
    if not terms:
        return []
    if conn.dialect.name == "sqlite":
        facets = facet_match(kinds, models)
        plans = plan_match(conn, terms, facets)
        # Rank inside FTS first, then check the filters on heads: joining first made SQLite probe the
        # FTS table once per head row (20 ms at 5k). Kind/model filters are already (approximately)
        # applied by the facets; other filters are only applied after ranking, so then a deeper ranked
        # list is kept for them to choose from.
        only_facets = where is None or not (tags or others)
        cap = limit * 2 if only_facets else max(limit * 10, 1000)
        if where is None and not live_only:
            # Every unfiltered search runs this one: plain SQL skips SQLAlchemy's statement handling.
            return _ranked(conn, plans, limit, enough=limit)
        if only_keys is not None:
            # SQLite only: the caller read the admitted (live) keys already; rank as deep as the joined
            # form does for such filters, and keep those keys.
            rows = _ranked(conn, plans, max(limit * 10, 1000), enough=limit)
            return [(key, score) for key, score in rows if key in only_keys][:limit]
        # Keep the live ranked keys the filter admits, best first, a slice at a time: a broad filter
        # reads a few heads rows, a selective one as deep as it must. The filter is a selected column,
        # not in WHERE, so that SQLite looks the keys up instead of scanning an index of the filter's
        # (as in elephant.retrieval.search's liveness check).
        ranked = _ranked(conn, plans, cap, enough=limit)
        ok = (heads.c.is_deleted.is_(False) if where is None
              else and_(heads.c.is_deleted.is_(False), where)).label("ok")
        admitted: set[str] = set()
        for start in range(0, len(ranked), _ADMIT_SLICE):
            keys = json.dumps([key for key, _score in ranked[start:start + _ADMIT_SLICE]])
            checked = conn.execute(select(heads.c.key, ok).where(
                text("key IN (SELECT value FROM json_each(:keys))").bindparams(keys=keys))).all()
            admitted.update(row.key for row in checked if row.ok)
            if len(admitted) >= limit:
                break
        return [(key, score) for key, score in ranked if key in admitted][:limit]
    lexemes = [t for t in (re.sub(r"[^\w.]", "", t) for t in terms) if t]
    expression, share = _pg_query(conn, lexemes)
    if not expression:
        return []
    tsq = func.to_tsquery("english", expression)
    docs: Any = _DOCS
    if share is not None and where is None:
        # Even the rarest terms together match more than the ranking budget: rank a bounded share.
        docs = select(_DOCS.c.key, _DOCS.c.tsv).where(_DOCS.c.tsv.op("@@")(tsq)).limit(share).subquery("docs")
    score = func.ts_rank_cd(docs.c.tsv, tsq, 1)
    query_ = (select(docs.c.key, score.label("score"))
              .select_from(docs.join(heads, heads.c.key == docs.c.key))
              .where(docs.c.tsv.op("@@")(tsq))
              .where(heads.c.is_deleted.is_(False))
              .order_by(score.desc(), docs.c.key))
    if where is not None:
        query_ = query_.where(where)
    return [(r.key, float(r.score)) for r in conn.execute(query_.limit(limit)).all()]


def _pg_query(conn: Connection, lexemes: Sequence[str]) -> tuple[str, int | None]:
    """PostgreSQL's side of ``plan_match``: the tsquery to rank within the budgets, and a cap on the matches
    ranked when even the rarest terms together match more (None: rank every match).

    ts_rank_cd reads each matching document's tsvector, so a common term ranked every document holding
    it: ~300 ms a search at 100k records. As on SQLite, the rarest terms are OR-ed while their postings
    fit READ_BUDGET and RANK_BUDGET, else up to CONJUNCTION_TERMS of the rarest are AND-ed."""
    def quoted(words: Sequence[str], op: str) -> str:
        return f" {op} ".join(f"'{w}'" for w in words)
    total = _cached(conn, "\x00pg-documents", lambda: int(conn.execute(
        text("SELECT count(*) FROM lexical_docs")).scalar_one()))
    if total < COMMON_MIN_DOCS or not lexemes:
        return quoted(lexemes, "|"), None
    lexemes = [t for t in lexemes if not (t.isdigit() and len(t) <= 2)] or list(lexemes)
    frequency = {t: _pg_frequency(conn, quoted([t], "|")) for t in lexemes}
    ordered = sorted((t for t in lexemes if frequency[t] > 0), key=lambda t: frequency[t])
    if not ordered:
        return "", None
    kept: list[str] = []
    postings = 0
    for term in ordered:
        postings += frequency[term]
        if postings > READ_BUDGET or postings * (len(kept) + 1) > RANK_BUDGET:
            break
        kept.append(term)
    if kept:
        return quoted(kept, "|"), None
    together, matched = [ordered[0]], frequency[ordered[0]]
    for term in ordered[1:CONJUNCTION_TERMS]:
        if matched * len(together) <= RANK_BUDGET:
            break
        count = _pg_frequency(conn, quoted([*together, term], "&"))
        if count > 0:  # terms never found together would leave nothing to rank
            together, matched = [*together, term], count
    return quoted(together, "&"), RANK_BUDGET if matched * len(together) > RANK_BUDGET else None


def _pg_frequency(conn: Connection, expression: str) -> int:
    """Documents matching a tsquery, up to DF_CAP; cached like ``_document_frequency``."""
    return _cached(conn, f"pg\x00{expression}", lambda: int(conn.execute(
        text("SELECT count(*) FROM (SELECT 1 FROM lexical_docs WHERE tsv @@ to_tsquery('english', :q) "
             "LIMIT :cap) AS m"), {"q": expression, "cap": DF_CAP}).scalar_one()))


# Column weights: key 0, title 4, text 1, facets 0 (see search_lexical).
_BM25 = "bm25(lexical_fts, 0.0, 4.0, 1.0, 0.0)"
# Ranked keys checked against a filter's heads rows per statement (see search_lexical).
_ADMIT_SLICE = 250
# The ranked statement as plain SQL; ``rowid >= 0`` when a plan ranks every document. Rowids are
# ranked and their keys read after: SQLite computes every result column before sorting, and reading
# the key of each of 2.8k matches from FTS5's content table was a quarter of the ranking (0.8 of 3.1 ms).
_RANKED_SQL = (f"SELECT r.key, m.score FROM (SELECT rowid AS docid, {_BM25} AS score FROM lexical_fts "
               f"WHERE lexical_fts MATCH ? AND rowid >= ? ORDER BY score LIMIT ?) AS m "
               f"JOIN lexical_rowids AS r ON r.docid = m.docid ORDER BY m.score")

# What ranking costs in FTS5 (100k records, AMD EPYC): the match reads every posting of its phrases
# and bm25 reads them all again for its idf, ~80 ns per posting together; then bm25 reads each
# matching document's length and, per phrase, its positions: ~0.5 us per document and phrase. One
# common term ("p99", 64k documents) took 41 ms to rank; five OR-ed terms within a model's facet
# (46k postings, 1.3k matches) 7 ms. So a query reads at most READ_BUDGET postings and ranks at most
# RANK_BUDGET document-phrases, judged from cached counts: ~2-3 ms together.
READ_BUDGET = 30_000
RANK_BUDGET = 2000
# When every term is common, up to this many of the rarest are tried together (AND), each addition
# counted (cached like the terms' counts): terms are often correlated ("churn" and "model" of
# "churn-model" are in the same 5.7k documents), so a product of frequencies would misjudge it.
CONJUNCTION_TERMS = 3


@dataclass(frozen=True)
class MatchPlan:
    """An FTS5 expression to rank, over the documents whose rowid is at least ``floor`` (0: all).

    Rowids grow as documents are (re)indexed, so a floor keeps the most recently written ones.
    """

    match: str
    floor: int = 0


def plan_match(conn: Connection, terms: Sequence[str], facets: str = "") -> list[MatchPlan]:
    """The FTS5 expressions a query ranks, in turn until one gives enough rows, each within the budgets.

    - Terms that match no document are dropped. The others are taken rarest first (highest idf: the
      ones that decide the ranking) while the documents they match (within the facets' share, for
      kind/model filters) and the postings they read stay within the budgets, OR-ed: a question rarely
      repeats all of a record's words, and bm25 already rewards records matching more terms. Small
      stores take every term.
    - When even the rarest term is too common, the rarest ones are AND-ed until their counted matches
      fit (or CONJUNCTION_TERMS are tried): the documents that would head an OR ranking anyway, since
      they match several of the query's terms; past the budget still, only the newest documents are
      ranked. Then, in case that matched too little, the rarest term alone over the newest documents,
      as many as the budget affords.
    - Facets (kind/model tokens) narrow the match inside FTS5; their postings are read whatever the
      terms (the filter asks for them), so only the terms' count against READ_BUDGET. Leaving a broad
      one (kind "benchmark": 34k documents at 100k) to SQL instead was slower: more documents ranked
      for the filter to throw away (p50 7.7 against 5.5 ms for kind + time).
    """
    total = _document_count(conn)
    if total < COMMON_MIN_DOCS:
        return [MatchPlan(_any_of(terms) + (f" AND {facets}" if facets else ""))]
    # One- and two-digit numbers (batch sizes, versions, counts) are in most records of a large store.
    terms = [t for t in terms if not (t.isdigit() and len(t) <= 2)] or list(terms)
    frequency = {t: _document_frequency(conn, t) for t in terms}
    ordered = sorted((t for t in terms if frequency[t] > 0), key=lambda t: frequency[t])
    if not ordered:
        return []
    facet = f" AND {facets}" if facets else ""
    share = min(1.0, _document_frequency(conn, facets, raw=True, cap=total + 1) / total) if facets else 1.0
    phrases = 1 if facets else 0
    kept: list[str] = []
    postings = 0
    for term in ordered:
        postings += frequency[term]
        if postings > READ_BUDGET or postings * share * (phrases + len(kept) + 1) > RANK_BUDGET:
            break
        kept.append(term)
    if kept:
        return [MatchPlan(_any_of(kept) + facet)]
    rarest = ordered[0]
    # Matches within the facets: estimated for the rarest term, counted for each conjunction.
    together, matched, read = [rarest], frequency[rarest] * share, frequency[rarest]
    for term in ordered[1:CONJUNCTION_TERMS]:
        if matched * (phrases + len(together)) <= RANK_BUDGET or read + frequency[term] > READ_BUDGET:
            break
        candidate = [*together, term]
        count = _document_frequency(conn, " AND ".join(_phrase(t) for t in candidate) + facet, raw=True)
        if count > 0:  # terms never found together would leave nothing to rank
            together, matched, read = candidate, count, read + frequency[term]
    plans: list[MatchPlan] = []
    if len(together) > 1:
        plans.append(MatchPlan(" AND ".join(_phrase(t) for t in together) + facet,
                               _floor(conn, matched * (phrases + len(together)))))
    plans.append(MatchPlan(_phrase(rarest) + facet, _floor(conn, frequency[rarest] * share * (phrases + 1))))
    return plans


def _any_of(terms: Sequence[str]) -> str:
    # Quoting makes every term a literal (no FTS syntax injection).
    return "(" + " OR ".join(_phrase(t) for t in terms) + ")"


def _floor(conn: Connection, work: float) -> int:
    """The lowest rowid to rank so that ``work`` (matching documents x phrases, spread evenly over the
    rowids) shrinks to about RANK_BUDGET."""
    if work <= RANK_BUDGET:
        return 0
    low = _cached(conn, "\x00low", lambda: int(conn.exec_driver_sql(
        "SELECT coalesce(min(docid), 0) FROM lexical_rowids").scalar_one()))
    high = _cached(conn, "\x00high", lambda: int(conn.exec_driver_sql(
        "SELECT coalesce(max(docid), 0) FROM lexical_rowids").scalar_one()))
    # A cached high end only widens the window: documents written since have larger rowids.
    return max(0, high - int((high - low + 1) * RANK_BUDGET / work))


def _ranked(conn: Connection, plans: Sequence[MatchPlan], depth: int, *, enough: int) -> list[tuple[str, float]]:
    """Up to ``depth`` keys by bm25, plan after plan until one gave at least ``enough`` rows."""
    found: dict[str, float] = {}
    for plan in plans:
        rows = conn.exec_driver_sql(_RANKED_SQL, (plan.match, plan.floor, depth)).all()
        for key, score in rows:
            found.setdefault(key, -float(score))
        if len(rows) >= enough:
            break
    return list(found.items())[:depth]


def _document_count(conn: Connection) -> int:
    return _cached(conn, "\x00documents", lambda: int(conn.execute(text("SELECT count(*) FROM lexical_fts"))
                                                       .scalar_one()))
