"""Prompt templates: SOUL.md expands with current memory; a bad placeholder fails naming its line."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from elephant.answers.prompting import expand_template, parse_placeholder, parse_template
from elephant.errors import NotFound, UsageError
from tests.elephant.test_context import RECORDS

SOUL = Path(__file__).resolve().parents[2] / "SOUL.md"


@pytest.fixture
def filled(db: Any) -> Any:
    assert db.put_many(RECORDS).ok
    return db


def test_soul_md_expands_with_current_memory(filled: Any) -> None:
    template = SOUL.read_text(encoding="utf-8")
    expanded = expand_template(filled, template, name="SOUL.md")
    text = expanded.text
    assert "{{ elephant.brief }}" not in text and "{{ elephant.context" not in text
    assert "## ranker" in text  # the brief
    assert "[ranker/int8-dynamic-2026-03@1]" in text  # the context pack
    assert "## Memory" in text  # the persona text is kept
    # Escaped placeholders in the prose come out literally, unexpanded.
    assert '`{{ elephant.ask "QUESTION" }}`' in text
    lines = template.splitlines()
    calls = {item["call"]: item["line"] for item in expanded.placeholders}
    assert lines[calls["elephant.brief"] - 1].strip() == "{{ elephant.brief }}"
    assert set(calls) == {"elephant.brief", next(c for c in calls if c.startswith("elephant.context"))}
    assert "ranker/int8-dynamic-2026-03@1" in expanded.citations
    assert filled.prompt(template, name="SOUL.md") == text  # the facade returns the same text


def test_soul_md_describes_the_memory_contract() -> None:
    text = SOUL.read_text(encoding="utf-8")
    for phrase in ("latency budget", "Training and serving", "fails", "simple", "trade-off", "## Memory",
                   "remember", "ask", "brief", "latency_ms", "throughput_qps", "outcome", "root_cause",
                   "traffic_percent"):
        assert phrase.lower() in text.lower(), phrase
    seed = (SOUL.parents[1] / "shared" / "seeds" / "SOUL.md")
    if seed.exists():  # written in our words: no sentence of the seed is copied
        ours = {s.strip() for s in re.split(r"[.!?]\s", text) if len(s.strip()) > 40}
        theirs = {s.strip() for s in re.split(r"[.!?]\s", seed.read_text(encoding="utf-8")) if len(s.strip()) > 40}
        assert not ours & theirs


def test_soul_md_with_empty_memory_says_so(db: Any) -> None:
    text = expand_template(db, SOUL.read_text(encoding="utf-8"), name="SOUL.md").text
    assert "No memory found" in text


def test_unknown_placeholder_names_its_line(db: Any) -> None:
    template = SOUL.read_text(encoding="utf-8").splitlines()
    template.insert(9, "{{ elephant.horoscope \"ranker\" }}")
    with pytest.raises(UsageError) as caught:
        expand_template(db, "\n".join(template), name="SOUL.md")
    assert caught.value.message.startswith("SOUL.md:10: unknown placeholder {{ elephant.horoscope }}")
    assert caught.value.details["line"] == 10


@pytest.mark.parametrize(("line", "message"), [
    ("{{ elephant.context \"q\" budget=abc }}", "budget= takes a whole number"),
    ("{{ elephant.context \"q\" budget=0 }}", "budget= must be at least 1"),
    ("{{ elephant.context budget=10 }}", "needs a query"),
    ("{{ elephant.context \"q\" colour=red }}", "has no option 'colour'"),
    ("{{ elephant.context \"q\" \"r\" }}", "at most 1 quoted argument"),
    ("{{ elephant.ask \"unclosed }}", "cannot read placeholder"),
    ("{{ }}", "empty placeholder"),
    ("{{ user_name }}", "unknown placeholder"),
    ("text {{ elephant.brief", "does not close"),
])
def test_bad_placeholders_fail_before_anything_runs(db: Any, line: str, message: str) -> None:
    calls: list[str] = []
    db.brief = lambda *a, **k: calls.append("brief")  # would be run by a good placeholder
    template = f"# persona\n{{{{ elephant.brief }}}}\n\n{line}\n"
    with pytest.raises(UsageError) as caught:
        expand_template(db, template, name="t.md")
    assert caught.value.message.startswith("t.md:4: ")
    assert message in caught.value.message
    assert calls == []  # nothing expanded halfway


def test_every_bad_line_is_reported(db: Any) -> None:
    with pytest.raises(UsageError) as caught:
        parse_template("{{ elephant.a }}\nok\n{{ elephant.b }}\n", name="p.md")
    assert "p.md:1:" in caught.value.message and "p.md:3:" in caught.value.message
    assert caught.value.details["lines"] == [1, 3]


def test_ask_search_history_and_model_options(filled: Any) -> None:
    template = "\n".join([
        '{{ elephant.ask "what did we try to cut ranker p99?" }}',
        '{{ elephant.search "canary" k=2 model=search }}',
        '{{ elephant.history "ranker/int8-dynamic-2026-03" }}',
        '{{ elephant.brief model=search }}',
        'literal \\{{ stays }}',
    ])
    out = expand_template(filled, template, name="t.md")
    lines = out.text.splitlines()
    assert "[`ranker/int8-dynamic-2026-03@1`]" in out.text or "ranker/int8-dynamic-2026-03@1" in out.text
    assert "[search/canary-2026-02@1]" in out.text
    assert any(x.startswith("- v1 ") and x.endswith("[ranker/int8-dynamic-2026-03@1]") for x in lines)
    assert "## search" in out.text and "## ranker" not in out.text
    assert lines[-1] == "literal {{ stays }}"
    assert [p["line"] for p in out.placeholders] == [1, 2, 3, 4]


def test_runtime_errors_name_the_line_and_keep_their_type(filled: Any) -> None:
    with pytest.raises(NotFound) as caught:
        expand_template(filled, "ok\n{{ elephant.history \"no/such-key\" }}\n", name="t.md")
    assert caught.value.message.startswith("t.md:2: {{ elephant.history no/such-key }}: ")


def test_text_without_placeholders_is_unchanged(db: Any) -> None:
    text = "# Persona\n\nNo memory here; braces { } and }} alone are fine.\n"
    assert expand_template(db, text).text == text


@given(st.text(max_size=200))
def test_parser_never_crashes(call: str) -> None:
    """Any placeholder text parses or fails with a UsageError naming line 7."""
    try:
        parse_placeholder(call, line=7, name="f.md")
    except UsageError as exc:
        assert exc.message.startswith("f.md:7: ")


def test_jinja_call_form_means_the_same_as_the_earlier_form(filled: Any) -> None:
    earlier = expand_template(filled, '{{ elephant.brief "search" budget=500 }}\n', name="a.md")
    jinja = expand_template(filled, '{{ elephant.brief("search", budget=500) }}\n', name="b.md")
    assert earlier.text == jinja.text and "## search" in jinja.text
    assert earlier.placeholders == jinja.placeholders == [
        {"line": 1, "call": "elephant.brief search budget=500", "citations": jinja.citations}]


def test_jinja_statements_run_in_the_sandbox(filled: Any) -> None:
    template = ("{% set models = ['search', 'ranker'] %}\n"
                "{% for m in models %}\n- {{ m }}\n{% endfor %}\n"
                "{% if true %}{{ elephant.history('ranker/int8-dynamic-2026-03') }}{% endif %}\n"
                "literal \\{{ stays }}\n")
    out = expand_template(filled, template, name="t.md")
    assert "- search\n- ranker\n" in out.text and "[ranker/int8-dynamic-2026-03@1]" in out.text
    assert out.text.endswith("literal {{ stays }}\n")
    assert [p["line"] for p in out.placeholders] == [5]


@pytest.mark.parametrize(("line", "message"), [
    ("{{ elephant.context(query) }}", "takes a literal value"),
    ("{{ elephant.context('q', budget='300') }}", "budget= takes a whole number"),
    ("{{ elephant.brief(all='yes') }}", "all= takes true or false"),
    ("{{ elephant.horoscope('ranker') }}", "unknown placeholder {{ elephant.horoscope }}"),
    ("{{ elephant.brief(*names) }}", "literal arguments"),
    ("{% if elephant.brief %}x{% endif %}", "elephant.brief is a function: call it"),
    ("{{ elephant.__init__() }}", "unknown placeholder"),
    ("{% if %}", "t.md:4: "),
])
def test_jinja_calls_are_checked_before_anything_runs(db: Any, line: str, message: str) -> None:
    calls: list[str] = []
    db.brief = lambda *a, **k: calls.append("brief")
    with pytest.raises(UsageError) as caught:
        expand_template(db, f"# persona\n{{{{ elephant.brief() }}}}\n\n{line}\n", name="t.md")
    assert caught.value.message.startswith("t.md:4: ") and message in caught.value.message
    assert calls == []


@pytest.mark.parametrize("line", ["{{ cycler.__init__.__globals__ }}", "{{ ''.__class__.__mro__ }}",
                                  "{{ elephant._db }}", "{{ no_such_name + 1 }}"])
def test_the_sandbox_reaches_nothing_but_memory(db: Any, line: str) -> None:
    with pytest.raises(UsageError) as caught:
        expand_template(db, f"hello\n{line}\n", name="t.md")
    assert caught.value.message.startswith("t.md")
