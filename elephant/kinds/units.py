"""The one number and units formatter: every figure a person reads (ask, context packs, the brief, regression
findings, search rows, web pages, MCP) goes through here, so the same fact prints the same way everywhere.

The convention: thousands separated, at most four significant decimals and no trailing zeros (a latency of
18.25 ms stays 18.25, a throughput of 31,302.7 qps stays 31,302.7), a real minus sign, a change written
``45 → 18 ms (−60 %)``, no change ``±0 %``, accuracy changes in points (``0.412 → 0.393 (−1.9 pt)``).
``index_number`` is the one exception, for index texts only (see its docstring).
"""

from __future__ import annotations

import math
import re
from typing import Any

MINUS = "−"  # U+2212: a real minus sign, as people write "−60 %"

# Accuracy-like metrics where lower is better: error rates, losses, error distances, false alarms.
LOWER_IS_BETTER_RE = re.compile(
    r"(?:^|[^a-z])(?:wer|cer|mae|rmse|mse|[sw]?mape|wape|ppl|frr|far|fpr|fnr|eer|ece|nll)(?:[^a-z]|$)|"
    r"error|loss|perplexity|latency|brier|false[ _-]?(?:reject|accept|alarm|positive|negative)|miss[ _-]?rate")


# A metric named for what it finds, measured at an error rate ("recall_at_1pct_fpr", "tar_at_far_1e-4"): higher.
HIGHER_FIRST_RE = re.compile(r"^(?:recall|precision|tpr|tar|tnr|auc|roc|pr[_-]?auc|accuracy|acc|f1|ndcg|map|mrr|"
                             r"hit|hits|bleu|rouge\w*|dice|iou|ap|top[-_]?\d+(?:[-_]acc\w*)?)(?:[^a-z]|$)")


def lower_is_better(metric: str) -> bool:
    """Whether a smaller figure of this accuracy-like metric is the better one ('wer', 'wape', 'log_loss')."""
    name = metric.lower().rsplit(".", 1)[-1]
    if HIGHER_FIRST_RE.match(name) and not re.search(r"error|loss", name):
        return False
    return bool(LOWER_IS_BETTER_RE.search(name))
MISSING = "n/a"

# Accuracy metric names as people write them.
ACCURACY_NAMES = {"ndcg": "NDCG", "auc": "AUC", "mrr": "MRR", "map": "mAP", "f1": "F1", "psi": "PSI", "bleu": "BLEU",
                  "rouge": "ROUGE", "wer": "WER"}


def as_number(value: Any) -> float | None:
    """The value as a float when it is an int or float (bools are not numbers here), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def format_number(value: Any) -> str:
    """A figure for people: 31302.7 → '31,302.7', 18.25 → '18.25', 1200 → '1,200', −3.5 → '−3.5'.

    None, NaN and infinities print 'n/a'; text and other values print as they are (a figure field that
    holds "fast" still shows what was written). Magnitudes past 10^15 or under 10^−4 use three significant
    digits with an exponent, since fixed decimals would be a wall of digits or round to zero.
    """
    if value is None:
        return MISSING
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    number = float(value)
    if math.isnan(number) or math.isinf(number):
        return MISSING
    magnitude = abs(number)
    if magnitude >= 1e15 or 0 < magnitude < 1e-4:
        return f"{number:.3g}".replace("-", MINUS)
    if number == int(number):
        return f"{int(number):,}".replace("-", MINUS)
    decimals = 1 if magnitude >= 100 else 2 if magnitude >= 10 else 3 if magnitude >= 1 else 4
    text = f"{number:,.{decimals}f}".rstrip("0").rstrip(".")
    if text in ("0", "-0"):
        return "0"
    return text.replace("-", MINUS)


def format_quantity(value: Any, unit: str = "") -> str:
    """A figure with its unit: '18.25 ms', '31,302.7 qps', '10 %'."""
    return f"{format_number(value)} {unit}" if unit else format_number(value)


def format_signed_percent(change_pct: float) -> str:
    """A relative change already in percent: '−60 %', '+138 %', '+4.0 %', '±0 %' (also when it rounds to 0)."""
    if change_pct == 0 or math.isnan(change_pct):
        return "±0 %"
    digits = 0 if abs(change_pct) >= 10 else 1
    text = f"{abs(change_pct):,.{digits}f}"
    if float(text.replace(",", "")) == 0:
        return "±0 %"
    return f"{'+' if change_pct > 0 else MINUS}{text} %"


def format_percent(before: float, after: float) -> str | None:
    """The change from ``before`` to ``after`` in percent; None when the baseline is zero (a ratio to nothing
    means nothing)."""
    if before == 0:
        return None
    return format_signed_percent((after - before) / abs(before) * 100)


def format_change(label: str, before: float | None, after: float | None, unit: str = "") -> str | None:
    """'p99 45 → 18 ms (−60 %)'; one side missing shows what is known and says which side is missing."""
    suffix = f" {unit}" if unit else ""
    if before is None and after is None:
        return None
    if before is None:
        return f"{label} {format_number(after)}{suffix} (no baseline)"
    if after is None:
        return f"{label} {format_number(before)}{suffix} before, no result recorded"
    percent = format_percent(before, after)
    text = f"{label} {format_number(before)} → {format_number(after)}{suffix}"
    return f"{text} ({percent})" if percent else text


def format_points(label: str, before: float | None, after: float | None) -> str | None:
    """Accuracy change in points: 0.412 → 0.393 is −1.9 pt (fractions are read as percentages)."""
    if before is None and after is None:
        return None
    if before is None or after is None:
        known = after if after is not None else before
        side = "(no baseline)" if before is None else "before, no result recorded"
        return f"{label} {format_number(known)} {side}"
    scale = 100.0 if abs(before) <= 1 and abs(after) <= 1 else 1.0
    delta = round((after - before) * scale, 2)
    change = "±0 pt" if delta == 0 else f"{'+' if delta > 0 else MINUS}{format_number(abs(delta))} pt"
    return f"{label} {format_number(before)} → {format_number(after)} ({change})"


def metric_label(name: str) -> str:
    """'ndcg_at_10' → 'NDCG@10', 'recall_at_100' → 'recall@100', 'auc' → 'AUC'."""
    text = re.sub(r"_at_(\d+)", r"@\1", name)
    head, sep, tail = text.partition("@")
    head = ACCURACY_NAMES.get(head.lower(), head)
    return head + sep + tail


def index_number(value: Any) -> str:
    """A number for index texts (embedder and lexical index), not for people: 45.0 → '45', 0.4120000001 → '0.412'.

    No thousands separators and no minus sign substitution, because the lexical tokenizer splits on them and
    a query typed as "31302" must still meet the record; changing this text changes every stored embedding,
    so it stays apart from ``format_number``.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int) and abs(value) >= 10**300:
        return "huge"  # validation bounds integers to 64 bits; float() of this one would overflow
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4g}"
