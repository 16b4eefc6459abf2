"""Markdown documents → ``rollback_procedure`` (when they describe a rollback or failover) or ``note``.

Sections are found by markdown-it-py, as CommonMark (and GitHub) reads the headings. A short document
is one record (its section anchors listed in ``fields.sections``); a long one (over ``SPLIT_CHARS``)
is one record for the document (title, intro, table of contents) plus one record per top-level section,
keyed ``<path>:<anchor>`` with ``source.anchor`` set to the GitHub-style heading anchor,
so an answer can cite ``runbook.md#application-rollback``.

Documents about a collection are not knowledge about the models: a README at the root of an ingested
tree (it describes the tree: its layout, how it was gathered) and a SOURCES, NOTICE, AUTHORS,
CONTRIBUTING or CHANGELOG file anywhere (provenance and housekeeping) become one ``note`` tagged
``collection-doc``, never a procedure and never split; context packs leave them out. A README deeper in
the tree stays a document (a sample's README is often the runbook for that sample).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import yaml
from markdown_it import MarkdownIt

from elephant.ingest.parsers.base import (
    ParseContext,
    ParseError,
    anchor_slug,
    build_record,
    clean_tags,
    decode_text,
    derive_key,
    strip_markdown,
)
from elephant.records import yamlsafe
from elephant.records.envelope import Record

SPLIT_CHARS = 6000
MAX_STEPS = 40
MAX_STEP_CHARS = 400
ROLLBACK = re.compile(r"\b(roll(?:ing|ed)?[ -]?backs?|fail(?:ing|ed)?[ -]?overs?|revert(?:ing)?|rollout undo|"
                      r"pinned|previous good)\b", re.I)
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.S)
COLLECTION_DOC_TAG = "collection-doc"
_ABOUT_A_COLLECTION = frozenset({"sources", "notice", "authors", "contributing", "changelog", "changes"})
_MARKDOWN = MarkdownIt("commonmark")
_TASK_BOX = re.compile(r"^\[[ xX]\]\s+")


@dataclass
class Section:
    level: int
    title: str
    anchor: str
    lines: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(self.lines).strip()


def split_front_matter_loose(text: str) -> tuple[dict[str, Any], str]:
    """Front matter (Hugo-style ``title:`` etc.) as a dict, and the rest; malformed front matter is text."""
    if not text.startswith("---"):
        return {}, text
    lines = text.splitlines(keepends=True)
    if lines[0].strip() != "---":
        return {}, text
    for i in range(1, min(len(lines), 200)):
        if lines[i].strip() in ("---", "..."):
            try:
                meta = yamlsafe.safe_load("".join(lines[1:i]))
            except (yaml.YAMLError, RecursionError):
                return {}, text
            return (meta if isinstance(meta, dict) else {}), "".join(lines[i + 1:])
    return {}, text


def split_sections(text: str) -> tuple[list[str], list[Section]]:
    """(lines before the first heading, sections in order), by a CommonMark parser (markdown-it-py).

    Only top-level headings open a section (ATX ``#`` and setext underlines, as GitHub renders them);
    ``#`` lines inside code blocks, fences or block quotes are text.
    """
    lines = text.splitlines()
    tokens = _MARKDOWN.parse(text)
    headings = [(tokens[i], tokens[i + 1]) for i in range(len(tokens) - 1)
                if tokens[i].type == "heading_open" and tokens[i].level == 0 and tokens[i].map]
    if not headings:
        return lines, []
    sections: list[Section] = []
    used: dict[str, int] = {}
    for index, (head, inline) in enumerate(headings):
        end = head.map[1] if head.map else 0
        following = headings[index + 1][0].map if index + 1 < len(headings) else None
        title = strip_markdown(inline.content) or "section"
        base = anchor_slug(title)
        count = used.get(base, 0)
        used[base] = count + 1
        sections.append(Section(int(head.tag[1:]), title, base if count == 0 else f"{base}-{count}",
                                lines[end:following[0] if following else len(lines)]))
    first = headings[0][0].map
    return lines[:first[0] if first else 0], sections


def list_items(text: str) -> list[str]:
    """List items (bullets, numbers, task boxes; nested ones too), each its first paragraph on one line."""
    tokens = _MARKDOWN.parse(text)
    items: list[str] = []
    for index, token in enumerate(tokens[:-2]):
        if token.type == "list_item_open" and tokens[index + 1].type == "paragraph_open":
            words = " ".join(tokens[index + 2].content.split())
            item = strip_markdown(_TASK_BOX.sub("", words))
            if item:
                items.append(item[:MAX_STEP_CHARS])
    return items


def code_commands(text: str) -> list[str]:
    """The first line of each fenced code block: in runbooks, the command to run."""
    commands: list[str] = []
    for token in _MARKDOWN.parse(text):
        # Manifests shown in yaml/json blocks are context, not commands.
        if token.type != "fence" or re.search(r"(yaml|yml|json)\s*$", token.info):
            continue
        first = next((line.strip() for line in token.content.splitlines() if line.strip()), "")
        if first:
            commands.append(first[:MAX_STEP_CHARS])
    return commands


_VERIFY = re.compile(r"verif|validat|confirm|check", re.I)


def _with_subsections(sections: list[Section], chosen: list[Section]) -> list[Section]:
    out: list[Section] = []
    i = 0
    while i < len(sections):
        s = sections[i]
        if s in chosen:
            out.append(s)
            j = i + 1
            while j < len(sections) and sections[j].level > s.level:
                out.append(sections[j])
                j += 1
            i = j
        else:
            i += 1
    return out


def extract_steps(sections: list[Section], extra_text: str = "", *, whole: bool = False) -> list[str]:
    """Steps of a procedure, from the rollback/failover sections (with their subsections) or, when the
    whole document is the procedure, from every section: list items, else the commands of code blocks."""
    relevant = [] if whole else _with_subsections(sections, [s for s in sections if ROLLBACK.search(s.title)])
    pool = relevant or sections
    doing = [s for s in pool if not _VERIFY.search(s.title)] or pool
    steps: list[str] = list_items(extra_text) if (whole or not relevant) and extra_text else []
    for s in doing:
        items = list_items(s.text)
        if not items:
            items = [f"{s.title}: {cmd}" for cmd in code_commands(s.text)]
        steps.extend(items)
    return steps[:MAX_STEPS]


def _named_section(sections: list[Section], *words: str) -> str | None:
    for s in sections:
        if any(w in s.title.lower() for w in words) and s.text:
            paragraph = s.text.split("\n\n", 1)[0].strip()
            return strip_markdown(paragraph)[:600] or None
    return None


def _applies_to(path: str) -> str | None:
    parts = PurePosixPath(path).parts
    for known in ("kserve", "triton-server", "gitlab-com-runbooks", "prometheus-operator-runbooks"):
        if known in parts:
            return {"gitlab-com-runbooks": "gitlab.com", "prometheus-operator-runbooks": "kubernetes",
                    "triton-server": "triton"}.get(known, known)
    return parts[-2] if len(parts) > 1 else None


def _is_rollback(title: str, sections: list[Section]) -> bool:
    """Only headings decide: body mentions alone ("see the rollback doc") do not make a procedure."""
    return bool(ROLLBACK.search(title)) or any(ROLLBACK.search(s.title) for s in sections)


def _envelope(*, path: str, title: str, body: str, sections: list[Section], key: str, extra_text: str,
              tags: list[str], meta: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    kind = "note"
    if _is_rollback(title, sections):
        steps = extract_steps(sections, extra_text, whole=bool(ROLLBACK.search(title)))
        if steps:
            kind = "rollback_procedure"
            fields = {
                "applies_to": _applies_to(path),
                "trigger": _named_section(sections, "trigger", "when to", "symptom", "meaning", "overview"),
                "steps": steps,
                "verification": _named_section(sections, "verif", "validat", "confirm", "check"),
            }
    if sections:
        fields["sections"] = [{"anchor": s.anchor, "title": s.title, "level": s.level} for s in sections]
    for name in ("weight", "description", "summary"):
        if isinstance(meta.get(name), str | int | float):
            fields.setdefault(f"front_matter_{name}", meta[name])
    return {
        "kind": kind, "key": key, "title": title, "body": body,
        "tags": clean_tags("markdown", "runbook" if kind == "rollback_procedure" else None, *tags),
        "fields": {k: v for k, v in fields.items() if v is not None},
    }


def is_collection_doc(path: str) -> bool:
    """A root-relative path that documents the collection itself (see the module docstring)."""
    parts = PurePosixPath(path).parts
    stem = PurePosixPath(path).stem.lower() if parts else ""
    return stem in _ABOUT_A_COLLECTION or (stem == "readme" and len(parts) == 1)


def parse(path: str, data: bytes, context: ParseContext, *, tags: tuple[str, ...] = ()) -> list[Record]:
    if is_collection_doc(path):
        return [parse_collection_doc(path, data, context)]
    text = decode_text(data).replace("\r\n", "\n")
    meta, content = split_front_matter_loose(text)
    # License headers sit in HTML comments (Triton docs) and their '#' lines would read as headings.
    content = _HTML_COMMENT.sub("", content)
    if not content.strip():
        raise ParseError("no text after the front matter")
    preamble, sections = split_sections(content)
    fm_title = meta.get("title") if isinstance(meta.get("title"), str) else None
    first = next((s for s in sections if s.level == min(x.level for x in sections)), None) if sections else None
    title = (fm_title or (first.title if first else None)
             or next((ln.strip() for ln in content.splitlines() if ln.strip()), "")[:120]
             or PurePosixPath(path).name)
    title = strip_markdown(title)[:200] or PurePosixPath(path).name
    key = derive_key(path)
    if len(content) <= SPLIT_CHARS or len(sections) < 3:
        env = _envelope(path=path, title=title, body=content.strip(), sections=sections, key=key,
                        extra_text="\n".join(preamble), tags=list(tags), meta=meta)
        return [build_record(env, path=path, anchor=None, context=context)]
    # Split at the shallowest heading level that occurs more than once below the title.
    levels = sorted({s.level for s in sections})
    split_level = next((lv for lv in levels if sum(1 for s in sections if s.level == lv) > 1), levels[-1])
    intro_lines = list(preamble)
    groups: list[tuple[Section, list[Section]]] = []
    for s in sections:
        if s.level == split_level:
            groups.append((s, [s]))
        elif groups and s.level > split_level:
            groups[-1][1].append(s)
        else:
            intro_lines.append(("#" * s.level) + " " + s.title)
            intro_lines.extend(s.lines)
    toc = "\n".join(f"- {g.title} (#{g.anchor})" for g, _ in groups)
    intro = "\n".join(intro_lines).strip()
    doc_body = (intro + "\n\n" if intro else "") + "Sections:\n" + toc
    doc = _envelope(path=path, title=title, body=doc_body, sections=sections, key=key,
                    extra_text="", tags=list(tags), meta=meta)
    if doc["kind"] == "rollback_procedure":
        # The document-level record only indexes its sections; the procedure lives in the section records.
        doc["kind"] = "note"
        doc["fields"] = {"sections": doc["fields"].get("sections", [])}
    doc["fields"]["split"] = True
    records = [build_record(doc, path=path, anchor=None, context=context)]
    for head, members in groups:
        body_lines = [head.text]
        for sub in members[1:]:
            body_lines.append(("#" * sub.level) + " " + sub.title)
            body_lines.append(sub.text)
        body = "\n\n".join(b for b in body_lines if b).strip() or head.title
        env = _envelope(path=path, title=f"{title} — {head.title}", body=body, sections=members[1:],
                        key=derive_key(path, head.anchor), extra_text=head.text if len(members) == 1 else "",
                        tags=list(tags), meta={})
        env["links"] = [{"rel": "part_of", "key": key}]
        if ROLLBACK.search(head.title) and env["kind"] == "note":
            steps = extract_steps(members)
            if steps:
                env["kind"] = "rollback_procedure"
                env["fields"].update({"applies_to": _applies_to(path), "steps": steps})
        records.append(build_record(env, path=path, anchor=head.anchor, context=context))
    return records


def parse_collection_doc(path: str, data: bytes, context: ParseContext) -> Record:
    """One ``note`` tagged ``collection-doc`` for a README/SOURCES-like file: whole, its sections listed."""
    _, content = split_front_matter_loose(decode_text(data).replace("\r\n", "\n"))
    content = _HTML_COMMENT.sub("", content).strip()
    if not content:
        raise ParseError("no text after the front matter")
    _, sections = split_sections(content)
    first = next((s for s in sections if s.level == min(x.level for x in sections)), None) if sections else None
    title = strip_markdown(first.title if first else PurePosixPath(path).name)[:200] or PurePosixPath(path).name
    fields: dict[str, Any] = {"about": "the collection"}
    if sections:
        fields["sections"] = [{"anchor": s.anchor, "title": s.title, "level": s.level} for s in sections]
    envelope = {"kind": "note", "key": derive_key(path), "title": title, "body": content,
                "tags": clean_tags("markdown", COLLECTION_DOC_TAG), "fields": fields}
    return build_record(envelope, path=path, anchor=None, context=context)
