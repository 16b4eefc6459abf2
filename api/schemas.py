"""Request models: the JSON bodies the routes accept. Responses are the library's own models
(``elephant.models``: each ``to_dict()`` and its TypedDict) and, for what only HTTP has (pages,
problems, probes), ``elephant.api.responses``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class RevertIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1, le=2**31 - 1, description="the version whose content becomes the new current version")
    message: str = Field(default="", max_length=2000)


class SearchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=4000)
    kind: str | list[str] | None = Field(default=None, description="one kind or several (any of them)")
    model: str | list[str] | None = Field(default=None, description="one model or several (any of them)")
    tags: list[str] | None = None
    since: str | None = None
    until: str | None = None
    where: list[str] | None = Field(default=None, description="numeric filters, e.g. 'latency_ms.p99 < 40'")
    k: int = Field(default=10, ge=1, le=200)


class AskIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=4000)
    model: str | None = None
    k: int = Field(default=10, ge=1, le=100, description="search hits considered besides the model's attempts")


class ContextIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=4000)
    budget: int = Field(default=500, ge=1, le=100_000, description="token budget of the block")
    model: str | None = None


class KeyCreateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scope: Literal["read", "write", "admin"]
    name: str = Field(default="", max_length=200)
