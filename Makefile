# One entry point for the toolchain. `make demo` runs the main job, `make test` the suite.
VENV   ?= .venv
PY     := $(VENV)/bin/python
BIN    := $(VENV)/bin
# The per-user model cache that `elephant` itself looks in (~/.cache/elephant/models): one build serves
# every home; ELEPHANT_MODEL_DIR or MODELS=DIR choose another.
MODELS ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/elephant/models
export ANONYMIZED_TELEMETRY := False
export HF_HUB_OFFLINE := 1

.PHONY: setup model demo test reliability soak lint bench openapi clean

setup: $(VENV)/.installed

# torch: this machine's CPU wheel, installed first so that the `build` extra's lower bound (torch>=2.2) is
# already met and pip never pulls a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "torch==2.13.0"
	$(PY) -m pip install -q -e ".[server,postgres,build,dev,mlflow]"
	touch $@

# Builds the ONNX embedding model once (skipped when the manifest is already there).
model: setup
	@test -f $(MODELS)/manifest.json || ELEPHANT_MODEL_DIR=$(MODELS) $(BIN)/elephant model build

demo: setup model
	ELEPHANT_MODEL_DIR=$(MODELS) bash scripts/demo.sh

test: setup model
	ELEPHANT_TEST_MODEL_DIR=$(MODELS) $(BIN)/pytest -q

# The slow part of the fault suite (tests/reliability, marker `reliability`): writer processes,
# SIGKILL and concurrency, on SQLite and PostgreSQL. The fast part runs in `make test`.
reliability: setup
	ELEPHANT_RELIABILITY=1 ELEPHANT_TEST_MODEL_DIR=$(MODELS) $(BIN)/pytest -q -m reliability tests/reliability

# Mixed load on `serve --workers 2` (writes, searches, asks, reads) at 8 and 32 clients on SQLite and
# PostgreSQL, then every acknowledged write checked stored and indexed at its version, RSS per worker
# over time (bench/soak.py; writes bench/results/soak.json). SOAK_SECONDS per client level.
SOAK_SECONDS ?= 45
soak: setup model
	ELEPHANT_MODEL_DIR=$(MODELS) $(PY) bench/soak.py --seconds $(SOAK_SECONDS)

# mypy reads pyproject.toml: the core library (elephant/ without the adapters) is checked with the
# flags of `mypy --strict`, the adapters (api/, cli/, ingest/) with the defaults.
lint: setup
	$(BIN)/ruff check elephant ingest api cli tests bench
	$(BIN)/mypy
	$(PY) -m elephant.api.openapi --check

# Regenerates the committed OpenAPI schema (a test checks it matches the app).
openapi: setup
	$(PY) -m elephant.api.openapi

bench: setup model
	ELEPHANT_MODEL_DIR=$(MODELS) $(PY) bench/embed.py
	ELEPHANT_MODEL_DIR=$(MODELS) $(PY) bench/ingest.py
	ELEPHANT_MODEL_DIR=$(MODELS) $(PY) bench/retrieval.py
	ELEPHANT_MODEL_DIR=$(MODELS) $(PY) bench/search.py
	ELEPHANT_MODEL_DIR=$(MODELS) $(PY) bench/api.py
	ELEPHANT_MODEL_DIR=$(MODELS) $(PY) bench/mlflow_import.py --runs 1000
	ELEPHANT_MODEL_DIR=$(MODELS) $(PY) bench/web.py
	$(PY) bench/scale.py --records 20000 --database sqlite
	$(PY) bench/scale.py --records 20000 --database postgresql

clean:
	rm -rf .elephant .pytest_cache .ruff_cache .mypy_cache
