"""SIGKILL during a bulk load (issue 16): no committed batch lost, no half batch left, each version once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from elephant.storage.schema import heads, outbox, versions
from elephant.storage.store import BULK_BATCH
from tests.elephant.test_bulk_writes import generated

REPO = Path(__file__).resolve().parents[2]

WRITER = r"""
import sys
sys.path.insert(0, sys.argv[2])
import elephant
from tests.elephant.test_bulk_writes import generated
db = elephant.open(sys.argv[1])
db.store.write_hooks.clear()
records = generated(int(sys.argv[3]))
from elephant.records.envelope import validate_record
valid = [validate_record(r) for r in records]
print("ready", flush=True)
db.store.write_bulk(valid, author="loader", on_batch=lambda n: print("batch", n, flush=True))
print("done", flush=True)
"""


@pytest.mark.reliability
def test_sigkill_during_a_bulk_load_leaves_whole_batches(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {**os.environ, "ELEPHANT_MODEL": "fake", "ANONYMIZED_TELEMETRY": "False"}
    total = BULK_BATCH * 40
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(home), str(REPO), str(total)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("ready")
    acknowledged = 0
    while acknowledged < 3:  # killed in the middle of the load, after a few committed batches
        line = proc.stdout.readline()
        assert line.startswith("batch"), line + (proc.stderr.read() if proc.stderr else "")
        acknowledged += 1
    time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    import elephant

    db = elephant.open(home)
    try:
        with db.store.read_connection() as conn:
            keys = [r.key for r in conn.execute(select(heads.c.key).order_by(heads.c.key))]
            version_count = conn.execute(select(func.count()).select_from(versions)).scalar_one()
            jobs = conn.execute(select(func.count()).select_from(outbox)).scalar_one()
        assert len(keys) % BULK_BATCH == 0, f"{len(keys)} heads: a half batch committed"
        assert BULK_BATCH * acknowledged <= len(keys) < total
        expected = sorted(r["key"] for r in generated(total)[:len(keys)])
        assert keys == expected  # the batches in order, none skipped
        assert version_count == len(keys) and jobs == len(keys)  # each version once, with its index job
        db.process_outbox()
        assert db.indexer.pending() == 0
        assert set(db.indexer.indexed_state()) == set(keys)
    finally:
        db.close()
