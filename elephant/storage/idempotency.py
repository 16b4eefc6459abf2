"""Stored responses for ``Idempotency-Key`` writes (the REST layer's middleware uses them).

The key is reserved (a row with status 0) in its own transaction before the write runs, then
completed with the response; keys are forgotten after ``KEEP_FOR``, and a reservation left by a
crashed server is taken over after ``ABANDONED_AFTER`` (docs/design.md §8).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from sqlalchemy import delete, insert, select, update

from elephant.errors import Conflict
from elephant.storage.schema import idempotency
from elephant.storage.store import Store
from elephant.timeutil import format_ts, parse_ts, utc_now

KEEP_FOR = timedelta(hours=24)
ABANDONED_AFTER = timedelta(minutes=5)


@dataclass(frozen=True)
class Begin:
    outcome: Literal["proceed", "replay", "mismatch", "in_progress"]
    status: int = 0
    headers: list[tuple[str, str]] | None = None
    body: str = ""


class IdempotencyStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    def begin(self, idem_key: str, principal: str, request_hash: str) -> Begin:
        for _attempt in range(3):
            try:
                return self._begin(idem_key, principal, request_hash)
            except Conflict:  # two first requests raced to insert the reservation: look again
                continue
        return Begin("in_progress")

    def _begin(self, idem_key: str, principal: str, request_hash: str) -> Begin:
        now = utc_now()
        with self.store.write_transaction() as conn:
            conn.execute(delete(idempotency).where(idempotency.c.created_at < format_ts(now - KEEP_FOR)))
            row = conn.execute(select(idempotency).where(idempotency.c.idem_key == idem_key)).first()
            if row is None:
                conn.execute(insert(idempotency).values(idem_key=idem_key, principal=principal,
                                                        request_hash=request_hash, status_code=0,
                                                        response="", created_at=format_ts(now)))
                return Begin("proceed")
            if row.request_hash != request_hash:
                return Begin("mismatch")
            if row.status_code == 0:
                if now - parse_ts(row.created_at) < ABANDONED_AFTER:
                    return Begin("in_progress")
                conn.execute(update(idempotency).where(idempotency.c.idem_key == idem_key)
                             .values(created_at=format_ts(now)))
                return Begin("proceed")
            stored = json.loads(row.response)
            return Begin("replay", row.status_code, [tuple(h) for h in stored["headers"]], stored["body"])

    def settled(self, idem_key: str) -> bool:
        """Whether a reservation has been completed, abandoned or left long enough to take over: a
        read-only look, so a waiting retry does not open a write transaction per poll."""
        with self.store.read_connection() as conn:
            row = conn.execute(select(idempotency.c.status_code, idempotency.c.created_at)
                               .where(idempotency.c.idem_key == idem_key)).first()
        return (row is None or row.status_code != 0
                or utc_now() - parse_ts(row.created_at) >= ABANDONED_AFTER)

    def finish(self, idem_key: str, status: int, headers: list[tuple[str, str]], body: str) -> None:
        with self.store.write_transaction() as conn:
            conn.execute(update(idempotency).where(idempotency.c.idem_key == idem_key).values(
                status_code=status, response=json.dumps({"headers": headers, "body": body})))

    def abandon(self, idem_key: str) -> None:
        with self.store.write_transaction() as conn:
            conn.execute(delete(idempotency).where(idempotency.c.idem_key == idem_key))
