"""Prompt templates: Jinja2 templates (in a sandbox) whose ``elephant.*`` functions return current memory.

A persona file such as SOUL.md becomes a ready system prompt::

    {{ elephant.brief("ranker", budget=800) }}
    {{ elephant.context("INT8 quantization", budget=300) }}
    {% if ... %} ... {% endif %}               (any Jinja2 statement)

The earlier call form stays valid and means the same: ``{{ elephant.brief "ranker" }}``,
``{{ elephant.context "INT8 quantization" budget=300 }}`` (a name, quoted positional arguments and
``option=value`` pairs, on one line); it is rewritten to the call above before Jinja2 reads the file.
``\\{{`` still writes a literal ``{{``.

Templates run in Jinja2's ``SandboxedEnvironment``: the only name is ``elephant``, whose functions are
the placeholders below, and nothing else of Python is reachable. Every ``elephant.*`` call is checked
before any runs (its name, its arguments, their types: literals only), so a template with a mistake
fails at once naming each bad line, and nothing is expanded halfway.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, nodes
from jinja2.sandbox import SandboxedEnvironment

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


_JINJA_CALL = re.compile(r"^elephant\.[A-Za-z_]\w*\s*\(")


def _literal(value: Any) -> str:
    """A Python value as a Jinja2 literal (JSON strings are valid Jinja2 strings)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else str(value)


def _as_jinja(item: Placeholder) -> str:
    """The earlier one-line form as the Jinja2 call it means: ``elephant.context(query="q", budget=300)``."""
    return f"{{{{ elephant.{item.name}({', '.join(f'{k}={_literal(v)}' for k, v in item.args.items())}) }}}}"


def call_text(name: str, args: Mapping[str, Any]) -> str:
    """How reports and errors show a call: 'elephant.context INT8 quantization budget=300'."""
    spec = SPECS[name]
    words = [f"elephant.{name}"]
    words += [str(args[p]) for p in spec.positional if p in args]
    words += [f"{k}={_literal(v) if isinstance(v, bool) else v}" for k, v in args.items()
              if k not in spec.positional]
    return " ".join(words)


def _environment() -> SandboxedEnvironment:
    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True,
                                trim_blocks=True)


def _to_jinja(template_text: str, *, name: str) -> str:
    """The template in Jinja2 syntax (earlier-form placeholders rewritten), or a UsageError per bad line."""
    problems: list[tuple[int, str]] = []
    out: list[str] = []
    for number, text in enumerate(template_text.splitlines(keepends=True), start=1):
        def rewrite(match: re.Match[str], number: int = number) -> str:
            inner = match.group(1).strip()
            if _JINJA_CALL.match(inner) or (inner and not inner.startswith("elephant")):
                return match.group(0)  # Jinja2 itself: a call, a variable, an expression
            try:
                return _as_jinja(parse_placeholder(inner, line=number, name=name))
            except UsageError as exc:
                problems.append((number, exc.message))
                return ""

        line = _PLACEHOLDER.sub(rewrite, text)
        if "{{" in _PLACEHOLDER.sub("", text).replace(_ESCAPED_OPEN, ""):
            problems.append((number, f"{name}:{number}: a placeholder opens with {{{{ but does not close with }}}} "
                                     "on the same line (write \\{{ for a literal {{)"))
        out.append(line.replace(_ESCAPED_OPEN, "{{ '{{' }}"))
    if problems:
        raise UsageError("; ".join(m for _, m in problems), file=name, line=problems[0][0],
                         lines=[n for n, _ in problems])
    return "".join(out)


def _check_call(node: nodes.Call, *, name: str) -> Placeholder:
    """One ``elephant.X(...)`` call of the template, checked as ``parse_placeholder`` checks the earlier form."""
    line = node.lineno

    def where(message: str) -> UsageError:
        return _problem(name, line, message)

    assert isinstance(node.node, nodes.Getattr)
    kind = node.node.attr
    known = ", ".join(f"elephant.{n}" for n in SPECS)
    if kind not in SPECS:
        raise where(f"unknown placeholder {{{{ elephant.{kind} }}}}; known: {known}")
    spec = SPECS[kind]
    if node.dyn_args is not None or node.dyn_kwargs is not None:
        raise where(f"elephant.{kind} takes literal arguments, not *args or **kwargs")
    if len(node.args) > len(spec.positional):
        raise where(f"elephant.{kind} takes at most {len(spec.positional)} positional argument(s). "
                    f"Example: {spec.summary}")
    given = list(zip(spec.positional, node.args, strict=False)) + [(k.key, k.value) for k in node.kwargs]
    args: dict[str, Any] = {}
    for option, value in given:
        if option not in spec.options:
            raise where(f"elephant.{kind} has no option {option!r} (options: {', '.join(spec.options)})")
        if option in args:
            raise where(f"{option} is given twice")
        if not isinstance(value, nodes.Const):
            raise where(f"{option}= takes a literal value (a quoted text, a number, true or false)")
        wanted = spec.options[option]
        if wanted is int:
            if isinstance(value.value, bool) or not isinstance(value.value, int):
                raise where(f"{option}= takes a whole number, got {value.value!r}")
            if value.value < 1:
                raise where(f"{option}= must be at least 1, got {value.value}")
        elif wanted is bool and not isinstance(value.value, bool):
            raise where(f"{option}= takes true or false, got {value.value!r}")
        elif wanted is str and not isinstance(value.value, str):
            raise where(f"{option}= takes a quoted text, got {value.value!r}")
        args[option] = value.value
    for arg_name in spec.positional[: spec.required]:
        if not str(args.get(arg_name, "")).strip():
            raise where(f"elephant.{kind} needs a {arg_name}. Example: {spec.summary}")
    return Placeholder(line=line, call=call_text(kind, args), name=kind, args=args)


def _is_elephant(node: nodes.Node) -> bool:
    return isinstance(node, nodes.Getattr) and isinstance(node.node, nodes.Name) and node.node.name == "elephant"


def _compile(template_text: str, *, name: str) -> tuple[str, list[Placeholder]]:
    """(Jinja2 source, every ``elephant.*`` call in source order), or a UsageError naming each bad line."""
    source = _to_jinja(template_text, name=name)
    try:
        tree = _environment().parse(source)
    except TemplateSyntaxError as exc:
        raise UsageError(f"{name}:{exc.lineno}: {exc.message}", file=name, line=exc.lineno,
                         lines=[exc.lineno]) from None
    found: list[Placeholder] = []
    problems: list[tuple[int, str]] = []
    called: set[int] = set()
    for call in tree.find_all(nodes.Call):
        if _is_elephant(call.node):
            called.add(id(call.node))
            try:
                found.append(_check_call(call, name=name))
            except UsageError as exc:
                problems.append((call.lineno, exc.message))
    # Names a template may read: ``elephant``, the sandbox's own globals, ``loop``, and what it sets itself.
    readable = {"elephant", "loop", *_environment().globals}
    readable |= {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    for used in tree.find_all(nodes.Name):
        if used.ctx == "load" and used.name not in readable:
            problems.append((used.lineno, f"{name}:{used.lineno}: unknown placeholder {{{{ {used.name} }}}}; "
                                          f"known: {', '.join(f'elephant.{n}' for n in SPECS)}"))
    for attr in tree.find_all(nodes.Getattr):
        if _is_elephant(attr) and id(attr) not in called:
            problems.append((attr.lineno, f"{name}:{attr.lineno}: elephant.{attr.attr} is a function: call it, "
                                          f"e.g. {{{{ elephant.{attr.attr}() }}}}"))
    if problems:
        problems.sort()
        raise UsageError("; ".join(m for _, m in problems), file=name, line=problems[0][0],
                         lines=[n for n, _ in problems])
    found.sort(key=lambda p: p.line)
    return source, found


def parse_template(template_text: str, *, name: str = "<template>") -> list[Placeholder]:
    """Every ``elephant.*`` call of a template, in order, or a UsageError listing each bad line."""
    return _compile(template_text, name=name)[1]


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


class _Memory:
    """``elephant`` inside a template: one method per placeholder (the sandbox hides the ``_`` attributes)."""

    def __init__(self, db: Elephant, calls: list[Placeholder], name: str) -> None:
        self._db = db
        self._calls = calls
        self._name = name
        self._next = 0
        self._report: list[dict[str, Any]] = []

    def _run(self, kind: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        # The checked calls, in source order, are the ones the template makes; a call the check did not
        # see in that place (a loop running one twice) is bound from its own arguments.
        item = self._calls[self._next] if self._next < len(self._calls) else None
        self._next += 1
        if item is None or item.name != kind:
            bound = dict(zip(SPECS[kind].positional, args, strict=False)) | kwargs
            item = Placeholder(line=item.line if item else 0, call=call_text(kind, bound), name=kind, args=bound)
        try:
            markdown, citations = run_placeholder(self._db, item)
        except ElephantError as exc:
            # Same error type (so the exit code and HTTP status stay right), located in the template.
            exc.message = f"{self._name}:{item.line}: {{{{ {item.call} }}}}: {exc.message}"
            exc.args = (exc.message,)
            raise
        self._report.append({"line": item.line, "call": item.call, "citations": citations})
        return markdown

    def brief(self, *args: Any, **kwargs: Any) -> str:
        return self._run("brief", args, kwargs)

    def context(self, *args: Any, **kwargs: Any) -> str:
        return self._run("context", args, kwargs)

    def ask(self, *args: Any, **kwargs: Any) -> str:
        return self._run("ask", args, kwargs)

    def search(self, *args: Any, **kwargs: Any) -> str:
        return self._run("search", args, kwargs)

    def history(self, *args: Any, **kwargs: Any) -> str:
        return self._run("history", args, kwargs)


def expand_template(db: Elephant, template_text: str, *, name: str = "<template>") -> ExpandedPrompt:
    """Check every call first (failing with the line of each mistake), then render the template with memory."""
    source, calls = _compile(template_text, name=name)
    memory = _Memory(db, calls, name)
    try:
        text = _environment().from_string(source).render(elephant=memory)
    except ElephantError:
        raise
    except TemplateError as exc:  # an undefined name, a sandbox refusal
        raise UsageError(f"{name}: {exc.message or type(exc).__name__}", file=name) from None
    return ExpandedPrompt(text=text, placeholders=memory._report)


def expand_prompt(db: Elephant, template_text: str, *, name: str = "<template>") -> str:
    """The template with every ``{{ elephant.* }}`` placeholder replaced by current memory."""
    return expand_template(db, template_text, name=name).text
