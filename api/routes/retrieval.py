"""Search, ask, context, brief and regressions: thin shells over the library's facade."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

import anyio
from fastapi import APIRouter, Depends, Query

from elephant.answers.ask import AskOut
from elephant.answers.brief import DEFAULT_BRIEF_BUDGET, MAX_BRIEF_BUDGET, BriefOut
from elephant.answers.context import ContextOut
from elephant.api.deps import AppContext, get_context, get_db
from elephant.api.responses import RegressionsOut
from elephant.api.schemas import AskIn, ContextIn, SearchIn
from elephant.facade import Elephant
from elephant.retrieval.search import SearchOut

router = APIRouter(tags=["retrieval"])
Db = Annotated[Elephant, Depends(get_db)]
Ctx = Annotated[AppContext, Depends(get_context)]
T = TypeVar("T")


async def run_limited(ctx: AppContext, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a library call on a worker thread, within the app's retrieval concurrency limit."""
    return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs), limiter=ctx.retrieval_limiter())


@router.post("/search", response_model=SearchOut)
async def search(db: Db, ctx: Ctx, body: SearchIn) -> SearchOut:
    """Hybrid (dense + lexical) search with structured filters; ``degraded`` when only lexical ran."""
    response = await run_limited(ctx, db.search, body.query, kind=body.kind, model=body.model,
                                 tags=body.tags, since=body.since, until=body.until, where=body.where, k=body.k)
    ctx.metrics.count_search(response)
    ctx.metrics.count_degraded("search", response.degraded)
    return response.to_dict()


@router.post("/ask", response_model=AskOut)
async def ask(db: Db, ctx: Ctx, body: AskIn) -> AskOut:
    """"What did we try last time?": attempts newest first, with outcomes, deltas and citations."""
    response = await run_limited(ctx, db.ask, body.question, model=body.model, k=body.k)
    ctx.metrics.count_degraded("ask", response.degraded)
    return response.to_dict()


@router.post("/context", response_model=ContextOut)
async def context(db: Db, ctx: Ctx, body: ContextIn) -> ContextOut:
    """A Markdown block for an agent's prompt, within ``budget`` tokens, each fact cited key@version."""
    return (await run_limited(ctx, db.context, body.query, budget=body.budget, model=body.model)).to_dict()


@router.get("/brief", response_model=BriefOut)
async def brief(db: Db, ctx: Ctx, model: Annotated[str | None, Query(max_length=200)] = None,
                at: Annotated[str | None, Query(max_length=40, description="valid time: the brief as it stood in "
                                                "the world at this ISO date or datetime")] = None,
                budget: Annotated[int | None, Query(ge=1, le=MAX_BRIEF_BUDGET, description="token budget "
                                                    f"(default {DEFAULT_BRIEF_BUDGET})")] = None,
                all_models: Annotated[bool, Query(alias="all", description="every model, not only those that "
                                                  "need attention")] = False,
                ) -> BriefOut:
    """The startup briefing: the models that need attention (all with ``all``), each with latest config and
    benchmark, open regressions, incidents and in-progress attempts, within ``budget`` tokens."""
    return (await run_limited(ctx, db.brief, model=model, at=at, budget=budget, all_models=all_models)).to_dict()


@router.get("/regressions", response_model=RegressionsOut)
async def regressions(
    db: Db, ctx: Ctx,
    model: Annotated[str | None, Query(max_length=200)] = None,
    status: Annotated[Literal["open", "resolved", "all"], Query()] = "open",
) -> dict[str, Any]:
    """Regression findings, newest first: benchmarks worse than their predecessor, with both sets of numbers."""
    findings = await run_limited(ctx, db.regressions, model=model, status=status)
    return {"regressions": [f.to_dict() for f in findings]}
