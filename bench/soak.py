"""Soak: bounded mixed load on `elephant serve --workers 2`, then a consistency check (issue 20).

    .venv/bin/python bench/soak.py [--seconds 45] [--clients 8 32] [--database sqlite postgres]
                                   [--model int8|fake] [--records 300] [--keys 200]

For each database: a fresh home (and, on PostgreSQL, a fresh database on ELEPHANT_TEST_PG, default
postgresql://postgres@127.0.0.1:5432/test, dropped afterwards) with ``--records`` records, one
server with two workers, then for each client count ``--seconds`` of closed-loop clients each
doing a mix of writes (PUT of a pool of ``--keys`` keys, so keys are written again and again by
clients racing each other), searches, asks and reads. Every write carries a word of its own.

Afterwards, with the server stopped:

* **stored**: every acknowledged write (a 200/201 with its version) is in the history at that
  version with its own word, and each key's head is at least its newest acknowledged version;
* **indexed**: after draining what the outbox still holds, every live key is in the lexical and
  the vector index at its head version with the right chunk count (``elephant doctor``'s checks),
  and each written key is found by a lexical search for its head's own word.

Lost = acknowledged writes missing from the history; stale = keys whose index is not at the head
(or not found by their word). RSS of each worker is sampled every 2 s through the run; the budget
is 300 MB per worker (docs/design.md §11). Errors are 5xx and failed connections; the mix expects
no 4xx either. Writes bench/results/soak.json.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from stats import latency_summary, write_report

REPO = Path(__file__).resolve().parents[1]
RSS_BUDGET_MB = 300.0
PG_ADMIN_URL = os.environ.get("ELEPHANT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
# The mix, by weight: what a team's agents and people do against one server.
MIX = (("write", 30), ("search", 35), ("ask", 15), ("read", 20))


def _bench_api() -> Any:
    """bench/api.py's server helpers (start, worker pids, RSS, CPU name)."""
    spec = importlib.util.spec_from_file_location("bench_api", REPO / "bench" / "api.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


API = _bench_api()


class Ledger:
    """What the clients were told: acknowledged writes, and keys with a write of unknown outcome."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.acked: list[tuple[str, int, str]] = []  # (key, version, word)
        self.unknown: set[str] = set()  # keys with a write that failed in transit (may or may not be stored)

    def ack(self, key: str, version: int, word: str) -> None:
        with self.lock:
            self.acked.append((key, version, word))

    def lost_in_transit(self, key: str) -> None:
        with self.lock:
            self.unknown.add(key)


def _record(key: str, word: str, n: int) -> dict[str, Any]:
    models = ("ranker", "fraud-detector", "churn-model", "search-embedder")
    return {"kind": "optimization", "model": models[n % len(models)],
            "title": f"soak attempt {n} on {key.rsplit('/', 1)[-1]}",
            "body": f"Tried batching change {n}. Marker {word}. p99 moved a little; kept for the soak.",
            "tags": ["soak"], "fields": {"outcome": "adopted" if n % 2 else "rolled_back", "attempt": n}}


def run_level(port: int, clients: int, seconds: float, keys: list[str], queries: list[str],
              questions: list[str], ledger: Ledger, seed: int) -> dict[str, Any]:
    """``clients`` threads, each on its own keep-alive connection, for ``seconds``."""
    stop = time.perf_counter() + seconds
    gate = threading.Barrier(clients + 1)
    samples: dict[str, list[float]] = {op: [] for op, _w in MIX}
    statuses: dict[str, dict[int, int]] = {op: {} for op, _w in MIX}
    failures: dict[str, int] = {op: 0 for op, _w in MIX}
    lock = threading.Lock()
    ops = [op for op, weight in MIX for _ in range(weight)]

    def client(n: int) -> None:
        rng = random.Random(seed * 1000 + n)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        local: dict[str, list[float]] = {op: [] for op, _w in MIX}
        gate.wait()
        count = 0
        while time.perf_counter() < stop:
            op = rng.choice(ops)
            count += 1
            key = rng.choice(keys)
            word = ""
            headers = {"Content-Type": "application/json"}
            if op == "write":
                word = "w" + uuid.uuid4().hex[:12]
                method, path = "PUT", f"/v1/records/{key}"
                body: bytes | None = json.dumps(_record(key, word, count)).encode()
            elif op == "search":
                method, path = "POST", "/v1/search"
                body = json.dumps({"query": rng.choice(queries), "k": 10}).encode()
            elif op == "ask":
                method, path = "POST", "/v1/ask"
                body = json.dumps({"question": rng.choice(questions)}).encode()
            else:
                method, path, body = "GET", f"/v1/records/{key}", None
            t0 = time.perf_counter()
            status, data = 0, b""
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                status, data = response.status, response.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            local[op].append((time.perf_counter() - t0) * 1000)
            if op == "write":
                if status in (200, 201):
                    ledger.ack(key, int(json.loads(data)["version"]), word)
                elif status == 0 or status >= 500:
                    ledger.lost_in_transit(key)
            with lock:
                statuses[op][status] = statuses[op].get(status, 0) + 1
                expected = (200, 201) if op == "write" else (200, 404) if op == "read" else (200,)
                failures[op] += status not in expected
        conn.close()
        with lock:
            for op, values in local.items():
                samples[op].extend(values)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    gate.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    total = sum(len(v) for v in samples.values())
    return {"clients": clients, "seconds": round(elapsed, 1), "requests": total, "rps": round(total / elapsed, 1),
            "unexpected": sum(failures.values()),
            "ops": {op: {"requests": len(samples[op]), "unexpected": failures[op],
                         "statuses": {str(k): v for k, v in sorted(statuses[op].items())},
                         **latency_summary(samples[op])} for op, _w in MIX}}


def sample_rss(pids: list[int], series: list[dict[str, Any]], started: float, stop: threading.Event) -> None:
    while not stop.is_set():
        series.append({"t_s": round(time.perf_counter() - started, 1), "rss_mb": [API.rss_mb(p) for p in pids]})
        stop.wait(2.0)


def check(env: dict[str, str], ledger: Ledger, keys: list[str]) -> dict[str, Any]:
    """Stored and indexed at the acknowledged versions (run with the server stopped)."""
    os.environ.update(env)
    from sqlalchemy import select

    import elephant
    from elephant.retrieval.doctor import check_store
    from elephant.retrieval.search import Filters, HybridSearch
    from elephant.storage.schema import heads, versions

    with elephant.open(search_cache=0) as db:
        pending_at_stop = int(db.indexer.pending())
        with db.store.read_connection() as conn:
            stored = {(r.key, r.version): r.envelope for r in conn.execute(
                select(versions.c.key, versions.c.version, versions.c.envelope).where(versions.c.key.in_(keys)))}
            head = {r.key: (r.version, r.envelope) for r in conn.execute(
                select(heads.c.key, heads.c.version, heads.c.envelope).where(heads.c.key.in_(keys)))}
        lost = [(k, v) for k, v, word in ledger.acked if word not in stored.get((k, v), "")]
        newest: dict[str, int] = {}
        for k, v, _w in ledger.acked:
            newest[k] = max(newest.get(k, 0), v)
        behind = [k for k, v in newest.items() if head.get(k, (0, ""))[0] < v]
        overtaken = [k for k, v in newest.items() if head.get(k, (0, ""))[0] > v and k not in ledger.unknown]
        report = check_store(db, verify_model=False, drain=True)
        search = HybridSearch(db.store, db.indexer)
        unfindable = []
        for k in newest:
            envelope = json.loads(head[k][1])
            word = next(t for t in envelope["body"].split() if t.startswith("w") and len(t.rstrip(".")) == 13)
            found = [key for key, _s in search.lexical(word.rstrip("."), Filters(), n=5)]
            if k not in found:
                unfindable.append(k)
        return {"acknowledged_writes": len(ledger.acked), "keys_written": len(newest),
                "writes_of_unknown_outcome": len(ledger.unknown), "index_jobs_pending_at_stop": pending_at_stop,
                "lost": len(lost), "lost_examples": lost[:5], "head_behind_ack": len(behind),
                "head_ahead_without_a_failed_write": len(overtaken),
                "stale_indexed": len(report.problems) + len(unfindable), "unfindable_by_own_word": unfindable[:5],
                "doctor": report.to_dict()}


def soak_database(database: str, args: argparse.Namespace, base_env: dict[str, str], workdir: Path) -> dict[str, Any]:
    home = workdir / f"home-{database}"
    env = {**base_env, "ELEPHANT_HOME": str(home)}
    dropped: str | None = None
    if database == "postgres":
        import psycopg

        name = f"elephant_soak_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        dropped = name
        env["ELEPHANT_DATABASE_URL"] = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    try:
        loaded = _seed(env, args.records)
        keys = [f"soak/k{n:04d}" for n in range(args.keys)]
        queries = [f"{m} {t}" for m in loaded["models"] for t in API.TERMS]
        questions = [q.format(m=m) for m in loaded["models"] for q in API.QUESTIONS]
        port = API.free_port()
        log = workdir / f"serve-{database}.log"
        proc, cold_s = API.start_server({**os.environ, **env}, port, 2, log)
        ledger = Ledger()
        series: list[dict[str, Any]] = []
        stop = threading.Event()
        levels = []
        try:
            time.sleep(2.0)  # the second worker finishes its warm-up
            pids = API.worker_pids(proc, 2)
            sampler = threading.Thread(target=sample_rss, args=(pids, series, time.perf_counter(), stop), daemon=True)
            sampler.start()
            for i, clients in enumerate(args.clients):
                levels.append(run_level(port, clients, args.seconds, keys, queries, questions, ledger, seed=i + 1))
            stop.set()
            sampler.join()
            rss_end = [API.rss_mb(p) for p in pids]
        finally:
            stop.set()
            proc.terminate()
            proc.wait(timeout=60)
        consistency = check(env, ledger, keys)
        worst = max((mb for point in series for mb in point["rss_mb"]), default=float("nan"))
        return {"database": database, "records_seeded": loaded["records"], "workers": 2,
                "cold_start_s": round(cold_s, 2), "levels": levels, "consistency": consistency,
                "rss_mb": {"per_worker_start": series[0]["rss_mb"] if series else [], "per_worker_end": rss_end,
                           "max": worst, "within_budget": worst <= RSS_BUDGET_MB, "series": series}}
    finally:
        if dropped is not None:
            import psycopg

            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{dropped}" WITH (FORCE)')


def _seed(env: dict[str, str], count: int) -> dict[str, Any]:
    os.environ.update(env)
    import elephant

    gen = API._generator()
    with elephant.open() as db:
        batch: list[dict[str, Any]] = []
        for record in gen.generate(count):
            batch.append(record)
            if len(batch) == 500:
                db.put_many(batch)
                batch = []
        if batch:
            db.put_many(batch)
        db.process_outbox()
        return {"records": db.counts().get("_records", 0), "models": list(gen.MODELS)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=45.0, help="per client level")
    parser.add_argument("--clients", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--database", nargs="+", default=["sqlite", "postgres"], choices=["sqlite", "postgres"])
    parser.add_argument("--model", default="int8", help="int8 (the default model) or fake (no model files)")
    parser.add_argument("--records", type=int, default=300, help="records loaded before the soak")
    parser.add_argument("--keys", type=int, default=200, help="keys the writers share")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "soak.json")
    args = parser.parse_args()

    base_env = {"ELEPHANT_MODEL": args.model, "ANONYMIZED_TELEMETRY": "False", "HF_HUB_OFFLINE": "1"}
    model_dir = os.environ.get("ELEPHANT_MODEL_DIR") or os.environ.get("ELEPHANT_TEST_MODEL_DIR")
    if model_dir is None and (REPO / ".cache" / "models").is_dir():
        model_dir = str(REPO / ".cache" / "models")
    if model_dir:
        base_env["ELEPHANT_MODEL_DIR"] = model_dir
    for name in [n for n in os.environ if n.startswith("ELEPHANT_") and not n.startswith("ELEPHANT_TEST_")]:
        if name not in base_env:
            del os.environ[name]
    sys.path.insert(0, str(REPO))
    workdir = Path(tempfile.mkdtemp(prefix="elephant-soak-"))
    runs = []
    try:
        for database in args.database:
            result = soak_database(database, args, base_env, workdir)
            runs.append(result)
            c = result["consistency"]
            print(f"{database}: {c['acknowledged_writes']} acknowledged writes, lost {c['lost']}, "
                  f"stale-indexed {c['stale_indexed']}, max RSS/worker {result['rss_mb']['max']} MB; "
                  + ", ".join(f"{lv['clients']} clients {lv['rps']} req/s ({lv['unexpected']} unexpected)"
                              for lv in result["levels"]), flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    ok = all(r["consistency"]["lost"] == 0 and r["consistency"]["stale_indexed"] == 0
             and r["consistency"]["head_behind_ack"] == 0 and all(lv["unexpected"] == 0 for lv in r["levels"])
             for r in runs)
    write_report("soak", {"benchmark": "soak", "cpu": API.cpu_model(), "cores": os.cpu_count(),
                            "model": args.model, "seconds_per_level": args.seconds, "clients": args.clients,
                            "mix": dict(MIX), "rss_budget_mb": RSS_BUDGET_MB, "ok": ok, "runs": runs}, args.out)
    print(f"wrote {args.out}; {'ok' if ok else 'NOT OK'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
