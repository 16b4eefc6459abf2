"""Operations: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from elephant.api.deps import AppContext, get_context
from elephant.api.responses import Readiness
from elephant.errors import ElephantError
from elephant.facade import Elephant

router = APIRouter(tags=["operations"])
Ctx = Annotated[AppContext, Depends(get_context)]


@router.get("/healthz", response_model=dict[str, str])
async def healthz() -> dict[str, str]:
    """The process is up (no key needed, no database touched)."""
    return {"status": "ok"}


def readiness(ctx: AppContext) -> tuple[bool, dict[str, str]]:
    """Each dependency's state: ``ok`` or the reason it cannot serve."""
    checks: dict[str, str] = {}
    try:
        ctx.db.store.ping()
        checks["database"] = "ok"
    except ElephantError as exc:
        checks["database"] = exc.message
        return False, checks
    if not ctx.warmed.is_set():
        if ctx.warm_started:
            checks["model"] = "warming up"
            return False, checks
        ctx.warm_up()
    ctx.retry_warm_up()
    checks["model"] = ctx.warmup_error.message if ctx.warmup_error else "ok"
    if ctx.warmup_error is None:
        try:
            result = ctx.db.search("readiness probe", k=1)
            checks["index"] = f"degraded: search falls back to lexical results: {result.reason}" \
                if result.degraded else "ok"
        except ElephantError as exc:
            checks["index"] = exc.message
    if ctx.mcp is not None and ctx.mcp.error:  # still starting is fine: /mcp requests wait for it
        checks["mcp"] = ctx.mcp.error
    ready = all(v == "ok" for v in checks.values())
    checks.update(index_degradation(ctx.db))
    return ready, checks


DEGRADATION_CHECKS = ("outbox", "vectors")


def index_degradation(db: Elephant) -> dict[str, str]:
    """"degraded: ..." per problem that leaves the server serving but some records unfindable: parked
    index jobs ("outbox") and a vector index holding fewer vectors than the store indexed ("vectors")."""
    try:
        found = db.index_status(limit=3)
    except ElephantError as exc:
        return {"outbox": f"degraded: cannot read the outbox: {exc.message}"}
    out: dict[str, str] = {}
    if found["parked"]:
        named = "; ".join(f"{j['key']} v{j['version']}: {j['reason']}" for j in found["parked_jobs"])
        out["outbox"] = (f"degraded: {found['parked']} index job(s) parked after repeated failures ({named}); "
                         "those records are stored but not searchable: write them again, or run `elephant reindex`")
    if found["vector_problem"]:
        out["vectors"] = f"degraded: {found['vector_problem']}"
    return out


@router.get("/readyz", response_model=Readiness,
            responses={503: {"model": Readiness, "description": "a dependency is not usable; see checks"}})
def readyz(ctx: Ctx) -> Any:
    """Database, model and index usable (200), or 503 with the reason per dependency.

    ``degraded`` (200): everything serves, but some records could not be indexed (parked jobs).
    """
    ready, checks = readiness(ctx)
    degraded = any(name in checks for name in DEGRADATION_CHECKS)
    status = ("degraded" if degraded else "ready") if ready else "unavailable"
    body = {"status": status, "checks": checks}
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}})
def metrics(ctx: Ctx) -> Response:
    """Prometheus text format."""
    return Response(ctx.metrics.render(), media_type=CONTENT_TYPE_LATEST)
