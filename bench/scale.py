"""Scale tier (issue 16): bulk load rate, disk size, cold start and every filter shape's latency at N records.

    .venv/bin/python bench/scale.py --records 20000 --database sqlite|postgresql --chroma embedded|server
        [--model fake] [--queries 200] [--batch 2000] [--out bench/results/scale.json]

ELEPHANT_SHARED_VECTORS=false measures the private per-process matrix (the code before docs/design.md §7.1).

Loads N generated records (bench/search.py's generator) through ``Elephant.put_many`` in batches,
as ``elephant put`` of a many-record file does: store + lexical + outbox + vectors. Then measures the cold
start of a fresh process-level handle (open + first search), two worker processes on the home as
``serve --workers 2`` runs them (each one's cold start, then private and shared memory from
/proc/PID/smaps_rollup after both searched every filter shape), and p50/p99 of each filter shape:
unfiltered, kind + time, numeric condition (``latency_ms.p99<40``), model. The reference in the same run
is raw Chroma on the same vectors (no SQL, no lexical side). PostgreSQL runs in a throwaway database
(ELEPHANT_BENCH_PG, default postgresql://postgres@127.0.0.1:5432/test); the Chroma server is a
``chroma run`` started here. Results are merged into the JSON under "<database>+<chroma>@<N>".
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from search import MODELS, generate, search_queries, timed
from stats import write_report

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
PG_ADMIN = os.environ.get("ELEPHANT_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cpus": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(), "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


@contextmanager
def postgres_database() -> Iterator[str]:
    import psycopg

    name = f"elephant_scale_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1) + f"/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def chroma_server(path: Path) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    import chromadb

    # Next to this interpreter, else in the environment chromadb itself is installed in.
    candidates = [Path(sys.executable).parent / "chroma", Path(chromadb.__file__).parents[4] / "bin" / "chroma"]
    chroma = shutil.which("chroma") or str(next((c for c in candidates if c.exists()), candidates[0]))
    proc = subprocess.Popen([chroma, "run", "--path", str(path), "--port", str(port), "--host", "127.0.0.1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "ANONYMIZED_TELEMETRY": "False"})
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("chroma run did not start within 60 s") from None
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def disk_bytes(home: Path) -> int:
    """Bytes allocated on disk (the shared vector files grow sparse, ahead of their rows)."""
    return sum(f.stat().st_blocks * 512 for f in home.rglob("*") if f.is_file())


def pg_bytes(url: str) -> int:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1)) as conn:
        return int(conn.execute("SELECT pg_database_size(current_database())").fetchone()[0])  # type: ignore[index]


def run(args: argparse.Namespace, home: Path, database_url: str | None, chroma_url: str | None) -> dict[str, Any]:
    import elephant

    overrides: dict[str, Any] = {"search_cache": 0}
    if database_url:
        overrides["database_url"] = database_url
    if chroma_url:
        overrides["chroma_url"] = chroma_url
    db = elephant.open(home, **overrides)
    report: dict[str, Any] = {"embedder": str(db.embedder.fingerprint)}
    phases = {"store_s": 0.0, "index_s": 0.0}
    # Before the bulk path (issue 16), put_many wrote through write_records.
    _timed_method(db.store, "write_bulk" if hasattr(db.store, "write_bulk") else "write_records", phases, "store_s")
    _timed_method(db.indexer, "process_outbox", phases, "index_s")
    if db.counts().get("_records", 0) >= args.records:
        print("home already loaded: search only")
        return run_searches(args, home, overrides, report, database_url)
    started = time.perf_counter()
    batch: list[dict[str, Any]] = []
    done = 0
    for record in generate(args.records):
        batch.append(record)
        if len(batch) == args.batch:
            db.put_many(batch)
            done += len(batch)
            batch = []
            rate = done / (time.perf_counter() - started)
            print(f"\rloaded {done:,} records ({rate:,.0f}/s)", end="", file=sys.stderr, flush=True)
    if batch:
        db.put_many(batch)
    db.process_outbox()
    seconds = time.perf_counter() - started
    print(file=sys.stderr)
    assert db.indexer.pending() == 0, "the outbox did not drain"
    report["load"] = {"seconds": round(seconds, 1), "records_per_s": round(args.records / seconds, 1),
                      "batch": args.batch, "what": "put_many: store + lexical + outbox + vectors (+ regression hook)",
                      "store_s": round(phases["store_s"], 1), "index_s": round(phases["index_s"], 1),
                      "store_records_per_s": round(args.records / max(phases["store_s"], 1e-9), 1)}
    print(f"load: {args.records:,} records in {seconds:.1f} s ({args.records / seconds:,.0f} records/s); "
          f"store (versions, heads, outbox, regression checks) {phases['store_s']:.1f} s "
          f"({report['load']['store_records_per_s']:,.0f} records/s), index drain (lexical, embedding, "
          f"vectors) {phases['index_s']:.1f} s")
    report["chunks"] = db.indexer.vector_index.count()
    rate = raw_chroma_upsert_rate(home / "raw-chroma", chroma_url, min(report["chunks"], 20_000),
                                  int(db.embedder.dim))
    report["raw_chroma_upserts_per_s"] = round(rate, 1)
    print(f"reference: raw Chroma upsert of {min(report['chunks'], 20_000):,} vectors alone: {rate:,.0f} vectors/s "
          f"(this run's {report['chunks']:,} chunks for {args.records:,} records)")
    db.close()
    if args.load_only:
        return report
    return run_searches(args, home, overrides, report, database_url)


def run_searches(args: argparse.Namespace, home: Path, overrides: dict[str, Any], report: dict[str, Any],
                 database_url: str | None) -> dict[str, Any]:
    import elephant

    report["disk_bytes"] = disk_bytes(home) + (pg_bytes(database_url) if database_url else 0)

    # Cold start: a fresh handle, up to its first answered search.
    started = time.perf_counter()
    db = elephant.open(home, **overrides)
    db.warm_up()
    report["cold_start_s"] = round(time.perf_counter() - started, 2)
    print(f"cold start (open + warm-up + first search): {report['cold_start_s']:.2f} s; "
          f"disk {report['disk_bytes'] / 1e6:.1f} MB")

    db.close()
    report["workers"] = measure_workers(args, home, overrides, database_url)
    db = elephant.open(home, **overrides)
    db.warm_up()

    queries = search_queries(args.queries + 20)
    shapes = filter_shapes(db, queries)
    results: dict[str, Any] = {}
    print(f"{'shape':<28} {'p50 ms':>8} {'p99 ms':>8} {'CPU p50 ms':>11}")
    for name, fn in shapes.items():
        # CPU time of the searching thread too: on shared cores it says what the search itself costs.
        cpu: list[float] = []

        def measured(i: int, fn: Callable[[int], Any] = fn, cpu: list[float] = cpu) -> Any:
            started = time.thread_time()
            try:
                return fn(i)
            finally:
                cpu.append((time.thread_time() - started) * 1000)

        results[name] = timed(measured, args.queries, suffix="_ms")
        results[name]["cpu_p50_ms"] = round(statistics.median(cpu[5:]), 2)  # after timed()'s 5 warm-up calls
        print(f"{name:<28} {results[name]['p50_ms']:>8.2f} {results[name]['p99_ms']:>8.2f} "
              f"{results[name]['cpu_p50_ms']:>11.2f}")
    index = db.indexer.vector_index
    embedder = db.embedder
    vectors = [embedder.embed_query("raw " + q) for q in queries]
    raw: dict[str, Callable[[int], Any]] = {}
    col = getattr(index, "_col", None)
    if callable(col):
        collection = col()
        since_ts, until_ts = 1740787200, 1759276800  # 2025-03-01, 2025-10-01
        raw = {
            "raw Chroma unfiltered": lambda i: collection.query(query_embeddings=vectors[i][None, :], n_results=10),
            "raw Chroma kind+time where": lambda i: collection.query(
                query_embeddings=vectors[i][None, :], n_results=10,
                where={"$and": [{"kind": "benchmark"}, {"occurred_ts": {"$gte": since_ts}},
                                {"occurred_ts": {"$lt": until_ts}}]}),
            "raw Chroma model where": lambda i: collection.query(query_embeddings=vectors[i][None, :], n_results=10,
                                                                 where={"model": MODELS[i % len(MODELS)]}),
        }
    for name, fn in raw.items():
        results[name] = timed(fn, min(args.queries, 100), suffix="_ms")
        print(f"{name:<28} {results[name]['p50_ms']:>8.2f} {results[name]['p99_ms']:>8.2f}   (vectors only)")
    report["search_ms"] = results
    db.close()
    return report


def filter_shapes(db: Any, queries: list[str]) -> dict[str, Callable[[int], Any]]:
    return {
        "unfiltered": lambda i: db.search(queries[i]),
        "kind + time": lambda i: db.search(queries[i], kind="benchmark", since="2025-03-01", until="2025-09-30"),
        "numeric latency_ms.p99<40": lambda i: db.search(queries[i], where="latency_ms.p99<40"),
        "model": lambda i: db.search(queries[i], model=MODELS[i % len(MODELS)]),
    }


MEMORY_FIELDS = ("Rss", "Pss", "Shared_Clean", "Shared_Dirty", "Private_Clean", "Private_Dirty", "Anonymous")


def smaps_rollup(pid: int) -> dict[str, float]:
    """MB of a process's memory: USS (private = Private_Clean + Private_Dirty), shared, PSS, RSS, and
    anonymous (heap: private whatever other processes map; USS also counts file pages, such as the shared
    vector file's, that no other process has touched)."""
    values = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, _, rest = line.partition(":")
        if name in MEMORY_FIELDS:
            values[name] = int(rest.split()[0]) / 1024
    return {"rss_mb": round(values["Rss"], 1), "pss_mb": round(values["Pss"], 1),
            "private_mb": round(values["Private_Clean"] + values["Private_Dirty"], 1),
            "shared_mb": round(values["Shared_Clean"] + values["Shared_Dirty"], 1),
            "anonymous_mb": round(values["Anonymous"], 1)}


def measure_workers(args: argparse.Namespace, home: Path, overrides: dict[str, Any],
                    database_url: str | None, count: int = 2) -> dict[str, Any]:
    """``count`` worker processes on the home, as `serve --workers` runs them. Each opens it and loads the
    vector matrix (its cold start: open, matrix, first filtered search; the first worker maps or builds the
    shared vector files, the next maps them). Then all search the filtered shapes (served by the matrix)
    and their memory is read while all are alive; then the unfiltered shape, which at this size opens the
    vector index (embedded Chroma keeps its HNSW index in each process), and their memory is read again."""
    env = {**os.environ, "ELEPHANT_SEARCH_CACHE": "0", "ELEPHANT_MODEL": args.model}
    if database_url:
        env["ELEPHANT_DATABASE_URL"] = database_url
    if overrides.get("chroma_url"):
        env["ELEPHANT_CHROMA_URL"] = overrides["chroma_url"]
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", "--home", str(home),
               "--queries", str(min(args.queries, 100)), "--model", args.model]
    workers: list[subprocess.Popen[str]] = []
    rows: list[dict[str, Any]] = []
    try:
        for _ in range(count):  # one after the other: the second finds what the first left
            proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
                                    cwd=str(REPO))
            workers.append(proc)
            rows.append(json.loads(_line(proc)))
        for phase in ("filtered", "unfiltered"):
            for proc in workers:
                proc.stdin.write(phase + "\n")  # type: ignore[union-attr]
                proc.stdin.flush()  # type: ignore[union-attr]
            for row, proc in zip(rows, workers, strict=True):
                row.setdefault("p50_ms", {}).update(json.loads(_line(proc)))
            for row, proc in zip(rows, workers, strict=True):
                row[f"memory_after_{phase}"] = smaps_rollup(proc.pid)
    finally:
        for proc in workers:
            if proc.stdin is not None:
                proc.stdin.close()
        for proc in workers:
            proc.wait(timeout=60)
    out = {"shared_vectors": os.environ.get("ELEPHANT_SHARED_VECTORS", "true"), "per_worker": rows}
    for i, w in enumerate(rows):
        a, b = w["memory_after_filtered"], w["memory_after_unfiltered"]
        print(f"worker #{i + 1}: cold start {w['cold_start_s']:.2f} s ({w['matrix']}); after filtered searches "
              f"private {a['private_mb']:.0f} MB (anonymous {a['anonymous_mb']:.0f}), shared {a['shared_mb']:.0f} MB, "
              f"PSS {a['pss_mb']:.0f} MB; "
              f"after unfiltered (vector index open) private {b['private_mb']:.0f} MB, shared {b['shared_mb']:.0f} MB")
    return out


def _line(proc: subprocess.Popen[str]) -> str:
    line = proc.stdout.readline() if proc.stdout is not None else ""
    if not line:
        raise SystemExit(f"worker {proc.pid} ended early (exit {proc.wait()})")
    return line


def worker(args: argparse.Namespace) -> int:
    """One worker process (``--worker``): cold start, then a phase of searches per line from stdin."""
    import elephant

    started = time.perf_counter()
    db = elephant.open(args.home)
    db.embedder.embed_query("warm up")
    matrix = db.indexer.matrix()  # waits for a private load; maps shared files
    db.search("warm up", model=MODELS[0], k=1)
    cold = time.perf_counter() - started
    print(json.dumps({"pid": os.getpid(), "cold_start_s": round(cold, 2), "matrix": type(matrix).__name__,
                      "rows": matrix.rows if matrix is not None else 0}), flush=True)
    queries = search_queries(args.queries * 4 + 40)
    shapes = list(filter_shapes(db, queries).items())
    phases = {"filtered": [s for s in shapes if s[0] != "unfiltered"],
              "unfiltered": [s for s in shapes if s[0] == "unfiltered"]}
    for line in sys.stdin:
        timings = {}
        for name, fn in phases[line.strip()]:
            n = [s[0] for s in shapes].index(name)
            timings[name] = timed(lambda i, fn=fn, n=n: fn(n * (args.queries + 10) + i),  # type: ignore[misc]
                                  args.queries, suffix="_ms")["p50_ms"]
        print(json.dumps(timings), flush=True)
    db.close()
    return 0


def _timed_method(owner: Any, name: str, phases: dict[str, float], slot: str) -> None:
    """Wrap ``owner.name`` so that its wall time adds up in ``phases[slot]``."""
    inner = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            phases[slot] += time.perf_counter() - start

    setattr(owner, name, wrapper)


def raw_chroma_upsert_rate(path: Path, url: str | None, count: int, dim: int, batch: int = 256) -> float:
    """Vectors per second that Chroma alone takes in (random unit vectors, batches like the indexer's)."""
    import chromadb
    import numpy as np

    if url:
        host, port = url.rsplit("//", 1)[1].split(":")
        client: Any = chromadb.HttpClient(host=host, port=int(port))
    else:
        client = chromadb.PersistentClient(path=str(path))
    name = f"raw_{uuid.uuid4().hex[:8]}"
    collection = client.create_collection(name, metadata={"hnsw:space": "cosine"})
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((max(count, 1), dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    started = time.perf_counter()
    for start in range(0, count, batch):
        stop = min(count, start + batch)
        collection.upsert(ids=[f"r{i}" for i in range(start, stop)], embeddings=vectors[start:stop],
                          metadatas=[{"key": f"r{i}", "kind": "benchmark", "chunk": 0} for i in range(start, stop)])
    seconds = time.perf_counter() - started
    client.delete_collection(name)
    return count / seconds if seconds else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--chroma", choices=["embedded", "server"], default="embedded")
    parser.add_argument("--model", default="fake")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--batch", type=int, default=2000, help="records per put_many call")
    parser.add_argument("--label", default="", help="a note kept with the figures (e.g. 'before bulk path')")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "scale.json")
    parser.add_argument("--home", type=Path, default=None,
                        help="keep the home here (SQLite + embedded Chroma); a loaded one is searched, not reloaded")
    parser.add_argument("--load-only", action="store_true", help="load, then stop (search a kept --home later)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    os.environ["ELEPHANT_MODEL"] = args.model
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    print(f"{args.records:,} records, {args.database} + Chroma {args.chroma}, embedder {args.model}")
    with tempfile.TemporaryDirectory(prefix="elephant-scale-") as tmp:
        home = args.home or Path(tmp) / "home"
        with (postgres_database() if args.database == "postgresql" else _nothing()) as db_url, \
                (chroma_server(Path(tmp) / "chroma-server") if args.chroma == "server" else _nothing()) as ch_url:
            report = run(args, home, db_url, ch_url)
    report = {"records": args.records, "database": args.database, "chroma": args.chroma, "model": args.model,
              "label": args.label, "machine": machine(), **report}
    existing = json.loads(args.out.read_text()) if args.out.exists() else {}
    runs = existing.get("runs", {})
    runs[f"{args.database}+{args.chroma}@{args.records}{'/' + args.label if args.label else ''}"] = report
    write_report("scale", {"note": existing.get("note", ""), "runs": runs}, args.out)
    print(f"wrote {args.out}")
    return 0


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


if __name__ == "__main__":
    raise SystemExit(main())
