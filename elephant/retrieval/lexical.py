"""The lexical index: SQLite FTS5 (bm25) or PostgreSQL full-text (ts_rank_cd), for exact terms.

Both live in the same database as the records, so structured filters are a join on ``heads`` and a
lexical search never needs the model or Chroma (it is what degraded mode answers from).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, column, func, literal_column, select, table, text
from sqlalchemy.sql.elements import ColumnElement

from elephant.retrieval.documents import render_lexical
from elephant.storage.schema import heads

_FTS = table("lexical_fts", column("key"), column("title"), column("text"), column("facets"))
_DOCS = table("lexical_docs", column("key"), column("title"), column("text"), column("tsv"))

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
# decide which terms a query can afford (see POSTINGS_BUDGET). Small stores skip the decision.
_DF_CACHE: dict[tuple[int, str], tuple[float, int]] = {}
_DF_TTL_S = 300.0
COMMON_MIN_DOCS = 2000


def _document_frequency(conn: Connection, term: str, *, raw: bool = False) -> int:
    """Documents matching ``term`` (a word, or with ``raw`` an FTS5 expression), cached a few minutes."""
    import time

    cache_key = (id(conn.engine), term)
    hit = _DF_CACHE.get(cache_key)
    now = time.monotonic()
    if hit is not None and now - hit[0] < _DF_TTL_S:
        return hit[1]
    # Counting stops past the budget: beyond it the exact figure changes no decision.
    count = int(conn.execute(text("SELECT count(*) FROM (SELECT 1 FROM lexical_fts WHERE lexical_fts MATCH :m "
                                  "LIMIT :cap)"),
                             {"m": term if raw else _phrase(term),
                              "cap": POSTINGS_BUDGET + 1}).scalar_one())
    if len(_DF_CACHE) > 50_000:
        _DF_CACHE.clear()
    _DF_CACHE[cache_key] = (now, count)
    return count


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
        terms = _affordable_terms(conn, terms)
        # Quoting makes every term a literal (no FTS syntax injection); OR because a question rarely
        # repeats all of a record's words, and bm25 already rewards records matching more terms.
        # Column weights: title 4, text 1; key and facets do not score. No `{title text}` column filter:
        # it doubled the cost of bm25 (7.9 vs 3.9 ms for 2.8k matches), and no word of a query matches
        # a facet token anyway.
        match = "(" + " OR ".join(_phrase(t) for t in terms) + ")"
        if facets:
            match = f"({match}) AND {facets}"
        rank: Any = literal_column(_BM25)
        # Rank inside FTS first (a subquery with LIMIT is never flattened), then join heads for the
        # filters: joining first made SQLite probe the FTS table once per head row (20 ms at 5k).
        # Kind/model filters are already (approximately) applied by the facets; other filters are only
        # applied after ranking, so then a deeper ranked list is kept for them to choose from.
        only_facets = where is None or not (tags or others)
        cap = limit * 2 if only_facets else max(limit * 10, 1000)
        ranked_ = (select(_FTS.c.key.label("key"), rank.label("rank"))
                   .where(text("lexical_fts MATCH :match").bindparams(match=match))
                   .order_by(rank))
        if where is None and not live_only:
            # Every unfiltered search runs this one: plain SQL skips SQLAlchemy's statement handling.
            rows = conn.exec_driver_sql(_RANKED_SQL, (match, limit)).all()
            return [(key, -float(score)) for key, score in rows]
        if only_keys is not None:
            # SQLite only: the caller read the admitted (live) keys already; rank as deep as the joined
            # form does for such filters, and keep those keys.
            rows = conn.exec_driver_sql(_RANKED_SQL, (match, max(limit * 10, 1000))).all()
            return [(key, -float(score)) for key, score in rows if key in only_keys][:limit]
        ranked = ranked_.limit(cap).subquery("m")
        query_ = (select(ranked.c.key, (-ranked.c.rank).label("score"))
                  .select_from(ranked.join(heads, heads.c.key == ranked.c.key))
                  .order_by(ranked.c.rank))
    else:
        lexemes = [re.sub(r"[^\w.]", "", t) for t in terms]
        tsq = func.to_tsquery("english", " | ".join(f"'{t}'" for t in lexemes if t))
        score = func.ts_rank_cd(_DOCS.c.tsv, tsq, 1)
        query_ = (select(_DOCS.c.key, score.label("score"))
                  .select_from(_DOCS.join(heads, heads.c.key == _DOCS.c.key))
                  .where(_DOCS.c.tsv.op("@@")(tsq))
                  .order_by(score.desc(), _DOCS.c.key))
    query_ = query_.where(heads.c.is_deleted.is_(False))
    if where is not None:
        query_ = query_.where(where)
    return [(r.key, float(r.score)) for r in conn.execute(query_.limit(limit)).all()]


# Column weights: key 0, title 4, text 1, facets 0 (see search_lexical).
_BM25 = "bm25(lexical_fts, 0.0, 4.0, 1.0, 0.0)"
# The ranked statement, unfiltered, as plain SQL.
_RANKED_SQL = f"SELECT key, {_BM25} AS score FROM lexical_fts WHERE lexical_fts MATCH ? ORDER BY {_BM25} LIMIT ?"

# FTS5 decodes the whole posting list of every OR-ed term (and bm25 scores every match) before the
# top ones are kept: at 100k records four ordinary terms meant 24k postings and 17 ms. So terms are
# taken rarest first (highest idf: the ones that decide the ranking) while their postings stay
# under this budget; the rarest term is always kept.
POSTINGS_BUDGET = 3000


def _affordable_terms(conn: Connection, terms: list[str]) -> list[str]:
    if len(terms) < 2:
        return terms
    total = _document_count(conn)
    if total < COMMON_MIN_DOCS:
        return terms
    # One- and two-digit numbers (batch sizes, versions, counts) are in most records of a large store.
    terms = [t for t in terms if not (t.isdigit() and len(t) <= 2)] or terms
    frequency = {t: _document_frequency(conn, t) for t in terms}
    kept: list[str] = []
    postings = 0
    for term in sorted(terms, key=lambda t: frequency[t]):
        if kept and postings + frequency[term] > POSTINGS_BUDGET:
            break
        kept.append(term)
        postings += frequency[term]
    return kept


def _document_count(conn: Connection) -> int:
    import time

    cache_key = (id(conn.engine), "\x00documents")
    hit = _DF_CACHE.get(cache_key)
    now = time.monotonic()
    if hit is not None and now - hit[0] < _DF_TTL_S:
        return hit[1]
    count = int(conn.execute(text("SELECT count(*) FROM lexical_fts")).scalar_one())
    _DF_CACHE[cache_key] = (now, count)
    return count
