"""Deterministic Markdown for answers: one line per attempt with date, what, outcome, metric deltas and a
citation. Same records in, same text out — no model writes these sentences."""

from __future__ import annotations

from typing import Any

from elephant.answers.regressions import is_offline, regression_figures
from elephant.kinds.units import as_number, format_change, format_number, format_points, metric_label

OUTCOME_WORDS = {
    "adopted": "adopted", "rejected": "rejected", "rolled_back": "rolled back", "in_progress": "in progress",
    "succeeded": "succeeded", "failed": "failed", "verified": "parity verified", "drift": "parity drift",
    "unknown": "parity unknown", "open": "open", "resolved": "resolved",
}


def optimization_deltas(fields: dict[str, Any]) -> list[str]:
    """Baseline → result for latency percentiles, throughput and accuracy of an optimization."""
    base = fields.get("baseline") or {}
    result = fields.get("result") or {}
    if not isinstance(base, dict) or not isinstance(result, dict):
        return []
    parts: list[str] = []
    for pct in ("p50", "p90", "p95", "p99"):
        name = f"latency_ms_{pct}"
        if (part := format_change(pct, as_number(base.get(name)), as_number(result.get(name)), "ms")):
            parts.append(part)
    if (part := format_change("throughput", as_number(base.get("throughput_qps")), as_number(result.get("throughput_qps")),
                              "qps")):
        parts.append(part)
    parts.extend(_accuracy_changes(base.get("accuracy"), result.get("accuracy"), fields.get("accuracy_metric")))
    return parts


def _accuracy_changes(before: Any, after: Any, metric: Any) -> list[str]:
    label = metric_label(str(metric)) if metric else "accuracy"
    if isinstance(before, dict) or isinstance(after, dict):
        before_d = before if isinstance(before, dict) else {}
        after_d = after if isinstance(after, dict) else {}
        out = []
        for name in list(dict.fromkeys([*before_d, *after_d])):
            if (part := format_points(metric_label(str(name)), as_number(before_d.get(name)), as_number(after_d.get(name)))):
                out.append(part)
        return out
    part = format_points(label, as_number(before), as_number(after))
    return [part] if part else []


def benchmark_figures(fields: dict[str, Any]) -> list[str]:
    """'p50 21 ms, p99 45 ms, 820 qps, NDCG@10 0.412 (c6i.4xlarge, server, batch 16)'."""
    parts: list[str] = []
    latency = fields.get("latency_ms") or {}
    if isinstance(latency, dict) and not is_offline(fields):  # an offline "p50" is minutes into the run
        for pct in ("p50", "p90", "p95", "p99"):
            if (value := as_number(latency.get(pct))) is not None:
                parts.append(f"{pct} {format_number(value)} ms")
    if (qps := as_number(fields.get("throughput_qps"))) is not None:
        parts.append(f"{format_number(qps)} qps")
    accuracy = fields.get("accuracy") or {}
    if isinstance(accuracy, dict):
        for name, value in accuracy.items():
            if (number := as_number(value)) is not None:
                parts.append(f"{metric_label(str(name))} {format_number(number)}")
    if (rate := as_number(fields.get("error_rate"))) is not None and rate > 0:
        parts.append(f"errors {format_number(rate * 100)} %")
    where = [str(fields[name]) for name in ("hardware", "scenario") if fields.get(name)]
    if fields.get("batch_size") is not None:
        where.append(f"batch {fields['batch_size']}")
    if fields.get("concurrency") is not None:
        where.append(f"concurrency {fields['concurrency']}")
    if where and parts:
        parts[-1] += f" ({', '.join(where)})"
    return parts


def deployment_figures(fields: dict[str, Any]) -> list[str]:
    parts = []
    metrics = fields.get("metrics") or {}
    if isinstance(metrics, dict):
        for name, value in metrics.items():
            number = as_number(value)
            if number is None:
                continue
            if name.endswith("_ms"):
                parts.append(f"{name[:-3].replace('_', ' ')} {format_number(number)} ms")
            elif name.endswith("_pct"):
                parts.append(f"{name[:-4].replace('_', ' ')} {format_number(number)} %")
            elif name == "error_rate":
                parts.append(f"error rate {format_number(number * 100)} %")
            else:
                parts.append(f"{name.replace('_', ' ')} {format_number(number)}")
    return parts


def outcome_of(kind: str, fields: dict[str, Any]) -> str | None:
    """The machine outcome of a record (JSON ``outcome``): its status in its kind's own words."""
    if kind == "optimization":
        return _str(fields.get("outcome"))
    if kind == "deployment":
        return _str(fields.get("status"))
    if kind == "incident":
        return "resolved" if fields.get("resolved_at") else "open"
    if kind == "feature_definition":
        return _str(fields.get("parity"))
    if kind == "regression":
        return _str(fields.get("status")) or "open"
    if kind == "benchmark":
        valid = fields.get("valid")
        return None if valid is None else ("valid" if valid else "invalid")
    if kind == "rollback_procedure":
        return "tested" if fields.get("last_tested_at") else "untested"
    return None


def outcome_words(kind: str, fields: dict[str, Any]) -> str:
    """The human outcome: 'rolled back: recall@100 −3.1 pt on cold-start users', 'sev2, resolved 2026-01-21'."""
    outcome = outcome_of(kind, fields)
    if kind == "optimization":
        words = OUTCOME_WORDS.get(outcome or "", outcome or "outcome not recorded")
        reason = _str(fields.get("reason"))
        return f"{words}: {reason}" if reason else words
    if kind == "deployment":
        strategy = _str(fields.get("strategy")) or "deployment"
        traffic = as_number(fields.get("traffic_percent"))
        what = strategy.replace("_", " ") + (f" at {format_number(traffic)} %" if traffic is not None else "")
        return f"{what}, {OUTCOME_WORDS.get(outcome or '', outcome or 'status not recorded')}"
    if kind == "incident":
        severity = _str(fields.get("severity"))
        resolved = _str(fields.get("resolved_at"))
        state = f"resolved {resolved[:10]}" if resolved else "open"
        cause = _str(fields.get("root_cause"))
        text = f"{severity + ', ' if severity else ''}{state}"
        return f"{text}; cause: {cause}" if cause else text
    if kind == "feature_definition":
        words = OUTCOME_WORDS.get(outcome or "", "parity not recorded")
        skew = fields.get("skew_metric")
        if isinstance(skew, dict):
            skew_text = ", ".join(f"{metric_label(str(k))} {format_number(v) if as_number(v) is not None else v}"
                                  for k, v in skew.items())
        else:
            skew_text = str(skew) if skew is not None else ""
        checked = _str(fields.get("parity_checked_at"))
        extra = ", ".join(p for p in (skew_text, f"checked {checked[:10]}" if checked else "") if p)
        return f"{words} ({extra})" if extra else words
    if kind == "regression":
        return f"regression {outcome or 'open'}"
    if kind == "benchmark":
        return {"valid": "valid run", "invalid": "INVALID run"}.get(outcome or "", "measured")
    if kind == "rollback_procedure":
        tested = _str(fields.get("last_tested_at"))
        return f"last tested {tested[:10]}" if tested else "never tested"
    if kind == "serving_config":
        parts = [str(fields[n]) for n in ("runtime", "hardware", "precision") if fields.get(n)]
        if fields.get("replicas") is not None:
            parts.append(f"{fields['replicas']} replicas")
        return ", ".join(parts) or "serving config"
    return kind.replace("_", " ")


def figures_of(kind: str, fields: dict[str, Any]) -> list[str]:
    if kind == "optimization":
        return optimization_deltas(fields)
    if kind == "benchmark":
        return benchmark_figures(fields)
    if kind == "deployment":
        return deployment_figures(fields)
    if kind == "regression":
        return regression_figures(fields)
    return []


def date_of(occurred_at: str | None, recorded_at: str | None = None) -> str:
    value = occurred_at or recorded_at
    return value[:10] if value else "undated"


def attempt_line(*, when: str, kind: str, title: str, fields: dict[str, Any], citation: str) -> str:
    """One Markdown bullet: date · kind · what — outcome; figures [key@version]."""
    figures = figures_of(kind, fields)
    figure_text = f"; {', '.join(figures)}" if figures else ""
    return (f"- **{when}** · {kind.replace('_', ' ')} · {title} — **{outcome_words(kind, fields)}**"
            f"{figure_text} [`{citation}`]")


def _str(value: Any) -> str:
    return "" if value is None else str(value)
