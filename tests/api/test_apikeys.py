"""API keys: the library (hashed storage, scopes, revocation) and the `elephant keys` commands."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from typer.testing import CliRunner

from elephant.cli.main import app
from elephant.errors import AuthError, Forbidden, NotFound, UsageError
from elephant.storage.apikeys import PREFIX, ApiKeys, hash_secret, require_scope, split_key
from elephant.storage.schema import api_keys

runner = CliRunner()


def test_keys_are_stored_hashed_and_verified(db: object) -> None:
    keys = ApiKeys(db.store)  # type: ignore[attr-defined]
    assert keys.is_required() is False
    made = keys.create(scope="write", name="ci")
    assert made.key.startswith(PREFIX) and keys.is_required() is True
    key_id, secret = split_key(made.key) or ("", "")
    with db.store.read_connection() as conn:  # type: ignore[attr-defined]
        row = conn.execute(select(api_keys)).one()
    assert row.id == key_id and row.secret_hash == hash_secret(secret) and secret not in row.secret_hash
    verified = keys.verify(made.key)
    assert verified.id == key_id and verified.scope == "write" and verified.allows("read")
    assert not verified.allows("admin")
    deadline = time.monotonic() + 10
    while keys.get(key_id).last_used_at is None:  # written in the background
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_wrong_unknown_and_revoked_keys_fail(db: object) -> None:
    keys = ApiKeys(db.store)  # type: ignore[attr-defined]
    made = keys.create(scope="read")
    for bad in ("", "nonsense", made.key + "x", "elk__abc", f"elk_{made.info.id}_", "elk_ffffffffffff_secret"):
        with pytest.raises(AuthError) as err:
            keys.verify(bad)
        assert made.key not in str(err.value)
    keys.revoke(made.info.id)
    first = keys.get(made.info.id).revoked_at
    assert keys.revoke(made.info.id).revoked_at == first  # idempotent
    with pytest.raises(AuthError, match="revoked"):
        keys.verify(made.key)
    assert keys.is_required() is True
    assert [k.id for k in keys.list_keys(include_revoked=False)] == []
    with pytest.raises(NotFound):
        keys.revoke("unknown")
    with pytest.raises(UsageError):
        keys.create(scope="root")


def test_scopes_are_ordered(db: object) -> None:
    keys = ApiKeys(db.store)  # type: ignore[attr-defined]
    read = keys.create(scope="read").info
    admin = keys.create(scope="admin").info
    require_scope(None, "admin")  # auth off: anything goes
    require_scope(admin, "write")
    with pytest.raises(Forbidden):
        require_scope(read, "write")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_split_key_never_crashes_and_round_trips(text: str) -> None:
    parts = split_key(text)
    if parts is not None:
        key_id, secret = parts
        assert text == f"{PREFIX}{key_id}_{secret}" and key_id and secret


def test_keys_cli_create_list_revoke() -> None:
    created = runner.invoke(app, ["keys", "create", "--scope", "admin", "--name", "ops", "--json"])
    assert created.exit_code == 0, created.output
    data = json.loads(created.output)
    assert data["key"].startswith(PREFIX) and data["scope"] == "admin" and data["name"] == "ops"
    listed = runner.invoke(app, ["keys", "list", "--json"])
    assert listed.exit_code == 0
    entries = json.loads(listed.output)["keys"]
    assert [k["id"] for k in entries] == [data["id"]] and data["key"] not in listed.output
    human = runner.invoke(app, ["keys", "list"])
    assert data["id"] in human.output and data["key"].split("_", 2)[2] not in human.output
    revoked = runner.invoke(app, ["keys", "revoke", data["id"], "--json"])
    assert revoked.exit_code == 0 and json.loads(revoked.output)["active"] is False
    assert runner.invoke(app, ["keys", "revoke", "nope"]).exit_code == 1
    bad = runner.invoke(app, ["keys", "create", "--scope", "root"])
    assert bad.exit_code == 2 and "unknown scope" in bad.output


def test_serve_help_has_an_example() -> None:
    result = runner.invoke(app, ["serve", "--help"])
    assert result.exit_code == 0 and "--workers" in result.output and "Example" in result.output
