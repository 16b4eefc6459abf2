#!/usr/bin/env bash
# The main job on a fresh clone: a demo home, the demo history, and what Elephant then knows.
set -euo pipefail
cd "$(dirname "$0")/.."
E=.venv/bin/elephant
export ELEPHANT_HOME="${ELEPHANT_HOME:-$PWD/.elephant}"
echo "== Elephant home: $ELEPHANT_HOME"
$E put fixtures/demo/*.yaml -m "demo history"
echo
echo "== What is stored"
$E stats
echo
echo "== The INT8 attempt on the ranker, as recorded"
$E get ranker/int8-dynamic-2026-03
echo
$E history ranker/int8-dynamic-2026-03
