"""``deployment``: a rollout (shadow, canary, A/B, full, rollback) from one model version to another."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pydantic import Field, field_validator

from elephant.kinds.base import BriefPlace, Fields, FieldsModel, KindSpec, KindView, KindWords
from elephant.kinds.phrases import OUTCOME_WORDS, clip, index_flat, text, words
from elephant.kinds.units import as_number, format_number, index_number


class Strategy(StrEnum):
    shadow = "shadow"
    canary = "canary"
    ab_test = "ab_test"
    full = "full"
    rollback = "rollback"


class DeploymentStatus(StrEnum):
    in_progress = "in_progress"
    succeeded = "succeeded"
    rolled_back = "rolled_back"
    failed = "failed"


class DeploymentFields(FieldsModel):
    strategy: Strategy | None = None
    traffic_percent: float | None = Field(default=None, ge=0, le=100)
    from_version: str | None = None
    to_version: str | None = None
    status: DeploymentStatus | None = None
    metrics: dict[str, Any] | None = None

    @field_validator("from_version", "to_version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


WORDS = KindWords(
    label="deployment",
    question=(r"\bcanar(?:y|ies)\b", r"\bshadow", r"\ba/b\b", r"\bab[ _-]test", r"\brollouts?\b", r"\brolled out\b",
              r"\bdeploy", r"\bshipped\b", r"\bpromot", r"\breleas", r"\bexperiment\b", r"\btraffic\b"),
)


# Statuses in the timeline's colours (a failed rollout was not adopted: rejected).
_CLASSES = {"succeeded": "adopted", "rolled_back": "rolled_back", "failed": "rejected", "in_progress": "in_progress"}


def outcome(fields: Fields) -> str | None:
    return text(fields.get("status"))


def outcome_words(fields: Fields) -> str:
    """'canary at 10 %, rolled back'."""
    value = outcome(fields)
    strategy = text(fields.get("strategy")) or "deployment"
    traffic = as_number(fields.get("traffic_percent"))
    what = strategy.replace("_", " ") + (f" at {format_number(traffic)} %" if traffic is not None else "")
    return f"{what}, {OUTCOME_WORDS.get(value or '', value or 'status not recorded')}"


def outcome_class(fields: Fields) -> str:
    if str(fields.get("strategy") or "") == "rollback":
        return "rolled_back"
    return _CLASSES.get(str(fields.get("status") or ""), "none")


def figures(fields: Fields) -> list[str]:
    """The rollout's metrics with units read from their names: 'p99 latency 18 ms', 'error rate 0.2 %'."""
    parts = []
    metrics = fields.get("metrics") or {}
    if isinstance(metrics, Mapping):
        for name, value in metrics.items():
            number = as_number(value)
            if number is None:
                continue
            if name.endswith("_ms"):
                parts.append(f"{name[:-3].replace('_', ' ')} {format_number(number)} ms")
            elif name.endswith("_pct"):
                parts.append(f"{name[:-4].replace('_', ' ')} {format_number(number)} %")
            elif name == "error_rate":
                parts.append(f"error rate {format_number(number * 100)} %")
            else:
                parts.append(f"{name.replace('_', ' ')} {format_number(number)}")
    return parts


def fact(fields: Fields) -> list[str]:
    parts: list[str] = []
    what = " ".join(str(x).replace("_", " ") for x in (fields.get("strategy"),) if x)
    if fields.get("traffic_percent") is not None:
        what += f" {format_number(fields['traffic_percent'])} %"
    if fields.get("from_version") or fields.get("to_version"):
        what += f" {fields.get('from_version') or '?'} → {fields.get('to_version') or '?'}"
    if what.strip():
        parts.append(what.strip())
    if fields.get("status"):
        parts.append(str(fields["status"]).replace("_", " "))
    if (shown := figures(fields)):
        parts.append(clip(", ".join(shown[:4]), 100))
    return parts


def index_phrases(fields: Fields) -> list[str]:
    out: list[str] = []
    if fields.get("strategy"):
        out.append(f"strategy: {words(fields['strategy'])}")
    if fields.get("traffic_percent") is not None:
        out.append(f"traffic {index_number(fields['traffic_percent'])} %")
    if fields.get("from_version") or fields.get("to_version"):
        out.append(f"from {fields.get('from_version', '?')} to {fields.get('to_version', '?')}")
    if fields.get("status"):
        out.append(f"status: {words(fields['status'])}")
    out += list(index_flat(fields.get("metrics") or {}, "metrics"))
    return out


def brief_summary(fields: Fields, title: str, date: str) -> str:
    """'2026-04-02: v3 → v4 canary at 10 %, rolled back'; a missing from-version is left out, never 'None'."""
    before, after = text(fields.get("from_version")), text(fields.get("to_version"))
    version = f" {before} → {clip(after, 80)}" if before and after else f" to {clip(after, 80)}" if after else ""
    return f"{date}:{version} {outcome_words(fields)}"


VIEW = KindView(outcome=outcome, outcome_words=outcome_words, outcome_class=outcome_class, figures=figures,
                fact=fact, index_phrases=index_phrases,
                indexed_fields=frozenset({"strategy", "traffic_percent", "from_version", "to_version", "status",
                                          "metrics"}),
                display="deployment", on_timeline=True)

BRIEF = BriefPlace(slot="last_deployment", label="Last deployment", order=2, latest=True, summary=brief_summary,
                   details=lambda f: {"strategy": f.get("strategy"), "status": f.get("status"),
                                      "traffic_percent": f.get("traffic_percent"), "to_version": f.get("to_version")},
                   alarm=lambda f: f.get("status") in ("rolled_back", "failed"))

SPEC = KindSpec(name="deployment", fields_model=DeploymentFields, words=WORDS, writable=True,
                ask_prior=0.4, view=VIEW, brief=BRIEF)
