"""``elephant.Client``: the library's methods over the REST API, raising the library's errors.

    from elephant import Client
    with Client("http://127.0.0.1:8000", api_key="elk_...") as mem:
        mem.put({"kind": "note", "key": "ranker/hello", "title": "Hello"})
        print(mem.ask("what did we try last time to cut ranker p99?").answer)

``Client`` meets ``elephant.memory.Memory`` as ``Elephant`` does: the same calls with the same arguments
return the library's own models (``WriteResult``, ``StoredRecord``, ``SearchResponse``, ``AskResponse``,
``Brief``, ``ContextPack``, ``Finding``, ...; see ``elephant.models``), read back from their JSON by
``elephant.wire``. httpx is imported here only, so ``import elephant`` stays free of it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from elephant import errors, wire
from elephant.errors import ElephantError, FieldProblem
from elephant.records.envelope import Record

if TYPE_CHECKING:
    from elephant.answers.ask import AskResponse
    from elephant.answers.brief import Brief
    from elephant.answers.context import ContextPack
    from elephant.answers.regressions import Finding
    from elephant.facade import Diff, PutReport
    from elephant.retrieval.search import SearchResponse
    from elephant.storage.store import StoredRecord, VersionInfo, WriteResult

_BY_STATUS: dict[int, type[ElephantError]] = {
    400: errors.UsageError, 401: errors.AuthError, 403: errors.Forbidden, 404: errors.NotFound,
    409: errors.ImportConflict, 412: errors.Conflict, 422: errors.InvalidRecord, 503: errors.StoreError,
}


class Result(dict[str, Any]):
    """A JSON object from the API with attribute access and ``to_dict()``: what only HTTP has (record
    summaries of ``list_records``, readiness) and the ingest report (``elephant.facade.IngestResult``)."""

    def __getattr__(self, name: str) -> Any:
        try:
            value = self[name]
        except KeyError:
            raise AttributeError(name) from None
        return Result(value) if isinstance(value, dict) else value

    def to_dict(self) -> dict[str, Any]:
        return dict(self)


class IngestReply(Result):
    """The server's ingest report (``elephant ingest --json``'s shape); meets ``elephant.facade.IngestResult``."""

    @property
    def ok(self) -> bool:
        return bool(self["ok"])


def error_from_problem(status: int, body: Any, fallback: str) -> ElephantError:
    """The library exception a problem+json response stands for."""
    problem = body if isinstance(body, dict) else {}
    detail = str(problem.get("detail") or fallback)
    name = str(problem.get("error") or "")
    cls = getattr(errors, name, None)
    if not (isinstance(cls, type) and issubclass(cls, ElephantError)):
        cls = _BY_STATUS.get(status, ElephantError)
    if issubclass(cls, errors.InvalidRecord):
        items = problem.get("errors") or [{"field": "", "message": detail}]
        problems = [FieldProblem(field=str(i.get("field") or ""), message=str(i.get("message") or ""),
                                 file=i.get("file"), key=i.get("key")) for i in items if isinstance(i, dict)]
        err: ElephantError = cls(problems or [FieldProblem(field="", message=detail)])
        err.message = detail
        return err
    reserved = {"type", "title", "status", "detail", "instance", "error", "errors"}
    extra = {k: v for k, v in problem.items() if k not in reserved}
    err = cls(detail, **extra)
    err.details.setdefault("http_status", status)
    return err


def _listed(value: str | Sequence[str] | None) -> list[str] | None:
    """A filter as the REST body takes it: a list, or None when empty."""
    if value is None or isinstance(value, str):
        return [value] if value else None
    return [str(v) for v in value] or None


def _key_path(key: str) -> str:
    # Slashes stay slashes (the routes take {key:path}); everything else unusual is escaped.
    return quote(key, safe="/:+=,~()[]")


class Client:
    """The Elephant library over HTTP. Thread-safe (one pooled ``httpx.Client``)."""

    def __init__(self, base_url: str, api_key: str | None = None, *, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout,
                                  transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __repr__(self) -> str:  # never shows the key
        return f"Client({str(self._http.base_url)!r})"

    # ------------------------------------------------------------------ transport
    def _request(self, method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, headers=headers, **kwargs)
        except httpx.TimeoutException as exc:
            raise errors.StoreError(f"{method} {path}: the server did not answer in time ({exc})") from exc
        except httpx.TransportError as exc:
            raise errors.StoreError(f"cannot reach Elephant at {self._http.base_url}: {exc}") from exc
        if response.status_code >= 400:
            try:
                body = response.json()
            except (json.JSONDecodeError, UnicodeDecodeError):
                body = None
            raise error_from_problem(response.status_code, body,
                                     f"{method} {path} failed with HTTP {response.status_code}")
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._request(method, path, **kwargs).json()

    @staticmethod
    def _if_match(expected_version: int | None) -> dict[str, str] | None:
        return {"If-Match": f'"{expected_version}"'} if expected_version is not None else None

    # ------------------------------------------------------------------ writes
    def put(self, record: Record | Mapping[str, Any], *, expected_version: int | None = None,
            message: str = "", idempotency_key: str | None = None) -> WriteResult:
        """Write one record; with ``expected_version`` only if the key is still at that version (else Conflict)."""
        envelope = record.envelope() if isinstance(record, Record) else dict(record)
        headers = self._if_match(expected_version) or {}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        params = {"message": message} if message else None
        if expected_version is not None and "key" in envelope:
            data = self._json("PUT", f"/v1/records/{_key_path(str(envelope['key']))}", json=envelope,
                              headers=headers, params=params)
        else:
            data = self._json("POST", "/v1/records", json=envelope, headers=headers or None, params=params)
        return wire.write_result(data)

    def put_many(self, records: Iterable[Record | Mapping[str, Any]], *, message: str = "") -> PutReport:
        """Write several records in one request: the valid ones commit, the invalid ones are reported."""
        items = [r.envelope() if isinstance(r, Record) else dict(r) for r in records]
        params = {"message": message} if message else None
        return wire.put_report(self._json("POST", "/v1/records", json={"records": items}, params=params))

    def delete(self, key: str, *, expected_version: int | None = None, message: str = "") -> WriteResult:
        params = {"message": message} if message else None
        return wire.write_result(self._json("DELETE", f"/v1/records/{_key_path(key)}",
                                        headers=self._if_match(expected_version), params=params))

    def revert(self, key: str, version: int, *, expected_version: int | None = None, message: str = "") -> WriteResult:
        return wire.write_result(self._json("POST", f"/v1/records/{_key_path(key)}/revert",
                                        json={"version": version, "message": message},
                                        headers=self._if_match(expected_version)))

    # ------------------------------------------------------------------ reads
    def get(self, key: str, *, version: int | None = None, as_of: str | None = None) -> StoredRecord:
        params: dict[str, Any] = {}
        if version is not None:
            params["version"] = version
        if as_of is not None:
            params["as_of"] = as_of
        return wire.stored_record(self._json("GET", f"/v1/records/{_key_path(key)}", params=params))

    def history(self, key: str) -> list[VersionInfo]:
        out: list[VersionInfo] = []
        offset = 0
        while True:
            page = self._json("GET", f"/v1/records/{_key_path(key)}/versions",
                              params={"limit": 1000, "offset": offset})
            out.extend(wire.versions(page["versions"]))
            offset += len(page["versions"])
            if not page["versions"] or offset >= page["total"]:
                return out

    def diff(self, key: str, from_version: int, to_version: int) -> Diff:
        return wire.diff(self._json("GET", f"/v1/records/{_key_path(key)}/diff",
                                    params={"from": from_version, "to": to_version}))

    def list_records(self, *, kind: str | None = None, model: str | None = None, limit: int = 1000) -> list[Result]:
        """Summaries of current records (every page)."""
        out: list[Result] = []
        after: str | None = None
        while True:
            params = {k: v for k, v in {"kind": kind, "model": model, "after": after, "limit": limit}.items()
                      if v is not None}
            page = self._json("GET", "/v1/records", params=params)
            out.extend(Result(r) for r in page["records"])
            after = page.get("next")
            if not after:
                return out

    # ------------------------------------------------------------------ retrieval and answers
    def search(self, query: str, *, kind: str | Sequence[str] | None = None,
               model: str | Sequence[str] | None = None, tags: str | Sequence[str] | None = None,
               since: str | None = None, until: str | None = None, where: str | Sequence[str] | None = None,
               k: int = 10) -> SearchResponse:
        body = {"query": query, "kind": _listed(kind), "model": _listed(model), "tags": _listed(tags),
                "since": since, "until": until, "where": _listed(where), "k": k}
        return wire.search_response(self._json("POST", "/v1/search",
                                               json={k_: v for k_, v in body.items() if v is not None}))

    def ask(self, question: str, *, model: str | None = None, k: int = 10) -> AskResponse:
        body = {"question": question, "k": k, **({"model": model} if model else {})}
        return wire.ask_response(self._json("POST", "/v1/ask", json=body))

    def context(self, query: str, *, budget: int = 500, model: str | None = None) -> ContextPack:
        body = {"query": query, "budget": budget, **({"model": model} if model else {})}
        return wire.context_pack(self._json("POST", "/v1/context", json=body))

    def brief(self, model: str | None = None, *, at: str | None = None, budget: int | None = None,
              all_models: bool = False) -> Brief:
        params: dict[str, Any] = {name: value for name, value in (("model", model), ("at", at), ("budget", budget))
                                  if value is not None}
        if all_models:
            params["all"] = "true"
        return wire.brief(self._json("GET", "/v1/brief", params=params or None))

    def regressions(self, *, model: str | None = None, status: str = "open") -> list[Finding]:
        params = {k: v for k, v in {"model": model, "status": status}.items() if v is not None}
        return wire.findings(self._json("GET", "/v1/regressions", params=params)["regressions"])

    def ingest(self, paths: Sequence[str | Path], *, dry_run: bool = False, prune: bool = False,
               root: str = "upload") -> IngestReply:
        """Upload files (directories are walked; names keep their path relative to the directory)."""
        uploads: list[tuple[str, Path]] = []
        for raw in paths:
            path = Path(raw)
            if path.is_dir():
                uploads.extend((p.relative_to(path).as_posix(), p) for p in sorted(path.rglob("*")) if p.is_file())
            else:
                uploads.append((path.name, path))
        if not uploads:
            raise errors.UsageError("nothing to upload")
        handles = [(name, p.open("rb")) for name, p in uploads]
        try:
            files = [("files", (name, handle)) for name, handle in handles]
            data = {"root": root, "dry_run": str(dry_run).lower(), "prune": str(prune).lower()}
            return IngestReply(self._json("POST", "/v1/ingest", files=files, data=data))
        finally:
            for _name, handle in handles:
                handle.close()

    # ------------------------------------------------------------------ operations
    def health(self) -> bool:
        return bool(self._json("GET", "/healthz").get("status") == "ok")

    def ready(self) -> Result:
        response = self._http.get("/readyz")
        return Result(response.json())
