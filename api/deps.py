"""The app's shared state (one ``Elephant`` per app) and the FastAPI dependencies that hand it out."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from fastapi import Request

from elephant.api.metrics import ApiMetrics
from elephant.errors import ElephantError
from elephant.facade import Elephant
from elephant.settings import Settings
from elephant.storage.apikeys import ApiKey, ApiKeys, KeyPresenceProbe

_log = logging.getLogger("elephant.api")


class AppContext:
    """Everything one app instance shares across requests and threads.

    The ``Elephant`` is opened by the lifespan (or on first use when a caller skipped it, as a bare
    ``TestClient(app)`` does); it is thread-safe, so sync routes share it from the threadpool.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._db: Elephant | None = None
        self._lock = threading.Lock()
        self.metrics = ApiMetrics(lambda: self._db)
        # Async context managers entered by the lifespan, for mounted apps that need one
        # (the MCP streamable-HTTP session manager).
        self.lifespan_contexts: list[Callable[[], contextlib.AbstractAsyncContextManager[Any]]] = []
        self.warmup_error: ElephantError | None = None
        self.warmed = threading.Event()
        self.warm_started = False
        self.warmed_at = 0.0
        self._keys_required = False
        self._probe: KeyPresenceProbe | None = None  # see keys_required_inline
        self._probe_lock = threading.Lock()
        self._stopping = threading.Event()  # set by close(): background work stops
        self._priming = False
        self.mcp: Any = None  # api.mcp_mount.LazyMcpEndpoint, when mounted
        self._limiters: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()

    def retrieval_limiter(self) -> Any:
        """How many search/ask/context/brief calls run at once; the rest queue in the event loop.

        On 2 cores more parallel calls only add contention, and each may hold two pooled database
        connections: 32 unbounded concurrent asks exhausted SQLAlchemy's default pool (5 + 10) and
        timed out after 30 s. One per event loop (a limiter belongs to the loop that made it; a server
        has one loop, tests may run several).
        """
        return self._limiter("retrieval", max(4, 2 * (os.cpu_count() or 2)))

    def auth_limiter(self) -> Any:
        """How many key checks run at once: each holds a thread and a pooled database connection, and
        32 concurrent clients otherwise grew a worker by 32 threads and connections (~40 MB RSS)."""
        return self._limiter("auth", 4)

    def _limiter(self, name: str, size: int) -> Any:
        import asyncio

        import anyio

        loop = asyncio.get_running_loop()
        limiters = self._limiters.get(loop)
        if limiters is None:
            limiters = self._limiters[loop] = {}
        if name not in limiters:
            limiters[name] = anyio.CapacityLimiter(size)
        return limiters[name]

    @property
    def db(self) -> Elephant:
        if self._db is None:
            with self._lock:
                if self._db is None:
                    import elephant

                    self._db = elephant.open(settings=self.settings)
        return self._db

    @property
    def keys(self) -> ApiKeys:
        return ApiKeys(self.db.store)

    def keys_required(self) -> bool:
        # Key rows are never deleted, so once auth is on it stays on and needs no further query.
        if not self._keys_required:
            self._keys_required = self.keys.is_required()
        return self._keys_required

    def keys_required_inline(self) -> bool | None:
        """``keys_required()`` answered on the calling thread when that costs microseconds: once keys
        exist, or from a SQLite file through this context's own connection (an autocommit read, which
        a writer never blocks in WAL mode). None: ask ``keys_required()`` on a worker thread
        (PostgreSQL, an in-memory database, any error). While no key exists this spares every request
        a thread hop and a pooled transaction: 0.3-0.5 ms of a worker's CPU under load.
        """
        if self._keys_required:
            return True
        with self._probe_lock:  # not self._lock: a request opening the database holds that for seconds
            if self._probe is None:
                if self._db is None:
                    return None  # not opened yet: the thread path opens it
                self._probe = KeyPresenceProbe(self._db.store.engine)
            found = self._probe.has_keys()
        if found:
            self._keys_required = True
        return found

    def start_warm_up(self) -> None:
        """Warm up on a background thread so the server accepts connections at once (readyz says when)."""
        self.warm_started = True
        threading.Thread(target=self.warm_up, name="elephant-warm-up", daemon=True).start()

    def warm_up(self) -> None:
        """Load what the first search would otherwise pay for: the embedder, then the index."""
        # Sequential on purpose: importing chromadb on a second thread while this one imported
        # onnxruntime raced inside numpy's own imports ("partially initialized module
        # numpy._typing") and failed one cold start in two, each failure costing a 10 s retry.
        try:
            from elephant.retrieval.vectors.matrix import use_single_threaded_blas

            # A worker owns its share of the cores (serve starts one per core): products on one thread.
            use_single_threaded_blas()
            self.metrics.instrument_embedder(self.db.embedder)
            self.db.warm_up()
            # What is alive now (modules, the model's and the indexes' objects) lives as long as the
            # server: move it out of the collector's sight so full collections under load stay short.
            gc.collect()
            gc.freeze()
            self.warmup_error = None
        except ElephantError as exc:
            self.warmup_error = exc
            _log.warning("warm-up: %s", exc.message)
        except Exception as exc:
            self.warmup_error = ElephantError(f"warm-up failed: {exc}")
            _log.exception("warm-up failed")
        finally:
            self.warmed_at = time.monotonic()
            self.warmed.set()
        if not self._priming:  # ask needs no model: its warm-up runs whatever became of this one
            self._priming = True
            threading.Thread(target=self._prime_answers, name="elephant-ask-warm-up", daemon=True).start()

    def _prime_answers(self) -> None:
        """Once ready: digest the records ``ask`` reads, in the background (``Answerer.prime``), so that
        a model's first question does not pay for it (95-210 ms against 7 ms at 10k records)."""
        db = self._db  # never self.db: that would open the store again after close()
        if db is None or self._stopping.is_set():
            return
        try:
            started = time.perf_counter()
            count = db.answerer.prime(stop=self._stopping)
            gc.freeze()  # the digests live as long as the server, like what the warm-up loaded
            _log.info("ask warm-up: %d records digested in %.2f s", count, time.perf_counter() - started)
        except Exception as exc:  # a closing or failing store: the first asks digest on their own
            _log.warning("ask warm-up stopped: %s", exc)

    def retry_warm_up(self, every_s: float = 10.0) -> None:
        """After a failed warm-up, try again now and then (the model may have been built since)."""
        if self.warmup_error is not None and time.monotonic() - self.warmed_at >= every_s:
            self.warm_up()

    def close(self) -> None:
        self._stopping.set()
        with self._probe_lock:
            if self._probe is not None:
                self._probe.close()
            self._probe = None
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


# Dependencies are async so FastAPI calls them on the event loop: a sync one costs a thread hop
# per request. The Elephant is opened by the lifespan, so ``ctx.db`` does not block here.
async def get_context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


async def get_db(request: Request) -> Elephant:
    ctx: AppContext = request.app.state.ctx
    return ctx.db


async def get_settings_dep(request: Request) -> Settings:
    ctx: AppContext = request.app.state.ctx
    return ctx.settings


async def get_principal(request: Request) -> ApiKey | None:
    """The API key this request authenticated with (None while no key exists)."""
    return getattr(request.state, "principal", None)


def author_for(principal: ApiKey | None, settings: Settings) -> str:
    """The author written on versions: the key's name (or id) when there is one."""
    if principal is None:
        return settings.author
    return f"api:{principal.name or principal.id}"
