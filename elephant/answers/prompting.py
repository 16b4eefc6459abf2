"""Prompt templates: ``{{ elephant.* }}`` placeholders in a Markdown file, replaced with current memory.

A persona file such as SOUL.md becomes a ready system prompt::

    {{ elephant.brief "ranker" }}
    {{ elephant.context "INT8 quantization" budget=300 }}

Placeholders hold one call each, on one line: a name, positional arguments (quoted when they contain
spaces) and ``option=value`` pairs. Every placeholder is parsed before any is run, so a template with
a mistake fails at once with the line that holds it, and nothing is expanded halfway. ``\\{{`` writes
a literal ``{{``.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from elephant.errors import ElephantError, UsageError

if TYPE_CHECKING:
    from elephant.facade import Elephant

_PLACEHOLDER = re.compile(r"(?<!\\)\{\{(.*?)\}\}")
_ESCAPED_OPEN = "\\{{"


@dataclass(frozen=True)
class Spec:
    """What one placeholder accepts: positional argument names (required first) and options with types."""

    positional: tuple[str, ...]
    required: int
    options: Mapping[str, type]
    summary: str


SPECS: dict[str, Spec] = {
    "brief": Spec(("model",), 0, {"model": str, "budget": int, "all": bool},
                  'startup briefing, e.g. {{ elephant.brief "ranker" }} or {{ elephant.brief budget=800 all=true }}'),
    "context": Spec(("query",), 1, {"query": str, "budget": int, "model": str},
                    '{{ elephant.context "INT8 quantization" budget=300 }}'),
    "ask": Spec(("question",), 1, {"question": str, "model": str},
                '{{ elephant.ask "what did we try last time to cut ranker p99?" }}'),
    "search": Spec(("query",), 1, {"query": str, "k": int, "kind": str, "model": str},
                   '{{ elephant.search "canary rollback" k=5 }}'),
    "history": Spec(("key",), 1, {"key": str}, '{{ elephant.history "ranker/int8-dynamic-2026-03" }}'),
}
DEFAULT_CONTEXT_BUDGET = 400


@dataclass(frozen=True)
class Placeholder:
    line: int
    call: str
    name: str
    args: dict[str, Any]


@dataclass
class ExpandedPrompt:
    """The expanded text and, per placeholder, which records it cited."""

    text: str
    placeholders: list[dict[str, Any]] = field(default_factory=list)

    @property
    def citations(self) -> list[str]:
        seen: dict[str, None] = {}
        for item in self.placeholders:
            seen.update(dict.fromkeys(item["citations"]))
        return list(seen)

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "placeholders": self.placeholders, "citations": self.citations}


def _problem(name: str, line: int, message: str) -> UsageError:
    return UsageError(f"{name}:{line}: {message}", file=name, line=line)


def _convert(value: str, to: type, *, option: str, where: Callable[[str], UsageError]) -> Any:
    if to is int:
        try:
            number = int(value)
        except ValueError:
            raise where(f"{option}= takes a whole number, got {value!r}") from None
        if number < 1:
            raise where(f"{option}= must be at least 1, got {number}")
        return number
    if to is bool:
        if value.lower() not in ("true", "false"):
            raise where(f"{option}= takes true or false, got {value!r}")
        return value.lower() == "true"
    return value


def parse_placeholder(call: str, *, line: int, name: str = "<template>") -> Placeholder:
    """Parse the inside of one ``{{ ... }}``; UsageError naming ``name:line`` when it is not a known call."""
    def where(message: str) -> UsageError:
        return _problem(name, line, message)

    try:
        words = shlex.split(call)
    except ValueError as exc:
        raise where(f"cannot read placeholder {{{{{call}}}}}: {exc}") from None
    if not words:
        raise where("empty placeholder {{ }}")
    head = words[0]
    known = ", ".join(f"elephant.{n}" for n in SPECS)
    if not head.startswith("elephant.") or head.removeprefix("elephant.") not in SPECS:
        raise where(f"unknown placeholder {{{{ {head} }}}}; known: {known}")
    kind = head.removeprefix("elephant.")
    spec = SPECS[kind]
    args: dict[str, Any] = {}
    positional = 0
    for word in words[1:]:
        option, sep, value = word.partition("=")
        if sep and re.fullmatch(r"[a-z_]+", option):
            if option not in spec.options:
                raise where(f"elephant.{kind} has no option {option!r} (options: {', '.join(spec.options)})")
            if option in args:
                raise where(f"{option} is given twice")
            args[option] = _convert(value, spec.options[option], option=option, where=where)
            continue
        if positional >= len(spec.positional):
            raise where(f"elephant.{kind} takes at most {len(spec.positional)} quoted argument(s); "
                        f"extra: {word!r}. Example: {spec.summary}")
        arg_name = spec.positional[positional]
        if arg_name in args:
            raise where(f"{arg_name} is given twice")
        args[arg_name] = word
        positional += 1
    for arg_name in spec.positional[: spec.required]:
        if not str(args.get(arg_name, "")).strip():
            raise where(f"elephant.{kind} needs a {arg_name}. Example: {spec.summary}")
    return Placeholder(line=line, call=" ".join(words), name=kind, args=args)


def parse_template(template_text: str, *, name: str = "<template>") -> list[Placeholder]:
    """Every placeholder of a template, or a UsageError listing each bad line."""
    found: list[Placeholder] = []
    problems: list[tuple[int, str]] = []
    for number, text in enumerate(template_text.splitlines(), start=1):
        for match in _PLACEHOLDER.finditer(text):
            try:
                found.append(parse_placeholder(match.group(1).strip(), line=number, name=name))
            except UsageError as exc:
                problems.append((number, exc.message))
        rest = _PLACEHOLDER.sub("", text).replace(_ESCAPED_OPEN, "")
        if "{{" in rest:
            problems.append((number, f"{name}:{number}: a placeholder opens with {{{{ but does not close with }}}} "
                                     "on the same line (write \\{{ for a literal {{)"))
    if problems:
        raise UsageError("; ".join(m for _, m in problems), file=name, line=problems[0][0],
                         lines=[n for n, _ in problems])
    return found


# ---------------------------------------------------------------- running the calls
def run_placeholder(db: Elephant, item: Placeholder) -> tuple[str, list[str]]:
    """(Markdown, citations) for one placeholder."""
    a = item.args
    if item.name == "context":
        pack = db.context(a["query"], budget=a.get("budget", DEFAULT_CONTEXT_BUDGET), model=a.get("model"))
        return pack.context, list(pack.citations)
    if item.name == "ask":
        answer = db.ask(a["question"], model=a.get("model"))
        return answer.answer, list(answer.citations)
    if item.name == "brief":
        brief = db.brief(a.get("model"), budget=a.get("budget"), all_models=a.get("all", False))
        return brief.markdown(), brief.to_dict()["citations"]
    if item.name == "search":
        found = db.search(a["query"], k=a.get("k", 5), kind=a.get("kind") or None, model=a.get("model") or None)
        lines = [f"- {hit.title or hit.key} [{hit.citation}]" for hit in found.results]
        return ("\n".join(lines) or f"No records match {a['query']!r}."), [hit.citation for hit in found.results]
    if item.name == "history":
        versions = db.history(a["key"])
        lines = [f"- v{v.version} {v.recorded_at[:19]} by {v.author or '?'}"
                 f"{' (deleted)' if v.is_deleted else ''}: {v.message or v.title} [{v.key}@{v.version}]"
                 for v in versions]
        return "\n".join(lines), [f"{v.key}@{v.version}" for v in versions]
    raise UsageError(f"unknown placeholder elephant.{item.name}")  # parse_placeholder prevents this


def expand_template(db: Elephant, template_text: str, *, name: str = "<template>") -> ExpandedPrompt:
    """Parse every placeholder first (failing with the line of each mistake), then replace each with memory."""
    parse_template(template_text, name=name)
    lines_out: list[str] = []
    report: list[dict[str, Any]] = []
    for number, text in enumerate(template_text.splitlines(keepends=True), start=1):
        def replace(match: re.Match[str], number: int = number) -> str:
            item = parse_placeholder(match.group(1).strip(), line=number, name=name)
            try:
                markdown, citations = run_placeholder(db, item)
            except ElephantError as exc:
                # Same error type (so the exit code and HTTP status stay right), located in the template.
                exc.message = f"{name}:{number}: {{{{ {item.call} }}}}: {exc.message}"
                exc.args = (exc.message,)
                raise
            report.append({"line": number, "call": item.call, "citations": citations})
            return markdown

        lines_out.append(_PLACEHOLDER.sub(replace, text).replace(_ESCAPED_OPEN, "{{"))
    return ExpandedPrompt(text="".join(lines_out), placeholders=report)


def expand_prompt(db: Elephant, template_text: str, *, name: str = "<template>") -> str:
    """The template with every ``{{ elephant.* }}`` placeholder replaced by current memory."""
    return expand_template(db, template_text, name=name).text
