"""Photograph the ranker's timeline and benchmark chart for the docs (docs/web-timeline.png, docs/web-chart.png).

    .venv/bin/python scripts/web_screenshots.py [--out docs]

Loads the demo history into a scratch home, starts `elephant serve` on it and drives Debian's Chromium
(`apt-get install chromium`) with Playwright, as the browser tests do.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / "docs")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    os.environ.update(ELEPHANT_MODEL="fake", ANONYMIZED_TELEMETRY="False")
    from playwright.sync_api import sync_playwright

    import elephant
    from tests.api.webdata import load_demo

    with tempfile.TemporaryDirectory() as scratch:
        home = Path(scratch) / "home"
        with elephant.open(home) as db:
            load_demo(db)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = {**os.environ, "ELEPHANT_HOME": str(home)}
        server = subprocess.Popen([sys.executable, "-m", "elephant.cli.main", "serve", "--port", str(port),
                                   "--workers", "1", "--log-level", "warning"], cwd=REPO, env=env)
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(600):
                try:
                    if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=args.chromium, headless=True, args=FLAGS)
                page = browser.new_page(viewport={"width": 1000, "height": 760})
                page.goto(base + "/models/ranker?kind=optimization&kind=deployment&kind=incident")
                page.screenshot(path=str(args.out / "web-timeline.png"), clip={"x": 0, "y": 0, "width": 1000, "height": 760})
                page.goto(base + "/models/ranker/benchmarks")
                page.locator("div.chart canvas").first.wait_for()
                page.screenshot(path=str(args.out / "web-chart.png"), clip={"x": 0, "y": 0, "width": 1000, "height": 620})
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=15)
    for name in ("web-timeline.png", "web-chart.png"):
        print(f"wrote {args.out / name} ({(args.out / name).stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
