"""API keys for the REST server: scopes read < write < admin, only a hash of each secret is stored.

A key reads ``elk_<id>_<secret>``: the id finds the row, the secret is checked against its
sha256 with a constant-time comparison. The secrets are 256 random bits, so a fast hash is the
right tool (a slow KDF protects low-entropy passwords, not random tokens) and keeps the check
off the request latency budget.

Once any key has been created the server requires one on every request; revoking every key does
*not* reopen the server (a revocation must never widen access).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from pydantic import ConfigDict, with_config
from sqlalchemy import func, insert, select, update
from typing_extensions import TypedDict

from elephant.errors import AuthError, Forbidden, NotFound, UsageError
from elephant.storage.schema import api_keys
from elephant.storage.store import Store
from elephant.timeutil import format_ts, parse_ts, utc_now

Scope = Literal["read", "write", "admin"]
SCOPES: tuple[Scope, ...] = ("read", "write", "admin")
_RANK = {scope: rank for rank, scope in enumerate(SCOPES)}
PREFIX = "elk_"
# last_used_at is bookkeeping, not an audit log: writing it on every request would put a write
# transaction (SQLite's single writer lock) on every read.
_LAST_USED_EVERY = timedelta(minutes=1)
# Compared against when the id is unknown, so an unknown id costs the same as a wrong secret.
_DUMMY_HASH = hashlib.sha256(b"elephant-no-such-key").hexdigest()


@with_config(ConfigDict(extra="forbid"))
class ApiKeyOut(TypedDict):
    """An ``ApiKey`` as JSON (never its secret)."""

    id: str
    name: str
    scope: Scope
    created_at: str
    revoked_at: str | None
    last_used_at: str | None
    active: bool


@with_config(ConfigDict(extra="forbid"))
class CreatedKeyOut(ApiKeyOut):
    """A ``CreatedKey`` as JSON: the only response that holds the secret."""

    key: str


@dataclass(frozen=True)
class ApiKey:
    """What is known about a key (never its secret)."""

    id: str
    name: str
    scope: Scope
    created_at: str
    revoked_at: str | None = None
    last_used_at: str | None = None

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def allows(self, needed: Scope) -> bool:
        """True when this key's scope includes ``needed`` (admin ⊃ write ⊃ read)."""
        return _RANK[self.scope] >= _RANK[needed]

    def to_dict(self) -> ApiKeyOut:
        return {"id": self.id, "name": self.name, "scope": self.scope, "created_at": self.created_at,
                "revoked_at": self.revoked_at, "last_used_at": self.last_used_at, "active": self.is_active}


@dataclass(frozen=True)
class CreatedKey:
    """A new key with its secret: the only moment the secret exists outside the caller's hands."""

    key: str
    info: ApiKey

    def to_dict(self) -> CreatedKeyOut:
        return {"key": self.key, **self.info.to_dict()}


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def check_scope(scope: str) -> Scope:
    if scope not in _RANK:
        raise UsageError(f"unknown scope {scope!r}; expected one of {', '.join(SCOPES)}", scope=scope)
    return scope


def split_key(presented: str) -> tuple[str, str] | None:
    """``(id, secret)`` of a well-formed key, else None."""
    if not presented.startswith(PREFIX):
        return None
    rest = presented[len(PREFIX):]
    key_id, sep, secret = rest.partition("_")
    if not sep or not key_id or not secret or len(key_id) > 32:
        return None
    return key_id, secret


def _row_to_key(row: Any) -> ApiKey:
    return ApiKey(id=row.id, name=row.name, scope=row.scope, created_at=row.created_at,
                  revoked_at=row.revoked_at, last_used_at=row.last_used_at)


class ApiKeys:
    """Create, list, revoke and verify API keys in a store's ``api_keys`` table."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def create(self, *, scope: str, name: str = "") -> CreatedKey:
        checked = check_scope(scope)
        if len(name) > 200:
            raise UsageError("a key name is at most 200 characters")
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        created_at = format_ts(utc_now())
        with self.store.write_transaction() as conn:
            conn.execute(insert(api_keys).values(id=key_id, name=name, scope=checked,
                                                 secret_hash=hash_secret(secret), created_at=created_at))
        return CreatedKey(key=f"{PREFIX}{key_id}_{secret}",
                          info=ApiKey(id=key_id, name=name, scope=checked, created_at=created_at))

    def list_keys(self, *, include_revoked: bool = True) -> list[ApiKey]:
        query = select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id)
        if not include_revoked:
            query = query.where(api_keys.c.revoked_at.is_(None))
        with self.store.read_connection() as conn:
            return [_row_to_key(r) for r in conn.execute(query)]

    def get(self, key_id: str) -> ApiKey:
        with self.store.read_connection() as conn:
            row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).first()
        if row is None:
            raise NotFound(f"no API key with id {key_id!r}", key_id=key_id)
        return _row_to_key(row)

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key (idempotent: revoking a revoked key keeps its first revocation time)."""
        with self.store.write_transaction() as conn:
            row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).first()
            if row is None:
                raise NotFound(f"no API key with id {key_id!r}", key_id=key_id)
            if row.revoked_at is None:
                conn.execute(update(api_keys).where(api_keys.c.id == key_id)
                             .values(revoked_at=format_ts(utc_now())))
        return self.get(key_id)

    def is_required(self) -> bool:
        """True once any key was ever created: from then on every request needs one."""
        with self.store.read_connection() as conn:
            return bool(conn.execute(select(func.count()).select_from(api_keys)).scalar_one())

    def verify(self, presented: str) -> ApiKey:
        """The active key matching ``presented``; AuthError otherwise (the message never echoes it)."""
        parts = split_key(presented.strip())
        key_id, secret = parts if parts else ("", presented)
        row = None
        if key_id:
            with self.store.read_connection() as conn:
                row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).first()
        expected = row.secret_hash if row is not None else _DUMMY_HASH
        matches = hmac.compare_digest(hash_secret(secret), expected)
        if row is None or not matches:
            raise AuthError("invalid API key")
        if row.revoked_at is not None:
            raise AuthError("this API key was revoked")
        key = _row_to_key(row)
        self._touch(key)
        return key

    def _touch(self, key: ApiKey) -> None:
        now = utc_now()
        if key.last_used_at is not None and now - parse_ts(key.last_used_at) < _LAST_USED_EVERY:
            return
        # On a background thread: on SQLite this write waits for the single writer lock, and a read
        # must not wait behind a long ingest for bookkeeping.
        threading.Thread(target=self._write_last_used, args=(key.id, format_ts(now)), daemon=True,
                         name="elephant-key-last-used").start()

    def _write_last_used(self, key_id: str, when: str) -> None:
        try:
            with self.store.write_transaction() as conn:
                conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(last_used_at=when))
        except Exception:  # bookkeeping only: never fail or log-spam a request over it
            return


def require_scope(key: ApiKey | None, needed: Scope) -> None:
    """Raise Forbidden when ``key`` (None: auth is off) may not do what needs ``needed``."""
    if key is not None and not key.allows(needed):
        raise Forbidden(f"this key has scope {key.scope!r}; this request needs {needed!r}",
                        scope=key.scope, needed=needed)


# ---------------------------------------------------------------- browser sessions
SESSION_PREFIX = "els1"


@dataclass(frozen=True)
class Session:
    """A signed-in browser: the key it stands for, when it ends, and the CSRF token its forms carry."""

    key: ApiKey
    expires_at: int  # unix seconds
    csrf: str


def _session_mac(secret_hash: str, purpose: str, key_id: str, expires_at: int) -> str:
    # The key's stored hash signs its sessions: every worker can check them with no shared secret of its
    # own, and revoking the key ends them. Only the database holds the hash, never a cookie or a page.
    message = f"elephant|{purpose}|{key_id}|{expires_at}".encode()
    return hmac.new(secret_hash.encode("ascii"), message, hashlib.sha256).hexdigest()


def open_session(keys: ApiKeys, presented: str, *, expires_at: int) -> tuple[Session, str]:
    """Verify ``presented`` and return the session with its token ``els1.<id>.<expires>.<mac>``."""
    key = keys.verify(presented)
    with keys.store.read_connection() as conn:
        secret_hash = conn.execute(select(api_keys.c.secret_hash).where(api_keys.c.id == key.id)).scalar_one()
    mac = _session_mac(secret_hash, "session", key.id, expires_at)
    session = Session(key=key, expires_at=expires_at, csrf=_session_mac(secret_hash, "csrf", key.id, expires_at))
    return session, f"{SESSION_PREFIX}.{key.id}.{expires_at}.{mac}"


def verify_session(keys: ApiKeys, token: str, *, now: int) -> Session:
    """The live session a token stands for; AuthError when it is malformed, forged, expired or revoked."""
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != SESSION_PREFIX or not parts[2].isdigit() or len(parts[1]) > 32:
        raise AuthError("invalid session")
    _, key_id, expires_text, mac = parts
    expires_at = int(expires_text)
    with keys.store.read_connection() as conn:
        row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).first()
    expected = _session_mac(row.secret_hash if row is not None else _DUMMY_HASH, "session", key_id, expires_at)
    if row is None or not hmac.compare_digest(mac, expected):
        raise AuthError("invalid session")
    if expires_at <= now:
        raise AuthError("the session has expired; sign in again")
    if row.revoked_at is not None:
        raise AuthError("this API key was revoked")
    return Session(key=_row_to_key(row), expires_at=expires_at,
                   csrf=_session_mac(row.secret_hash, "csrf", key_id, expires_at))


class KeyPresenceProbe:
    """"Does any API key exist?" answered on the calling thread from a SQLite file, through a connection
    of its own (an autocommit read, which a writer never blocks in WAL mode): microseconds, with no
    thread hop or pooled transaction. ``has_keys()`` is None where it cannot answer cheaply (PostgreSQL,
    an in-memory database, any error); the caller then asks ``ApiKeys.is_required()``.
    """

    def __init__(self, engine: Any) -> None:
        url = engine.url
        path = url.database or ""
        self._path = path if (url.get_backend_name() == "sqlite" and path and path != ":memory:"
                              and not path.startswith("file:")) else None
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def has_keys(self) -> bool | None:
        if self._path is None:
            return None
        with self._lock:
            try:
                if self._conn is None:
                    self._conn = sqlite3.connect(self._path, timeout=0.1, isolation_level=None,
                                                 check_same_thread=False)
                return bool(self._conn.execute("SELECT EXISTS (SELECT 1 FROM api_keys)").fetchone()[0])
            except sqlite3.Error:
                return None

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
            self._conn = None
