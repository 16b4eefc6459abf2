"""A limit on failed API key checks per client address (issue 20 row 16).

Key checks are constant-time and keys are 256-bit random, so guessing is hopeless; the limit keeps a
guessing client from costing the server a hash and a database read per attempt without end, and
makes the attempts visible (429s in the access log and metrics). Past ``LIMIT`` failed checks within
``WINDOW_S`` seconds, a client address gets 429 with ``Retry-After`` until its oldest failure in the
window ages out; successful checks are not counted and do not reset anything. Per worker process, in
memory, for at most ``MAX_CLIENTS`` addresses (the least recently failing are forgotten first).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from typing import Any

LIMIT = 30
WINDOW_S = 60.0
MAX_CLIENTS = 4096


class FailedKeyChecks:
    def __init__(self, limit: int = LIMIT, window_s: float = WINDOW_S, max_clients: int = MAX_CLIENTS) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_clients = max_clients
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, client: str, now: float | None = None) -> int | None:
        """Seconds this client must wait before its next key check, or None when it may check now."""
        now = time.monotonic() if now is None else now
        with self._lock:
            times = self._failures.get(client)
            if times is None:
                return None
            while times and now - times[0] >= self.window_s:
                times.popleft()
            if not times:
                del self._failures[client]
                return None
            if len(times) < self.limit:
                return None
            return max(1, math.ceil(self.window_s - (now - times[0])))

    def failed(self, client: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            times = self._failures.pop(client, None) or deque(maxlen=self.limit)
            times.append(now)
            self._failures[client] = times  # most recent last
            while len(self._failures) > self.max_clients:
                self._failures.popitem(last=False)


def client_address(scope: Any) -> str:
    client = scope.get("client") if isinstance(scope, dict) else None
    return str(client[0]) if client else "-"


def failed_key_checks(ctx: Any) -> FailedKeyChecks:
    """The app's one counter (shared by bearer checks and the sign-in form)."""
    checks = getattr(ctx, "_failed_key_checks", None)
    if checks is None:
        checks = FailedKeyChecks()
        ctx._failed_key_checks = checks
    return checks
