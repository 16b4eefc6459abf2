"""REST API under load: `elephant serve` on a loopback port over N generated records (default 10,000).

    .venv/bin/python bench/api.py [--records 10000] [--seconds 5] [--model int8|fake] [--home DIR]

Prints cold start (process start → /readyz 200), RSS after warm-up and after load, and p50/p99 and
requests/s of POST /v1/search and POST /v1/ask at 1, 8 and 32 concurrent keep-alive clients, each for
a bounded time. The reference in the same run is the library called in process (no HTTP), so the
difference is what HTTP, JSON and the server cost. Budgets (DESIGN §7, issue 7): cold start ≤ 2 s,
RSS ≤ 300 MB per worker, search p99 ≤ 50 ms at 8 clients. This machine has 2 cores: the load
generator shares them with the server, so figures at 8 and 32 clients include that contention.
Writes bench/results/api.json.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import platform
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from stats import latency_summary, write_report

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402

COLD_START_BUDGET_S = 2.0
RSS_BUDGET_MB = 300.0
SEARCH_P99_BUDGET_MS = 50.0
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
    with elephant.open() as db:
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def start_server(env: dict[str, str], port: int, log: Path) -> tuple[subprocess.Popen[bytes], float]:
    """Start `elephant serve`; seconds until /readyz answers 200."""
    started = time.perf_counter()
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "cli.main", "serve", "--port", str(port),
                                 "--log-level", "warning"], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/readyz"
    with httpx.Client(timeout=2) as client:
        while True:
            try:
                if client.get(url).status_code == 200:
                    return proc, time.perf_counter() - started
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.perf_counter() - started > 120:
                raise SystemExit(f"server did not become ready:\n{log.read_text()}")
            time.sleep(0.02)


async def load(base: str, path: str, bodies: list[dict[str, Any]], clients: int, seconds: float) -> dict[str, Any]:
    """``clients`` closed-loop clients on keep-alive connections for ``seconds``."""
    samples: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:

        async def worker(offset: int) -> None:
            nonlocal errors
            i = offset
            while time.perf_counter() < stop:
                body = bodies[i % len(bodies)]
                i += clients
                t0 = time.perf_counter()
                try:
                    response = await client.post(path, json=body)
                    failed = response.status_code != 200
                except httpx.HTTPError:
                    failed = True
                samples.append((time.perf_counter() - t0) * 1000)
                errors += failed

        began = time.perf_counter()
        await asyncio.gather(*(worker(n) for n in range(clients)))
        elapsed = time.perf_counter() - began
    return {"clients": clients, "requests": len(samples), "errors": errors,
            "rps": round(len(samples) / elapsed, 1), **percentiles(samples)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each load level")
    parser.add_argument("--model", default="int8", help="int8 (default), fp32 or fake")
    parser.add_argument("--home", type=Path, help="reuse a loaded home (default: a fresh temporary one)")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
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
        port = free_port()
        proc, cold_s = start_server(env, port, home / "serve.log")
        base = f"http://127.0.0.1:{port}"
        try:
            rss_ready = rss_mb(proc.pid)
            searches = [{"query": q} for q in loaded["queries"]]
            asks = [{"question": q} for q in loaded["questions"]]
            results: dict[str, list[dict[str, Any]]] = {"search": [], "ask": []}
            for name, path, bodies in (("search", "/v1/search", searches), ("ask", "/v1/ask", asks)):
                for clients in args.clients:
                    results[name].append(asyncio.run(load(base, path, bodies, clients, args.seconds)))
            rss_loaded = rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    finally:
        if args.home is None:
            shutil.rmtree(home, ignore_errors=True)

    at8 = next((r for r in results["search"] if r["clients"] == 8), None)
    report = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "load_average_1m_before": round(load_before[0], 2),
                    "load_average_1m_after": round(os.getloadavg()[0], 2)},
        "records": loaded["records"], "model": args.model, "seconds_per_level": args.seconds,
        "cold_start_s": round(cold_s, 2), "rss_mb_ready": rss_ready, "rss_mb_after_load": rss_loaded,
        "reference_in_process": loaded["in_process"], "http": results,
        "budgets": {"cold_start_s": COLD_START_BUDGET_S, "rss_mb": RSS_BUDGET_MB,
                    "search_p99_ms_at_8_clients": SEARCH_P99_BUDGET_MS},
        "within_budget": {
            "cold_start": cold_s <= COLD_START_BUDGET_S,
            "rss": max(rss_ready, rss_loaded) <= RSS_BUDGET_MB,
            "search_p99_at_8": bool(at8 and at8["p99_ms"] <= SEARCH_P99_BUDGET_MS),
        },
    }
    ref = loaded["in_process"]
    print(f"\nelephant serve, {loaded['records']} records, model {args.model}, {os.cpu_count()} CPUs, "
          f"load average {report['machine']['load_average_1m_before']} before / "
          f"{report['machine']['load_average_1m_after']} after (other processes share these cores)")
    print(f"  cold start to ready   {cold_s:6.2f} s    (budget ≤ {COLD_START_BUDGET_S} s)")
    print(f"  RSS ready / loaded    {rss_ready:6.1f} / {rss_loaded:.1f} MB    (budget ≤ {RSS_BUDGET_MB:.0f} MB)")
    print(f"  in process (reference) search p50 {ref['search']['p50_ms']} ms p99 {ref['search']['p99_ms']} ms; "
          f"ask p50 {ref['ask']['p50_ms']} ms p99 {ref['ask']['p99_ms']} ms")
    print(f"  {'endpoint':8} {'clients':>7} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}")
    for name, rows in results.items():
        for r in rows:
            note = f"   (budget p99 ≤ {SEARCH_P99_BUDGET_MS:.0f} ms)" if name == "search" and r["clients"] == 8 else ""
            print(f"  {name:8} {r['clients']:>7} {r['rps']:>8} {r['p50_ms']:>8} {r['p99_ms']:>8} {r['errors']:>6}{note}")
    print(f"  within budget: {report['within_budget']}")
    out = write_report("api", report)
    print(f"wrote {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
