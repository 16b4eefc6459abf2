"""MLPerf Inference results → one ``benchmark`` record per submitter × system × benchmark × scenario × round.

A result spans several files, joined here:

    <round>/<division>/<submitter>/results/<SYS>/<bench>/<Scenario>/performance/run_1/mlperf_log_summary.txt
    <round>/<division>/<submitter>/results/<SYS>/<bench>/<Scenario>/accuracy/accuracy.txt
    <round>/<division>/<submitter>/systems/<SYS>.json
    <round>/<division>/<submitter>/measurements/<SYS>/<bench>/<Scenario>/{<any>.json, user.conf}

The summary is the lead file; ``group_members`` names the others so the pipeline can hash the group
(a changed system file re-ingests every result of that system). Keys come from the result folder
(``.../results/<SYS>/<bench>/<Scenario>``), so v4.0 and v4.1 of one system are two records with the same
``model`` (the benchmark), ``hardware`` and ``scenario``, and the later one links ``previous_round``.
Latencies are reported in nanoseconds and stored in milliseconds.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterable
from pathlib import PurePosixPath
from typing import Any

from elephant.ingest.parsers.base import (
    ParseContext,
    ParseError,
    build_record,
    clean_tags,
    decode_text,
    derive_key,
    to_number,
)
from elephant.records.envelope import Record

SUMMARY_NAME = "mlperf_log_summary.txt"
_RESULT = re.compile(
    r"(?:^|/)(?:(?P<round>inference_v[0-9][0-9.]*)/)?(?:(?P<division>closed|open|network)/)?"
    r"(?:(?P<submitter>[^/]+)/)?results/(?P<system>[^/]+)/(?P<benchmark>[^/]+)/(?P<scenario>[^/]+)"
    r"/performance/run_1/mlperf_log_summary\.txt$"
)
# Publication dates of the rounds, used as the results' valid time.
ROUND_DATES = {"4.0": "2024-03-27", "4.1": "2024-08-28"}
SCENARIOS = {"offline": "offline", "server": "server", "singlestream": "single_stream",
             "multistream": "multi_stream", "interactive": "interactive"}
# CM captures of the submitter's environment sit beside the precision JSON; they are not it.
CM_CAPTURES = {"cpu_info.json", "os_info.json", "pip_freeze.json", "cm-version-info.json", "cm_sut_info.json"}
PERCENTILES = {"50.00": "p50", "90.00": "p90", "95.00": "p95", "97.00": "p97", "99.00": "p99", "99.90": "p99_9"}


def is_summary(path: str) -> bool:
    return PurePosixPath(path).name == SUMMARY_NAME and _RESULT.search(path) is not None


def _parts(path: str) -> dict[str, str]:
    match = _RESULT.search(path)
    if match is None:
        raise ParseError("not an MLPerf results/<SYS>/<benchmark>/<scenario>/performance/run_1 summary path")
    return {k: v or "" for k, v in match.groupdict().items()}


def _base(path: str) -> tuple[str, str]:
    """(the folder above ``results/``, the result folder) of a summary path."""
    index = path.rfind("results/")
    results_dir = path[: path.rfind("/performance/run_1/")]
    return path[:index], results_dir


def group_members(path: str, known: Iterable[str]) -> list[str]:
    """The other files a summary joins, among the ``known`` root-relative paths (sorted)."""
    known_set = known if isinstance(known, set | frozenset) else set(known)
    p = _parts(path)
    base, results_dir = _base(path)
    wanted = {f"{results_dir}/accuracy/accuracy.txt", f"{base}systems/{p['system']}.json"}
    bench_dir = f"{base}measurements/{p['system']}/{p['benchmark']}/"
    same_scenario = f"{bench_dir}{p['scenario']}/"
    candidates = [k for k in known_set if k.startswith(bench_dir)]
    members = [k for k in candidates if k.startswith(same_scenario) and k.count("/") == same_scenario.count("/")
               and ((k.endswith(".json") and PurePosixPath(k).name not in CM_CAPTURES) or k.endswith("/user.conf"))]
    if not any(m.endswith(".json") for m in members):
        # Some submitters keep the precision JSON under one scenario only; borrow it for the others.
        members += sorted(k for k in candidates if k.endswith(".json") and PurePosixPath(k).name not in CM_CAPTURES
                          and k.count("/") == same_scenario.count("/"))[:1]
    return sorted({m for m in wanted if m in known_set} | set(members))


def _ns_to_ms(value: float | None) -> float | None:
    return None if value is None else round(value / 1e6, 6)


def parse_summary(text: str) -> dict[str, Any]:
    """The numbers of an ``mlperf_log_summary.txt``; ``ParseError`` if it is truncated."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip().lstrip("*").strip()
        if ":" not in line:
            continue
        name, _, value = line.partition(":")
        name = re.sub(r"\s+", " ", name.strip())
        values.setdefault(name, value.strip())
    missing = [k for k in ("Scenario", "Result is") if k not in values]
    if "MLPerf Results Summary" not in text or missing:
        raise ParseError("truncated or incomplete MLPerf summary: missing "
                         + (", ".join(missing) if missing else "the 'MLPerf Results Summary' header"))
    out: dict[str, Any] = {"scenario": values["Scenario"], "result": values["Result is"].split()[0].upper(),
                           "sut_name": values.get("SUT name"), "mode": values.get("Mode")}

    def num(*names: str) -> float | None:
        for n in names:
            if n in values and (v := to_number(values[n])) is not None:
                return v
        return None

    out["samples_per_s"] = num("Samples per second", "Completed samples per second")
    out["scheduled_samples_per_s"] = num("Scheduled samples per second")
    out["tokens_per_s"] = num("Tokens per second", "Completed tokens per second")
    inferred = num("Tokens per second (inferred)", "Completed tokens per second (inferred)")
    if out["tokens_per_s"] is None and inferred is not None:
        out["tokens_per_s"], out["tokens_per_s_inferred"] = inferred, True
    out["qps_with_loadgen_overhead"] = num("QPS w/ loadgen overhead")
    out["qps_without_loadgen_overhead"] = num("QPS w/o loadgen overhead")
    latency: dict[str, float] = {}
    ttft: dict[str, float] = {}
    tpot: dict[str, float] = {}
    for name, raw in values.items():
        ns = to_number(raw)
        if ns is None:
            continue
        m = re.match(r"^(\d+\.\d+) percentile (latency|first token latency|time to output token) \(ns\)$", name, re.I)
        if m and m.group(1) in PERCENTILES:
            target = {"latency": latency, "first token latency": ttft}.get(m.group(2).lower(), tpot)
            target[PERCENTILES[m.group(1)]] = _ns_to_ms(ns) or 0.0
            continue
        m = re.match(r"^(Min|Max|Mean) (latency|First Token latency|Time to Output Token) \(ns\)$", name, re.I)
        if m:
            target = {"latency": latency, "first token latency": ttft}.get(m.group(2).lower(), tpot)
            target[m.group(1).lower()] = _ns_to_ms(ns) or 0.0
    early = num("90th percentile latency (ns)", "99th percentile latency (ns)")
    if early is not None:
        out["early_stopping_latency_ms"] = _ns_to_ms(early)
    out["latency_ms"] = latency or None
    out["ttft_ms"] = ttft or None
    out["tpot_ms"] = tpot or None
    out["target_qps"] = num("target_qps")
    out["target_latency_ms"] = _ns_to_ms(num("target_latency (ns)")) or None
    out["ttft_constraint_ms"] = _ns_to_ms(num("ttft_latency (ns)"))
    out["tpot_constraint_ms"] = _ns_to_ms(num("tpot_latency (ns)"))
    out["samples_per_query"] = num("samples_per_query")
    out["min_duration_ms"] = num("min_duration (ms)")
    has_metric = any(out.get(k) is not None for k in ("samples_per_s", "tokens_per_s", "qps_with_loadgen_overhead"))
    if not has_metric and not latency:
        raise ParseError("truncated or incomplete MLPerf summary: no throughput or latency figures")
    return {k: v for k, v in out.items() if v is not None}


def parse_accuracy(text: str) -> dict[str, float]:
    """Accuracy metrics from the free-form ``accuracy.txt`` the MLPerf checkers print."""
    found: dict[str, float] = {}
    for line in text.splitlines():
        line = line.strip()
        dict_text = line.split(":", 1)[1].strip() if line.startswith("Accuracy Results:") else line
        if dict_text.startswith("{") and dict_text.endswith("}") and len(dict_text) < 4000:
            try:
                data = ast.literal_eval(dict_text)
            except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
                data = None
            if isinstance(data, dict):
                found.update({str(k): float(v) for k, v in data.items()
                              if isinstance(v, int | float) and not isinstance(v, bool)})
                continue
        if re.match(r"^(mAP|AUC|accuracy)=", line):
            for name, value in re.findall(r"(\w+)=([-+]?\d+(?:\.\d+)?)%?", line):
                if name in ("good", "total", "queries"):
                    continue
                found[name] = float(value)
        elif line.startswith("Accuracy: mean ="):
            for name, value in re.findall(r"(\w+) = ([-+]?\d+(?:\.\d+)?)", line):
                found[f"dice_{name}"] = float(value)
    # Generation counts are bookkeeping, not accuracy.
    for bookkeeping in ("gen_len", "gen_num", "gen_tok_len", "tokens_per_sample"):
        found.pop(bookkeeping, None)
    return found


def _json(related: dict[str, bytes], path: str) -> Any:
    try:
        return json.loads(decode_text(related[path]))
    except json.JSONDecodeError as exc:
        raise ParseError(f"{path}: malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise ParseError(f"{path}: malformed JSON: nesting too deep") from None


def _user_conf(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if "=" in line:
            name, _, value = line.partition("=")
            out[name.strip()] = value.strip()
    return out


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items()) or None
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or None
    text = str(value).strip()
    return None if text in ("", "N/A", "n/a", "NA") else text


def _hardware(system: dict[str, Any]) -> str | None:
    accel = _text(system.get("accelerator_model_name"))
    count = to_number(system.get("accelerators_per_node")) or 0
    if accel and count:
        return f"{count:g}x {accel}"
    cpu = _text(system.get("host_processor_model_name"))
    sockets = to_number(system.get("host_processors_per_node")) or 0
    if cpu:
        return f"{sockets:g}x {cpu}" if sockets else cpu
    return None


def _round(label: str) -> str:
    return label.removeprefix("inference_v") if label else ""


def previous_round(path: str, known: Iterable[str]) -> str | None:
    """The summary path of the latest earlier round of the same division/submitter/system/benchmark/scenario."""
    p = _parts(path)
    if not p["round"]:
        return None
    here = tuple(int(x) for x in _round(p["round"]).split(".") if x.isdigit())
    best: tuple[tuple[int, ...], str] | None = None
    for other in known:
        if not other.endswith(SUMMARY_NAME) or other == path or f"/{p['system']}/{p['benchmark']}/" not in other:
            continue
        match = _RESULT.search(other)
        if match is None:
            continue
        q = {k: v or "" for k, v in match.groupdict().items()}
        if (q["division"], q["submitter"], q["system"], q["benchmark"]) != (
                p["division"], p["submitter"], p["system"], p["benchmark"]) or q["scenario"].lower() != p["scenario"].lower():
            continue
        version = tuple(int(x) for x in _round(q["round"]).split(".") if x.isdigit())
        if version < here and (best is None or version > best[0]):
            best = (version, other)
    return best[1] if best else None


def result_key(path: str) -> str:
    return derive_key(_base(path)[1])


def _num(value: float) -> str:
    """Readable figures for the body: 1,391,706.7 rather than 1.39171e+06."""
    return f"{value:,.1f}" if abs(value) >= 100 else f"{value:.4g}"


def _fmt(value: float | None) -> str:
    return "?" if value is None else f"{value:,.6g}" if abs(value) < 1e6 else f"{value:,.0f}"


def parse(path: str, data: bytes, context: ParseContext) -> list[Record]:
    p = _parts(path)
    summary = parse_summary(decode_text(data))
    related = dict(context.related)
    base, results_dir = _base(path)
    system: dict[str, Any] = {}
    system_path = f"{base}systems/{p['system']}.json"
    if system_path in related:
        loaded = _json(related, system_path)
        if not isinstance(loaded, dict):
            raise ParseError(f"{system_path}: a system description must be a JSON object")
        system = loaded
    measurement: dict[str, Any] = {}
    user_conf: dict[str, str] = {}
    for member in sorted(related):
        if "/measurements/" not in member:
            continue
        if member.endswith("/user.conf") and f"/{p['scenario']}/" in member:
            user_conf = _user_conf(decode_text(related[member]))
        elif member.endswith(".json") and not measurement:
            loaded = _json(related, member)
            if isinstance(loaded, dict) and ("weight_data_types" in loaded or "input_data_types" in loaded):
                measurement = loaded
    accuracy_path = f"{results_dir}/accuracy/accuracy.txt"
    accuracy = parse_accuracy(decode_text(related[accuracy_path])) if accuracy_path in related else {}

    round_no = _round(p["round"])
    scenario_label = summary["scenario"]
    scenario = SCENARIOS.get(scenario_label.lower().replace("_", "").replace("-", ""), scenario_label.lower())
    submitter = p["submitter"] or _text(system.get("submitter")) or "unknown"
    division = p["division"] or _text(system.get("division")) or ""
    valid = summary["result"] == "VALID"
    latency = summary.get("latency_ms") or {}
    throughput = summary.get("samples_per_s")
    if throughput is None:
        throughput = summary.get("qps_with_loadgen_overhead")
    precision = _text(measurement.get("weight_data_types"))
    software = {k: v for k, v in {
        "framework": _text(system.get("framework")),
        "stack": _text(system.get("other_software_stack")),
        "os": _text(system.get("operating_system")),
        "notes": _text(system.get("sw_notes")),
    }.items() if v}
    key = result_key(path)
    links = []
    if (earlier := previous_round(path, context.known_paths)) is not None:
        links.append({"rel": "previous_round", "key": result_key(earlier)})
    fields: dict[str, Any] = {
        # The submitted system id qualifies the hardware: the same 8xH200 box with TensorRT, Triton or
        # MaxQ power settings is a different benchmark series, while v4.0 and v4.1 of one id compare.
        "hardware": f"{p['system']} ({hw})" if (hw := _hardware(system)) else p["system"],
        "scenario": scenario,
        "latency_ms": {k: v for k, v in latency.items() if k in ("p50", "p90", "p95", "p99")} or None,
        "latency_ms_detail": latency or None,
        "throughput_qps": throughput,
        "samples_per_s": summary.get("samples_per_s"),
        "tokens_per_s": summary.get("tokens_per_s"),
        "tokens_per_s_inferred": summary.get("tokens_per_s_inferred"),
        "scheduled_samples_per_s": summary.get("scheduled_samples_per_s"),
        "ttft_ms": summary.get("ttft_ms"),
        "tpot_ms": summary.get("tpot_ms"),
        "early_stopping_latency_ms": summary.get("early_stopping_latency_ms"),
        "accuracy": accuracy or None,
        "valid": valid,
        "result": summary["result"],
        "precision": precision,
        "input_data_types": _text(measurement.get("input_data_types")),
        "weight_transformations": _text(measurement.get("weight_transformations")),
        "starting_weights": _text(measurement.get("starting_weights_filename")),
        "retraining": _text(measurement.get("retraining")),
        "software": software or None,
        "system": p["system"],
        "system_name": _text(system.get("system_name")),
        "system_status": _text(system.get("status")),
        "system_type": _text(system.get("system_type")),
        "host_processor": _text(system.get("host_processor_model_name")),
        "accelerator": _text(system.get("accelerator_model_name")),
        "accelerators_per_node": to_number(system.get("accelerators_per_node")),
        "benchmark": p["benchmark"],
        "submitter": submitter,
        "division": division or None,
        "round": f"v{round_no}" if round_no else None,
        "series": derive_key(f"mlperf/{division}/{submitter}/{p['system']}/{p['benchmark']}/{scenario}"),
        "sut_name": summary.get("sut_name"),
        "target_qps": summary.get("target_qps"),
        "target_latency_ms": summary.get("target_latency_ms"),
        "ttft_constraint_ms": summary.get("ttft_constraint_ms"),
        "tpot_constraint_ms": summary.get("tpot_constraint_ms"),
        "user_conf": user_conf or None,
    }
    fields = {k: v for k, v in fields.items() if v is not None}
    headline = (f"{_fmt(summary['tokens_per_s'])} tokens/s" if summary.get("tokens_per_s") is not None
                else f"{_fmt(throughput)} samples/s" if throughput is not None and scenario in ("offline", "server")
                else f"p90 {_fmt(fields.get('early_stopping_latency_ms') or latency.get('p90'))} ms")
    round_text = f"MLPerf Inference v{round_no}" if round_no else "MLPerf Inference"
    lines = [
        f"{submitter} {p['system']} — {p['benchmark']} {scenario_label} ({round_text}, {division or 'unknown'} "
        f"division): {headline}, {summary['result']}.",
    ]
    if throughput is not None:
        lines.append(f"Throughput: {throughput:g} samples/s" + (
            f", {summary['tokens_per_s']:g} tokens/s" if summary.get("tokens_per_s") is not None else "") + ".")
    if latency:
        lines.append("Latency (ms): " + ", ".join(f"{k} {_num(v)}" for k, v in latency.items()) + ".")
    if summary.get("ttft_ms"):
        lines.append("Time to first token (ms): " + ", ".join(f"{k} {_num(v)}" for k, v in summary["ttft_ms"].items()) + ".")
    if summary.get("tpot_ms"):
        lines.append("Time per output token (ms): "
                     + ", ".join(f"{k} {_num(v)}" for k, v in summary["tpot_ms"].items()) + ".")
    if measurement:
        lines.append(f"Precision: weights {precision or '?'}, inputs {fields.get('input_data_types', '?')}; "
                     f"weight transformations: {fields.get('weight_transformations', 'none')}; "
                     f"starting weights: {fields.get('starting_weights', '?')}.")
    if fields.get("hardware"):
        lines.append(f"Hardware: {fields['hardware']}" + (
            f" ({fields['system_name']})" if fields.get("system_name") else "") + ".")
    if software:
        lines.append("Software: " + "; ".join(f"{k} {v}" for k, v in software.items()) + ".")
    if fields.get("system_status"):
        lines.append(f"System status: {fields['system_status']}.")
    if accuracy:
        lines.append("Accuracy: " + ", ".join(f"{k} {v:g}" for k, v in accuracy.items()) + ".")
    envelope = {
        "kind": "benchmark",
        "key": key,
        "title": f"MLPerf v{round_no} {submitter} {p['system']} {p['benchmark']} {scenario_label}: {headline}"
        if round_no else f"MLPerf {submitter} {p['system']} {p['benchmark']} {scenario_label}: {headline}",
        "model": p["benchmark"],
        "occurred_at": ROUND_DATES.get(round_no),
        "tags": clean_tags("mlperf", f"v{round_no}" if round_no else None, division, submitter, p["system"],
                           scenario, precision, "triton" if "triton" in p["system"].lower() else None,
                           None if valid else "invalid"),
        "links": links,
        "body": "\n".join(lines),
        "fields": fields,
    }
    return [build_record(envelope, path=path, anchor=None, context=context)]
