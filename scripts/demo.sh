#!/usr/bin/env bash
# The main job on a fresh clone: a demo home, the demo history (and the shared corpus when it is
# beside the checkout), the REST server, and an answer to "what did we try last time?" over HTTP.
set -euo pipefail
cd "$(dirname "$0")/.."
E=.venv/bin/elephant
PY=.venv/bin/python
export ELEPHANT_HOME="${ELEPHANT_HOME:-$PWD/.elephant}"
export ANONYMIZED_TELEMETRY=False

echo "== Elephant home: $ELEPHANT_HOME"
$E model info
echo
echo "== Ingest the demo history"
$E ingest fixtures/demo fixtures/eval/history.yaml
$E ingest fixtures/eval/history_updates.yaml  # second versions of a few records: history and diffs to show
# The shared corpus beside the checkout, if any; ELEPHANT_DEMO_CORPUS names another or, empty, none.
CORPUS="${ELEPHANT_DEMO_CORPUS-../shared/corpus}"
if [ -n "$CORPUS" ] && [ -d "$CORPUS" ]; then
  echo
  echo "== Ingest the public corpus (MLPerf, Triton, KServe, runbooks, model cards)"
  $E ingest "$CORPUS" || echo "(some corpus files were reported above; the rest is in)"
fi
echo
$E stats

# Port 8080 when it is free (a stable address to bookmark), else any free one; ELEPHANT_DEMO_PORT names one.
PORT=${ELEPHANT_DEMO_PORT:-$($PY -c '
import socket
s = socket.socket()
try:
    s.bind(("127.0.0.1", 8080))
except OSError:
    s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')}
echo
echo "== elephant serve on 127.0.0.1:$PORT"
$E serve --host 127.0.0.1 --port "$PORT" > "$ELEPHANT_HOME/serve.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
$PY - "$PORT" <<'PYEOF'
import sys, time, httpx
base = f"http://127.0.0.1:{sys.argv[1]}"
start = time.monotonic()
while True:
    try:
        if httpx.get(base + "/readyz", timeout=2).status_code == 200:
            break
    except httpx.HTTPError:
        pass
    if time.monotonic() - start > 60:
        sys.exit("server did not become ready; see serve.log")
    time.sleep(0.1)
print(f"ready after {time.monotonic() - start:.2f} s")
for question in ("did we try INT8 on the ranker? what happened?",
                 "What did Llama-2-70B (99.9) Offline get on 8xH200 last time?"):
    reply = httpx.post(base + "/v1/ask", json={"question": question}, timeout=30).json()
    print(f"\n== POST /v1/ask: {question}\n")
    print(reply["answer"])
    print("citations:", ", ".join(reply["citations"][:5]), "| degraded:", reply["degraded"])
brief = httpx.get(base + "/v1/brief", params={"model": "ranker"}, timeout=30)
print("\n== GET /v1/brief?model=ranker ->", brief.status_code)
page = httpx.get(base + "/models/ranker", headers={"accept": "text/html"}, timeout=30)
print("== GET /models/ranker (the ranker's timeline page) ->", page.status_code)
PYEOF

URL="http://127.0.0.1:$PORT/"
echo
echo "== The web UI: $URL"
echo "   models and their latest figures; click the ranker for its timeline (what was tried, what happened),"
echo "   Benchmarks for the charts, any record for its versions and diffs; /docs for the API."
if [ -t 0 ] && [ -t 1 ]; then
  echo "   Serving until Ctrl-C (log: $ELEPHANT_HOME/serve.log)."
  wait $SERVER || true
fi
