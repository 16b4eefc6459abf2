"""``/mcp`` on the REST app without importing the MCP SDK at startup.

Importing the SDK (its protocol types are thousands of pydantic models) took 1.1 s on the 2-core Xeon
of 2026-11-26, more than half of the 2 s cold-start budget, and it is CPU-bound Python: loading it
beside the model's warm-up only slowed both. So the route is mounted at once and the SDK loads on a
worker thread once the warm-up is done. A request to ``/mcp`` that arrives before then waits for it;
``/readyz`` names MCP only if it failed to start (503).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio

_log = logging.getLogger("elephant.api")
STARTUP_WAIT_S = 30.0


class LazyMcpEndpoint:
    """The ASGI endpoint at ``/mcp``: the real one (``api.mcp_server.McpEndpoint``) once it is built."""

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self.endpoint: Any = None
        self.error: str | None = None
        self._ready: anyio.Event | None = None

    @property
    def state(self) -> str:
        """``ok``, ``starting``, or why it failed."""
        if self.endpoint is not None:
            return "ok"
        if self.error is not None:
            return self.error
        return "starting" if self._ready is not None else "not running (the app's lifespan has not started)"

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """For the app's lifespan: builds and runs the MCP endpoint in the background until shutdown."""
        ready, stop = anyio.Event(), anyio.Event()
        self._ready, self.error = ready, None
        async with anyio.create_task_group() as group:
            group.start_soon(self._serve, ready, stop)
            try:
                yield
            finally:
                stop.set()

    async def _serve(self, ready: anyio.Event, stop: anyio.Event) -> None:
        try:
            warmed = getattr(self.ctx, "warmed", None)
            with anyio.move_on_after(STARTUP_WAIT_S):
                while warmed is not None and not warmed.is_set():
                    await anyio.sleep(0.05)
            endpoint = await anyio.to_thread.run_sync(self._build)
            async with endpoint.running():
                self.endpoint = endpoint
                ready.set()
                await stop.wait()
        except Exception as exc:  # the REST API still serves; /readyz and /mcp say why
            self.error = f"MCP failed to start: {type(exc).__name__}: {exc}"
            _log.exception("MCP failed to start")
        finally:
            self.endpoint = None
            ready.set()

    def _build(self) -> Any:
        from elephant.api.mcp_server import create_http_endpoint

        return create_http_endpoint(lambda: self.ctx.db, keys_required=self.ctx.keys_required)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if self._ready is not None:
            with anyio.move_on_after(STARTUP_WAIT_S):
                await self._ready.wait()
        if self.endpoint is None:
            from elephant.api.problems import problem_response

            await problem_response(503, f"MCP is unavailable: {self.state}", instance=scope.get("path"))(
                scope, receive, send)
            return
        await self.endpoint(scope, receive, send)


def mount_mcp(app: Any, ctx: Any, *, path: str = "/mcp") -> LazyMcpEndpoint:
    """Serve MCP at ``path`` of the REST app, built and run by the app's lifespan.

    A route (not a mount) so that ``/mcp`` itself answers, without a redirect to ``/mcp/``.
    """
    from starlette.routing import Route

    endpoint = LazyMcpEndpoint(ctx)
    app.router.routes.append(Route(path, endpoint=endpoint, methods=["GET", "POST", "DELETE"],
                                   include_in_schema=False))
    ctx.lifespan_contexts.append(endpoint.running)
    ctx.mcp = endpoint
    return endpoint
