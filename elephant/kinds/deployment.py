"""``deployment``: a rollout (shadow, canary, A/B, full, rollback) from one model version to another."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import Field, field_validator

from elephant.kinds.base import FieldsModel, KindSpec, KindWords


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

SPEC = KindSpec(name="deployment", fields_model=DeploymentFields, words=WORDS, writable=True,
                ask_prior=0.4)
