"""Random sequences of put / changed put / unchanged put / delete / revert against a plain model
of the version rules: history, current version and as-of reads always agree."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import elephant
from elephant.errors import NotFound

KEYS = ["m/a", "m/b"]
op = st.one_of(
    st.tuples(st.just("put"), st.sampled_from(KEYS), st.integers(0, 3)),
    st.tuples(st.just("delete"), st.sampled_from(KEYS), st.just(0)),
    st.tuples(st.just("revert"), st.sampled_from(KEYS), st.integers(1, 6)),
)


@dataclass
class Model:
    """The rules, written as plainly as possible: each key's list of (title or None for tombstone)."""

    versions: dict[str, list[str | None]] = field(default_factory=dict)

    def put(self, key: str, title: str) -> str:
        hist = self.versions.setdefault(key, [])
        if hist and hist[-1] == title:
            return "unchanged"
        hist.append(title)
        return "created" if len(hist) == 1 else "updated"

    def delete(self, key: str) -> str:
        hist = self.versions.get(key)
        if not hist or hist[-1] is None:
            return "not_found"
        hist.append(None)
        return "deleted"

    def revert(self, key: str, n: int) -> str:
        hist = self.versions.get(key)
        if not hist or n > len(hist):
            return "not_found"
        target = hist[n - 1]
        if target is None:
            return self.delete(key) if hist[-1] is not None else "unchanged"
        return "unchanged" if hist[-1] == target else (hist.append(target) or "reverted")


def record(key: str, variant: int) -> dict:
    return {"kind": "note", "key": key, "title": f"title {variant}"}


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(op, min_size=1, max_size=14))
def test_store_agrees_with_model(backend, tmp_path_factory, ops):
    home = tmp_path_factory.mktemp("prop")
    model = Model()
    checkpoints: list[tuple[str, dict[str, int | None]]] = []
    with elephant.open(home) as db:
        for name, key, arg in ops:
            if name == "put":
                expected = model.put(key, f"title {arg}")
                assert db.put(record(key, arg)).status == expected
            elif name == "delete":
                expected = model.delete(key)
                if expected == "not_found":
                    with pytest.raises(NotFound):
                        db.delete(key)
                else:
                    assert db.delete(key).status == "deleted"
            else:
                expected = model.revert(key, arg)
                if expected == "not_found":
                    with pytest.raises(NotFound):
                        db.revert(key, arg)
                else:
                    assert db.revert(key, arg).status in {expected, "deleted"}
            # Remember what the store knew right now, for as-of checks later.
            stamps = {k: (db.history(k)[-1].recorded_at if k in model.versions else None) for k in KEYS}
            now = max((s for s in stamps.values() if s), default=None)
            if now:
                checkpoints.append((now, {k: len(v) for k, v in model.versions.items()}))
        for key, hist in model.versions.items():
            got = db.history(key)
            assert [v.version for v in got] == list(range(1, len(hist) + 1))
            assert [None if v.is_deleted else v.title for v in got] == hist
            if hist[-1] is None:
                with pytest.raises(NotFound):
                    db.get(key)
            else:
                assert db.get(key).envelope["title"] == hist[-1]
        for moment, lengths in checkpoints:
            for key, n in lengths.items():
                stored = db.store.get(key, as_of=moment, include_deleted=True)
                assert stored.version == n
