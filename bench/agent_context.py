"""What an agent reads on startup: the size of the brief (Markdown and JSON, and the MCP `brief` tool's
result, which carries both) and of ``elephant prompt SOUL.md``, in bytes and in tokens of the embedding
model's tokenizer.

    python bench/agent_context.py HOME            # a home with the corpus ingested (make demo makes one)
    python bench/agent_context.py HOME --all      # also the unbounded brief of every model, for comparison

Figures go to the terminal and to bench/results/agent_context.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.stats import RESULTS  # noqa: E402


def measure(home: Path, *, every_model: bool) -> dict[str, Any]:
    import elephant
    from elephant.answers.brief import MAX_BRIEF_BUDGET
    from elephant.answers.context import token_counter
    from elephant.answers.prompting import expand_template

    with elephant.open(home) as db:
        count, tokenizer, estimated = token_counter(db)

        def sizes(brief: Any) -> dict[str, Any]:
            text = brief.markdown()
            return {"models_shown": len(brief.models), "quiet_models": brief.quiet_models,
                    "markdown_bytes": len(text.encode()), "markdown_tokens": count(text),
                    "json_bytes": len(json.dumps(brief.to_dict(), ensure_ascii=False).encode())}

        out: dict[str, Any] = {"home": str(home), "records": db.counts()["_records"], "tokenizer": tokenizer,
                               "tokens_estimated": estimated, "brief_default": sizes(db.brief())}
        if every_model:
            out["brief_all_unbounded"] = sizes(db.brief(all_models=True, budget=MAX_BRIEF_BUDGET))
        prompt = expand_template(db, (REPO / "SOUL.md").read_text(encoding="utf-8"), name="SOUL.md").text
        out["prompt_soul"] = {"bytes": len(prompt.encode()), "tokens": count(prompt)}
        out["mcp_brief"] = mcp_brief_sizes(db, count)
    return out


def mcp_brief_sizes(db: Any, count: Any) -> dict[str, Any] | None:
    """The MCP ``brief`` tool called with no arguments through the SDK's own client, as an agent starts."""
    try:
        import anyio
        from mcp import Client

        from elephant.api.mcp_server import create_mcp_server
    except ImportError:  # the [server] extra is not installed
        return None

    async def call() -> Any:
        async with Client(create_mcp_server(lambda: db)) as client:
            return await client.call_tool("brief", {})

    result = anyio.run(call)
    text = "\n".join(block.text for block in result.content if getattr(block, "type", "") == "text")
    return {"text_bytes": len(text.encode()), "text_tokens": count(text),
            "structured_bytes": len(json.dumps(result.structured_content, ensure_ascii=False).encode())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("home", type=Path)
    parser.add_argument("--all", action="store_true", help="also measure the unbounded brief of every model")
    args = parser.parse_args()
    figures = measure(args.home, every_model=args.all)
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.machine()) if Path("/proc/cpuinfo").exists() else ""
    figures["machine"] = {"cpu": cpu, "load_average_1min": round(os.getloadavg()[0], 1)}
    print(json.dumps(figures, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "agent_context.json").write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
