"""Adding a kind takes its module, one registry line and a golden record — checked by doing it.

The test copies the package to a temporary directory, adds a ``training_run`` kind exactly as docs/kinds.md
says (the module below, two lines in ``elephant/kinds/__init__.py``, ``fixtures/kinds/training_run.yaml``),
and runs, in a subprocess on that copy: the kinds meta-test, then put / get / search / the line, card and fact /
the brief / a context pack / the REST listing / MCP's tool list and a write through MCP.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

MODULE = '''\
"""``training_run``: one training job of a model: framework, data, how long it ran and where it ended."""

from __future__ import annotations

from enum import StrEnum

from elephant.kinds.base import BriefPlace, Fields, FieldsModel, KindSpec, KindView, KindWords
from elephant.kinds.phrases import OUTCOME_WORDS, text, words
from elephant.kinds.units import as_number, format_number, index_number


class RunStatus(StrEnum):
    running = "running"
    succeeded = "succeeded"
    failed = "failed"


class TrainingRunFields(FieldsModel):
    framework: str | None = None
    dataset: str | None = None
    epochs: int | None = None
    gpu_hours: float | None = None
    final_loss: float | None = None
    status: RunStatus | None = None


WORDS = KindWords(label="training run", question=(r"\\btrain(?:ed|ing)?\\b", r"\\bepochs?\\b"))


def outcome(fields: Fields) -> str | None:
    return text(fields.get("status")) or None


def outcome_words(fields: Fields) -> str:
    value = outcome(fields)
    return OUTCOME_WORDS.get(value or "", value or "status not recorded")


def figures(fields: Fields) -> list[str]:
    parts = []
    if (loss := as_number(fields.get("final_loss"))) is not None:
        parts.append(f"loss {format_number(loss)}")
    if (hours := as_number(fields.get("gpu_hours"))) is not None:
        parts.append(f"{format_number(hours)} GPU h")
    return parts


def fact(fields: Fields) -> list[str]:
    setup = " on ".join(str(x) for x in (fields.get("framework"), fields.get("dataset")) if x)
    return [p for p in (setup, outcome_words(fields), ", ".join(figures(fields))) if p]


def index_phrases(fields: Fields) -> list[str]:
    out = [f"{name}: {words(fields[name])}" for name in ("framework", "dataset", "status") if fields.get(name)]
    out += [f"{name.replace('_', ' ')} {index_number(fields[name])}" for name in ("epochs", "gpu_hours", "final_loss")
            if fields.get(name) is not None]
    return out


VIEW = KindView(outcome=outcome, outcome_words=outcome_words,
                outcome_class=lambda f: {"succeeded": "adopted", "failed": "rejected"}.get(text(f.get("status")),
                                                                                          "in_progress"),
                figures=figures, fact=fact, index_phrases=index_phrases,
                indexed_fields=frozenset({"framework", "dataset", "epochs", "gpu_hours", "final_loss", "status"}),
                display="training run", on_timeline=True)

BRIEF = BriefPlace(slot="latest_training_run", label="Latest training run", order=6, latest=True,
                   summary=lambda f, title, date: f"{date}: {title}, {outcome_words(f)}",
                   details=lambda f: {"status": f.get("status"), "final_loss": f.get("final_loss")})

SPEC = KindSpec(name="training_run", fields_model=TrainingRunFields, words=WORDS, writable=True, ask_prior=0.2,
                view=VIEW, brief=BRIEF)
'''

FIXTURE = '''\
# A small training_run record and how it renders; tests/elephant/test_kind_modules.py checks it.
record:
  kind: training_run
  key: ranker/train-v4
  title: Ranker v4 training
  model: ranker
  occurred_at: '2026-03-01'
  fields: {framework: pytorch, dataset: clicks-2026-02, epochs: 3, gpu_hours: 1234.5, final_loss: 0.1875,
           status: succeeded}
expected:
  line: '- **2026-03-01** · training run · Ranker v4 training — **succeeded**; loss 0.1875, 1,234.5 GPU h [`ranker/train-v4@1`]'
  card: {display: training run, outcome: succeeded, outcome_class: adopted, summary: succeeded,
         figures: [loss 0.1875, '1,234.5 GPU h']}
  fact: '- 2026-03-01 · training run · ranker: **Ranker v4 training** — pytorch on clicks-2026-02; succeeded; loss 0.1875,
    1,234.5 GPU h [ranker/train-v4@1]'
  index: 'Ranker v4 training. training run for ranker on 2026-03-01. framework: pytorch; dataset: clicks-2026-02;
    status: succeeded; epochs 3; gpu hours 1234; final loss 0.1875.'
  brief: {slot: latest_training_run, label: Latest training run, open: true,
          summary: '2026-03-01: Ranker v4 training, succeeded'}
  search: '- 2026-03-01 training_run: **Ranker v4 training** [ranker/train-v4@1]'
'''

USE = '''\
import anyio, json, sys
from fastapi.testclient import TestClient

import elephant
from elephant.api.app import create_app
from elephant.api.mcp_server import create_mcp_server
from elephant.kinds import KINDS, WRITABLE_KINDS
from elephant.kinds.render import fact_line, record_card, record_line

assert "training_run" in KINDS and "training_run" in WRITABLE_KINDS
RUN = {"kind": "training_run", "key": "ranker/train-v4", "title": "Ranker v4 training", "model": "ranker",
       "occurred_at": "2026-03-01", "fields": {"framework": "pytorch", "dataset": "clicks-2026-02", "epochs": 3,
       "gpu_hours": 1234.5, "final_loss": 0.1875, "status": "succeeded"}}
db = elephant.open()
written = db.put(RUN)
assert written.version == 1, written
got = db.get("ranker/train-v4")
assert got.kind == "training_run" and got.envelope["fields"]["epochs"] == 3
db.index_pending() if hasattr(db, "index_pending") else None
hits = db.search("ranker training run pytorch", k=5)
assert "ranker/train-v4" in [h.key for h in hits.results], hits
env = got.envelope
print("LINE", record_line(when="2026-03-01", kind="training_run", title=env["title"], fields=env["fields"],
                          citation="ranker/train-v4@1"))
print("CARD", record_card(env, 1).summary, record_card(env, 1).figures)
print("FACT", fact_line(env, "ranker/train-v4@1"))
brief = db.brief("ranker")
brief_md = brief.markdown()
assert "Latest training run: 2026-03-01: Ranker v4 training, succeeded [`ranker/train-v4@1`]" in brief_md, brief_md
assert brief.to_dict()["models"][0]["latest_training_run"]["key"] == "ranker/train-v4"
pack = db.context("ranker training run", budget=800)
assert "ranker/train-v4@1" in pack.citations, pack.context
assert "loss 0.1875, 1,234.5 GPU h" in pack.context, pack.context
db.close()

with TestClient(create_app()) as client:
    listed = client.get("/v1/records", params={"kind": "training_run"})
    assert listed.status_code == 200, listed.text
    assert [r["key"] for r in listed.json()["records"]] == ["ranker/train-v4"], listed.json()

async def mcp() -> None:
    from mcp import Client
    db = elephant.open()
    try:
        async with Client(create_mcp_server(lambda: db)) as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
            assert "training_run" in json.dumps(tools["remember"].input_schema), tools["remember"].input_schema
            done = await client.call_tool("remember", {"kind": "training_run", "title": "Ranker v5 training",
                                                       "model": "ranker", "fields": {"status": "running"}})
            assert not done.is_error, done
            recalled = await client.call_tool("recall", {"query": "Ranker v5 training", "kind": "training_run"})
            assert "training run · ranker: **Ranker v5 training** — running" in recalled.content[0].text, \
                recalled.content[0].text
    finally:
        db.close()

anyio.run(mcp)
print("OK")
'''


def _copy_tree(dest: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "elephant", dest / "elephant", ignore=ignore)  # follows the api/cli/ingest links
    shutil.copytree(REPO / "fixtures" / "kinds", dest / "fixtures" / "kinds")
    (dest / "tests" / "elephant").mkdir(parents=True)
    (dest / "tests" / "__init__.py").write_text("")
    (dest / "tests" / "elephant" / "__init__.py").write_text("")
    shutil.copy(REPO / "tests" / "elephant" / "test_kind_modules.py", dest / "tests" / "elephant")


def _add_training_run(dest: Path) -> None:
    """What docs/kinds.md tells a newcomer to do."""
    (dest / "elephant" / "kinds" / "training_run.py").write_text(MODULE, encoding="utf-8")
    registry = dest / "elephant" / "kinds" / "__init__.py"
    text = registry.read_text(encoding="utf-8")
    assert "    serving_config,\n)" in text and "    regression.SPEC," in text
    text = text.replace("    serving_config,\n)", "    serving_config,\n    training_run,\n)", 1)
    text = text.replace("    regression.SPEC,", "    training_run.SPEC,\n    regression.SPEC,", 1)
    registry.write_text(text, encoding="utf-8")
    (dest / "fixtures" / "kinds" / "training_run.yaml").write_text(FIXTURE, encoding="utf-8")


def test_a_new_kind_needs_only_its_module_a_registry_line_and_a_golden_record(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    _copy_tree(tree)
    _add_training_run(tree)
    env = {**os.environ, "PYTHONPATH": str(tree), "ELEPHANT_HOME": str(tmp_path / "home"), "ELEPHANT_MODEL": "fake",
           "PYTHONDONTWRITEBYTECODE": "1"}
    meta = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tree),
                           "-c", os.devnull, str(tree / "tests" / "elephant" / "test_kind_modules.py")],
                          cwd=tree, env=env, capture_output=True, text=True, timeout=300)
    assert meta.returncode == 0, meta.stdout[-4000:] + meta.stderr[-2000:]
    assert "training_run" in subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--co", "-c", os.devnull,
         str(tree / "tests" / "elephant" / "test_kind_modules.py")],
        cwd=tree, env=env, capture_output=True, text=True, timeout=300).stdout
    used = subprocess.run([sys.executable, "-c", textwrap.dedent(USE)], cwd=tree, env=env, capture_output=True,
                          text=True, timeout=300)
    assert used.returncode == 0, used.stdout[-4000:] + used.stderr[-4000:]
    assert used.stdout.strip().endswith("OK")
    assert "ranker/train-v4" in used.stdout
    assert str(tree) in subprocess.run([sys.executable, "-c", "import elephant; print(elephant.__file__)"], cwd=tree,
                                       env=env, capture_output=True, text=True, timeout=60).stdout
