"""Embedded Chroma shared by processes (``serve --workers 2``, serve beside the CLI): bench/soak.py
found the directory corrupt after mixed load on two workers ("Error finding id"; a reader could
segfault). Every call now runs under a flock with a client reopened after another process wrote
(elephant.retrieval.vectors.chroma). Two writer processes racing on one id pool, then every vector
must be readable and counted. Slow: `make reliability`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

WRITER = """
import sys, numpy as np
from pathlib import Path
from elephant.retrieval.vectors.chroma import ChromaIndex
index = ChromaIndex.embedded(Path(sys.argv[1]))
rng = np.random.default_rng(int(sys.argv[2]))
for i in range(900):
    ids = list(dict.fromkeys(f"k{int(rng.integers(0, 1200))}#{j}" for j in range(3)))
    index.upsert(ids, rng.random((len(ids), 16), dtype=np.float32), [{"key": i.split("#")[0]} for i in ids])
    index.delete([f"k{int(rng.integers(0, 1200))}#2"])
"""

READER = """
import sys
from pathlib import Path
from elephant.retrieval.vectors.chroma import ChromaIndex
index = ChromaIndex.embedded(Path(sys.argv[1]))
seen = sum(len(ids) for ids, _v in index.iter_vectors(batch=500))
print(index.count(), seen)
"""


@pytest.mark.reliability
def test_two_writer_processes_leave_a_readable_index(tmp_path: Path) -> None:
    directory = tmp_path / "chroma"
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(directory), str(n)]) for n in range(2)]
    assert [w.wait(timeout=600) for w in writers] == [0, 0]
    read = subprocess.run([sys.executable, "-c", READER, str(directory)], capture_output=True, text=True, timeout=300)
    assert read.returncode == 0, read.stderr[-2000:]
    count, seen = map(int, read.stdout.split())
    assert count == seen > 0
