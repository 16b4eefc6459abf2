"""8 threads x 100 writes to one key, each naming the version it read: accepted writes are versions,
refused ones got a conflict, numbering has no gaps or duplicates."""

from __future__ import annotations

import threading

from elephant.errors import Conflict


def test_optimistic_writers_never_lose_an_update(db):
    db.put({"kind": "note", "key": "hot/key", "title": "start"})
    accepted: list[int] = []
    conflicts = 0
    lock = threading.Lock()
    errors: list[BaseException] = []

    def writer(worker: int) -> None:
        nonlocal conflicts
        for attempt in range(100):
            try:
                current = db.get("hot/key").version
                result = db.put({"kind": "note", "key": "hot/key", "title": f"w{worker} a{attempt}"},
                                expected_version=current)
                with lock:
                    accepted.append(result.version)
            except Conflict:
                with lock:
                    conflicts += 1
            except BaseException as exc:  # anything else fails the test below
                errors.append(exc)
                return

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert len(accepted) + conflicts == 800
    assert len(accepted) == len(set(accepted)), "two writes got the same version"
    history = [v.version for v in db.history("hot/key")]
    assert history == list(range(1, len(history) + 1))
    assert sorted(accepted) == history[1:]
    titles = {v.title for v in db.history("hot/key")}
    assert len(titles) == len(history)
