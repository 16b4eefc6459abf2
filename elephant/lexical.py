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

from elephant.render import render_lexical
from elephant.schema import heads

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


def facets_of(envelope: dict[str, Any]) -> str:
    """Kind and model as FTS tokens ("kind benchmark model fraud detector") for in-index filtering."""
    return f"kind {envelope.get('kind', '')} model {envelope.get('model') or ''}"


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
            parts.append("facets : (" + " OR ".join(_phrase(f"{label} {v}") for v in values) + ")")
    return " AND ".join(parts)


# Document frequencies of query terms, cached: a term in most documents (say "latency" in an ML
# team's memory) makes bm25 rank tens of thousands of matches for almost no signal, so it is left
# out of the match when rarer terms remain. Approximate counts are enough for that decision.
_DF_CACHE: dict[tuple[int, str], tuple[float, int]] = {}
_DF_TTL_S = 300.0
COMMON_FRACTION = 0.15
COMMON_MIN_DOCS = 2000


def _document_frequency(conn: Connection, term: str) -> int:
    import time

    cache_key = (id(conn.engine), term)
    hit = _DF_CACHE.get(cache_key)
    now = time.monotonic()
    if hit is not None and now - hit[0] < _DF_TTL_S:
        return hit[1]
    count = int(conn.execute(text("SELECT count(*) FROM lexical_fts WHERE lexical_fts MATCH :m"),
                             {"m": f"{{title text}} : {_phrase(term)}"}).scalar_one())
    if len(_DF_CACHE) > 50_000:
        _DF_CACHE.clear()
    _DF_CACHE[cache_key] = (now, count)
    return count


def search_lexical(conn: Connection, query: str, *, where: ColumnElement[bool] | None = None,
                   kinds: Sequence[str] | None = None, models: Sequence[str] | None = None,
                   limit: int = 50) -> list[tuple[str, float]]:
    """Keys matching any query term, best first, with the engine's relevance score (higher is better).

    ``where`` is a filter over ``heads``; ``kinds``/``models`` (which ``where`` must also enforce) let
    SQLite intersect inside the full-text index. Only current, live records are returned.
    """
    terms = query_terms(query)
    if not terms:
        return []
    if conn.dialect.name == "sqlite":
        terms = _drop_common_terms(conn, terms)
        # Quoting makes every term a literal (no FTS syntax injection); OR because a question rarely
        # repeats all of a record's words, and bm25 already rewards records matching more terms.
        # Column weights: title 4, text 1; key and facets do not score.
        match = "{title text} : (" + " OR ".join(_phrase(t) for t in terms) + ")"
        facets = facet_match(kinds, models)
        if facets:
            match = f"({match}) AND {facets}"
        rank: Any = literal_column("bm25(lexical_fts, 0.0, 4.0, 1.0, 0.0)")
        # Rank inside FTS first (a subquery with LIMIT is never flattened), then join heads for the
        # filters: joining first made SQLite probe the FTS table once per head row (20 ms at 5k).
        cap = limit * 2 if where is None else max(limit * 10, 1000)
        ranked = (select(_FTS.c.key.label("key"), rank.label("rank"))
                  .where(text("lexical_fts MATCH :match").bindparams(match=match))
                  .order_by(rank).limit(cap).subquery("m"))
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
    return [(r.key, float(r.score)) for r in conn.execute(query_.limit(limit))]


def _drop_common_terms(conn: Connection, terms: list[str]) -> list[str]:
    if len(terms) < 2:
        return terms
    total = _document_count(conn)
    if total < COMMON_MIN_DOCS:
        return terms
    kept = [t for t in terms if _document_frequency(conn, t) <= COMMON_FRACTION * total]
    return kept or [min(terms, key=lambda t: _document_frequency(conn, t))]


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
