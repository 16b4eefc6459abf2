"""Write (or check) the committed OpenAPI schema ``api/openapi.json``.

    python -m api.openapi           # regenerate after changing a route or model
    python -m api.openapi --check   # exit 1 when the committed file is stale
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

SCHEMA_PATH = Path(__file__).with_name("openapi.json")


def current_schema() -> dict[str, Any]:
    from elephant.api.app import create_app
    from elephant.settings import settings_for

    # Building the schema opens nothing: the app's Elephant is opened by its lifespan.
    schema: dict[str, Any] = create_app(settings_for(home="/nonexistent-elephant-home")).openapi()
    return schema


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    text = render(current_schema())
    if "--check" in args:
        if not SCHEMA_PATH.exists() or SCHEMA_PATH.read_text(encoding="utf-8") != text:
            print(f"{SCHEMA_PATH} is stale: run `python -m api.openapi`", file=sys.stderr)
            return 1
        return 0
    SCHEMA_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {SCHEMA_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
