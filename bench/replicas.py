"""Replica visibility lag (issue 16, item 4): two `elephant serve` on one PostgreSQL and one `chroma run`.

    .venv/bin/python bench/replicas.py [--writes 50] [--records 1000] [--background-writers 0]
        [--out bench/results/replicas.json]

Starts a throwaway PostgreSQL database (ELEPHANT_BENCH_PG, default postgresql://postgres@127.0.0.1:5432/test),
a `chroma run` on a free loopback port and two `elephant serve --workers 1` (own homes, own ports, the fake
embedder), preloads ``--records`` records through replica A, then writes one record at a time, alternately
through A and through B, and polls the *other* replica until it returns the record from: an unfiltered
search, a search with kind + numeric condition, and GET. Lag is measured from the writer's response (the
write committed and indexed) to the end of the first poll that saw it, so it includes one request of the
reader (the filtered search and GET run after it and are timed from their own first poll). Also reported: the write's own latency, and how many writes were visible at the
first poll. ``--background-writers N`` keeps N clients writing other keys through both replicas meanwhile,
so that the probes' drains meet the others' (they take turns on PostgreSQL).
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
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
from stats import RESULTS, latency_summary, write_report

REPO = Path(__file__).resolve().parents[1]
PG_ADMIN = os.environ.get("ELEPHANT_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")


def machine() -> dict[str, Any]:
    cpu = ""
    with suppress(OSError):
        cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name")), "")
    return {"cpu": cpu or platform.processor(), "cpus": os.cpu_count(),
            "load_average": [round(x, 2) for x in os.getloadavg()], "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def chroma_executable() -> str:
    candidates = [Path(sys.executable).parent / "chroma"]
    with suppress(ImportError):
        import chromadb

        candidates.append(Path(chromadb.__file__).resolve().parents[4] / "bin" / "chroma")
    found = next((str(p) for p in candidates if p.is_file()), None) or shutil.which("chroma")
    if found is None:
        sys.exit("bench/replicas.py: the `chroma` executable (chromadb's server) is not installed")
    return found


@contextmanager
def postgres_database() -> Iterator[str]:
    import psycopg

    name = f"elephant_replicas_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def process(args: list[str], log: Path, env: dict[str, str], ready: Any, what: str) -> Iterator[None]:
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO)
    try:
        deadline = time.monotonic() + 120
        while not ready():
            if proc.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"{what} did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def serve_ready(client: httpx.Client) -> bool:
    try:
        return client.get("/readyz").status_code == 200
    except httpx.HTTPError:
        return False


def record(key: str, title: str, n: int) -> dict[str, Any]:
    return {"kind": "benchmark", "key": key, "title": title, "model": f"model-{n % 7}", "occurred_at": "2026-11-30",
            "body": f"Replica lag probe {n}: fused attention kernels, batch {n % 32}.",
            "fields": {"hardware": "c7i.2xlarge", "latency_ms": {"p50": 10 + n % 10, "p99": 20 + n % 15}}}


def found(client: httpx.Client, body: dict[str, Any], key: str) -> bool:
    response = client.post("/v1/search", json=body)
    return response.status_code == 200 and key in [h["key"] for h in response.json()["results"]]


def background_writer(base_url: str, stop: threading.Event, done: list[int]) -> None:
    """Writes through one replica without pause (other keys), so that drains overlap with the probes."""
    with httpx.Client(base_url=base_url, timeout=60) as client:
        n = 0
        while not stop.is_set():
            key = f"background/{n % 200}"
            client.put(f"/v1/records/{key}", json=record(key, f"background write {n} batch sizing", n))
            n += 1
        done.append(n)


def measure(a: httpx.Client, b: httpx.Client, writes: int, preload: int) -> dict[str, Any]:
    for start in range(0, preload, 500):
        batch = [record(f"preload/{n}", f"preload record {n} quantization sweep", n)
                 for n in range(start, min(preload, start + 500))]
        response = a.post("/v1/records", json={"records": batch}, timeout=600)
        response.raise_for_status()
    for client in (a, b):  # warm: model, matrix, caches
        client.post("/v1/search", json={"query": "warm up", "k": 5})
    lags: dict[str, list[float]] = {"search": [], "search_filtered": [], "get": []}
    write_ms: list[float] = []
    first_poll = dict.fromkeys(lags, 0)
    for n in range(writes):
        writer, reader = (a, b) if n % 2 == 0 else (b, a)
        key = f"lag/{n}"
        title = f"probe {uuid.uuid4().hex[:10]} kernel latency"
        started = time.perf_counter()
        writer.put(f"/v1/records/{key}", json=record(key, title, n)).raise_for_status()
        acked = time.perf_counter()
        write_ms.append((acked - started) * 1000)
        checks = {
            "search": lambda r=reader, t=title, k=key: found(r, {"query": t, "k": 5}, k),
            "search_filtered": lambda r=reader, t=title, k=key: found(
                r, {"query": t, "kind": "benchmark", "where": ["latency_ms.p99<40"], "k": 5}, k),
            "get": lambda r=reader, k=key: r.get(f"/v1/records/{k}").status_code == 200,
        }
        for name, check in checks.items():
            # The unfiltered search's clock starts at the writer's response; the others' at their own
            # first poll (they run after it), so each is an upper bound of the lag through that path.
            since = acked if name == "search" else time.perf_counter()
            polls = 0
            while not check():
                polls += 1
                if time.perf_counter() - acked > 30:
                    sys.exit(f"{key} not visible through {name} on the other replica after 30 s")
            lags[name].append((time.perf_counter() - since) * 1000)
            first_poll[name] += polls == 0
    out: dict[str, Any] = {"write_ms": latency_summary(write_ms, extra=("mean",))}
    for name, samples in lags.items():
        out[f"lag_{name}_ms"] = {"median": round(statistics.median(samples), 1), "max": round(max(samples), 1),
                                 "visible_at_first_poll": f"{first_poll[name]}/{writes}"}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--writes", type=int, default=50)
    parser.add_argument("--records", type=int, default=1000, help="records preloaded through replica A")
    parser.add_argument("--background-writers", type=int, default=0,
                        help="clients writing other keys without pause meanwhile, alternately through A and B")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    report: dict[str, Any] = {"machine": machine(), "writes": args.writes, "preloaded": args.records,
                              "background_writers": args.background_writers,
                              "model": "fake", "topology": "2 x elephant serve --workers 1, one PostgreSQL "
                              "database, one chroma run, all on this host"}
    with tempfile.TemporaryDirectory() as tmp, postgres_database() as database_url:
        root = Path(tmp)
        port = free_port()
        env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
        chroma = [chroma_executable(), "run", "--path", str(root / "chroma"), "--host", "127.0.0.1", "--port", str(port)]
        with process(chroma, root / "chroma.log", env, lambda: listening(port), "chroma run"):
            clients = []
            with ExitStack() as stack:
                for name in ("a", "b"):
                    serve_port = free_port()
                    client = httpx.Client(base_url=f"http://127.0.0.1:{serve_port}", timeout=60)
                    clients.append(client)
                    serve_env = {k: v for k, v in env.items() if not k.startswith("ELEPHANT_")}
                    serve_env.update(ELEPHANT_HOME=str(root / f"home-{name}"), ELEPHANT_DATABASE_URL=database_url,
                                     ELEPHANT_CHROMA_URL=f"http://127.0.0.1:{port}", ELEPHANT_MODEL="fake")
                    stack.enter_context(process([sys.executable, "-m", "elephant.cli.main", "serve", "--host", "127.0.0.1",
                                         "--port", str(serve_port), "--workers", "1", "--log-level", "warning"],
                                        root / f"serve-{name}.log", serve_env,
                                        lambda c=client: serve_ready(c), f"elephant serve ({name})"))
                stop, done = threading.Event(), []
                busy = [threading.Thread(target=background_writer, args=(str(clients[n % 2].base_url), stop, done))
                        for n in range(args.background_writers)]
                for thread in busy:
                    thread.start()
                try:
                    report.update(measure(clients[0], clients[1], args.writes, args.records))
                finally:
                    stop.set()
                    for thread in busy:
                        thread.join()
                report["background_writes"] = sum(done)
    report["machine"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    # One entry per load shape, kept beside the others' in the same file.
    target = args.out or RESULTS / "replicas.json"
    runs: dict[str, Any] = {}
    with suppress(OSError, ValueError):
        runs = json.loads(target.read_text()).get("runs", {})
    runs[f"background_writers={args.background_writers}"] = report
    path = write_report("replicas", {"runs": runs}, target)
    print({k: v for k, v in report.items() if k.startswith(("lag", "write"))})
    print(f"CPU {report['machine']['cpu']}, load average {report['machine']['load_average']}; saved {path}")


if __name__ == "__main__":
    main()
