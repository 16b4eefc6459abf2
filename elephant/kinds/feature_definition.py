"""``feature_definition``: a model input feature, where it is computed in training and serving, and their parity."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import field_validator

from elephant.kinds.base import FieldsModel, KindSpec, KindWords, Timestamp, normalise_timestamp


class Parity(StrEnum):
    verified = "verified"
    drift = "drift"
    unknown = "unknown"


class FeatureDefinitionFields(FieldsModel):
    feature: str | None = None
    entity: str | None = None
    dtype: str | None = None
    transformation: str | None = None
    training_source: str | None = None
    serving_source: str | None = None
    parity: Parity | None = None
    parity_checked_at: Timestamp | None = None
    skew_metric: str | float | dict[str, Any] | None = None

    _ts = field_validator("parity_checked_at", mode="before")(normalise_timestamp)


WORDS = KindWords(
    label="feature definition",
    question=(r"\bfeatures?\b", r"\bparity\b", r"\bskew", r"\bdrift", r"\bpsi\b"),
)

SPEC = KindSpec(name="feature_definition", fields_model=FeatureDefinitionFields, words=WORDS, writable=True,
                ask_prior=0.2)
