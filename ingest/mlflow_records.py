"""MLflow runs and registry changes as Elephant records: the metric mapping and the tag convention.

Pure functions over plain data (``RunData``, ``AliasMove``, ``StageMove``), so the mapping is tested and
documented (docs/mlflow.md) without a server; ``elephant.ingest.mlflow_sync`` fetches the data.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from elephant.errors import InvalidRecord, UsageError
from elephant.kinds.optimization import Outcome, Technique, normalise_technique
from elephant.records.envelope import Record, validate_record

# Benchmark fields and the metric names that fill them, first match wins. Names are compared after
# ``normalise_metric_name`` (lower case; '/', '.', '-' and spaces as '_'), so "latency/p99_ms" is "latency_p99_ms".
DEFAULT_METRICS: dict[str, tuple[str, ...]] = {
    **{f"latency_ms_{p}": (f"latency_ms_{p}", f"{p}_latency_ms", f"latency_{p}_ms", f"latency_{p}", f"{p}_latency",
                           f"{p}_ms", p)
       for p in ("p50", "p90", "p95", "p99")},
    "throughput_qps": ("throughput_qps", "qps", "throughput", "queries_per_second", "requests_per_second",
                       "throughput_rps", "rps", "samples_per_second"),
    "accuracy": ("accuracy", "acc", "top1_accuracy", "eval_accuracy", "test_accuracy"),
    "error_rate": ("error_rate", "errors_rate"),
}
SPEED_FIELDS = ("latency_ms_p50", "latency_ms_p90", "latency_ms_p95", "latency_ms_p99", "throughput_qps")

# The tag convention (docs/mlflow.md). Runs carry ``elephant.*`` tags; nothing else is required.
TAG_KIND = "elephant.kind"  # benchmark (default when a speed metric is present), optimization, skip
TAG_MODEL = "elephant.model"
TAG_TECHNIQUE = "elephant.technique"
TAG_BASELINE = "elephant.baseline_run"
TAG_OUTCOME = "elephant.outcome"
TAG_REASON = "elephant.reason"
TAG_HARDWARE = "elephant.hardware"
TAG_SCENARIO = "elephant.scenario"
TAG_TAGS = "elephant.tags"
NOTE_TAG = "mlflow.note.content"  # the run description in MLflow's UI

HARDWARE_NAMES = ("hardware", "device", "gpu", "accelerator", "instance_type", "cpu")
SCENARIO_NAMES = ("scenario", "load_scenario")
INTEGER_PARAMS = ("batch_size", "concurrency")


class RunProblem(Exception):
    """A run that cannot become a record; ``reason`` names the metric, param or tag at fault."""

    def __init__(self, reason: str, *, not_a_benchmark: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.not_a_benchmark = not_a_benchmark  # no speed metric at all: an ordinary training run


def normalise_metric_name(name: str) -> str:
    return re.sub(r"[/.\-\s]+", "_", name.strip().lower())


@dataclass(frozen=True)
class MetricMapping:
    """Benchmark field → metric names, tried in order; ``load`` reads overrides from YAML or JSON."""

    names: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_METRICS))

    @classmethod
    def load(cls, path: str | Path | None) -> MetricMapping:
        """Defaults, with the fields named in ``path`` (``{field: [metric, ...]}``) replaced."""
        names = dict(DEFAULT_METRICS)
        if path is None:
            return cls(names)
        import yaml

        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise UsageError(f"{path}: cannot read the metric mapping: {exc}", file=str(path)) from exc
        if not isinstance(data, dict):
            raise UsageError(f"{path}: a metric mapping is a mapping of field: [metric names]", file=str(path))
        for target, spellings in data.items():
            if target not in DEFAULT_METRICS:
                raise UsageError(f"{path}: unknown benchmark field {target!r}; known: {', '.join(DEFAULT_METRICS)}",
                                           file=str(path), field=str(target))
            listed = [spellings] if isinstance(spellings, str) else spellings
            if not isinstance(listed, list) or not all(isinstance(s, str) and s.strip() for s in listed):
                raise UsageError(f"{path}: {target}: expected a metric name or a list of them", file=str(path),
                                           field=str(target))
            names[target] = tuple(normalise_metric_name(s) for s in listed)
        return cls(names)

    def pick(self, metrics: Mapping[str, float]) -> dict[str, tuple[str, float]]:
        """Field → (metric name as logged, value) for every field one of the run's metrics fills."""
        by_norm: dict[str, str] = {}
        for name in metrics:
            by_norm.setdefault(normalise_metric_name(name), name)
        out: dict[str, tuple[str, float]] = {}
        for target, spellings in self.names.items():
            for spelling in spellings:
                if spelling in by_norm:
                    logged = by_norm[spelling]
                    out[target] = (logged, metrics[logged])
                    break
        return out


@dataclass(frozen=True)
class RunData:
    """What Elephant reads of one MLflow run."""

    run_id: str
    experiment_id: str
    experiment: str
    run_name: str
    status: str
    start_time_ms: int | None
    end_time_ms: int | None
    metrics: Mapping[str, float]
    params: Mapping[str, str]
    tags: Mapping[str, str]

    @property
    def uri(self) -> str:
        return f"runs:/{self.run_id}"

    @property
    def kind(self) -> str:
        return self.tags.get(TAG_KIND, "").strip().lower()


def run_key(run_id: str) -> str:
    return f"mlflow/runs/{run_id}"


def safe_key_part(text: str) -> str:
    """A registered model or alias name as a key segment (keys allow no spaces or '@')."""
    part = re.sub(r"[^A-Za-z0-9._\-:+=,~]+", "-", text.strip()).strip("-.")
    return part or "unnamed"


def ms_to_iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if moment.microsecond else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def run_model(run: RunData) -> str:
    """The ``elephant.model`` tag, else the experiment's name (its last path part, for workspace paths)."""
    tagged = run.tags.get(TAG_MODEL, "").strip()
    return tagged or run.experiment.rstrip("/").rsplit("/", 1)[-1] or run.experiment_id


def _first(run: RunData, tag: str, names: tuple[str, ...]) -> str | None:
    if run.tags.get(tag, "").strip():
        return run.tags[tag].strip()
    lowered = {k.lower(): v for k, v in {**run.tags, **run.params}.items()}
    return next((lowered[n].strip() for n in names if lowered.get(n, "").strip()), None)


def _user_tags(run: RunData) -> dict[str, str]:
    return {k: v for k, v in sorted(run.tags.items()) if not k.startswith("mlflow.")}


def _record_tags(run: RunData) -> list[str]:
    extra = [t for t in re.split(r"[,\s]+", run.tags.get(TAG_TAGS, "")) if t]
    return ["mlflow", *extra]


def measure(run: RunData, mapping: MetricMapping, *, require_speed: bool) -> dict[str, tuple[str, float]]:
    """The mapped metrics of ``run``; a mapped metric that is NaN or infinite is a ``RunProblem``."""
    picked = mapping.pick(run.metrics)
    for target, (logged, value) in picked.items():
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
            raise RunProblem(f"metric {logged!r} (mapped to {target}) is not a finite number: {value!r}")
    if require_speed and not any(t in picked for t in SPEED_FIELDS):
        raise RunProblem("no latency or throughput metric; looked for "
                         + ", ".join(mapping.names["latency_ms_p99"][:3] + mapping.names["throughput_qps"][:2])
                         + " and the other spellings in docs/mlflow.md", not_a_benchmark=True)
    return picked


def _integer_params(run: RunData) -> dict[str, int]:
    out: dict[str, int] = {}
    for name in INTEGER_PARAMS:
        raw = run.params.get(name)
        if raw is None or not raw.strip():
            continue
        try:
            out[name] = int(raw.strip())
        except ValueError:
            try:
                number = float(raw.strip())
            except ValueError:
                number = math.nan
            if not number.is_integer():
                raise RunProblem(f"param {name!r} is not an integer: {raw!r}") from None
            out[name] = int(number)
    return out


def _validate(data: dict[str, Any], run: RunData) -> Record:
    try:
        return validate_record(data, file=run.uri)
    except InvalidRecord as exc:
        detail = "; ".join(f"{p.field}: {p.message}" for p in exc.problems) or exc.message
        raise RunProblem(detail) from exc


def _mlflow_fields(run: RunData, tracking_uri: str) -> dict[str, Any]:
    return {"run_id": run.run_id, "run_name": run.run_name, "experiment_id": run.experiment_id,
            "experiment": run.experiment, "status": run.status, "run_uri": run.uri,
            "url": f"{tracking_uri.rstrip('/')}/#/experiments/{run.experiment_id}/runs/{run.run_id}"}


def benchmark_record(run: RunData, mapping: MetricMapping, tracking_uri: str) -> Record:
    """A ``benchmark`` record of ``run`` (key ``mlflow/runs/<run id>``); ``RunProblem`` when it has no speed metric."""
    picked = measure(run, mapping, require_speed=True)
    latency = {name[len("latency_ms_"):]: picked[name][1] for name in SPEED_FIELDS[:4] if name in picked}
    described = {"hardware": _first(run, TAG_HARDWARE, HARDWARE_NAMES), "scenario": _first(run, TAG_SCENARIO,
                                                                                          SCENARIO_NAMES)}
    fields: dict[str, Any] = {**{k: v for k, v in described.items() if v}, **_integer_params(run)}
    if latency:
        fields["latency_ms"] = latency
    if "throughput_qps" in picked:
        fields["throughput_qps"] = picked["throughput_qps"][1]
    if "accuracy" in picked:
        fields["accuracy"] = {picked["accuracy"][0]: picked["accuracy"][1]}
    if "error_rate" in picked:
        fields["error_rate"] = picked["error_rate"][1]
    fields.update(params=dict(sorted(run.params.items())), metrics=dict(sorted(run.metrics.items())),
                  run_tags=_user_tags(run), mlflow=_mlflow_fields(run, tracking_uri))
    model = run_model(run)
    return _validate({"kind": "benchmark", "key": run_key(run.run_id), "title": f"{model} benchmark: {run.run_name}",
                      "model": model, "occurred_at": ms_to_iso(run.start_time_ms), "tags": _record_tags(run),
                      "body": run.tags.get(NOTE_TAG, ""), "fields": fields,
                      "source": {"path": run.uri, "root": tracking_uri}}, run)


def _measurement(picked: dict[str, tuple[str, float]]) -> dict[str, float]:
    return {name: value for name, (_logged, value) in picked.items()
            if name in ("latency_ms_p50", "latency_ms_p95", "latency_ms_p99", "throughput_qps", "accuracy")}


def optimization_record(run: RunData, baseline: RunData | None, mapping: MetricMapping, tracking_uri: str) -> Record:
    """An ``optimization`` record: ``run`` is the result, the run its ``elephant.baseline_run`` tag names the baseline."""
    try:  # any method is kept (an unknown one is read as ``other``); known spellings become their technique
        technique = normalise_technique(run.tags.get(TAG_TECHNIQUE, "")) or Technique.other.value
    except ValueError as exc:
        raise RunProblem(f"tag {TAG_TECHNIQUE}: {exc}") from exc
    outcome = run.tags.get(TAG_OUTCOME, "").strip() or None
    if outcome is not None and outcome not in Outcome.__members__:
        raise RunProblem(f"tag {TAG_OUTCOME}={outcome!r} is not one of: {', '.join(Outcome.__members__)}")
    baseline_id = run.tags.get(TAG_BASELINE, "").strip()
    if not baseline_id:
        raise RunProblem(f"tag {TAG_BASELINE} is missing: an optimization run names its baseline run's id")
    if baseline is None:
        raise RunProblem(f"baseline run {baseline_id!r} (tag {TAG_BASELINE}) is not on the tracking server")
    result = measure(run, mapping, require_speed=True)
    try:
        before = measure(baseline, mapping, require_speed=True)
    except RunProblem as exc:
        raise RunProblem(f"baseline run {baseline_id}: {exc.reason}") from exc
    model = run_model(run)
    fields: dict[str, Any] = {"technique": technique, "baseline": _measurement(before), "result": _measurement(result),
                              "outcome": outcome, "reason": run.tags.get(TAG_REASON) or None,
                              "hardware": _first(run, TAG_HARDWARE, HARDWARE_NAMES),
                              "params": dict(sorted(run.params.items())), "run_tags": _user_tags(run),
                              "mlflow": {**_mlflow_fields(run, tracking_uri), "baseline_run_id": baseline_id}}
    if "accuracy" in result:
        fields["accuracy_metric"] = result["accuracy"][0]
    return _validate({"kind": "optimization", "key": run_key(run.run_id),
                      "title": f"{model}: {technique} ({run.run_name})", "model": model,
                      "occurred_at": ms_to_iso(run.start_time_ms), "tags": _record_tags(run),
                      "links": [{"rel": "baseline", "key": run_key(baseline_id)}],
                      "body": run.tags.get(NOTE_TAG, ""), "fields": fields,
                      "source": {"path": run.uri, "root": tracking_uri}}, run)


@dataclass(frozen=True)
class AliasMove:
    """An alias seen pointing at a version other than last time (``from_version`` None: first seen)."""

    registered_model: str
    model: str
    alias: str
    number: int  # the n-th change of this alias that Elephant observed
    from_version: str | None
    to_version: str
    observed_at: str
    run_id: str | None = None
    source: str | None = None


@dataclass(frozen=True)
class StageMove:
    """A model version seen in another stage than last time (``from_stage`` None: first seen)."""

    registered_model: str
    model: str
    version: str
    number: int
    from_stage: str | None
    to_stage: str
    observed_at: str
    run_id: str | None = None


def _alias_strategy(move: AliasMove) -> str:
    name = move.alias.lower()
    if "canary" in name:
        return "canary"
    if "shadow" in name:
        return "shadow"
    if move.from_version is not None and _version_number(move.to_version) < _version_number(move.from_version):
        return "rollback"
    return "full"


def _version_number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.inf


def alias_key(registered_model: str, alias: str, number: int) -> str:
    return f"mlflow/models/{safe_key_part(registered_model)}/aliases/{safe_key_part(alias)}/{number}"


def alias_record(move: AliasMove, tracking_uri: str) -> Record:
    """A ``deployment`` record of one alias move; occurred_at is when Elephant saw it (MLflow keeps no time)."""
    links = [{"rel": "run", "key": run_key(move.run_id)}] if move.run_id else []
    moved = f"{move.from_version} → {move.to_version}" if move.from_version else f"at version {move.to_version}"
    return validate_record({
        "kind": "deployment", "key": alias_key(move.registered_model, move.alias, move.number),
        "title": f"{move.model}: alias {move.alias} {moved}", "model": move.model, "model_version": move.to_version,
        "occurred_at": move.observed_at, "tags": ["mlflow", "alias"], "links": links,
        "fields": {"strategy": _alias_strategy(move), "from_version": move.from_version,
                   "to_version": move.to_version, "status": "succeeded", "alias": move.alias,
                   "registered_model": move.registered_model, "observed_at": move.observed_at,
                   "first_observation": move.from_version is None,
                   "mlflow": {"run_id": move.run_id, "model_uri": f"models:/{move.registered_model}@{move.alias}",
                              "source": move.source}},
        "source": {"path": f"models:/{move.registered_model}@{move.alias}", "anchor": str(move.number),
                   "root": tracking_uri}}, file=f"models:/{move.registered_model}@{move.alias}")


def stage_key(registered_model: str, version: str, number: int) -> str:
    return f"mlflow/models/{safe_key_part(registered_model)}/versions/{safe_key_part(version)}/stage/{number}"


def stage_record(move: StageMove, tracking_uri: str) -> Record:
    """A ``deployment`` record of a version's stage change (MLflow's stages, deprecated in 2.9 but still served)."""
    links = [{"rel": "run", "key": run_key(move.run_id)}] if move.run_id else []
    to_production = move.to_stage.lower() == "production"
    moved = f"{move.from_stage} → {move.to_stage}" if move.from_stage else f"in {move.to_stage}"
    return validate_record({
        "kind": "deployment", "key": stage_key(move.registered_model, move.version, move.number),
        "title": f"{move.model}: version {move.version} {moved}", "model": move.model, "model_version": move.version,
        "occurred_at": move.observed_at, "tags": ["mlflow", "stage"], "links": links,
        "fields": {"strategy": "full" if to_production else None, "to_version": move.version if to_production else None,
                   "status": "succeeded", "stage": move.to_stage, "from_stage": move.from_stage,
                   "registered_model": move.registered_model, "version": move.version,
                   "observed_at": move.observed_at, "first_observation": move.from_stage is None,
                   "mlflow": {"run_id": move.run_id, "model_uri": f"models:/{move.registered_model}/{move.version}"}},
        "source": {"path": f"models:/{move.registered_model}/{move.version}", "anchor": str(move.number),
                   "root": tracking_uri}}, file=f"models:/{move.registered_model}/{move.version}")
