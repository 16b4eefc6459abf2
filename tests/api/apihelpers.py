"""Helpers shared by the API tests: request bodies and problem+json checks."""

from __future__ import annotations

from typing import Any


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def note(key: str, title: str = "A note", **extra: Any) -> dict[str, Any]:
    return {"kind": "note", "key": key, "title": title, **extra}


def benchmark(key: str, p99: float, **extra: Any) -> dict[str, Any]:
    return {"kind": "benchmark", "key": key, "title": f"ranker bench p99 {p99}", "model": "ranker",
            "occurred_at": "2026-03-10", "fields": {"hardware": "c6i.2xlarge", "scenario": "server",
                                                    "latency_ms": {"p50": p99 / 3, "p99": p99},
                                                    "throughput_qps": 400}, **extra}


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"].startswith("urn:elephant:problem:")
    assert body["title"] and body["detail"]
    return body
