"""Search, ask, context, brief and regressions: thin shells over the library's facade."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Depends, HTTPException, Query

from elephant.answers.brief import DEFAULT_BRIEF_BUDGET, MAX_BRIEF_BUDGET
from elephant.api.deps import AppContext, get_context, get_db
from elephant.api.schemas import (
    AskIn,
    AskOut,
    BriefOut,
    ContextIn,
    ContextOut,
    RegressionsOut,
    SearchIn,
    SearchOut,
)
from elephant.facade import Elephant

router = APIRouter(tags=["retrieval"])
Db = Annotated[Elephant, Depends(get_db)]
Ctx = Annotated[AppContext, Depends(get_context)]


def facade(db: Elephant, name: str) -> Callable[..., Any]:
    """The facade method ``name``; 501 while this build of the library lacks it."""
    method = getattr(db, name, None)
    if not callable(method):
        raise HTTPException(501, f"this Elephant build has no {name}()")
    return method


async def run_limited(ctx: AppContext, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a library call on a worker thread, within the app's retrieval concurrency limit."""
    return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs), limiter=ctx.retrieval_limiter())


def as_dict(result: Any) -> dict[str, Any]:
    data = result.to_dict() if hasattr(result, "to_dict") else result
    if not isinstance(data, dict):
        data = {"items": data}
    return data


@router.post("/search", response_model=SearchOut)
async def search(db: Db, ctx: Ctx, body: SearchIn) -> dict[str, Any]:
    """Hybrid (dense + lexical) search with structured filters; ``degraded`` when only lexical ran."""
    response = await run_limited(ctx, facade(db, "search"), body.query, kind=body.kind, model=body.model,
                                 tags=body.tags, since=body.since, until=body.until, where=body.where, k=body.k)
    ctx.metrics.count_search(response)
    result = as_dict(response)
    ctx.metrics.count_degraded("search", result)
    return result


@router.post("/ask", response_model=AskOut)
async def ask(db: Db, ctx: Ctx, body: AskIn) -> dict[str, Any]:
    """"What did we try last time?": attempts newest first, with outcomes, deltas and citations."""
    result = as_dict(await run_limited(ctx, facade(db, "ask"), body.question, model=body.model, k=body.k))
    ctx.metrics.count_degraded("ask", result)
    return result


@router.post("/context", response_model=ContextOut)
async def context(db: Db, ctx: Ctx, body: ContextIn) -> dict[str, Any]:
    """A Markdown block for an agent's prompt, within ``budget`` tokens, each fact cited key@version."""
    return as_dict(await run_limited(ctx, facade(db, "context"), body.query, budget=body.budget, model=body.model))


@router.get("/brief", response_model=BriefOut)
async def brief(db: Db, ctx: Ctx, model: Annotated[str | None, Query(max_length=200)] = None,
                at: Annotated[str | None, Query(max_length=40, description="valid time: the brief as it stood in "
                                                "the world at this ISO date or datetime")] = None,
                budget: Annotated[int | None, Query(ge=1, le=MAX_BRIEF_BUDGET, description="token budget "
                                                    f"(default {DEFAULT_BRIEF_BUDGET})")] = None,
                all_models: Annotated[bool, Query(alias="all", description="every model, not only those that "
                                                  "need attention")] = False,
                ) -> dict[str, Any]:
    """The startup briefing: the models that need attention (all with ``all``), each with latest config and
    benchmark, open regressions, incidents and in-progress attempts, within ``budget`` tokens."""
    return as_dict(await run_limited(ctx, facade(db, "brief"), model=model, at=at, budget=budget, all_models=all_models))


@router.get("/regressions", response_model=RegressionsOut)
async def regressions(
    db: Db, ctx: Ctx,
    model: Annotated[str | None, Query(max_length=200)] = None,
    status: Annotated[Literal["open", "resolved", "all"], Query()] = "open",
) -> dict[str, Any]:
    """Regression findings, newest first: benchmarks worse than their predecessor, with both sets of numbers."""
    findings = await run_limited(ctx, facade(db, "regressions"), model=model, status=status)
    return {"regressions": [f.to_dict() if hasattr(f, "to_dict") else f for f in findings]}
