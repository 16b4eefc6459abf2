"""REST API under load: `elephant serve` on a loopback port over N generated records (default 10,000).

    .venv/bin/python bench/api.py [--records 10000] [--seconds 5] [--model int8|fake] [--workers 1 2] [--home DIR]

For each worker count, prints cold start (process start → /readyz 200), RSS per worker after
warm-up and after load, and p50/p99 and requests/s of POST /v1/search and POST /v1/ask at 1, 8 and
32 concurrent keep-alive clients, each for a bounded time. The reference in the same run is the
library called in process (no HTTP), so the difference is what HTTP, JSON and the server cost.
Budgets (docs/design.md §11, issue 7): cold start ≤ 2 s, RSS ≤ 300 MB per worker, search p99 ≤ 50 ms at 8
clients. Two search workloads: `search` cycles through 240 query strings that every worker has
seen (an unrecorded pass sends each 3 × workers times first), so the result cache answers, as for an
agent asking again; `search-new` never repeats a query (each gets a distinct pair of extra words),
so every request embeds and searches. Questions cycle through 100.

This machine has 2 cores and the load generator shares them with the server. The clients are
threads on plain `http.client` keep-alive connections rather than httpx's async client: against
the same one-worker server, 8 httpx clients got 146 req/s with p99 122 ms and 8 http.client
threads 219 req/s with p99 54 ms, the difference being the client's own CPU on the shared cores.
Writes bench/results/api.json.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import os
import platform
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from stats import latency_summary, write_report

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


COLD_START_BUDGET_S = 2.0
RSS_BUDGET_MB = 300.0
SEARCH_P99_BUDGET_MS = 50.0
# Appended to make every `search-new` query distinct (and unseen by both caches).
EXTRA = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo",
         "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango", "uniform", "victor",
         "whiskey", "xray", "yankee", "zulu", "amber", "basalt", "cobalt", "dune", "ember", "fjord", "granite",
         "harbor", "iris", "jade", "kelp", "lagoon", "meadow", "nectar"]
TERMS = ["p99 latency", "int8 quantization", "canary rollback", "OOM on GPU", "throughput regression", "tensorrt",
         "batching config", "feature drift", "onnx export", "distillation accuracy", "triton replicas", "timeouts"]
QUESTIONS = ["what did we try last time to cut {m} p99?", "did int8 work for {m}?", "how did the last {m} canary go?",
             "what incidents did {m} have?", "what optimizations of {m} were rolled back?"]


def _generator() -> Any:
    # The record generator of bench/search.py, so both benchmarks load the same kind of history.
    spec = importlib.util.spec_from_file_location("bench_search", REPO / "bench" / "search.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    return latency_summary(samples_ms)


def load_home(home: Path, count: int, env: dict[str, str]) -> dict[str, Any]:
    """Write and index ``count`` records through the library (skipped when the home already has them)."""
    os.environ.update(env)
    import elephant

    gen = _generator()
    with elephant.open(search_cache=0) as db:  # the reference: real searches, not result-cache hits
        have = db.counts().get("_records", 0)
        started = time.perf_counter()
        if have < count:
            batch: list[dict[str, Any]] = []
            for record in gen.generate(count):
                batch.append(record)
                if len(batch) == 1000:
                    db.put_many(batch)
                    batch = []
            if batch:
                db.put_many(batch)
            db.process_outbox()
        load_s = time.perf_counter() - started
        models = gen.MODELS
        queries = [f"{m} {t}" for m in models for t in TERMS]
        rng = random.Random(7)
        rng.shuffle(queries)
        # In-process reference: the same calls without HTTP, sequential, warm.
        for q in queries[:5]:
            db.search(q)
        search_ms = []
        for q in queries[:200]:
            t0 = time.perf_counter()
            db.search(q)
            search_ms.append((time.perf_counter() - t0) * 1000)
        asks = [q.format(m=m) for m in models for q in QUESTIONS]
        db.ask(asks[0])
        ask_ms = []
        for q in asks[:100]:
            t0 = time.perf_counter()
            db.ask(q)
            ask_ms.append((time.perf_counter() - t0) * 1000)
        return {"records": db.counts().get("_records", 0), "load_s": round(load_s, 1),
                "in_process": {"search": percentiles(search_ms), "ask": percentiles(ask_ms)},
                "queries": queries, "questions": asks}


def cpu_model() -> str:
    """The processor's name: sessions here have run on different machines (an EPYC, a Xeon)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return float("nan")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU the processes used so far (``/proc/<pid>/stat``; threads included)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime (fields 14 and 15 of stat)
    return total


def worker_pids(proc: subprocess.Popen[bytes], workers: int) -> list[int]:
    """The processes that serve: the server itself, or its spawned uvicorn workers."""
    if workers == 1:
        return [proc.pid]
    found = []
    for child in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split():
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in cmdline:  # not multiprocessing's resource tracker
            found.append(int(child))
    return found


def start_server(env: dict[str, str], port: int, workers: int, log: Path) -> tuple[subprocess.Popen[bytes], float]:
    """Start `elephant serve`; seconds until /readyz answers 200 (from any worker)."""
    started = time.perf_counter()
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "elephant.cli.main", "serve", "--port", str(port), "--workers",
                                 str(workers), "--log-level", "warning"], cwd=REPO, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/readyz")
            if conn.getresponse().status == 200:
                return proc, time.perf_counter() - started
        except OSError:
            pass
        if proc.poll() is not None or time.perf_counter() - started > 120:
            raise SystemExit(f"server did not become ready:\n{log.read_text()}")
        time.sleep(0.02)


def load(port: int, path: str, bodies: list[dict[str, Any]], clients: int, seconds: float, *,
         count: int | None = None) -> dict[str, Any]:
    """``clients`` closed-loop clients, each a thread with its own keep-alive connection, for ``seconds``
    (or, with ``count``, until the clients together sent ``count`` requests, each body once)."""
    payloads = [json.dumps(b).encode() for b in bodies]
    samples: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    stop = time.perf_counter() + seconds
    gate = threading.Barrier(clients + 1)

    def client(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        i = n
        gate.wait()
        while (i < count) if count is not None else (time.perf_counter() < stop):
            body = payloads[i % len(payloads)]
            i += clients
            t0 = time.perf_counter()
            try:
                conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
                response = conn.getresponse()
                response.read()
                failed = response.status != 200
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                failed = True
            samples[n].append((time.perf_counter() - t0) * 1000)
            errors[n] += failed
        conn.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    gate.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    merged = [x for per in samples for x in per]
    return {"clients": clients, "requests": len(merged), "errors": sum(errors),
            "rps": round(len(merged) / elapsed, 1), **percentiles(merged)}


def serve_and_load(env: dict[str, str], workers: int, loaded: dict[str, Any], args: argparse.Namespace,
                   log: Path) -> dict[str, Any]:
    """One server with ``workers`` workers: cold start, RSS, then every load level."""
    port = free_port()
    proc, cold_s = start_server(env, port, workers, log)
    try:
        time.sleep(2.0 if workers > 1 else 0.2)  # the other workers finish their warm-up
        pids = worker_pids(proc, workers)
        rss_ready = [rss_mb(pid) for pid in pids]
        searches = [{"query": q} for q in loaded["queries"]]
        # Distinct per server too: a new server starts with empty caches, but keep runs independent.
        fresh = [{"query": f"{q} {a} {b}"} for a in EXTRA for b in EXTRA[::-1] if a != b
                 for q in loaded["queries"][workers::7]]
        asks = [{"question": q} for q in loaded["questions"]]
        results: dict[str, list[dict[str, Any]]] = {"search": [], "search-new": [], "ask": []}
        # `search` measures queries asked before: each worker has its own result cache, so every
        # query goes through the server 3 × workers times first (not recorded). First-time queries
        # are what `search-new` measures.
        warm = load(port, "/v1/search", searches, 4, 0, count=len(searches) * 3 * workers)
        for name, path, bodies in (("search", "/v1/search", searches), ("search-new", "/v1/search", fresh),
                                   ("ask", "/v1/ask", asks)):
            for clients in args.clients:
                # Server CPU per request (workers' user + system time over the level): what the code
                # controls, whatever the load generator on the same cores takes.
                before = cpu_seconds(pids)
                level = load(port, path, bodies, clients, args.seconds)
                level["server_cpu_ms_per_request"] = round(
                    (cpu_seconds(pids) - before) * 1000 / max(level["requests"], 1), 2)
                results[name].append(level)
        rss_loaded = [rss_mb(pid) for pid in pids]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    at8 = next((r for r in results["search"] if r["clients"] == 8), None)
    new8 = next((r for r in results["search-new"] if r["clients"] == 8), None)
    worst_rss = max(rss_ready + rss_loaded)
    return {"workers": workers, "cold_start_s": round(cold_s, 2), "rss_mb_ready": rss_ready,
            "rss_mb_after_load": rss_loaded, "http": results, "search_warm_pass": warm,
            "within_budget": {"cold_start": cold_s <= COLD_START_BUDGET_S, "rss": worst_rss <= RSS_BUDGET_MB,
                              "search_p99_at_8": bool(at8 and at8["p99_ms"] <= SEARCH_P99_BUDGET_MS),
                              "search_new_p99_at_8": bool(new8 and new8["p99_ms"] <= SEARCH_P99_BUDGET_MS)}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each load level")
    parser.add_argument("--model", default="int8", help="int8 (default), fp32 or fake")
    parser.add_argument("--home", type=Path, help="reuse a loaded home (default: a fresh temporary one)")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                        help="worker counts to measure, one server each (default: 1 2)")
    args = parser.parse_args()

    home = args.home or Path(tempfile.mkdtemp(prefix="elephant-bench-api-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELEPHANT_")}
    env.update({"ELEPHANT_HOME": str(home), "ELEPHANT_MODEL": args.model, "ANONYMIZED_TELEMETRY": "False",
                "ELEPHANT_MODEL_DIR": os.environ.get("ELEPHANT_MODEL_DIR", str(REPO / ".cache" / "models"))})
    try:
        print(f"loading {args.records} records into {home} (model {args.model}) ...", flush=True)
        loaded = load_home(home, args.records, env)
        print(f"  {loaded['records']} records, load+index {loaded['load_s']} s", flush=True)
        load_before = os.getloadavg()
        servers = []
        for workers in args.workers:
            print(f"serving with {workers} worker(s) ...", flush=True)
            servers.append(serve_and_load(env, workers, loaded, args, home / f"serve-{workers}.log"))
    finally:
        if args.home is None:
            shutil.rmtree(home, ignore_errors=True)

    report = {
        "machine": {"cpus": os.cpu_count(), "cpu": cpu_model(), "python": platform.python_version(),
                    "platform": platform.platform(),
                    "load_average_1m_before": round(load_before[0], 2),
                    "load_average_1m_after": round(os.getloadavg()[0], 2)},
        "records": loaded["records"], "model": args.model, "seconds_per_level": args.seconds,
        "load_generator": "threads on http.client keep-alive connections",
        "reference_in_process": loaded["in_process"], "servers": servers,
        "budgets": {"cold_start_s": COLD_START_BUDGET_S, "rss_mb_per_worker": RSS_BUDGET_MB,
                    "search_p99_ms_at_8_clients": SEARCH_P99_BUDGET_MS},
    }
    ref = loaded["in_process"]
    print(f"\nelephant serve, {loaded['records']} records, model {args.model}, {os.cpu_count()} CPUs "
          f"({report['machine']['cpu']}), "
          f"load average {report['machine']['load_average_1m_before']} before / "
          f"{report['machine']['load_average_1m_after']} after (other processes share these cores)")
    print(f"  in process (reference) search p50 {ref['search']['p50_ms']} ms p99 {ref['search']['p99_ms']} ms; "
          f"ask p50 {ref['ask']['p50_ms']} ms p99 {ref['ask']['p99_ms']} ms")
    for server in servers:
        print(f"  --workers {server['workers']}: cold start {server['cold_start_s']:.2f} s (budget ≤ "
              f"{COLD_START_BUDGET_S} s); RSS per worker ready {server['rss_mb_ready']} / loaded "
              f"{server['rss_mb_after_load']} MB (budget ≤ {RSS_BUDGET_MB:.0f} MB)")
        print(f"    {'workload':10} {'clients':>7} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6} "
              f"{'server CPU ms/req':>17}")
        for name, rows in server["http"].items():
            for r in rows:
                note = f"   (budget p99 ≤ {SEARCH_P99_BUDGET_MS:.0f} ms)" if name.startswith("search") \
                    and r["clients"] == 8 else ""
                print(f"    {name:10} {r['clients']:>7} {r['rps']:>8} {r['p50_ms']:>8} {r['p99_ms']:>8} "
                      f"{r['errors']:>6} {r['server_cpu_ms_per_request']:>17}{note}")
        print(f"    within budget: {server['within_budget']}")
    out = write_report("api", report)
    print(f"wrote {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
