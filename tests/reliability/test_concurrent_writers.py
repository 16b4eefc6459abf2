"""Rows 3 and 13 under real concurrency: unconditional writers racing on the same new keys never get a
Conflict, and after the dust settles every acknowledged write is stored at its version and every key is
indexed at its head in the lexical and the vector index."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import elephant
from tests.reliability.consistency import assert_indexed_at_heads

REPO = Path(__file__).resolve().parents[2]


def test_threads_creating_the_same_new_key_all_succeed(db: Any) -> None:
    barrier = threading.Barrier(8)
    results: list[Any] = []
    errors: list[BaseException] = []

    def write(n: int) -> None:
        barrier.wait(10)
        try:
            results.append(db.put({"kind": "note", "key": "same/new", "title": f"writer {n}"}))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert sorted(r.version for r in results) == list(range(1, 9))
    db.process_outbox()
    assert_indexed_at_heads(db)


WRITER = r"""
import json, sys, time
from pathlib import Path
import elephant
home, n, go = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
db = elephant.open(home)
print(json.dumps({"ready": n}), flush=True)
while not go.exists():
    time.sleep(0.01)
for i in range(12):
    key = f"race/{i % 4}"
    word = f"uniq{n}x{i}"
    result = db.put({"kind": "note", "key": key, "title": f"writer {n} round {i}", "body": word + " " + "pad " * (i * 40)})
    print(json.dumps({"key": key, "version": result.version, "word": word}), flush=True)
"""


@pytest.mark.reliability
def test_eight_writer_processes_on_the_same_new_keys(backend: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    elephant.open(home).close()  # migrate once, before the writers race
    go = tmp_path / "go"
    env = {**os.environ, "ELEPHANT_HOME": str(home)}
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(home), str(n), str(go)], cwd=REPO, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for n in range(8)]
    for w in writers:
        assert w.stdout is not None and "ready" in w.stdout.readline()
    go.touch()
    acked: list[dict[str, Any]] = []
    for w in writers:
        out, err = w.communicate(timeout=300)
        assert w.returncode == 0, err[-2000:]
        acked += [json.loads(line) for line in out.splitlines() if line.strip()]
    assert len(acked) == 8 * 12
    with elephant.open(home) as db:
        for item in acked:  # every acknowledged write is stored at its version
            stored = db.get(item["key"], version=item["version"])
            assert item["word"] in stored.envelope["body"]
        deadline = time.monotonic() + 60
        while db.indexer.pending() and time.monotonic() < deadline:
            db.process_outbox()
        assert_indexed_at_heads(db)
        heads = {k: db.get(k) for k in {a["key"] for a in acked}}
        for key, head in heads.items():
            word = head.envelope["body"].split()[0]
            assert key in [h.key for h in db.search(word, k=5).results], (key, word)
