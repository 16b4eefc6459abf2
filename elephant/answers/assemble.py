"""Answer assembly from a query plan: the order of the records shown and the lead sentence that answers
the question asked — superlatives ranked by computed changes, comparisons with their deltas, open-status
questions that can say "none", outcome questions answered by the CURRENT outcome, and "never tried".

Everything here is arithmetic over the records' fields; the same records give the same sentence.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from elephant.answers.attempts import (
    MIN_SCORE,
    Candidate,
    Gathered,
    contains_exact,
    is_finding,
    mentions_technique,
    order_by_time,
)
from elephant.answers.markdown import outcome_of
from elephant.answers.plan import (
    ATTEMPT_WORDS_RE,
    BETTER,
    DESCRIPTION_STOP,
    IN_PROGRESS_RE,
    METRIC_RE,
    OUTCOME_RE,
    SHIPPED_RE,
    SIZE_WORDS,
    QueryPlan,
    methods_in,
)
from elephant.answers.questions import ABBREVIATED, stem
from elephant.kinds.units import (
    as_number,
    format_change,
    format_number,
    format_points,
    lower_is_better,
    metric_label,
)

MINUS = "−"


@dataclass
class Assembly:
    """What the plan made of the gathered records: the lead, the order shown, and whether anything matched."""

    lead: str | None = None
    primary: list[Candidate] | None = None  # replaces the gather's primary list when set
    related: list[Candidate] | None = None
    found: bool = True
    notes: list[str] = field(default_factory=list)
    closest: list[Candidate] = field(default_factory=list)


# ---------------------------------------------------------------- numbers out of records
_METRIC_KEYS: dict[str, tuple[str, ...]] = {
    "p50": ("p50",), "p90": ("p90",), "p95": ("p95",), "p99": ("p99",),
    "latency": ("p99", "p95", "p90", "p50", "latency", "_ms"),
    "throughput": ("throughput", "qps", "rps", "per_s", "per_sec", "tokens_s", "samples_s", "tok_s"),
    "wer": ("wer", "cer"),
    "mae": ("mae", "rmse", "mape"),
    "error_rate": ("error_rate",),
    "memory": ("memory", "_gb", "_mb", "vram", "size"),
    "cost": ("cost", "usd", "dollar"),
    "accuracy": ("accuracy", "ndcg", "recall", "auc", "f1", "map", "mrr", "bleu", "rouge", "top1", "top_1",
                 "top5", "precision", "exact_match", "em"),
}


def _flat_numbers(value: Any, prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    if isinstance(value, dict):
        for k, v in value.items():
            out.update(_flat_numbers(v, f"{prefix}.{k}" if prefix else str(k)))
    elif (number := as_number(value)) is not None:
        out[prefix] = number
    return out


def _pick(numbers: dict[str, float], metric: str, hint: str | None = None) -> tuple[str, float] | None:
    """The number of ``metric`` among flattened fields: the first key pattern that some name holds."""
    names = [n for n in numbers if not re.search(r"(?:^|\.)(?:batch|concurrency|replicas|traffic|version|"
                                                r"max_|min_|threads|seq|len|instances|count)", n)]
    if hint:
        hinted = [n for n in names if hint in n.lower()]
        if hinted:
            return hinted[0], numbers[hinted[0]]
    for pattern in _METRIC_KEYS.get(metric, (metric,)):
        # At the start of a part of the name ("macro_f1", "map50"), not inside a word ("peak_memory" holds
        # no "em"); patterns that begin with "_" are suffixes ("_ms").
        hits = [n for n in names if (pattern in n.lower()) if pattern.startswith("_")
                or re.search(rf"(?:^|[._]){re.escape(pattern)}", n.lower())]
        if metric == "latency" or metric in ("p50", "p90", "p95", "p99"):
            hits = [n for n in hits if "delta" not in n and "budget" not in n and "target" not in n]
        if hits:
            return hits[0], numbers[hits[0]]
    return None


@dataclass
class Measure:
    cand: Candidate
    number: float | None  # what is ranked: a change (percent or points) or a value
    text: str  # how it reads: "p99 45 → 18 ms (−60 %)"


def measure(cand: Candidate, metric: str, kind_of_measure: str, hint: str | None = None) -> Measure:
    """The ranked number of one record: its change of ``metric`` (result against baseline) or its value.

    An optimization's ``accuracy`` is read under its ``accuracy_metric`` (WER, MAE …), and for "accuracy"
    questions a lower-is-better accuracy metric is turned round so that a higher number is always better.
    """
    fields = cand.fields
    named = str(fields.get("accuracy_metric") or "").lower()
    if named and ((metric != "accuracy" and metric in named) or (hint is not None and hint in named)):
        hint = "accuracy"  # the record's accuracy is the metric asked for
    found = _measure(cand, metric, kind_of_measure, hint)
    if metric == "accuracy" and found.number is not None and lower_is_better(named):
        found.number = -found.number
    return found


def _measure(cand: Candidate, metric: str, kind_of_measure: str, hint: str | None) -> Measure:
    fields = cand.fields
    base, result = fields.get("baseline"), fields.get("result")
    if isinstance(base, dict) or isinstance(result, dict):
        before_all = _flat_numbers(base or {})
        after_all = _flat_numbers(result or {})
        after = _pick(after_all, metric, hint)
        before = _pick(before_all, metric, hint) if after is None else (
            (after[0], before_all[after[0]]) if after[0] in before_all else _pick(before_all, metric, hint))
        label = _label(after[0] if after else before[0] if before else metric, metric)
        unit = _unit(after[0] if after else before[0] if before else metric)
        a = after[1] if after else None
        b = before[1] if before else None
        if kind_of_measure == "value":
            return Measure(cand, a, f"{label} {format_number(a)}{unit}" if a is not None else "")
        if a is None or b is None:
            text = format_change(label, b, a, unit.strip()) or ""
            return Measure(cand, None, text)
        if _is_points(metric, label):
            text = format_points(label, b, a) or ""
            scale = 100.0 if abs(b) <= 1 and abs(a) <= 1 else 1.0
            return Measure(cand, (a - b) * scale, text)
        text = format_change(label, b, a, unit.strip()) or ""
        return Measure(cand, (a - b) / abs(b) * 100 if b else None, text)
    numbers = _flat_numbers(fields)
    found = _pick(numbers, metric, hint)
    if found is None:
        return Measure(cand, None, "")
    label = _label(found[0], metric)
    return Measure(cand, found[1], f"{label} {format_number(found[1])}{_unit(found[0])}")


def _is_points(metric: str, label: str) -> bool:
    return metric in ("accuracy", "wer", "error_rate") or label.lower() in ("accuracy",) or (
        metric == "mae" and label.lower() == "accuracy")


def _label(path: str, metric: str) -> str:
    last = path.split(".")[-1]
    if metric in ("p50", "p90", "p95", "p99", "latency"):
        match = re.search(r"p\d{2}(?:\.\d)?", last)
        return match.group(0) if match else "latency"
    if metric == "throughput":
        return "throughput"
    return metric_label(last if last not in ("accuracy",) else metric)


def _unit(path: str) -> str:
    last = path.lower()
    if "latency" in last or last.endswith("_ms") or re.search(r"(?:^|\.)p\d{2}$", last):
        return " ms"
    if "qps" in last:
        return " qps"
    if "tokens" in last or "tok_s" in last:
        return " tokens/s"
    if "samples" in last:
        return " samples/s"
    if "_gb" in last:
        return " GB"
    return ""


# ---------------------------------------------------------------- matching helpers
def technique_match(cand: Candidate, plan: QueryPlan, *, loose: bool = True) -> bool:
    """Whether a record is an instance of the plan's techniques: its technique field, or a method word in its
    text — with ``loose=False`` in its title and tags only (a benchmark whose body mentions TensorRT in
    passing is no TensorRT attempt)."""
    if not plan.techniques and not plan.methods:
        return True
    technique = cand.digest.technique
    if isinstance(technique, str) and technique in plan.techniques:
        return True
    if (not loose or technique in (None, "other")) and plan.techniques \
            and mentions_technique(cand.digest.head, set(plan.techniques)):
        return True  # "Fused triangle attention kernels", filed as "other": the title names the technique
    # A record filed under another technique is an attempt of this one only when its title or tags say so
    # (a TensorRT engine "with a kv cache plugin" is no caching attempt).
    filed_other = isinstance(technique, str) and technique not in ("other", "") and bool(plan.techniques)
    said = cand.digest.head + " " + cand.digest.text[:2000] if loose and not filed_other else cand.digest.head
    return bool(plan.methods and methods_in(said) & set(plan.methods))


def _slug_cover(cand: Candidate, plan: QueryPlan) -> int:
    """How many of the question's own words (not its models' names) the record's key slug holds."""
    words = [t for t in (plan.question.terms if plan.question is not None else []) if len(t) > 2]
    slug = {stem(p) for p in re.split(r"[-_/.]+", cand.key.rsplit("/", 1)[-1].lower()) if p}
    # "torch.compile": every part of a dotted or hyphenated term in the slug.
    return sum(all(stem(p) in slug for p in re.split(r"[-_.]+", w) if p) for w in words)


def is_open(cand: Candidate) -> bool:
    """An incident not resolved, a regression still open, a feature in drift (read when digested)."""
    return cand.digest.is_open


def _cite(c: Candidate) -> str:
    return f"[`{c.citation}`]"


def _title(c: Candidate) -> str:
    return str(c.envelope.get("title") or c.key)


def _when(c: Candidate) -> str:
    return c.date_label


def _about(plan: QueryPlan) -> str:
    models = plan.models
    return f" for {', '.join(models)}" if models else ""


# ---------------------------------------------------------------- the families
def assemble(plan: QueryPlan, g: Gathered, pool: dict[str, Candidate]) -> Assembly:
    """Apply the plan to what the gather found."""
    if plan.excluded:
        # "besides TensorRT": attempts of a technique set aside are no answer (nor a superlative's entry).
        aside = set(plan.excluded)

        def kept(c: Candidate) -> bool:
            return c.kind != "optimization" or not (
                c.digest.technique in aside or mentions_technique(c.digest.head, aside)
                or bool(methods_in(c.digest.head) & aside))
        g.primary, g.related = [c for c in g.primary if kept(c)], [c for c in g.related if kept(c)]
        pool = {key: c for key, c in pool.items() if kept(c)}
    if plan.comparison is not None:
        done = _compare(plan, g, pool)
        if done is not None:
            # The two sides first; what else the question matched follows as related, in case a side
            # was read wrong.
            sides = done.primary or []
            done.related = [c for c in g.primary + g.related if c not in sides][:8]
            return done
    if plan.superlative is not None:
        done = _superlative(plan, g, pool)
        if done is not None:
            ranked = done.primary or []
            done.related = [c for c in g.primary + g.related if c not in ranked][:5]
            return done
        if (plan.techniques or plan.methods) and not any(
                technique_match(c, plan) and c.kind in ("optimization", "deployment", "benchmark")
                for c in _in_window(pool.values(), plan)):
            # "which batching experiment on the typeahead cut p99 the most?" with no batching recorded.
            return _never(plan, [], pool)
    if plan.status == "open" and plan.intent in ("status", "list"):
        return _status(plan, g, pool)
    if plan.status == "in_progress":
        return _under_way(plan, pool)
    out = Assembly()
    shown = g.primary + g.related
    strategy = next((name for name, pattern in STRATEGY_RE.items() if pattern.search(plan.main_text)), None)
    never = _never_on_hardware(plan, pool, shown)
    if never is not None:
        return never
    if plan.answer_kind == "deployment" and strategy is not None and plan.models \
            and plan.intent in ("list", "existence", "outcome"):
        # "any A/B test on the CT model?": a rollout of that strategy, or "never" (a canary is no A/B test).
        of_strategy = [c for c in pool.values() if c.kind == "deployment" and c.fields.get("strategy") == strategy]
        if not of_strategy:  # some of that strategy, outside the window asked: "nothing matches … in July"
            return _never(plan, [c for c in shown if c.kind == "deployment"], pool,
                          what=strategy.replace("_", " ").replace("ab test", "A/B test"))
    if plan.answer_kind is not None and plan.record_kind is not None:
        wanted = plan.record_kind
        of_kind = [c for c in shown if c.kind == wanted]
        if wanted == "serving_config" and plan.models:
            # The serving config in force is the newest one, whichever words it happens to use.
            of_kind = _in_window([c for c in pool.values() if c.kind == wanted], plan)
        if not of_kind and (shown or plan.models):
            # With the model known, its records of the wanted kind answer even when no word matched them
            # ("what hardware does X run on now?" against a serving config that never says "hardware").
            floor = 0.0 if plan.models else MIN_SCORE * 0.8
            of_kind = _in_window([c for c in pool.values() if c.kind == wanted and c.score >= floor], plan)
            of_kind = sorted(of_kind, key=lambda c: (c.score, c.when), reverse=True)[:5]
        if of_kind:
            rest = [c for c in shown if c.kind != wanted]
            out.primary = order_by_time(of_kind) if plan.wants_now or (len(of_kind) > 1 and _same_scores(of_kind)) \
                else sorted(of_kind, key=lambda c: (c.score, c.when), reverse=True)
            if plan.answer_kind == "procedure" and not plan.models and not plan.wants_now:
                # "feature store is down, what's the procedure?": no model named, so the runbook that holds
                # the question's words answers, not the newest of every model's.
                out.primary = sorted(of_kind, key=lambda c: (c.score, c.when), reverse=True)
            elif plan.wants_now or plan.answer_kind in ("config", "procedure"):
                out.primary = order_by_time(of_kind)
            elif plan.answer_kind == "note":
                # Notes do not supersede each other: the one that holds the question's words best answers.
                out.primary = sorted(of_kind, key=lambda c: (c.score, c.when), reverse=True)
            if plan.time.order == "oldest":
                out.primary = order_by_time(of_kind, oldest_first=True)
            if wanted == "deployment" and strategy is not None:
                # "the fraud model's shadow test": rollouts of that strategy first (a later canary that
                # mentions the shadow is not it).
                out.primary = sorted(out.primary, key=lambda c: c.fields.get("strategy") != strategy)
            out.related = rest
            shown = out.primary + rest
    if (plan.intent in ("outcome", "existence") or (plan.intent == "list" and plan.models
            and plan.answer_kind is None)) and (plan.techniques or plan.methods):
        matching = [c for c in shown if technique_match(c, plan, loose=c.kind == "optimization")
                    and c.kind in ("optimization", "deployment", "benchmark", "incident")]
        if not matching:
            return _never(plan, shown, pool)
        # The records that hold the question's own words first ("lleaves" before another tree compiler).
        words = plan.question.terms if plan.question is not None else []
        matching.sort(key=lambda c: sum(w in c.digest.words for w in words), reverse=True)
        if matching != shown[:len(matching)]:
            out.primary = matching
            out.related = [c for c in shown if c not in matching]
            shown = matching + out.related
    def filed(c: Candidate) -> bool:
        return c.kind == "optimization" and (c.digest.technique in plan.techniques or bool(
            plan.methods and methods_in(c.digest.head) & set(plan.methods)))
    if plan.answer_kind is None and (plan.techniques or plan.methods) and shown \
            and plan.intent in ("list", "existence"):
        # "how did INT8 go on X?", "speculative decoding for X - results?": the attempt filed (or titled)
        # under that technique answers before one whose text merely mentions it; of several, the one whose
        # key names the question's own words ("int8 ptq": …/int8-ptq-…, not …/int8-qat-…; "lleaves":
        # …/lleaves-compile-… before an ARM port that reuses lleaves).
        filed_first = sorted((c for c in shown if filed(c)), key=lambda c: _slug_cover(c, plan), reverse=True)
        if filed_first and (not filed(shown[0]) or _slug_cover(filed_first[0], plan) > _slug_cover(shown[0], plan)):
            shown = _lead_with(out, filed_first, shown)
    q = plan.question
    if plan.answer_kind is None and not (plan.techniques or plan.methods) and shown and q is not None \
            and shown[0].kind != "optimization" and ATTEMPT_ASK_RE.search(plan.main_text) \
            and not q.kinds - {"optimization"}:
        # "what did we try on the OCR model for ID documents?": attempts answer it, before a note that
        # shares more of its words.
        attempts = [c for c in shown if c.kind == "optimization"]
        if attempts:
            shown = _lead_with(out, attempts, shown)
    elif plan.answer_kind is None and plan.intent == "list" and q is not None and q.terms and shown \
            and not (plan.techniques or plan.methods or q.kinds or q.features or q.exact or q.is_bare
                     or ATTEMPT_WORDS_RE.search(plan.main_text) or plan.time.anchors or plan.time.since
                     or plan.time.until or q.anchor is not None):
        # A question of fact with no kind of answer named ("how far ahead does the forecaster predict?"):
        # the record that holds its words best answers, not the newest of the near-equals; when its words
        # barely match anything, the record hybrid search ranks first (its dense side reads paraphrases).
        best = max(shown, key=lambda c: (c.score, c.when))
        searched = [c for c in pool.values() if c.search_rank == 0]
        if searched and best.score < 2 * MIN_SCORE:
            best = searched[0]
        if best is not shown[0]:
            shown = _lead_with(out, [best], shown)
    hop = _linked_answer(plan, shown, pool)
    if hop is not None:
        # "which optimization caused the Black Friday incident?": the event matched best; the answer is
        # the record of the kind asked that the event links to (either way).
        first, event, rel = hop
        shown = _lead_with(out, [first], shown)
        link = (f"it {rel[:-7].replace('_', ' ')} {_title(event)}" if rel.endswith(" (from)")
                else f"{_title(event)} names it ({rel.replace('_', ' ')})")
        out.lead = f"**{_title(first)}** ({_when(first)}) {_cite(first)} — {link} ({_when(event)}) {_cite(event)}."
    if plan.intent in ("existence", "outcome") and plan.answer_kind is None and not (plan.techniques or plan.methods) \
            and q is not None and q.terms and not q.features and not q.exact and plan.models:
        # "did we ever try weight clustering on the receipt reader?": a method no list knows is tried when an
        # attempt holds its words — all of two, two thirds of more — not when one common word ("weight") is met.
        method = [t for t in q.terms if len(t) > 2 and t not in DESCRIPTION_STOP and t not in SIZE_WORDS
                  and t not in STATE_WORDS and not VERSION_RE.fullmatch(t) and not OUTCOME_RE.fullmatch(t)
                  and not any(p.search(t) for p in METRIC_RE.values())]
        need = 1.0 if len(method) <= 2 else 2 / 3
        # A name written as one ("FiLM", "ToMe", "LoRA") is the method: a record holding it is about it.
        names = {stem(w.lower()) for w in re.findall(r"[A-Za-z][\w-]*", plan.text) if NAME_CASE_RE.search(w)}
        holding = [c for c in shown if sum(t in c.digest.words for t in method) >= need * len(method)
                   or any(t in c.digest.words for t in names & set(method))]
        held = [c for c in holding if c.kind in ("optimization", "deployment", "benchmark")]
        # A record of another kind that holds those words is what the question is about ("has the mask
        # offset been fixed?" names an incident, "did the v7 A/B finish?" a deployment): not "never tried".
        about_event = [c for c in holding if c.kind in ("incident", "deployment", "regression")]
        if method and not held and not about_event:
            return _never(plan, shown, pool, what=" ".join(method))
    if plan.intent == "outcome" and shown:
        out.lead, latest = _outcome_lead(plan, shown)
        if latest is not None and shown[0] is not latest:
            _lead_with(out, [latest], shown)
    elif plan.intent in ("list", "existence") and plan.answer_kind is None and (plan.techniques or plan.methods) \
            and shown and shown[0].kind != "optimization":
        # "FP8 on the support bot": the attempt itself before the canary and the benchmark that followed it.
        attempts = [c for c in shown if c.kind == "optimization" and technique_match(c, plan)]
        if attempts:
            _lead_with(out, attempts, shown)
    if plan.intent in ("existence", "outcome", "status") and shown and shown[0].kind in ("incident", "regression") \
            and re.search(r"\b(?:fixed|resolved|closed|mitigated|over|sorted)\b", plan.main_text):
        first = shown[0]
        is_done = not is_open(first)
        when = first.fields.get("resolved_at") if first.kind == "incident" else None
        on = f" on {str(when)[:10]}" if when else ""
        out.lead = (f"**{'Yes' if is_done else 'No'}** — {_title(first)} "
                    f"{'was resolved' + on if is_done else 'is still open'} {_cite(first)}.")
    if plan.answer_kind == "feature" and plan.intent in ("outcome", "existence", "status") and shown \
            and shown[0].kind == "feature_definition":
        out.lead = _feature_lead(plan, shown[0])
    if plan.answer_kind == "config" and plan.intent in ("outcome", "existence", "status") and shown \
            and shown[0].kind == "serving_config" and q is not None and q.is_yes_no:
        out.lead = _config_lead(plan, shown[0], [c for c in shown if c.kind == "serving_config"])
    return out


# Words of the question's phrasing about use or state ("are we still using …", "live for all traffic"): no
# method's name.
STATE_WORDS = frozenset(stem(w) for w in (
    "use", "uses", "using", "used", "pan", "panned", "out", "pay", "paid", "off", "live", "traffic", "all", "fully",
    "production", "prod", "ship", "shipped",
    "really", "actually", "around", "place", "everyone", "everywhere"))
VERSION_RE = re.compile(r"v\d+(?:\.\d+)*")
NAME_CASE_RE = re.compile(r"[a-z][A-Z]|^[A-Z][a-z]+[A-Z]")


def _lead_with(out: Assembly, first: Sequence[Candidate], shown: list[Candidate]) -> list[Candidate]:
    """Makes ``first`` the head of the answer, the rest of ``shown`` after it in order; returns that order."""
    ahead = set(map(id, first))
    out.primary = [*first, *(c for c in shown if id(c) not in ahead)]
    out.related = []
    return out.primary


CONFIG_ASK_WORDS = frozenset(stem(w) for w in (
    "serving", "served", "serve", "running", "run", "hosted", "hosting", "deployed", "still", "now", "currently",
    "we", "on", "with", "in", "config", "setup", "stack", "today", "production", "prod"))


def _config_lead(plan: QueryPlan, current: Candidate, configs: list[Candidate]) -> str:
    """'Are we still serving X on TorchServe?': yes when the config in force holds the words asked about."""
    q = plan.question
    words = [t for t in (q.terms if q is not None else []) if t not in CONFIG_ASK_WORDS and len(t) > 1]
    words += [e.lower() for e in (q.exact if q is not None else [])]
    def holds(c: Candidate) -> bool:
        return all(w in c.digest.words or (len(w) > 3 and w in c.digest.text) for w in words)
    if not words:
        return f"**Yes** — the config in force: {_title(current)} ({_when(current)}) {_cite(current)}."
    if holds(current):
        return f"**Yes** — the config in force is {_title(current)} (since {_when(current)}) {_cite(current)}."
    earlier = next((c for c in configs[1:] if holds(c)), None)
    was = f"; {_title(earlier)} ({_when(earlier)}) {_cite(earlier)} was replaced by it" if earlier else ""
    return f"**No** — the config in force is {_title(current)} (since {_when(current)}) {_cite(current)}{was}."


ATTEMPT_ASK_RE = re.compile(r"\b(?:what|anything|which|any)\b.*\b(?:tried|try|attempt\w*|experiment\w*|optimi[sz]\w*)\b")
# "which optimization caused …", "what change led to …": the kind asked for and a relation to an event.
ASKED_KIND_RE = re.compile(r"\b(?:which|what|the)\s+(?:\w+\s+)?(optimi[sz]ation|change|attempt|experiment|deployment|"
                           r"rollout|release|canary|config\w*|incident|regression|benchmark|baseline|feature)s?\b"
                           r"(?=\s+(?:that|which|whose|was|were|did|caused|introduced|led|we|the|it|behind)\b|\s*\?|$)")
CAUSE_RE = re.compile(r"\b(?:caus\w*|led to|lead to|leads to|trigger\w*|behind|responsible for|introduc\w*|"
                      r"broke|resulted in|fix\w*|resolv\w*|follow\w*|came out of|prompted|measured against|"
                      r"compared (?:to|with|against)|baseline (?:for|of)|against|as (?:its|the|a|their) baseline)\b")
_ASKED_KIND = {"optimization": "optimization", "optimisation": "optimization", "change": "optimization",
               "attempt": "optimization", "experiment": "optimization", "deployment": "deployment",
               "rollout": "deployment", "release": "deployment", "canary": "deployment", "incident": "incident",
               "regression": "regression", "benchmark": "benchmark", "baseline": "benchmark",
               "feature": "feature_definition"}


def _linked_answer(plan: QueryPlan, shown: list[Candidate],
                   pool: dict[str, Candidate]) -> tuple[Candidate, Candidate, str] | None:
    """The record of the kind asked that the best-matching record of another kind links to, when the
    question relates the two ("caused", "led to", "fixed")."""
    asked = ASKED_KIND_RE.search(plan.main_text)
    if not shown or asked is None or not CAUSE_RE.search(plan.main_text):
        return None
    kind = _ASKED_KIND.get(asked.group(1)) or ("serving_config" if asked.group(1).startswith("config") else None)
    event = shown[0]
    if kind is not None and event.kind == kind and (plan.techniques or plan.methods):
        # "which benchmark was the token merging attempt measured against?": the event is the attempt the
        # technique names, even when records of the kind asked come first.
        attempts = sorted((c for c in pool.values() if c.kind == "optimization" and technique_match(c, plan)),
                          key=lambda c: (c.score, c.when), reverse=True)
        event = attempts[0] if attempts else event
    if kind is not None and event.kind == kind:
        # "the optimization that introduced the slice ordering bug": the event is the best record of another
        # kind the question describes nearly as well, when it links to a record of the kind asked.
        best = max(c.score for c in shown)
        others = sorted((c for c in pool.values() if c.kind in ("incident", "regression", "deployment", "benchmark")
                         and c.kind != kind and c.score >= 0.8 * best), key=lambda c: (c.score, c.when), reverse=True)
        event = next((c for c in others if any(
            (target := pool.get(key)) is not None and target.kind == kind for _rel, key in c.digest.links)
            or any(key == c.key and o.kind == kind for o in pool.values() for _rel, key in o.digest.links)), event)
    if kind is None or event.kind == kind:
        return None
    for rel, key in event.digest.links:
        target = pool.get(key)
        if target is not None and target.kind == kind:
            return target, event, rel
    for other in pool.values():
        for rel, key in other.digest.links:
            if key == event.key and other.kind == kind:
                return other, event, f"{rel} (from)"
    if kind == "feature_definition":
        # "the feature behind the stale price incident": no link, but the event names the feature.
        text = event.digest.text.lower()
        named = [c for c in pool.values() if c.kind == kind and isinstance(c.fields.get("feature"), str)
                 and len(c.fields["feature"]) > 3 and c.fields["feature"].lower() in text]
        if len(named) == 1:
            return named[0], event, "names_feature"
    return None


def _same_scores(cands: list[Candidate]) -> bool:
    best = max(c.score for c in cands)
    return all(c.score >= 0.8 * best for c in cands)


# Deployment strategies as people name them (the deployment kind's ``strategy`` values).
STRATEGY_RE = {"ab_test": re.compile(r"\ba/?b(?:[- ]tests?|[- ]experiments?)?\b|\bsplit[- ]tests?\b"),
               "canary": re.compile(r"\bcanar\w*"), "shadow": re.compile(r"\bshadow\w*\b"),
               "blue_green": re.compile(r"\bblue[- /]green\b")}


# Hardware people name: an accelerator or CPU family ("on an H100", "on a GPU", "on the Orin").
HARDWARE_WORD_RE = re.compile(r"\b(?:[ahlvt]\d{1,3}[a-z]?|l40s?|h200|gh200|[bg]b?200|mi\d{3}x?|tpu(?:v\d\w*)?|gpus?|cpus?|"
                              r"orin|jetson|inferentia\d?|trainium\d?|graviton\d?|xeon|epyc|m\d (?:max|pro))\b")
GPU_RE = re.compile(r"\bgpus?\b|\bnvidia\b|\bcuda\b|\b[ahlv]\d{2,3}[a-z]?\b|\bl40s?\b|\bh200\b|\bt4\b|\bl4\b|\brtx\b|"
                    r"\bjetson\b|\borin\b|\bmi\d{3}")


def _never_on_hardware(plan: QueryPlan, pool: dict[str, Candidate], shown: list[Candidate]) -> Assembly | None:
    """'Has the small ETA model ever been benchmarked on a GPU?': no benchmark or config of the model on
    that hardware answers "never", with the closest records."""
    if plan.superlative is not None or plan.comparison is not None or not plan.models \
            or plan.intent not in ("list", "existence") or not (plan.answer_kind == "benchmark" or re.search(
                r"\b(?:numbers|figures|perf|measured|benchmark\w*)\b", plan.main_text)):
        return None
    said = HARDWARE_WORD_RE.findall(plan.main_text.lower())
    if not said:
        return None
    word = said[0]
    pattern = GPU_RE if word in ("gpu", "gpus") else re.compile(rf"\b{re.escape(word)}\b")
    # An attempt on that hardware measured it too ("the RAPIDS FIL GPU test": an optimization).
    on_it = [c for c in pool.values() if c.kind in ("benchmark", "serving_config", "optimization")
             and (pattern.search(str(c.fields.get("hardware") or "").lower()) or pattern.search(c.digest.head))]
    if on_it:
        return None
    return _never(plan, [c for c in shown if c.kind == "benchmark"] or shown, pool, what=f"benchmark on {word.upper()}")


def _never(plan: QueryPlan, shown: list[Candidate], pool: dict[str, Candidate], *, what: str = "") -> Assembly:
    names = [t.replace("_", " ") for t in plan.techniques]
    names += [m for m in plan.methods if not any(m in n for n in names)]  # "quantization int4", not "…, int4"
    what = what or ", ".join(dict.fromkeys(names)) or "this"
    models = " on " + ", ".join(plan.models) if plan.models else ""
    closest = shown[:3] or sorted((c for c in pool.values() if c.score > 0), key=lambda c: (c.score, c.when),
                                  reverse=True)[:3]
    lead = f"**Never tried**: no {what}{models} is recorded."
    if closest:
        lead += f" Closest: {_title(closest[0])} ({_when(closest[0])}) {_cite(closest[0])}."
    return Assembly(lead=lead, primary=[], related=[], found=False, closest=closest)


_YES = {"adopted", "succeeded", "verified", "resolved", "valid", "tested"}
_NO = {"rejected", "rolled_back", "failed", "drift", "invalid", "aborted", "cancelled"}


def _outcome_lead(plan: QueryPlan, shown: list[Candidate]) -> tuple[str | None, Candidate | None]:
    """'No — INT8 on the ranker was rolled back on …': the newest matching attempt's current outcome answers."""
    attempts = [c for c in shown if c.kind in ("optimization", "deployment")]
    if not attempts:
        return None, None
    terms = [t for t in (plan.question.terms if plan.question else []) if len(t) > 2 and t not in STATE_WORDS]

    def cover(c: Candidate) -> int:
        return sum(t in c.digest.words for t in terms)
    if plan.answer_kind == "deployment":
        # "did the AWQ canary succeed?": the rollout answers, not the attempt it shipped.
        attempts = [c for c in attempts if c.kind == "deployment"] or attempts
    elif plan.techniques or plan.methods:
        # "did speculative decoding work out?": the attempt of that technique answers, not the A/B after it;
        # so does one filed as "other" that holds every word asked ("the binary quantized index").
        tried = [c for c in attempts if c.kind == "optimization" and (
            technique_match(c, plan) or (len(terms) > 1 and cover(c) == len(terms)))]
        attempts = tried or attempts
    if terms and attempts:
        # The attempt that holds more of the question's words ("binary", "index") before a sibling
        # of the same technique.
        top = max(cover(c) for c in attempts)
        attempts = [c for c in attempts if cover(c) == top] if top else attempts
        # Of those, the one whose key names them ("spec decoding": …/spec-decoding-…, before a newer
        # …/eagle3-spec-… whose text says speculative decoding too).
        keyed = max(_slug_cover(c, plan) for c in attempts)
        attempts = [c for c in attempts if _slug_cover(c, plan) == keyed] if keyed else attempts
    versions = [t for t in (plan.question.terms if plan.question else []) if re.fullmatch(r"v\d+(?:\.\d+)*", t)]
    if versions:
        # "did the v3 canary succeed?": the record of that version, not the v3.1 rollout after it.
        exact = [c for c in attempts if all(contains_exact(c.digest.head, v) for v in versions)]
        attempts = exact or attempts
    best = max(c.score for c in attempts)
    attempts = [c for c in attempts if c.score >= 0.9 * best]  # "the v6 canary", not the rollout after it
    latest = max(attempts, key=lambda c: c.when)
    outcome = outcome_of(latest.kind, latest.fields) or ""
    status_words = {"rolled_back": "was rolled back", "rejected": "was rejected", "failed": "failed",
                    "adopted": "was adopted", "succeeded": "succeeded", "in_progress": "is still in progress",
                    "aborted": "was aborted"}
    verb = status_words.get(outcome, f"ended {outcome.replace('_', ' ')}" if outcome else "has no recorded outcome")
    when = _when(latest)
    reason = latest.fields.get("reason") if latest.kind == "optimization" else None
    tail = f": {reason}" if isinstance(reason, str) and reason else ""
    earlier = [c for c in attempts if c is not latest]
    also = ""
    if earlier:
        flips = [c for c in earlier if (outcome_of(c.kind, c.fields) in _YES) != (outcome in _YES)]
        if flips:
            also = f" (an earlier attempt, {_when(flips[0])}, was {_outcome_word(flips[0])})"
    if IN_PROGRESS_RE.search(plan.main_text):
        # "is the graph optimization still in progress?": under way is the yes, any ending the no.
        word = "**Yes**" if outcome == "in_progress" else "**No**" if outcome else "**Unclear**"
    elif re.search(r"\bever\b", plan.main_text) and SHIPPED_RE.search(plan.main_text):
        # "did INT8 ever ship?": yes when any attempt reached production, even if it was rolled back later.
        shipped = [c for c in attempts if outcome_of(c.kind, c.fields) in ("adopted", "succeeded", "rolled_back")]
        if shipped and latest not in shipped:
            also = f" (it shipped on {_when(shipped[-1])}: {_title(shipped[-1])}, {_outcome_word(shipped[-1])})"
        word = "**Yes**" if shipped else "**No**"
    elif outcome in _NO:
        word = "**No**"
    elif outcome in _YES:
        word = "**Yes**"
    elif outcome == "in_progress":
        word = "**Not yet**"
    else:
        word = "**Unclear**"
    return f"{word} — {_title(latest)} {verb} on {when}{tail}{also} {_cite(latest)}.", latest


def _outcome_word(c: Candidate) -> str:
    return (outcome_of(c.kind, c.fields) or "unknown").replace("_", " ")


def _status(plan: QueryPlan, g: Gathered, pool: dict[str, Candidate]) -> Assembly:
    kind = plan.record_kind or "incident"
    of_kind = [c for c in pool.values() if c.kind == kind]
    named = plan.question.features if plan.question is not None else set()
    if kind == "feature_definition" and named:
        features = order_by_time([c for c in pool.values() if c.key in named])
        if features:
            return Assembly(lead=_feature_lead(plan, features[0]), primary=features, related=[])
    if kind == "feature_definition" and plan.question is not None:
        # "is the lactate feature still drifting?": the feature whose own words the question names.
        words = [t for t in plan.question.terms if t not in FEATURE_ASK_WORDS and len(t) > 2]
        holding = sorted((c for c in of_kind if words and any(w in c.digest.words for w in words)),
                         key=lambda c: (sum(w in c.digest.words for w in words), c.score), reverse=True)
        if holding and is_yes_no_text(plan.main_text):
            return Assembly(lead=_feature_lead(plan, holding[0]), primary=holding, related=[])
    if plan.question is not None and (plan.question.terms or plan.techniques or plan.question.features):
        scored = [c for c in of_kind if c.score >= MIN_SCORE]
        of_kind = scored or of_kind
    of_kind = _in_window(of_kind, plan)
    # The team's own open records before Elephant's findings (stable: newest first within each).
    opened = sorted(order_by_time([c for c in of_kind if is_open(c)]), key=is_finding)
    noun = {"incident": "incidents", "regression": "regressions", "feature_definition": "features drifting"}.get(
        kind, kind.replace("_", " ") + "s")
    if opened:
        first = opened[0]
        which = "the latest" if first is order_by_time(opened)[0] else "the team's own latest"
        lead = (f"**Yes — {len(opened)} open {noun if len(opened) > 1 else noun.rstrip('s')}"
                f"{_about(plan)}**; {which}: {_title(first)} ({_when(first)}) {_cite(first)}.")
        if kind == "feature_definition":
            lead = f"**Yes — {len(opened)} feature(s) drifting{_about(plan)}**: {_title(first)} {_cite(first)}."
        return Assembly(lead=lead, primary=opened, related=[])
    closed = order_by_time(of_kind)
    what = {"incident": "open incidents", "regression": "open regressions",
            "feature_definition": "features in drift"}.get(kind, f"open {noun}")
    lead = f"**No {what}{_about(plan)}.**"
    if closed:
        last = closed[0]
        resolved = last.fields.get("resolved_at") or last.fields.get("parity_checked_at")
        verb = "resolved" if kind != "feature_definition" else "checked in parity"
        on = f" on {str(resolved)[:10]}" if resolved else ""
        lead = lead[:-3] + f"**; the last one was {verb}{on}: {_title(last)} {_cite(last)}."
    return Assembly(lead=lead, primary=closed[:3], related=[], found=False)


FEATURE_ASK_WORDS = frozenset(stem(w) for w in (
    "feature", "features", "drift", "drifting", "drifted", "skew", "skewed", "parity", "training", "serving", "train",
    "serve", "between", "still", "now", "currently", "mismatch", "consistent", "offline", "online"))


def is_yes_no_text(text: str) -> bool:
    return bool(re.match(r"^\s*(?:is|are|does|do|did|has|have|was|were)\b", text))


def _under_way(plan: QueryPlan, pool: dict[str, Candidate]) -> Assembly:
    """'What's in flight for X?': attempts and rollouts whose outcome is still in progress, newest first;
    when none is, says so and names the last one that finished."""
    kinds = {"deployment"} if plan.answer_kind == "deployment" or re.search(r"\broll", plan.main_text) else {
        "optimization", "deployment"}
    of_kind = _in_window([c for c in pool.values() if c.kind in kinds], plan)
    going = order_by_time([c for c in of_kind if outcome_of(c.kind, c.fields) == "in_progress"])
    what = "rollouts" if kinds == {"deployment"} else "attempts or rollouts"
    if going:
        first = going[0]
        return Assembly(lead=f"**{len(going)} {what} in progress{_about(plan)}**; the latest: {_title(first)} "
                             f"({_when(first)}) {_cite(first)}.", primary=going, related=[])
    done = order_by_time(of_kind)
    lead = f"**No {what} in progress{_about(plan)}.**"
    if done:
        lead = lead[:-3] + f"**; the last one: {_title(done[0])} ({_when(done[0])}), {_outcome_word(done[0])} {_cite(done[0])}."
    return Assembly(lead=lead, primary=done[:3], related=[], found=False)


def _feature_lead(plan: QueryPlan, feature: Candidate) -> str:
    """'Is F still drifting?' → Yes when its parity is drift; 'does F match?' → Yes when verified."""
    parity = str(feature.fields.get("parity") or "")
    asks_drift = bool(re.search(r"drift|skew|mismatch|diverg|off\b", plan.main_text))
    drifting = parity == "drift"
    yes = drifting if asks_drift else parity == "verified"
    state = {"drift": "drifts", "verified": "matches between training and serving"}.get(parity, f"parity {parity or 'unknown'}")
    checked = feature.fields.get("parity_checked_at")
    on = f" (checked {str(checked)[:10]})" if checked else ""
    return f"**{'Yes' if yes else 'No'}** — {_title(feature)} {state}{on} {_cite(feature)}."


def _in_window(cands: Iterable[Candidate], plan: QueryPlan) -> list[Candidate]:
    t = plan.time
    month = plan.question.window.month if plan.question is not None else None
    since = plan.question.window.since if plan.question is not None and plan.question.window.since else t.since
    until = plan.question.window.until if plan.question is not None and plan.question.window.until else t.until
    for anchor in t.anchors:  # an event anchor resolved by the gather ("after the lleaves compile")
        if anchor.resolved_at and anchor.bound == "since" and (since is None or anchor.resolved_at > since):
            since = anchor.resolved_at
        if anchor.resolved_at and anchor.bound == "until" and (until is None or anchor.resolved_at < until):
            until = anchor.resolved_at
    return [c for c in cands if (since is None or c.when >= since) and (until is None or c.when < until)
            and (month is None or c.when[5:7] == f"{month:02d}")]


def _superlative(plan: QueryPlan, g: Gathered, pool: dict[str, Candidate]) -> Assembly | None:
    sup = plan.superlative
    assert sup is not None
    asks_attempts = bool(re.search(r"\b(?:optimi[sz]\w*|attempts?|experiments?|changes?|tried|shipped)\b",
                                   plan.main_text))
    kinds = {plan.record_kind} if plan.record_kind in ("benchmark", "optimization", "deployment") else (
        {"benchmark"} if sup.measure == "value" and not asks_attempts else {"optimization"})
    if sup.measure == "change" and kinds == {"benchmark"}:
        kinds = {"optimization"}  # a change is measured by an attempt (baseline → result), not by one run
    cands = [c for c in pool.values() if c.kind in kinds and technique_match(c, plan)]
    if sup.measure == "value" and "benchmark" in kinds:
        cands += [c for c in pool.values() if c.kind == "optimization" and technique_match(c, plan)
                  and not any(c.kind == "benchmark" for c in cands)]
    cands = _in_window(cands, plan)
    cands = _narrow_by_words(cands, plan)
    if KEPT_ONLY_RE.search(plan.main_text) and not NOT_KEPT_RE.search(plan.main_text):
        # "among the adopted optimizations", "which change still in production": what was kept only.
        cands = [c for c in cands if c.kind != "optimization" or c.digest.outcome == "adopted"]
    if not cands:
        return None
    hint = _metric_hint(plan, cands)
    measures = [measure(c, sup.metric, sup.measure, hint) for c in cands]
    known = [m for m in measures if m.number is not None]
    missing = [m for m in measures if m.number is None]
    if not known:
        return None
    reverse = sup.want == "max"
    if sup.absolute:
        # "the biggest p99 drop in milliseconds": rank by the change in the metric's own units.
        for m in known:
            m.number = _absolute(m)
    known.sort(key=lambda m: (m.number if not reverse else -m.number, m.cand.when), reverse=False)  # type: ignore[operator]
    if sup.measure == "change" and len(known) > 1 and known[0].number is not None and known[1].number is not None \
            and abs(known[0].number - known[1].number) < 1.0 and abs(_absolute(known[1])) > abs(_absolute(known[0])):
        known[0], known[1] = known[1], known[0]  # within a point of each other: the larger change in units wins
    best = known[0]
    ties = [m for m in known[1:] if m.number == best.number]
    metric_name = sup.metric if sup.metric not in ("accuracy",) else "accuracy"
    if sup.measure == "change":
        end = "largest rise" if sup.want == "max" else "largest fall"
        if (sup.want == "max" and best.number is not None and best.number < 0) or (
                sup.want == "min" and best.number is not None and best.number > 0):
            end = "smallest fall" if sup.want == "max" else "smallest rise"  # nothing moved the way asked
        lead = (f"**{_title(best.cand)}** ({_when(best.cand)}) — the {end} in {metric_name}{_about(plan)} "
                f"({sup.better} is better): {best.text} {_cite(best.cand)}.")
    else:
        end = "highest" if sup.want == "max" else "lowest"
        lead = f"**{_title(best.cand)}** ({_when(best.cand)}) has the {end} {metric_name}{_about(plan)}: {best.text} {_cite(best.cand)}."
    if ties:
        lead += " Tied with " + ", ".join(f"{_title(m.cand)} {_cite(m.cand)}" for m in ties) + "."
    if len(known) > 1 + len(ties):
        runner = known[1 + len(ties)]
        lead += f" Next: {_title(runner.cand)} — {runner.text} {_cite(runner.cand)}."
    if missing:
        names = ", ".join(f"{_title(m.cand)} {_cite(m.cand)}" for m in missing[:3])
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        lead += f" {len(missing)} of {len(measures)} lack a {metric_name} figure and are not ranked: {names}{more}."
    ordered = [m.cand for m in known] + [m.cand for m in missing]
    return Assembly(lead=lead, primary=ordered[:10], related=[])


KEPT_ONLY_RE = re.compile(r"\b(?:among (?:the |our )?(?:adopted|kept|shipped)|adopted (?:ones?|optimi\w*|changes?|attempts?)|"
                          r"(?:that|which) (?:we )?(?:\w+ly )?(?:kept|shipped|adopted|stuck)|we (?:\w+ly )?(?:kept|shipped|adopted)|"
                          r"(?:that|which|that's|ones?) (?:is |are )?still in (?:prod\w*|use|place)|that made it)\b")
NOT_KEPT_RE = re.compile(r"\b(?:even if|whether or not|regardless|didn'?t|did not|never|not kept|rolled back|rejected)\b")


def _absolute(m: Measure) -> float:
    """The change of a measure in its own units (result − baseline), from the numbers its text shows."""
    numbers = [float(x.replace(",", "")) for x in re.findall(r"(-?\d[\d,]*(?:\.\d+)?)", m.text.split("(")[0])]
    return numbers[-1] - numbers[-2] if len(numbers) >= 2 else 0.0


def _metric_hint(plan: QueryPlan, cands: Sequence[Candidate] = ()) -> str | None:
    """A named accuracy metric ('recall', 'ndcg', 'auc') narrows which number is read; so does a word of
    the question that the candidates' own ``accuracy_metric`` names hold ('reply acceptance')."""
    text = plan.main_text
    if re.search(r"\bttft\b|\bfirst[- ]token\b", text):
        return "ttft"
    for word in ("ndcg", "recall", "auc", "f1", "mrr", "bleu", "rouge", "wer", "cer", "top1", "top5", "map",
                 "dice", "iou", "sensitivity", "specificity", "comet", "chrf"):
        if re.search(rf"\b{word}", text):
            return word
    named = {str(c.fields.get("accuracy_metric") or "").lower() for c in cands} - {""}
    for word in re.findall(r"[a-z][a-z0-9]{3,}", text):
        if any(word in name for name in named):
            return str(word)
    return None


# Words that widen a superlative's scope rather than narrow it: "from a single optimization, any model".
SCOPE_FILLER = frozenset(stem(w) for w in (
    "single", "one", "individual", "overall", "whole", "entire", "every", "all", "any", "ever", "model", "models",
    "change", "changes", "optimization", "optimizations", "attempt", "attempts", "got", "get", "we", "our", "team"))


SCENARIO_WORDS = frozenset(stem(w) for w in (
    "offline", "server", "singlestream", "multistream", "interactive", "streaming", "batch", "online", "edge",
    "datacenter", "closed", "open", "cpu", "gpu"))


def _narrow_by_words(cands: list[Candidate], plan: QueryPlan) -> list[Candidate]:
    """Keep the candidates that hold the question's content words best (a round, a scenario, hardware)."""
    q = plan.question
    if q is None:
        return cands
    # Only words that scope a measurement narrow: versions, rounds and hardware (they hold a digit),
    # scenarios, exact strings. A word that describes the model ("chest x-ray") or the question
    # ("across", "single") would keep whichever record happens to say it.
    words = [w for w in q.terms if (any(ch.isdigit() for ch in w) or w in SCENARIO_WORDS)
             and not any(p.search(w) for p in METRIC_RE.values()) and w not in SCOPE_FILLER]
    words += [e.lower() for e in q.exact]
    if not words or not cands:
        return cands
    def coverage(c: Candidate) -> int:
        return sum(1 for w in words if w in c.digest.words or (len(w) > 3 and w in c.digest.text))
    best = max(coverage(c) for c in cands)
    if best == 0:
        return cands
    return [c for c in cands if coverage(c) == best]


_OUTCOME_RANK = {"adopted": 3, "succeeded": 3, "in_progress": 2, "rolled_back": 1, "rejected": 0, "failed": 0}
_NEWER_WORDS = frozenset(["current", "new", "newer", "latest", "now", "today", "live"])
_OLDER_WORDS = frozenset(["old", "older", "previous", "original", "baseline", "earlier", "former", "prior"])


# Words that say what is compared, not which record: "the v1 one", "v4 numbers", "the bf16 run".
SIDE_FILLER = frozenset(["one", "ones", "numbers", "number", "figures", "results", "result", "run", "runs", "setup",
                         "config", "configs", "configuration", "benchmark", "benchmarks", "bench", "version", "vs",
                         "versus", "what", "moved", "changed", "change", "difference", "compare", "compared"])


def _side_words(phrase: str, other: str, pool: dict[str, Candidate], models: Sequence[str] = ()) -> list[str]:
    """The words of one side that the other side lacks, rarest in the pool first (the version, the method);
    the model's own name is no side's word."""
    from elephant.answers.questions import STOPWORDS, tokens

    theirs = set(tokens(other))
    names = {m.lower() for m in models} | {p for m in models for p in re.split(r"[-_/.\s]+", m.lower())}
    words = [t for t in tokens(phrase) if t not in STOPWORDS and t not in theirs and len(t) > 1
             and t not in SIDE_FILLER and t not in _NEWER_WORDS and t not in _OLDER_WORDS]
    # "vision-base vs vision-large": the names are the sides; otherwise the model's name is neither's.
    words = [t for t in words if t not in names] or words
    # Spelled together ("fp16+roi"), a side's words are read one by one as well.
    words += [p for t in words if "+" in t for p in t.split("+") if len(p) > 1 and p not in words]
    held = [(sum(1 for c in pool.values() if _holds(c, w)), w) for w in words]
    return [w for n, w in sorted(held) if n > 0]


def _compare(plan: QueryPlan, g: Gathered, pool: dict[str, Candidate]) -> Assembly | None:
    comp = plan.comparison
    assert comp is not None
    wanted_kind = plan.record_kind
    if comp.latest_two or comp.around_at is not None:
        wanted_kind = wanted_kind or ("optimization" if plan.techniques or plan.methods else None)
        if wanted_kind is None and re.search(r"\b(?:latency|p\d\d|throughput|qps|wer|mae|accuracy|versions?|"
                                             r"releases?|rounds?|runs?)\b", plan.main_text):
            wanted_kind = "benchmark"
        return _compare_in_time(plan, pool, wanted_kind)
    sides: list[Candidate | None] = []
    all_holders: list[list[Candidate]] = []
    side_words = [_side_words(comp.left, comp.right, pool, plan.models),
                  _side_words(comp.right, comp.left, pool, plan.models)]
    if wanted_kind is None and all(side_words):
        # No kind named ("fp16 vs int8 on the Orin", "T4 vs L4"): measurements first, then setups, attempts
        # and rollouts — the first kind of which both sides have a record holding the side's rarest word.
        # Sides that name methods ("tree pruning vs quickscorer") are attempts, unless measurements were asked.
        order = ("optimization", "benchmark", "serving_config", "deployment") if (
            methods_in(comp.left) or methods_in(comp.right)) and not MEASURED_SIDE_RE.search(plan.text.lower()) \
            and not re.search(r"\b(?:baseline|original|eager|plain|old|first)\b", f"{comp.left} {comp.right}") \
            else ("benchmark", "serving_config", "optimization", "deployment")
        wanted_kind = next((kind for kind in order
                            if all(any(c.kind == kind and any(_holds(c, w) for w in words) for c in pool.values())
                                   for words in side_words)), None)
    if wanted_kind is None:
        wanted_kind = "optimization" if plan.techniques or plan.methods else "benchmark" if re.search(
            r"\b(?:latency|p\d\d|throughput|qps|wer|mae|accuracy|versions?|releases?|rounds?|runs?)\b",
            plan.main_text) else None
    rarest = [words[0] if words else "" for words in side_words]
    rarest = rarest if all(rarest) else []
    dated = _dated_sides(comp.left, comp.right, pool, wanted_kind or "benchmark")
    if dated is not None:
        return _compared(plan, *dated, pool=pool, rarest=rarest)
    for i in (0, 1):
        words, theirs = side_words[i], side_words[1 - i]
        def cover(c: Candidate, words: list[str] = words, theirs: list[str] = theirs) -> int:
            """This side's words the record holds, less one when it holds the other side's rarest word."""
            return sum(1 for w in words if _holds(c, w)) - (1 if theirs and _holds(c, theirs[0]) else 0)
        holders = [c for c in pool.values() if words and any(_holds(c, w) for w in words) and c.kind != "note"
                   and (not sides or sides[0] is None or c.key != sides[0].key)]
        if wanted_kind is not None and any(c.kind == wanted_kind for c in holders):
            holders = [c for c in holders if c.kind == wanted_kind]  # "the v2 benchmark": benchmarks only
        if not holders:
            sides.append(None)
            continue
        # The record that is this side: of the wanted kind, holding most of this side's words and not the
        # other's, naming its rarest word in the title.
        holders.sort(key=lambda c: (c.kind == wanted_kind, _holds(c, words[0]), _in_head(c, words[0]),
                                    _is_version(c, words), cover(c),
                                    not (theirs and _holds(c, theirs[0])), c.score,
                                    c.when), reverse=True)
        sides.append(holders[0])
        all_holders.append(holders)
    if len(all_holders) == 2 and sides[0] is not None and sides[1] is not None and sides[0].kind != sides[1].kind:
        # Two sides of one comparison are records of one kind: the kind both sides hold nearest the top.
        common = {c.kind for c in all_holders[0]} & {c.kind for c in all_holders[1]}
        if common:
            def place(kind: str) -> int:
                return sum(next(i for i, c in enumerate(h) if c.kind == kind) for h in all_holders)
            kind = wanted_kind if wanted_kind in common else min(sorted(common), key=place)
            first = next(c for c in all_holders[0] if c.kind == kind)
            second = next((c for c in all_holders[1] if c.kind == kind and c.key != first.key), None)
            if second is not None:
                sides = [first, second]
    for i, phrase in enumerate((comp.left, comp.right)):
        known = sides[1 - i]
        if sides[i] is None and known is not None:
            # "the current one", "the old setup": the same kind of record, newest or oldest.
            same = [c for c in pool.values() if c.kind == known.kind and c.key != known.key]
            said = set(phrase.lower().split())
            if same and said & _NEWER_WORDS:
                sides[i] = max(same, key=lambda c: c.when)
            elif same and said & _OLDER_WORDS:
                sides[i] = min(same, key=lambda c: c.when)
    left, right = sides
    if left is None or right is None or left.key == right.key:
        return None
    return _compared(plan, left, right, pool=pool, rarest=rarest)


# Words that ask for measurements or setups as such: an attempt linking the two is then no answer.
MEASURED_SIDE_RE = re.compile(r"\b(?:benchmarks?|bench(?:es)?|numbers|runs?|configs?|setups?|on (?:the |an? )?(?:[a-z]*\d+\w*|"
                              r"orin|jetson|xavier|cpus?|gpus?|edge|graviton\w*|tpu\w*|inferentia\w*))\b")


def _links_of(c: Candidate) -> set[str]:
    keys = {key.split("@", 1)[0] for _rel, key in c.digest.links}
    keys.update(str(c.fields[name]).split("@", 1)[0] for name in ("baseline", "candidate")
                if isinstance(c.fields.get(name), str))
    return keys


def _bridge(plan: QueryPlan, pool: dict[str, Candidate], left: Candidate, right: Candidate,
            rarest: list[str]) -> Candidate | None:
    """A record comparing the two sides itself: a regression naming both; the A/B rollout holding both
    sides' words; or (no kind of record asked, no hardware named) the attempt linked to one side that holds
    the other's word or is linked to it too — its baseline one side, the other produced by it."""
    sides = {left.key, right.key}
    others = [c for c in pool.values() if c.key not in sides]
    # A regression the team filed on the pair (Elephant's own findings stay behind the sides they compare).
    found = [c for c in pool.values() if c.kind == "regression" and not is_finding(c)
             and sides - {c.key} <= _links_of(c)] if plan.record_kind in (None, "regression", "benchmark") else []
    strategy = next((name for name, pattern in STRATEGY_RE.items() if pattern.search(plan.main_text)), None)
    if not found and strategy is not None:
        # "v1 vs v2 in the A/B", "v7 vs v6 during the shadow run": the rollout of that strategy holding
        # both sides is the comparison (a side itself or not).
        found = [c for c in pool.values() if c.kind == "deployment" and c.fields.get("strategy") == strategy
                 and rarest and all(_holds(c, w) for w in rarest)]
    if not found and rarest:
        # "how did fp8 compare with bf16": an attempt that is one side and holds the other's word too (its
        # baseline) is the comparison.
        found = [c for c in (left, right) if c.kind == "optimization" and all(_holds(c, w) for w in rarest)]
    if not found and plan.record_kind in (None, "optimization") and left.kind != "optimization" \
            and not MEASURED_SIDE_RE.search(plan.text.lower()):
        older, newer = sorted((left, right), key=lambda c: c.when)

        def linked(c: Candidate, side: Candidate) -> bool:
            return side.key in _links_of(c) or c.key in _links_of(side)
        phrases = (plan.comparison.left, plan.comparison.right) if plan.comparison is not None else ("", "")

        def holds_side(c: Candidate, side: Candidate) -> bool:
            # "fp8 vs bf16": the side the attempt is not linked to names its method ("fp8"), not a model.
            i = 0 if side is left else 1
            return i < len(rarest) and _holds(c, rarest[i]) and bool(methods_in(phrases[i]) & methods_in(c.digest.head))
        found = [c for c in others if c.kind == "optimization" and (
            (linked(c, left) and linked(c, right)) or (linked(c, left) and holds_side(c, right))
            or (linked(c, right) and holds_side(c, left))
            # "treelite vs plain xgboost serving": the attempt made between the two, named by the newer side.
            or (older.when <= c.when <= newer.when and holds_side(c, newer)))]
    if not found:
        return None
    return max(found, key=lambda c: c.when)


def _dated_sides(left: str, right: str, pool: dict[str, Candidate],
                 kind: str) -> tuple[Candidate, Candidate] | None:
    """'the jan 2024 vs feb 2025 backtest': each side a time, the record of the kind dated within it."""
    from datetime import UTC, datetime

    from elephant.answers.questions import parse_time

    now = datetime.now(UTC)
    windows = [parse_time(side, now) for side in (left, right)]
    if any(w is None or (w.since is None and w.until is None) for w in windows):
        return None
    found: list[Candidate] = []
    for window in windows:
        assert window is not None
        inside = [c for c in pool.values() if c.kind == kind and (window.since is None or c.when >= window.since)
                  and (window.until is None or c.when < window.until) and c not in found]
        if not inside:
            return None
        found.append(max(inside, key=lambda c: (c.score, c.when)))
    return found[0], found[1]


def _compare_in_time(plan: QueryPlan, pool: dict[str, Candidate], wanted_kind: str | None) -> Assembly | None:
    """'X's two benchmarks': the two newest records of the kind asked; 'the serving setup before and after
    the FIL move': the newest one before the event and the first one from it on."""
    comp = plan.comparison
    assert comp is not None
    kinds = {wanted_kind} if wanted_kind else {"optimization", "benchmark", "serving_config", "deployment"}
    of_kind = order_by_time([c for c in pool.values() if c.kind in kinds and (not plan.models or
                                                                               c.envelope.get("model") in plan.models)])
    if comp.around_at is None:
        if len(of_kind) < 2:
            return None
        return _compared(plan, of_kind[1], of_kind[0], pool=pool)
    anchor = comp.around_key.rsplit("@", 1)[0] if comp.around_key else None
    before = [c for c in of_kind if c.when < comp.around_at and c.key != anchor]
    after = [c for c in of_kind if c.when >= comp.around_at]
    if not before or not after:
        return None
    return _compared(plan, before[0], after[-1], pool=pool)


def _compared(plan: QueryPlan, left: Candidate, right: Candidate, *, pool: dict[str, Candidate] | None = None,
              rarest: Sequence[str] = ()) -> Assembly:
    """Two records side by side: every shared figure's change; the newer first unless one did better or the
    question made one its subject ("how did A compare with B"); first of all a record stating the
    comparison itself (see ``_bridge``)."""
    done = _side_by_side(plan, left, right)
    bridge = _bridge(plan, pool or {}, left, right, list(rarest))
    two_attempts = left.kind == right.kind == "optimization"
    if bridge is not None and done.primary is not None and not (two_attempts and bridge.key in (left.key, right.key)):
        if bridge.key not in (left.key, right.key):
            done.lead = f"{done.lead or ''} Stated by **{_title(bridge)}** ({_when(bridge)}) {_cite(bridge)}."
        done.primary = [bridge, *(c for c in done.primary if c is not bridge)]
    return done


# "how did A compare with B", "how does A stack up against B": A is what is asked about.
SUBJECT_FIRST_RE = re.compile(r"\bhow (?:did|does|do|is|was|has|have)\b.{1,80}?\b(?:compare[sd]?|stack(?:ed|s)? up)\s+"
                              r"(?:with|to|against|vs\.?|versus)\b")


def _side_by_side(plan: QueryPlan, left: Candidate, right: Candidate) -> Assembly:
    older, newer = sorted((left, right), key=lambda c: c.when)
    before, after = _flat_numbers(_measured(older)), _flat_numbers(_measured(newer))
    parts = []
    for name in [n for n in after if n in before]:
        if re.search(r"batch|concurrency|replicas|traffic|threads", name):
            continue
        label = _label(name, "p99" if "p9" in name or "p50" in name else "accuracy" if _is_accuracy(name) else name)
        if _is_accuracy(name):
            part = format_points(metric_label(name.split(".")[-1]), before[name], after[name])
        else:
            part = format_change(label if label != "latency" else name.split(".")[-1], before[name], after[name],
                                 _unit(name).strip())
        if part:
            parts.append(part)
    if not parts:  # configs and runbooks: the settings that differ, as written
        a, b = _settings(older), _settings(newer)
        parts = [f"{name.replace('_', ' ')} {a[name]} → {b[name]}" for name in a if name in b and a[name] != b[name]]
    changes = "; ".join(parts[:6]) if parts else "no shared figures to compare"
    # Two models: the one asked about first ("retail vs sme"). Two attempts are alternatives: the one kept
    # first (adopted before rejected), else the newer. Measurements and setups of one model: the newer.
    models = [c.envelope.get("model") for c in (left, right)]
    first, second = newer, older
    if None not in models and models[0] != models[1]:
        first, second = left, right
    elif left.kind == right.kind == "optimization" and SUBJECT_FIRST_RE.search(plan.text.lower()):
        first, second = left, right  # "how did A compare with B": A is what is asked about
    elif left.kind == right.kind == "optimization":
        first, second = sorted((left, right), key=lambda c: (c.digest.outcome == "adopted", c.when), reverse=True)
    verdict = ""
    if re.search(r"\bwhich\b|\bbetter\b|\bmore\b|\bless\b|\bfaster\b", plan.main_text):
        winner, why = _better_of(plan, left, right)
        if winner is not None:
            first, second = winner, (right if winner is left else left)
            verdict = f"**{_title(first)}** came out better{why} {_cite(first)}. "
    lead = (f"{verdict}**{older.envelope.get('title')}** ({_when(older)}) → **{newer.envelope.get('title')}** "
            f"({_when(newer)}){_about(plan)}: {changes} {_cite(older)} {_cite(newer)}.")
    return Assembly(lead=lead, primary=[first, second], related=[])


def _better_of(plan: QueryPlan, a: Candidate, b: Candidate) -> tuple[Candidate | None, str]:
    """Which side did better on the metric the question names (its change), else by outcome."""
    text = plan.main_text
    metrics = [name for name, pattern in METRIC_RE.items() if pattern.search(text)]
    metric: str | None = next((m for m in ("p50", "p90", "p95", "p99") if m in metrics), None) or next(
        (m for m in metrics if m != "latency"), None) or ("latency" if "latency" in metrics else None)
    if metric is not None:
        ma, mb = measure(a, metric, "change"), measure(b, metric, "change")
        if ma.number is not None and mb.number is not None and ma.number != mb.number:
            better_low = BETTER[metric] == "lower"
            if re.search(r"\b(?:cut|reduc\w*|lower\w*|drop\w*)\b", text):
                better_low = True
            win = ma if (ma.number < mb.number) == better_low else mb
            return win.cand, f" on {metric}: {win.text}"
    ra = _OUTCOME_RANK.get(outcome_of(a.kind, a.fields) or "", -1)
    rb = _OUTCOME_RANK.get(outcome_of(b.kind, b.fields) or "", -1)
    if ra != rb:
        win_c = a if ra > rb else b
        return win_c, f" ({_outcome_word(win_c)})"
    return None, ""


def _measured(c: Candidate) -> dict[str, Any]:
    fields = c.fields
    if isinstance(fields.get("result"), dict):
        return dict(fields["result"])
    return {k: v for k, v in fields.items() if k not in ("valid",)}


def _settings(c: Candidate) -> dict[str, str]:
    """A record's scalar text fields (runtime, hardware, precision …), for records without figures."""
    return {k: str(v) for k, v in c.fields.items() if isinstance(v, str | int | float) and not isinstance(v, bool)
            and len(str(v)) <= 60}


def _is_accuracy(name: str) -> bool:
    return bool(re.search(r"accura|ndcg|recall|auc|f1|map|mrr|bleu|rouge|wer|top", name.lower()))


def _in_head(c: Candidate, word: str) -> bool:
    """The title or tags name the word, spelled out or short ("QAT" for "quantization-aware training")."""
    pattern = ABBREVIATED.get(word)
    return word in c.digest.head or bool(pattern is not None and pattern.search(c.digest.head))


def _is_version(c: Candidate, words: Sequence[str]) -> bool:
    """The record is of the version a side names ("v2": model_version v2, not v2.1)."""
    version = str(c.envelope.get("model_version") or "").lower()
    return bool(version) and any(w == version for w in words if VERSION_RE.fullmatch(w))


def _holds(c: Candidate, word: str) -> bool:
    if word in c.digest.words:
        return True
    if word not in c.digest.text:  # the regular expression below only narrows a substring hit
        return False
    return bool(re.search(rf"(?<![\w.]){re.escape(word)}(?![\w]|\.\d)", c.digest.text))


__all__ = ["BETTER", "Assembly", "assemble", "is_open", "measure", "technique_match"]
