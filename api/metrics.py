"""Prometheus metrics for one app: request latency per route, embedding latency, outbox backlog,
record counts and degraded answers.

Each app gets its own registry so that several apps in one process (tests, the MCP mount) never
collide on the global one. Under several worker processes (``elephant serve --workers N``, which
sets ``PROMETHEUS_MULTIPROC_DIR``) counters and histograms live in files of that directory and a
scrape of any worker sums all of them; record counts and the backlog are read from the database.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from elephant.facade import Elephant
    from elephant.retrieval.embedding import Embedder
    from elephant.retrieval.search import SearchResponse

_log = logging.getLogger("elephant.api")

# Search p99 budget is 50 ms over HTTP: buckets are dense below 100 ms.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.015, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
EMBED_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0)


class StoreCollector(Collector):
    """Read at scrape time: live records per kind and index jobs not yet applied."""

    def __init__(self, get_db: Callable[[], Elephant | None]) -> None:
        self.get_db = get_db

    def collect(self) -> Iterator[GaugeMetricFamily]:
        db = self.get_db()
        if db is None:
            return
        records = GaugeMetricFamily("elephant_records", "Live records per kind", labels=["kind"])
        try:
            for kind, count in sorted(db.counts().items()):
                if not kind.startswith("_"):
                    records.add_metric([kind], count)
        except Exception as exc:  # a scrape must not fail because the database is briefly busy
            _log.warning("metrics: cannot count records: %s", exc)
        yield records
        backlog = outbox_backlog(db)
        if backlog is not None:
            yield GaugeMetricFamily("elephant_outbox_backlog", "Index jobs written but not yet applied",
                                    value=backlog)
        parked = outbox_parked(db)
        if parked is not None:
            yield GaugeMetricFamily("elephant_outbox_parked", "Index jobs parked after repeated failures "
                                    "(records stored but not indexed; see /readyz)", value=parked)


def outbox_parked(db: Elephant) -> int | None:
    """Index jobs parked as dead letters, or None when the store cannot say."""
    try:
        return int(db.index_status(limit=0)["parked"])
    except Exception as exc:
        _log.warning("metrics: cannot read the parked index jobs: %s", exc)
        return None


def outbox_backlog(db: Elephant) -> int | None:
    """Jobs in the outbox; None (and a log line) when the database cannot say right now."""
    try:
        return db.outbox_backlog()
    except Exception as exc:
        _log.warning("metrics: cannot read the outbox backlog: %s", exc)
        return None


class ApiMetrics:
    """The app's metrics and registry."""

    def __init__(self, get_db: Callable[[], Elephant | None]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Histogram("elephant_http_request_duration_seconds", "HTTP request latency by route",
                                  ["method", "route", "status"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.embedding = Histogram("elephant_embedding_duration_seconds", "Embedding latency",
                                   ["op"], buckets=EMBED_BUCKETS, registry=self.registry)
        self.degraded = Counter("elephant_degraded_answers", "Answers served without the vector index or model",
                                ["endpoint"], registry=self.registry)
        self.search_cache = Counter("elephant_search_cache", "Searches answered from the result cache (hit) "
                                    "or run (miss)", ["result"], registry=self.registry)
        self.store_collector = StoreCollector(get_db)
        self.registry.register(self.store_collector)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).observe(seconds)

    def count_degraded(self, endpoint: str, degraded: bool) -> None:
        if degraded:
            self.degraded.labels(endpoint).inc()

    def count_search(self, response: SearchResponse) -> None:
        self.search_cache.labels("hit" if response.cached else "miss").inc()

    def render(self) -> bytes:
        """The text exposition; under several workers, request and embedding figures of all of them."""
        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            return generate_latest(self.registry)
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        registry.register(self.store_collector)
        return generate_latest(registry)

    def instrument_embedder(self, embedder: Embedder) -> None:
        """Time the embedder's calls by wrapping its bound methods on the instance (idempotent)."""
        for name, op in (("embed_query", "query"), ("embed", "batch")):
            method = getattr(embedder, name)  # both are Embedder methods; the name is what gets replaced
            if getattr(method, "_elephant_timed", False):
                continue
            try:
                setattr(embedder, name, _timed(method, self.embedding.labels(op)))
            except (AttributeError, TypeError):  # slots or a frozen object: go without this metric
                return


def _timed(method: Callable[..., Any], histogram: Any) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            histogram.observe(time.perf_counter() - start)

    wrapper._elephant_timed = True  # type: ignore[attr-defined]
    return wrapper
