"""``Memory``: the calls that ``Elephant`` (in process) and ``Client`` (over HTTP) both offer.

Code written against ``Memory`` runs unchanged on a local home or a server: the same arguments, the
same typed results (``elephant.models``), the same errors (``elephant.errors``).
``tests/test_memory_parity.py`` runs one script of calls against both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from elephant.answers.ask import AskResponse
    from elephant.answers.brief import Brief
    from elephant.answers.context import ContextPack
    from elephant.answers.regressions import Finding
    from elephant.facade import Diff, IngestResult, PutReport
    from elephant.records.envelope import Record
    from elephant.retrieval.search import SearchResponse
    from elephant.storage.store import StoredRecord, VersionInfo, WriteResult


@runtime_checkable
class Memory(Protocol):
    """A team's memory: versioned records, search and answers. Met by ``Elephant`` and ``Client``."""

    # writes
    def put(self, record: Record | Mapping[str, Any], *, expected_version: int | None = None,
            message: str = "") -> WriteResult: ...

    def put_many(self, records: Iterable[Record | Mapping[str, Any]], *, message: str = "") -> PutReport: ...

    def delete(self, key: str, *, expected_version: int | None = None, message: str = "") -> WriteResult: ...

    def revert(self, key: str, version: int, *, expected_version: int | None = None,
               message: str = "") -> WriteResult: ...

    # reads
    def get(self, key: str, *, version: int | None = None, as_of: str | None = None) -> StoredRecord: ...

    def history(self, key: str) -> list[VersionInfo]: ...

    def diff(self, key: str, from_version: int, to_version: int) -> Diff: ...

    # retrieval and answers
    def search(self, query: str, *, kind: str | Sequence[str] | None = None,
               model: str | Sequence[str] | None = None, tags: str | Sequence[str] | None = None,
               since: str | None = None, until: str | None = None, where: str | Sequence[str] | None = None,
               k: int = 10) -> SearchResponse: ...

    def ask(self, question: str, *, model: str | None = None, k: int = 10) -> AskResponse: ...

    def context(self, query: str, *, budget: int = 500, model: str | None = None) -> ContextPack: ...

    def brief(self, model: str | None = None, *, at: str | None = None, budget: int | None = None,
              all_models: bool = False) -> Brief: ...

    def regressions(self, *, model: str | None = None, status: str = "open") -> list[Finding]: ...

    def ingest(self, paths: Sequence[str | Path], *, dry_run: bool = False, prune: bool = False) -> IngestResult: ...

    # lifecycle
    def close(self) -> None: ...

    def __enter__(self) -> Memory: ...

    def __exit__(self, *exc: object) -> None: ...


if TYPE_CHECKING:
    from elephant.client import Client
    from elephant.facade import Elephant

    def _both_are_memories(db: Elephant, client: Client) -> tuple[Memory, Memory]:
        """mypy checks here that both classes meet the protocol, argument for argument."""
        return db, client
