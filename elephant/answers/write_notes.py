"""What a write has to tell besides its results: links to keys that are not in memory (accepted, since the
other record may come later, but worth a warning), and the regression findings its benchmarks raised in
the same transaction. The CLI's ``put`` and the REST write responses both add these to their JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict

from elephant.answers.regressions import finding_key
from elephant.kinds import regression
from elephant.storage.store import Store, WriteResult


@with_config(ConfigDict(extra="forbid"))
class LinkOut(TypedDict):
    rel: str
    key: str


@with_config(ConfigDict(extra="forbid"))
class LinkWarningOut(TypedDict):
    """A ``LinkWarning`` as JSON."""

    key: str
    field: str
    link: LinkOut
    message: str


@with_config(ConfigDict(extra="forbid"))
class RaisedRegressionOut(TypedDict):
    """A ``RaisedRegression`` as JSON."""

    finding: str
    benchmark: str
    baseline: str
    figures: list[str]
    message: str


@with_config(ConfigDict(extra="forbid"))
class WriteNotesOut(TypedDict):
    warnings: list[LinkWarningOut]
    regressions: list[RaisedRegressionOut]


@dataclass(frozen=True)
class LinkWarning:
    """A link of a written record to a key that has no live record."""

    key: str  # the record that holds the link
    field: str  # "links[0]"
    rel: str
    target: str

    @property
    def message(self) -> str:
        return f"links ({self.rel}) to {self.target}, which is not in memory; the link is kept"

    def to_dict(self) -> LinkWarningOut:
        return {"key": self.key, "field": self.field, "link": {"rel": self.rel, "key": self.target},
                "message": self.message}


@dataclass(frozen=True)
class RaisedRegression:
    """A regression finding written in the same transaction as one of the write's benchmarks."""

    finding: str  # key@version of the finding
    benchmark: str  # key@version of the benchmark that regressed
    baseline: str  # key@version of the benchmark it was compared with
    figures: list[str]  # what got worse: "p99 43 → 50 ms (+16 %)"

    @property
    def message(self) -> str:
        return f"{'; '.join(self.figures) or 'worse than its baseline'} vs {self.baseline}"

    def to_dict(self) -> RaisedRegressionOut:
        return {"finding": self.finding, "benchmark": self.benchmark, "baseline": self.baseline,
                "figures": self.figures, "message": self.message}


@dataclass
class WriteNotes:
    warnings: list[LinkWarning] = field(default_factory=list)
    regressions: list[RaisedRegression] = field(default_factory=list)

    def to_dict(self) -> WriteNotesOut:
        return {"warnings": [w.to_dict() for w in self.warnings],
                "regressions": [r.to_dict() for r in self.regressions]}


def write_notes(store: Store, results: Sequence[WriteResult]) -> WriteNotes:
    """The notes on a finished write: two or three indexed reads, whatever the batch size."""
    notes = WriteNotes()
    written = [r for r in results if r.status != "deleted"]
    current = store.current_many([r.key for r in written])
    links: list[tuple[str, int, str, str]] = []
    for result in written:
        stored = current.get(result.key)
        for index, link in enumerate((stored.envelope.get("links") or []) if stored is not None else []):
            if isinstance(link, dict) and link.get("key"):
                links.append((result.key, index, str(link.get("rel") or ""), str(link["key"])))
    if links:
        present = store.current_many(sorted({target for *_, target in links}))
        notes.warnings = [LinkWarning(key=key, field=f"links[{index}]", rel=rel, target=target)
                          for key, index, rel, target in links if target not in present]
    benchmarks = [r for r in written if r.kind == "benchmark" and r.is_change]
    if benchmarks:
        findings = store.current_many([finding_key(r.key) for r in benchmarks])
        for result in benchmarks:
            found = findings.get(finding_key(result.key))
            fields = (found.envelope.get("fields") or {}) if found is not None else {}
            if found is None or fields.get("candidate") != f"{result.key}@{result.version}":
                continue  # no finding, or one raised by an earlier version
            if fields.get("status", "open") != "open":
                continue  # the same numbers someone already resolved
            notes.regressions.append(RaisedRegression(
                finding=found.citation, benchmark=f"{result.key}@{result.version}",
                baseline=str(fields.get("baseline") or ""), figures=regression.figures(fields)))
    return notes
