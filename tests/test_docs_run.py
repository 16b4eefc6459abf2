"""The README and docs/*.md run as written: every fenced ```bash, ```sh, ```console and ```python block
of a file, in order, on a fresh home, with the real embedding model.

Each file is one test. Its blocks run one after another in the same scratch checkout (a temporary
directory whose entries link to this repository's files, with ``../shared`` beside it when the corpus
is there) and the same fresh user home (``HOME`` is temporary, no ``ELEPHANT_HOME``: the home is found
the way a user's would be). A failing block fails the test with ``file:line`` of its fence, the
command and its output.

- ``bash`` and ``sh`` blocks run as one ``bash -e -o pipefail`` script each; ``console`` blocks run the
  lines that start with ``$ `` (their other lines are sample output, not checked); ``python`` blocks
  run with this interpreter.
- Port 8080 and 8000 in a block become one free port for the whole file, so a documented
  ``elephant serve --port 8080 &`` never collides with another run. Servers a block starts in the
  background are stopped when the file is done.
- ``<!-- docs-test: skip (REASON) -->`` on the line before a fence skips that block; the reason is
  required. Other fences (yaml, json, text) are not run.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
RUN_LANGS = {"bash", "sh", "console", "python"}
MARKER = re.compile(r"<!--\s*docs-test:\s*(?P<verb>\w+)\s*(?:\((?P<reason>[^)]*)\))?\s*-->")
FENCE = re.compile(r"^(?P<indent>\s*)```(?P<lang>[\w+-]*)\s*$")
# The block's own limit; the whole README runs in about a minute on two cores.
BLOCK_TIMEOUT_S = 240


@dataclass
class Block:
    file: str
    line: int  # 1-based line of the opening fence
    lang: str
    text: str
    skip: str | None  # the reason, when a marker skips the block

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def parse_blocks(path: Path) -> list[Block]:
    """The runnable fenced blocks of a Markdown file, in order, with any skip marker before them."""
    lines = path.read_text(encoding="utf-8").splitlines()
    name = str(path.relative_to(REPO))
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m or not m.group("lang"):
            i += 1
            continue
        start, lang = i, m.group("lang")
        j = i + 1
        while j < len(lines) and not re.match(r"^\s*```\s*$", lines[j]):
            j += 1
        if lang in RUN_LANGS:
            skip = None
            k = start - 1
            while k >= 0 and not lines[k].strip():
                k -= 1
            marker = None  # among the HTML comment lines right above the fence (other tools keep theirs there)
            while k >= 0 and lines[k].strip().startswith("<!--") and marker is None:
                marker = MARKER.search(lines[k])
                k -= 1 if marker is None else 0
            if marker:
                if marker.group("verb") != "skip":
                    raise ValueError(f"{name}:{k + 1}: unknown docs-test marker {marker.group('verb')!r}")
                if not (marker.group("reason") or "").strip():
                    raise ValueError(f"{name}:{k + 1}: a docs-test skip needs a reason in parentheses")
                skip = marker.group("reason").strip()
            indent = len(m.group("indent"))
            body = "\n".join(line[indent:] for line in lines[start + 1:j])
            blocks.append(Block(name, start + 1, lang, body, skip))
        i = j + 1
    return blocks


def console_script(text: str) -> str:
    """The commands of a console block: ``$ `` lines and their backslash continuations."""
    commands: list[str] = []
    continuing = False
    for line in text.splitlines():
        if continuing:
            commands[-1] += "\n" + line
        elif line.startswith("$ "):
            commands.append(line[2:])
        else:
            continue
        continuing = line.rstrip().endswith("\\")
    return "\n".join(commands)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _scratch_checkout(tmp: Path) -> Path:
    """A directory that looks like a fresh clone: links to the repository's files, no `.elephant`."""
    clone = tmp / "clone"
    clone.mkdir()
    for entry in REPO.iterdir():
        if entry.name in {".elephant", ".git", ".pytest_cache", ".mypy_cache", ".ruff_cache"}:
            continue
        (clone / entry.name).symlink_to(entry)
    venv = Path(sys.prefix)
    if not (clone / ".venv").exists():
        (clone / ".venv").symlink_to(venv)
    shared = REPO.parent / "shared"
    if shared.is_dir():
        (tmp / "shared").symlink_to(shared)
    return clone


def _environment(tmp: Path, model_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ELEPHANT_", "XDG_", "VIRTUAL_ENV", "PROMETHEUS_"))}
    user = tmp / "user"
    # The model where `make model` puts it for a user (~/.cache/elephant/models): found as a user's would be.
    (user / ".cache" / "elephant").mkdir(parents=True)
    (user / ".cache" / "elephant" / "models").symlink_to(model_dir)
    env.update(HOME=str(user), ANONYMIZED_TELEMETRY="False",
               HF_HUB_OFFLINE="1", COLUMNS="100", PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
               PYTHONUNBUFFERED="1")
    return env


def run_file(path: Path, tmp: Path, model_dir: Path) -> list[str]:
    """Run every block of ``path``; returns what was skipped. Fails at the first block that fails."""
    blocks = parse_blocks(path)
    clone = _scratch_checkout(tmp)
    env = _environment(tmp, model_dir)
    port = str(_free_port())
    groups: list[int] = []
    skipped: list[str] = []
    timings: list[str] = []
    try:
        for block in blocks:
            if block.skip:
                skipped.append(f"{block.where}: {block.skip}")
                continue
            text = re.sub(r"\b(8080|8000)\b", port, block.text)
            if block.lang == "python":
                argv = [sys.executable, "-c", text]
            else:
                script = console_script(text) if block.lang == "console" else text
                argv = ["bash", "-e", "-o", "pipefail", "-c", script]
            # Output goes to a file, not a pipe: a server the block leaves running in the background
            # keeps its stdout open, and reading a pipe to its end would wait for the server.
            log = tmp / f"block-{block.line}.log"
            with log.open("w", encoding="utf-8") as sink:
                proc = subprocess.Popen(argv, cwd=clone, env=env, stdout=sink, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, text=True, start_new_session=True)
            groups.append(proc.pid)
            started = time.monotonic()
            try:
                proc.wait(timeout=BLOCK_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                out = log.read_text(encoding="utf-8", errors="replace")
                pytest.fail(f"{block.where}: the {block.lang} block ran past {BLOCK_TIMEOUT_S} s\n"
                            f"--- block\n{block.text}\n--- output (tail)\n{out[-4000:]}", pytrace=False)
            out = log.read_text(encoding="utf-8", errors="replace")
            timings.append(f"{block.where} {time.monotonic() - started:.1f}s")
            if proc.returncode != 0:
                pytest.fail(f"{block.where}: the {block.lang} block exited {proc.returncode}\n"
                            f"--- block\n{block.text}\n--- output (tail)\n{out[-4000:]}", pytrace=False)
    finally:
        print("block times:", ", ".join(timings))
        for pgid in groups:  # background servers the blocks started
            try:
                os.killpg(pgid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    return skipped


# ---------------------------------------------------------------- the collector itself
def test_parser_reads_fences_markers_and_console_prompts(tmp_path: Path) -> None:
    doc = tmp_path / "x.md"
    doc.write_text("text\n\n```bash\necho one\n```\n\n<!-- docs-test: skip (needs a GPU) -->\n```sh\nnvidia-smi\n```\n"
                   "```yaml\nkind: note\n```\n```console\n$ echo a \\\n  b\nsample output\n$ echo c\n```\n"
                   "- item:\n\n  ```python\n  print(1)\n  ```\n", encoding="utf-8")
    blocks = parse_blocks(_relocated(doc))
    assert [(b.line, b.lang, b.skip) for b in blocks] == [(3, "bash", None), (8, "sh", "needs a GPU"),
                                                          (14, "console", None), (22, "python", None)]
    assert console_script(blocks[2].text) == "echo a \\\n  b\necho c"
    assert blocks[3].text == "print(1)"


def test_a_skip_needs_a_reason(tmp_path: Path) -> None:
    doc = tmp_path / "x.md"
    doc.write_text("<!-- docs-test: skip -->\n```bash\ntrue\n```\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"x\.md:1: a docs-test skip needs a reason"):
        parse_blocks(_relocated(doc))


def _relocated(doc: Path) -> Path:
    """``parse_blocks`` names files relative to the repository: give it a copy inside one."""
    target = REPO / ".pytest_cache" / "docs-test" / doc.name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(doc.read_text(encoding="utf-8"), encoding="utf-8")
    return target


def test_every_runnable_block_is_run_or_skipped_with_a_reason() -> None:
    blocks = [block for doc in DOCS for block in parse_blocks(doc)]
    for block in blocks:
        assert block.text.strip(), f"{block.where}: empty {block.lang} block"
    skipped = [block for block in blocks if block.skip]
    for block in skipped:
        assert len(block.skip or "") >= 20, f"{block.where}: say why the block cannot run, and what covers it"
    # Skips are the exception: setup that installs, servers of other projects, CI-job fragments.
    assert len(skipped) * 3 <= len(blocks), [b.where for b in skipped]


def test_a_failing_block_is_reported_with_file_and_line(tmp_path: Path, built_model_dir: Path) -> None:
    doc = _relocated_text(tmp_path, "intro\n\n```bash\ntrue\n```\n\n```bash\necho before\nfalse\n```\n")
    with pytest.raises(pytest.fail.Exception, match=r"docs-test/fail\.md:7: the bash block exited 1"):
        run_file(doc, tmp_path, built_model_dir)


def _relocated_text(tmp_path: Path, text: str) -> Path:
    doc = tmp_path / "fail.md"
    doc.write_text(text, encoding="utf-8")
    return _relocated(doc)


# ---------------------------------------------------------------- the documents
@pytest.mark.model
@pytest.mark.slow
@pytest.mark.parametrize("doc", DOCS, ids=[str(d.relative_to(REPO)) for d in DOCS])
def test_doc_runs_as_written(doc: Path, tmp_path: Path, built_model_dir: Path) -> None:
    if not any(b.lang in RUN_LANGS for b in parse_blocks(doc)):
        pytest.skip(f"{doc.name} has no runnable blocks")
    skipped = run_file(doc, tmp_path, built_model_dir)
    for reason in skipped:
        print("skipped", reason)
