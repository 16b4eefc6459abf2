"""Valid time ("what was true in the world at T"): the brief at three dates and the serving-at question."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from elephant.answers.validtime import ValidTime, serving_moment
from elephant.errors import UsageError

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "validtime" / "ranker.yaml"


@pytest.fixture
def ranker(db: Any) -> Any:
    report = db.put_files([FIXTURE])
    assert report.ok, report.problems
    return db


def _state(db: Any, at: str) -> tuple[str | None, str | None, list[str]]:
    brief = db.brief("ranker", at=at)
    assert brief.at == at and [m.model for m in brief.models] == ["ranker"]
    m = brief.models[0]
    config, deployment = m.latest.get("serving_config"), m.latest.get("last_deployment")
    return (config.citation if config else None, deployment.citation if deployment else None,
            [i.citation for i in m.open.get("open_incidents", [])])


def test_brief_at_three_dates_gives_what_was_in_force(ranker: Any) -> None:
    assert _state(ranker, "2025-09-10") == ("ranker/serving/triton-a10g@1", "ranker/deploy/v2-full@1", [])
    assert _state(ranker, "2025-09-16") == ("ranker/serving/triton-a10g-4@1", "ranker/deploy/v3-canary@1",
                                            ["ranker/incidents/ndcg-drop@1"])
    assert _state(ranker, "2025-09-25") == ("ranker/serving/triton-a10g-4@1", "ranker/deploy/v3-rollback@1", [])
    # A datetime is a point: the canary started at 14:00, so at 13:59 v2 was still all there was.
    assert _state(ranker, "2025-09-12T13:59:00Z")[1] == "ranker/deploy/v2-full@1"
    assert _state(ranker, "2025-09-12")[1] == "ranker/deploy/v3-canary@1"  # a date is the whole day


def test_brief_at_before_anything_and_the_now_brief_unchanged(ranker: Any) -> None:
    assert _state(ranker, "2025-08-01") == (None, None, [])
    now = ranker.brief("ranker").models[0]
    assert now.latest["last_deployment"].citation == "ranker/deploy/v3-rollback@1"
    data = ranker.brief("ranker", at="2025-09-16").to_dict()
    assert data["at"] == "2025-09-16" and data["axis"] == "valid_time"
    assert "ranker/deploy/v3-canary@1" in data["citations"]
    assert "As of 2025-09-16" in ranker.brief("ranker", at="2025-09-16").markdown()


def test_valid_time_and_transaction_time_are_different_axes(ranker: Any) -> None:
    """A correction recorded today changes what the brief at a past date says; `get --as-of` still reads the old."""
    before = ranker.get("ranker/deploy/v2-full").recorded_at
    env = ranker.get("ranker/deploy/v2-full").envelope
    env["fields"]["traffic_percent"] = 50
    ranker.put({k: v for k, v in env.items() if k in ("kind", "key", "title", "model", "model_version",
                                                        "occurred_at", "fields")})
    at_sept_10 = ranker.brief("ranker", at="2025-09-10").models[0].latest["last_deployment"]
    assert at_sept_10.citation == "ranker/deploy/v2-full@2" and at_sept_10.details["traffic_percent"] == 50
    assert ranker.get("ranker/deploy/v2-full", as_of=before).envelope["fields"]["traffic_percent"] == 100


def test_bad_at_is_a_usage_error(ranker: Any) -> None:
    with pytest.raises(UsageError, match="not an ISO-8601"):
        ranker.brief("ranker", at="last tuesday")
    assert ValidTime.parse("2025-09-10").cutoff.startswith("2025-09-11T00:00:00")


@pytest.mark.parametrize(("question", "expected"), [
    ("what was the ranker serving on 10 September 2025?", "2025-09-10"),
    ("What was ranker serving on September 10, 2025", "2025-09-10"),
    ("which version of ranker was in production on 2025-09-16?", "2025-09-16"),
    ("what was the ranker config as of 2025-09-12T13:59:00Z?", "2025-09-12T13:59:00Z"),
    ("what did we try in September 2025 to cut ranker p99?", None),
    ("what was ranker serving before the v3 rollout?", None),
])
def test_serving_moment(question: str, expected: str | None) -> None:
    assert serving_moment(question) == expected


def test_ask_what_was_serving_on_a_date(ranker: Any) -> None:
    answer = ranker.ask("what was the ranker serving on 10 September 2025?")
    assert answer.found and answer.plan["valid_at"] == "2025-09-10"
    assert answer.citations[:2] == ["ranker/deploy/v2-full@1", "ranker/serving/triton-a10g@1"]
    assert "ranker/deploy/v3-canary@1" in answer.citations  # what changed next, cited
    assert "2 replicas" in answer.answer and "2025-09-10" in answer.answer
    later = ranker.ask("what was ranker serving on 16 September 2025?")
    assert later.citations[:2] == ["ranker/deploy/v3-canary@1", "ranker/serving/triton-a10g-4@1"]
