"""Question understanding for ``ask``: models, techniques, kinds, metrics and time, from the store's vocabulary.

Model names and aliases come from the records themselves (``model``, ``model_version``, ``fields.aliases``),
so a new model is understood as soon as it is written; only the technique, kind, metric and time
words are fixed here, because they are the contract's vocabulary (docs/design.md §3), not the team's.
"""

from __future__ import annotations

import calendar
import itertools
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import and_, func, select

from elephant.kinds import all_kinds
from elephant.kinds.optimization import GENERIC_QUANTIZATION, QUANTIZATION, TECHNIQUE_PATTERNS
from elephant.storage.schema import heads, index_chunks, index_state, versions
from elephant.timeutil import format_ts

# ---------------------------------------------------------------- fixed vocabulary
# The kinds' own words (elephant/kinds/<kind>.py): what names each kind and each technique in a question.
KIND_PATTERNS: dict[str, tuple[str, ...]] = {spec.name: spec.words.question for spec in all_kinds()}
FAILURE_PATTERN = re.compile(r"\bfail(?:ed|ure|ures|s)?\b|\bdid ?n[o']?t work\b|\bbackfired\b|\bwent wrong\b"
                             r"|\bunsuccessful\b|\bgave up\b|\babandon")
ROLLBACK_PATTERN = re.compile(r"\broll(?:ed|ing)?[- ]?backs?\b|\breverted\b|\brevert\b|\bundid\b|\bbacked out\b")

METRIC_PATTERNS: dict[str, tuple[str, ...]] = {
    "p50": (r"\bp50\b", r"\bmedian\b"),
    "p90": (r"\bp90\b",),
    "p95": (r"\bp95\b",),
    "p99": (r"\bp99\b", r"\btail latency\b"),
    "latency": (r"\blatenc", r"\bslow", r"\bfast", r"\bms\b", r"\bresponse time"),
    "throughput": (r"\bthroughput\b", r"\bthru-?put\b", r"\bqps\b", r"\brps\b", r"\bper second\b", r"\btokens/s\b", r"\bsamples/s\b"),
    "accuracy": (r"\baccuracy\b", r"\brecall\b", r"\bndcg\b", r"\bauc\b", r"\bprecision@", r"\btop-?[15]\b",
                 r"\brouge", r"\bf1\b"),
}



def _compile_table(table: dict[str, tuple[str, ...]]) -> dict[str, re.Pattern[str]]:
    """One compiled alternation per entry: parsing a question must not recompile (measured: ~80 % of ask)."""
    return {name: re.compile("|".join(f"(?:{p})" for p in patterns)) for name, patterns in table.items()}


TECHNIQUE_RE = _compile_table(TECHNIQUE_PATTERNS)
KIND_RE = _compile_table(KIND_PATTERNS)
METRIC_RE = _compile_table(METRIC_PATTERNS)
GENERIC_QUANTIZATION_RE = re.compile("|".join(f"(?:{p})" for p in GENERIC_QUANTIZATION))
NUMBER_RE = re.compile(r"\d+(?:\.\d+)?")
QUOTED_RE = re.compile(r"[\"“']([^\"”']{3,})[\"”']")

FEATURE_WORD_RE = re.compile(r"\bfeatures?\b|\bparity\b|\bdrift|\bskew")
YES_NO_START = re.compile(r"^\s*(?:did|do|does|have|has|had|was|were|is|are|can|could|should|will)\b")
# "int8 on the icd coder, did it work?": the yes/no asked at the end.
YES_NO_END = re.compile(r"(?:^|[,;:?!]|\s[-–—])\s*(?:and |so )?(?:did|does|has|was|is) (?:it|that|this|they|those) "
                        r"(?:\w+ )?(?:work|worked|help|helped|stick|pan out|go (?:ok|okay|well|fine)|succeed|ship|"
                        r"pay off|get adopted|make it|adopted|shipped|kept|rolled back|reverted)\b[^,;]*$")
WHAT_HAPPENED = re.compile(r"\bwhat happened\b|\bhow did\b.*\bgo\b|\bwhat (?:was|were) the (?:outcome|result)s?\b"
                           r"|\bhow did it end\b|\bwhat came of\b|\bwhy (?:was|were|did)\b")
OLDEST_FIRST = re.compile(r"\bfirst\b(?! (?:result|page|token|hit)s?\b)|\bearliest\b|\boriginally\b|\boldest\b"
                          r"|\bin order\b|\bchronolog")
NEWEST_FIRST = re.compile(r"\blast time\b|\blatest\b|\bmost recent\b|\brecently\b|\blast attempt\b|\bnewest\b")

MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
MONTHS.update({name.lower(): i for i, name in enumerate(calendar.month_abbr) if name})
MONTHS.pop("may", None)  # "may" is a verb far more often than a month; the full-name entry restores it
MONTHS["may"] = 5
MONTH_WORD = r"(?:january|february|march|april|may|june|july|august|september|october|november|december" \
             r"|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)"
ANCHOR_SPLIT = re.compile(r"\b(before|prior to|preceding|until|ahead of|leading up to|in the run-up to|after|since|"
                          r"following|once)\b\s+(.+?)(?=[,;?!]|\s+(?:what|which|how|when|where|who|did|do|"
                          r"does)\b|$)")  # "before the minilm canary what did …": the question goes on

STOPWORDS = frozenset([
    "a", "an", "the", "and", "or", "of", "for", "to", "in", "on", "at", "by", "with", "from", "into",
    "onto", "over", "under", "about", "as", "is", "are", "was", "were", "be", "been", "being", "do",
    "does", "did", "done", "have", "has", "had", "having", "we", "our", "us", "i", "me", "my", "you",
    "your", "they", "them", "their", "it", "its", "this", "that", "these", "those", "what", "which",
    "who", "whom", "whose", "when", "where", "why", "how", "any", "some", "all", "each", "every", "no",
    "not", "nor", "than", "then", "there", "here", "last", "time", "times", "latest", "recent",
    "recently", "most", "more", "less", "ever", "again", "still", "yet", "just", "also", "too", "very",
    "so", "such", "try", "tried", "tries", "trying", "attempt", "attempts", "attempted", "happen",
    "happened", "happens", "started", "began", "begun", "much", "many", "per", "team-wide", "org-wide",
    "company-wide", "go", "went", "gone", "get", "got", "make", "made", "can", "could", "should",
    "would", "will", "shall", "may", "might", "must", "let", "lets", "tell", "show", "give", "list",
    "find", "know", "us", "did", "model", "models", "thing", "things", "something", "anything", "stuff",
    "happened", "result", "results", "outcome", "outcomes"
])

TIME_WORDS = frozenset(["q1", "q2", "q3", "q4", "week", "weeks", "month", "months", "year", "years", "quarter",
                        "today", "yesterday", "ago", "now", "since", "during", "until"])

# Alias parts too generic to stand for a model on their own ("churn-model" is not every "model").
ALIAS_STOP = frozenset([
    "model", "models", "service", "server", "search", "api", "base", "large", "small", "medium", "tiny",
    "the", "new", "old", "prod", "production", "main", "default", "v1", "v2", "v3", "v4", "v5", "two",
    "one", "three", "tower", "int8", "fp16", "fp32", "fp8", "int4", "bf16", "gpu", "cpu", "onnx", "trt",
    "tensorrt", "offline", "online", "serving", "batch", "text", "image", "user", "users", "item", "items",
    "query", "data", "feature", "features", "content", "product", "price", "risk", "embedding", "embeddings",
    "speech", "vision", "language", "ranking", "real", "time", "fast", "slow", "test", "demo", "shared", "global",
    # Words of ordinary speech that also end model names ("dga-max", "x-pro"): "the max canary share" names none.
    "max", "min", "pro", "plus", "lite", "nano", "micro", "mini", "big", "full", "edge", "cloud", "live", "next",
])

NAMED_MODEL = re.compile(r"\b([a-z][a-z0-9_\-]{2,})\s+(?:model|service|classifier|predictor|regressor)s?\b")
NOT_A_NAME = frozenset([
    "smaller", "bigger", "larger", "new", "old", "current", "production", "baseline", "teacher", "student", "same",
    "previous", "whole", "entire", "language", "embedding", "ranking", "compact", "distilled", "quantized",
    "pruned", "serving", "deployed", "trained", "final", "candidate", "champion", "challenger", "shadow",
    "canary", "tiny", "small", "large", "base", "fp32", "original", "other", "another", "each", "every",
])
IDENT_LIKE = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)+$")
# Hyphenated words of plain English, not model names: "team-wide", "on-call", "end-to-end", "follow-up".
PLAIN_HYPHENATED = re.compile(r"-wide$|^(?:team|org|company|cross|per|non|self)-|^(?:on-call|"
                              r"end-to-end|follow-ups?|real-time|long-term|short-term|day-to-day|off-the-shelf|"
                              r"state-of-the-art|back-to-back|built-in|opt-in|opt-out|roll-out|roll-back|write-up)$")


def compact(text: str) -> str:
    """Letters and digits only, lower case: 'Llama-2-70B' and 'llama2-70b' compare equal."""
    return re.sub(r"[^a-z0-9]", "", text.lower())


def tokens(text: str) -> list[str]:
    """Lower-case word tokens; keeps identifiers (txn_velocity_1h, g5.xlarge, 0.31) whole."""
    out = []
    for raw in re.findall(r"[a-z0-9@][a-z0-9@._/\-+]*", text.lower()):
        raw = raw.rstrip("._-/+")
        if raw:
            out.append(raw)
    return out


def stem(word: str) -> str:
    """A crude suffix stripper: enough for 'quantized'/'quantization' or 'rolled'/'rolls' to meet."""
    if len(word) > 5 and word.endswith("ies"):
        return word[:-3] + "y"
    if ACRONYM_PLURAL.match(word):  # "GPUs" are "GPU", "SLOs" "SLO"
        return word[:-1]
    for suffix in _SUFFIXES:
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            word = word[: -len(suffix)]
            break
    if len(word) > 4 and word.endswith("e"):
        word = word[:-1]
    return word


ACRONYM_PLURAL = re.compile(r"^(?:[a-z]pu|sdk|api|sl[oa]|kpi|llm|vm|ssd|nic|sku|etl)s$")
# Abbreviations people ask with for what records spell out: a record that spells it holds the short form.
ABBREVIATED = {
    "qat": re.compile(r"\bquantization[- ]aware\b"),
    "ptq": re.compile(r"\bpost[- ]training quanti[sz]"),
    "kd": re.compile(r"\bknowledge distill|\bdistil(?:led|ling|lation)\b"),
    "recsys": re.compile(r"\brecommend(?:er|ation)s?\b"),
    "asr": re.compile(r"\bspeech[- ]to[- ]text\b|\bspeech recogni|\btranscri(?:be|ption|ber)"),
    "ocr": re.compile(r"\boptical character recognition\b|\btext recogni"),
    "nmt": re.compile(r"\bmachine translation\b"),
}


def abbreviations_in(text: str) -> set[str]:
    """The short forms (``ABBREVIATED``) of what a text spells out: "quantization-aware training" → "qat"."""
    lowered = text.lower()
    return {short for short, pattern in ABBREVIATED.items() if pattern.search(lowered)}


_SUFFIXES = ("izations", "ization", "isation", "ations", "ation", "izing", "ising", "ating", "ments", "ment",
             "ized", "ised", "ated", "ize", "ise", "ate", "ings", "ing", "ed", "es", "s")


# ---------------------------------------------------------------- vocabulary from the store
@dataclass
class Vocabulary:
    """What the store names: models and their aliases, feature names; rebuilt when the store changes."""

    models: list[str] = field(default_factory=list)
    exact: dict[str, str] = field(default_factory=dict)  # compact full name -> model
    strong_aliases: dict[str, set[str]] = field(default_factory=dict)  # compact alias -> models
    weak_aliases: dict[str, set[str]] = field(default_factory=dict)
    features: dict[str, set[str]] = field(default_factory=dict)  # lower feature name -> record keys
    # stemmed word or word pair of titles, tags and bodies -> the models whose records hold it: how a
    # model is *described* ("the receipt reader", "the typeahead") when its name is not used.
    model_terms: dict[str, dict[str, int]] = field(default_factory=dict)  # term -> model -> records
    model_records: dict[str, int] = field(default_factory=dict)  # model -> current records
    stamp: tuple[Any, ...] = ()

    @property
    def max_window(self) -> int:
        return 4


def change_stamp(conn: Any) -> tuple[int, int]:
    """Cheap change detector: (largest ``versions`` id, index generation), two index lookups.

    Every write, delete and import adds a ``versions`` row, so the largest id moves (counting ``heads``
    scanned every envelope page: ~10 ms at 10k records). The id alone misses a write that commits after
    one with a larger id, which concurrent writers on PostgreSQL do (replicas on one database, or one
    server's threads): its id is taken at insert, its commit comes later. Its outbox drain then bumps the
    index generation, which is serial in commit order (``changed_keys`` reads what it wrote)."""
    row = conn.execute(select(
        select(func.coalesce(func.max(versions.c.id), 0)).scalar_subquery(),
        select(index_state.c.value).where(index_state.c.name == "generation").scalar_subquery())).one()
    return int(row[0]), int(row[1] or 0)


def changed_keys(conn: Any, since: tuple[int, int]) -> list[str]:
    """Keys written since the ``change_stamp`` ``since``: versions with a larger id, and keys the index
    applied at a later generation (among them those whose write committed out of id order)."""
    last_id, generation = since
    written = select(versions.c.key).where(versions.c.id > last_id)
    indexed = select(index_chunks.c.key).where(index_chunks.c.generation > generation)
    return [k for (k,) in conn.execute(written.union(indexed))]


def vocabulary_stamp(conn: Any) -> tuple[Any, ...]:
    """When the vocabulary must be rebuilt: see ``change_stamp``."""
    return change_stamp(conn)


def build_vocabulary(conn: Any) -> Vocabulary:
    vocab = Vocabulary(stamp=vocabulary_stamp(conn))
    rows = conn.execute(select(heads.c.model, func.count()).where(
        and_(heads.c.is_deleted.is_(False), heads.c.model.is_not(None))).group_by(heads.c.model)).all()
    vocab.models = sorted(str(r[0]) for r in rows if r[0])
    vocab.model_records = {str(r[0]): int(r[1]) for r in rows if r[0]}
    for model in vocab.models:
        _add_model_aliases(vocab, model)
    versions = conn.execute(select(heads.c.model, heads.c.envelope).where(and_(
        heads.c.is_deleted.is_(False), heads.c.model.is_not(None),
        heads.c.envelope.like('%"model_version"%') | heads.c.envelope.like('%"aliases"%')))).all()
    for model, text in versions:
        envelope = json.loads(text)
        version = envelope.get("model_version")
        if isinstance(version, str):
            _add_alias(vocab.strong_aliases, version, model, min_len=4)
            for part in re.split(r"[-_/.\s]+", version):
                _add_alias(vocab.weak_aliases, part, model)
        aliases = (envelope.get("fields") or {}).get("aliases")
        if isinstance(aliases, list):
            for alias in aliases:
                if isinstance(alias, str):
                    _add_alias(vocab.strong_aliases, alias, model, min_len=2)
    described = conn.execute(select(heads.c.model, heads.c.title, heads.c.envelope).where(and_(
        heads.c.is_deleted.is_(False), heads.c.model.is_not(None)))).all()
    for model, title, text in described:
        envelope = json.loads(text)
        words = " ".join([str(title or ""), " ".join(map(str, envelope.get("tags") or [])),
                          str(envelope.get("body") or "")[:DESCRIBE_BODY_CHARS]])
        for term in describing_terms(words):
            holders = vocab.model_terms.setdefault(term, {})
            holders[str(model)] = holders.get(str(model), 0) + 1
        _add_nicknames(vocab, str(model), str(title or "") + " " + str(envelope.get("body") or "")[:DESCRIBE_BODY_CHARS])
    features = conn.execute(select(heads.c.key, heads.c.envelope).where(and_(
        heads.c.is_deleted.is_(False), heads.c.kind == "feature_definition"))).all()
    for key, text in features:
        name = (json.loads(text).get("fields") or {}).get("feature")
        if isinstance(name, str) and name.strip():
            vocab.features.setdefault(name.strip().lower(), set()).add(key)
    return vocab


# How much of a body describes its model: the opening sentences name what the model is for.
DESCRIBE_BODY_CHARS = 400


def _joined(token: str) -> str:
    """'x-ray' → 'xray': a hyphen after or before a one- or two-letter part is often left out."""
    return token.replace("-", "") if "-" in token and any(len(p) <= 2 for p in token.split("-")) else token


def describing_terms(text: str) -> set[str]:
    """Stemmed content words of a text and their adjacent pairs ('receipt reader', 'call transcript')."""
    # Stems cut to 7 letters: 'transcription' and 'transcribes', 'suggestions' and 'suggested' meet.
    kept = [t for t in tokens(text) if t not in STOPWORDS and not t[0].isdigit() and len(t) > 2]
    words = [stem(_joined(t))[:7] for t in kept]
    # "farm-advice assistant" is also "farm advice": the parts of a hyphenated word and their pairs.
    parts = [[stem(p)[:7] for p in t.split("-") if len(p) > 2 and p not in STOPWORDS] for t in kept
             if "-" in t and all(p.isalpha() for p in t.split("-"))]  # not "3-fold", "4-bit"
    split = {p for ps in parts for p in ps} | {f"{a} {b}" for ps in parts for a, b in itertools.pairwise(ps)}
    short = {stem(name)[:7] for name in abbreviations_in(text)}
    return set(words) | {f"{a} {b}" for a, b in itertools.pairwise(words)} | split | short


def _is_abbreviation(short: str, word: str) -> bool:
    """'rg' of 'riskgrade', 'tx' of 'transaction': the same first letter, the rest in order within the word."""
    if not short or short[0] != word[0] or len(short) > len(word):
        return False
    rest = iter(word[1:])
    return all(ch in rest for ch in short[1:])


def _add_nicknames(vocab: Vocabulary, model: str, text: str) -> None:
    """A team's short name for a model, written in its own records: 'rg-retail' for riskgrade-retail, each
    part an abbreviation of the name's part in the same place (a part of its own, not a word of prose)."""
    parts = [p for p in re.split(r"[-_]+", model.lower()) if p]
    if len(parts) < 2:
        return
    for token in set(re.findall(r"\b[a-z0-9]+(?:[-_][a-z0-9]+)+\b", text.lower())):
        pieces = re.split(r"[-_]", token)
        key = compact(token)
        if len(pieces) != len(parts) or key == compact(model) or key in vocab.exact or len(key) < 4:
            continue
        if all(_is_abbreviation(a, b) for a, b in zip(pieces, parts, strict=True)) and \
                any(a != b for a, b in zip(pieces, parts, strict=True)):
            vocab.strong_aliases.setdefault(key, set()).add(model)


def near_model(word: str, vocab: Vocabulary) -> str | None:
    """The model a long word no record uses names with one slip of the keyboard ('callscirbe' for callscribe):
    one letter added, dropped, changed, or two neighbours swapped."""
    key = compact(word)
    if len(key) < 7 or key in vocab.strong_aliases or stem(key)[:7] in vocab.model_terms:
        return None
    near = {m for name, models in vocab.strong_aliases.items() if abs(len(name) - len(key)) <= 1
            and len(name) >= 7 and _one_edit(key, name) for m in models}
    return next(iter(near)) if len(near) == 1 else None


def _one_edit(a: str, b: str) -> bool:
    if a == b:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                                  and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    short, long = (a, b) if len(a) < len(b) else (b, a)
    return any(long[:i] + long[i + 1:] == short for i in range(len(long)))


def _add_alias(table: dict[str, set[str]], alias: str, model: str, *, min_len: int = 3) -> None:
    key = compact(alias)
    if len(key) < min_len or key.isdigit() or alias.lower() in ALIAS_STOP or key in ALIAS_STOP:
        return
    table.setdefault(key, set()).add(model)


def _add_model_aliases(vocab: Vocabulary, model: str) -> None:
    vocab.exact.setdefault(compact(model), model)
    vocab.strong_aliases.setdefault(compact(model), set()).add(model)
    parts = [p for p in re.split(r"[-_/\s]+", model.lower()) if p]
    # Runs of parts at separators: "llama2-70b" for "llama2-70b-99.9", "two-tower" for "recsys-two-tower".
    for start in range(len(parts)):
        for end in range(start + 1, len(parts) + 1):
            if (start, end) == (0, len(parts)):
                continue
            run = "".join(parts[start:end])
            if end - start > 1 or (start == 0 and len(run) >= 4 and run not in ALIAS_STOP):
                _add_alias(vocab.strong_aliases, run, model, min_len=4)
    for part in parts:
        _add_alias(vocab.weak_aliases, part, model)


# ---------------------------------------------------------------- the parsed question
@dataclass
class TimeWindow:
    since: str | None = None  # sortable UTC text, inclusive
    until: str | None = None  # sortable UTC text, exclusive
    month: int | None = None  # a month named without a year: the year is chosen from the records
    label: str = ""


@dataclass
class Anchor:
    """'before TensorRT', 'after the canary': a record to be found, whose date bounds the answer."""

    direction: str  # "before" | "after"
    phrase: str
    question: Question | None = None


@dataclass
class Question:
    text: str
    models: list[str] = field(default_factory=list)
    by_one_word: bool = False  # every model was named by one word of its name ("dock" for dock-cam-detector)
    unknown_names: list[str] = field(default_factory=list)
    techniques: set[str] = field(default_factory=set)
    kinds: set[str] = field(default_factory=set)
    metrics: set[str] = field(default_factory=set)
    wants_rollback: bool = False
    wants_failure: bool = False
    features: set[str] = field(default_factory=set)  # keys of feature_definition records named
    terms: list[str] = field(default_factory=list)  # content words, stemmed
    exact: list[str] = field(default_factory=list)  # quoted strings, numbers, identifiers
    window: TimeWindow = field(default_factory=TimeWindow)
    anchor: Anchor | None = None
    oldest_first: bool = False
    is_yes_no: bool = False
    is_what_happened: bool = False

    @property
    def is_bare(self) -> bool:
        """Nothing but a model (and stop words): "what's the latest on the ranker?"."""
        return not (self.techniques or self.features or self.terms or self.exact or self.kinds or self.metrics
                    or self.wants_rollback or self.wants_failure or self.anchor)

    @property
    def has_signal(self) -> bool:
        """Whether anything beyond stop words was understood (else 'nothing matches' is the honest answer)."""
        return bool(self.models or self.techniques or self.features or self.terms or self.exact
                     or self.wants_rollback or self.wants_failure or self.kinds - {"optimization"})

    def describe(self) -> dict[str, Any]:
        return {"models": self.models, "techniques": sorted(self.techniques), "kinds": sorted(self.kinds),
                "metrics": sorted(self.metrics), "rollback": self.wants_rollback, "terms": self.terms,
                "exact": self.exact, "since": self.window.since, "until": self.window.until,
                "anchor": self.anchor.phrase if self.anchor else None}


def parse_question(text: str, vocab: Vocabulary, *, now: datetime | None = None,
                   model: str | None = None, anchors: bool = True) -> Question:
    """Understand a question: which models, techniques, kinds, metrics, time bounds and terms it names."""
    now = now or datetime.now(UTC)
    lowered = " ".join(text.lower().split())
    question = Question(text=text)
    if model:
        question.models = [model]
    else:
        question.models, question.by_one_word = find_models_how(lowered, vocab)
    question.is_yes_no = bool(YES_NO_START.match(lowered) or YES_NO_END.search(lowered))
    question.is_what_happened = bool(WHAT_HAPPENED.search(lowered))
    question.oldest_first = bool(OLDEST_FIRST.search(lowered)) and not NEWEST_FIRST.search(lowered)

    main = lowered
    match = ANCHOR_SPLIT.search(lowered) if anchors else None
    if match:
        word, phrase = match.group(1), match.group(2).strip()
        direction = "before" if word in ("before", "prior to", "preceding", "until", "ahead of", "leading up to",
                                         "in the run-up to") else "after"
        window = parse_time(phrase, now)
        if ((re.match(r"\w+ing\b", phrase) and not re.match(r"\w+ing (?:(?:the|our|\S+'s) |(?:it|them|this|that)\b)",
                                                         phrase))
                or re.match(r"(?:a|an|any|every|each|it|they|we|you)\s", phrase)) and window is None:
            # "before rolling back", "before quantizing a model", "sign-off before a canary": a condition or
            # any such event, not a record that bounds time ("before distilling the MPC planner" is one event).
            match = None
        elif window is not None:
            if direction == "before":
                question.window.until = window.since or window.until
            else:
                question.window.since = window.until if window.until and word != "since" else window.since
            question.window.label = f"{word} {phrase}"
        else:
            sub = _parse_signals(phrase, vocab)
            if re.search(r"\bones?\b", phrase):
                # "optimizations before the TensorRT one": the anchor is a record of the kind the rest asks for.
                rest = lowered[: match.start()] + " " + lowered[match.end():]
                sub.kinds |= {name for name, pattern in KIND_RE.items() if pattern.search(rest)}
            if sub.techniques or sub.kinds or sub.terms or sub.exact or sub.features or sub.wants_rollback \
                    or sub.wants_failure:
                question.anchor = Anchor(direction=direction, phrase=phrase, question=sub)
                # Closest to the anchor first: what came right after it, unless "latest" was asked.
                if direction == "after" and not NEWEST_FIRST.search(lowered):
                    question.oldest_first = True
        if match is not None:
            main = (lowered[: match.start()] + " " + lowered[match.end():]).strip()
    if question.window.since is None and question.window.until is None:
        window = parse_time(main, now)
        if window is not None:
            question.window = window
    signals = _parse_signals(main, vocab)
    for name in ("techniques", "kinds", "metrics", "features", "terms", "exact"):
        setattr(question, name, getattr(signals, name))
    question.wants_rollback = signals.wants_rollback
    question.wants_failure = signals.wants_failure
    model_words = {compact(m) for m in question.models}
    model_words |= {compact(p) for m in question.models for p in re.split(r"[-_/.\s]+", m.lower())}
    model_words |= {compact(stem(w)) for w in [*question.models, *(p for m in question.models
                                                                  for p in re.split(r"[-_/.\s]+", m.lower()))]}
    question.terms = [t for t in question.terms if compact(t) not in model_words]
    if not question.models and not model:
        named = [t for t in _raw_terms(lowered) if IDENT_LIKE.match(t) and not PLAIN_HYPHENATED.search(t)]
        # "the pricing model": a plain word naming a model Elephant may never have seen.
        named += [m.group(1) for m in NAMED_MODEL.finditer(lowered) if m.group(1) not in NOT_A_NAME
                  and m.group(1) not in STOPWORDS and not any(p.search(m.group(1)) for p in TECHNIQUE_RE.values())]
        question.unknown_names = list(dict.fromkeys(
            t for t in named if t not in vocab.features and compact(t) not in vocab.weak_aliases
            and compact(t) not in vocab.strong_aliases))
    return question


def _parse_signals(text: str, vocab: Vocabulary) -> Question:
    """Techniques, kinds, metrics, features, terms of a phrase (no models, no time)."""
    q = Question(text=text)
    raw = _raw_terms(text)
    q.techniques = {name for name, pattern in TECHNIQUE_RE.items() if pattern.search(text)}
    if GENERIC_QUANTIZATION_RE.search(text) and not q.techniques & set(QUANTIZATION):
        q.techniques.update(QUANTIZATION)
    q.kinds = {name for name, pattern in KIND_RE.items() if pattern.search(text)}
    q.wants_rollback = bool(ROLLBACK_PATTERN.search(text))
    q.wants_failure = bool(FAILURE_PATTERN.search(text))
    q.metrics = {name for name, pattern in METRIC_RE.items() if pattern.search(text)}
    metric_words = {t for t in raw if any(METRIC_RE[m].search(t) for m in q.metrics)}
    if q.metrics and not q.techniques and not q.kinds and not [t for t in raw if t not in STOPWORDS
                                                                 and t not in metric_words
                                                                 and t not in vocab.weak_aliases
                                                                 and compact(t) not in vocab.strong_aliases]:
        q.kinds.add("benchmark")  # "what was the p99 of the fraud detector?" asks for a measurement
    # Feature names are identifiers (txn_velocity_1h): a token lookup, not one regex per feature.
    for token in raw:
        for form in (token, token.replace("-", "_")):
            if form in vocab.features:
                q.features.update(vocab.features[form])
    if not q.features and vocab.features and FEATURE_WORD_RE.search(text):
        # "the vib kurtosis feature": a feature named by the words of its name, in order, without the window
        # or unit part ("vib_kurtosis_10m").
        spaced = f" {' '.join(raw)} "
        for name, holders in vocab.features.items():
            words = [p for p in re.split(r"[_\-.]+", name) if p and not re.fullmatch(r"\d+[a-z]{0,2}", p)]
            if len(words) >= 2 and f" {' '.join(words)} " in spaced:
                q.features.update(holders)
    q.exact = [m.strip() for m in QUOTED_RE.findall(text)]
    # A ratio ("2:4 sparsity", "1:1 replay") is one exact string; its digits alone say little.
    ratios = re.findall(r"(?<![\d:])\d{1,3}:\d{1,3}(?![\d:])", text)
    q.exact += ratios
    in_ratio = {d for r in ratios for d in r.split(":")}
    q.exact += [t for t in raw if NUMBER_RE.fullmatch(t) and not _is_year(t) and t not in in_ratio]
    q.terms = []
    for t in _expand(raw):
        if t in STOPWORDS or t in TIME_WORDS or _is_year(t) or t in MONTHS or len(t) < 2:
            continue
        s = stem(t)
        if s not in q.terms:
            q.terms.append(s)
    return q


_COUNT_X = re.compile(r"^(?:\d+x([a-z][a-z0-9]+)|([a-z][a-z0-9]*\d)x\d+)$")


def _expand(raw: list[str]) -> list[str]:
    """'8xh200' and 'h200x8' (how people and MLPerf write accelerator counts) also mean 'h200'."""
    out = []
    for t in raw:
        out.append(t)
        if t.count("-") >= 2:  # "spatula-tagged-as-knife": a phrase written as one word
            out.extend(p for p in t.split("-") if len(p) >= 3)
        match = _COUNT_X.match(t)
        if match:
            out.append(match.group(1) or match.group(2))
    return out


def _raw_terms(text: str) -> list[str]:
    return tokens(text)


def _is_year(token: str) -> bool:
    return bool(re.fullmatch(r"(?:19|20)\d\d", token))


def find_models(lowered: str, vocab: Vocabulary) -> list[str]:
    """Models named in the text: the longest window of tokens whose compact form is an alias wins."""
    return find_models_how(lowered, vocab)[0]


def find_models_how(lowered: str, vocab: Vocabulary) -> tuple[list[str], bool]:
    """``find_models``, and whether every model found was named by one word of its name only ("depot" for
    depot-demand-tft): such a word may just as well be part of a description of another model."""
    words = tokens(lowered)
    compacts = [compact(w) for w in words]
    found: list[str] = []
    weak: list[str] = []
    whole = False
    i = 0
    while i < len(words):
        hit = None
        for j in range(min(len(words), i + vocab.max_window), i, -1):
            joined = "".join(compacts[i:j])
            # A model's own name beats the same text as a prefix of others ("ranker" vs "ranker-2").
            if joined in vocab.exact:
                hit = (j, {vocab.exact[joined]})
                break
            if joined in vocab.strong_aliases:
                hit = (j, vocab.strong_aliases[joined])
                break
        if hit is not None:
            for m in sorted(hit[1]):
                if m not in found:
                    found.append(m)
            whole = whole or hit[0] - i > 1 or "".join(compacts[i:hit[0]]) in vocab.exact
            i = hit[0]
            continue
        if compacts[i] in vocab.weak_aliases:
            weak.extend(m for m in sorted(vocab.weak_aliases[compacts[i]]) if m not in weak)
        elif (slip := near_model(words[i], vocab)) is not None and slip not in found:
            found.append(slip)
            whole = True
        i += 1
    return (found, not whole) if found else (weak, bool(weak))


# ---------------------------------------------------------------- time words
# "from January to March 2025", "between Q1 and Q3 2025", "2024-11 through 2025-02": two times, one window.
TIME_RANGE = re.compile(r"\b(?:from|between)\s+((?:[\w-]+\s+){0,2}?[\w-]+)\s+(?:to|until|till|through|thru|and)\s+"
                        r"((?:[\w-]+\s+){0,2}[\w-]+)")


def parse_time(text: str, now: datetime) -> TimeWindow | None:
    """'in March', 'March 2025', 'this year', 'last year', 'last month', '2025', an ISO date, and a range
    of two of them ('from January to March 2025')."""
    for span in TIME_RANGE.finditer(text):
        ranged = _time_range(span.group(1), span.group(2), now)
        if ranged is not None:
            return ranged
    return _parse_one_time(text, now)


def _time_range(left_text: str, right_text: str, now: datetime) -> TimeWindow | None:
    right = None
    # The right side's own words only, longest first ("march 2025 on the ranker" → "march 2025").
    words = right_text.split()
    for n in range(len(words), 0, -1):
        right = _parse_one_time(" ".join(words[:n]), now)
        if right is not None:
            break
    if right is None:
        return None
    year = re.search(r"\b(?:19|20)\d\d\b", " ".join(words))
    if year and not re.search(r"\b(?:19|20)\d\d\b", left_text):  # "January to March 2025": the year said once
        left_text = f"{left_text} {year.group(0)}"
    left = _parse_one_time(left_text, now)
    if left is None:
        return None
    if right.month is not None and left.since is not None:
        right = _month_window(int(left.since[:4]), right.month)
    if left.since is None or right.month is not None:
        return None
    return TimeWindow(since=left.since, until=right.until, label=f"{left.label} to {right.label}")


def _parse_one_time(text: str, now: datetime) -> TimeWindow | None:
    iso = re.search(r"\b(\d{4})-(\d{2})(?:-(\d{2}))?\b", text)
    if iso:
        year, month, day = int(iso.group(1)), int(iso.group(2)), iso.group(3)
        if 1 <= month <= 12 and year >= 1:
            if day:
                try:
                    start = date(year, month, int(day))
                except ValueError:  # "2026-02-31": not a day, so not a time window
                    return None
                return TimeWindow(since=_ts(start), until=_ts(_next_day(start)), label=start.isoformat())
            return _month_window(year, month)
    named = re.search(rf"\b(?:in |during |of )?({MONTH_WORD})\b(?:\s+(?:of\s+)?((?:19|20)\d\d))?", text)
    if named and not (named.group(1) == "may" and not named.group(2) and not re.search(r"\b(?:in|during) may\b", text)):
        month = MONTHS[named.group(1)[:3] if named.group(1) not in MONTHS else named.group(1)]
        if named.group(2):
            return _month_window(int(named.group(2)), month)
        return TimeWindow(month=month, label=calendar.month_name[month])
    season = re.search(r"\b(?:(spring|summer|autumn|fall|winter)|(early|mid|late|start of|end of|beginning of))"
                       r"(?: of)?\s+((?:19|20)\d\d)\b", text)
    if season:
        s_year = int(season.group(3))
        first_month, months = {"spring": (3, 3), "summer": (6, 3), "autumn": (9, 3), "fall": (9, 3), "winter": (12, 3),
                               "early": (1, 4), "start of": (1, 3), "beginning of": (1, 3), "mid": (5, 4),
                               "late": (9, 4), "end of": (10, 3)}[season.group(1) or season.group(2)]
        start = date(s_year, first_month, 1)
        end_month = first_month + months
        end = date(s_year + (end_month - 1) // 12, (end_month - 1) % 12 + 1, 1)
        return TimeWindow(since=_ts(start), until=_ts(end), label=f"{season.group(1) or season.group(2)} {s_year}")
    half = re.search(r"\b(?:(first|second) half|h([12]))(?: of)?\s+((?:19|20)\d\d)\b", text)
    if half:
        first = half.group(1) == "first" or half.group(2) == "1"
        h_year = int(half.group(3))
        start, end = (date(h_year, 1, 1), date(h_year, 7, 1)) if first else (date(h_year, 7, 1), date(h_year + 1, 1, 1))
        return TimeWindow(since=_ts(start), until=_ts(end), label=f"H{1 if first else 2} {h_year}")
    quarter = re.search(r"\b(?:((?:19|20)\d\d)\s+)?(?:q([1-4])|(first|second|third|fourth|1st|2nd|3rd|4th) quarter)"
                        r"(?:\s+(?:of\s+)?((?:19|20)\d\d))?\b", text)
    if quarter:
        number = int(quarter.group(2)) if quarter.group(2) else {"first": 1, "1st": 1, "second": 2, "2nd": 2,
                                                                  "third": 3, "3rd": 3, "fourth": 4, "4th": 4}[quarter.group(3)]
        said_year = quarter.group(4) or quarter.group(1)
        q_year = int(said_year) if said_year else (
            now.year if now.month >= 3 * number - 2 else now.year - 1)  # an unstarted quarter means last year's
        start = date(q_year, 3 * number - 2, 1)
        end = date(q_year + 1, 1, 1) if number == 4 else date(q_year, 3 * number + 1, 1)
        return TimeWindow(since=_ts(start), until=_ts(end), label=f"Q{number} {q_year}")
    if re.search(r"\bthis year\b", text):
        return _year_window(now.year)
    if re.search(r"\blast year\b", text):
        return _year_window(now.year - 1)
    if re.search(r"\bthis month\b", text):
        return _month_window(now.year, now.month)
    if re.search(r"\blast month\b", text):
        year, month = (now.year, now.month - 1) if now.month > 1 else (now.year - 1, 12)
        return _month_window(year, month)
    named_year = re.search(r"\b(?:in |during )?((?:19|20)\d\d)\b", text)
    if named_year:
        return _year_window(int(named_year.group(1)))
    return None


def _ts(day: date | None) -> str | None:
    """Sortable UTC text of a day's start; None (no bound) for the day after 9999-12-31."""
    return None if day is None else format_ts(datetime(day.year, day.month, day.day, tzinfo=UTC))


def _next_day(day: date) -> date | None:
    return None if day == date.max else date.fromordinal(day.toordinal() + 1)


def _first_of(year: int, month: int) -> date | None:
    """The first of a month, or None past the last year a date can hold (an open upper bound)."""
    return None if year > date.max.year else date(year, month, 1)


def _month_window(year: int, month: int) -> TimeWindow:
    end = _first_of(year + 1, 1) if month == 12 else _first_of(year, month + 1)
    return TimeWindow(since=_ts(date(year, month, 1)), until=_ts(end), label=f"{calendar.month_name[month]} {year}")


def _year_window(year: int) -> TimeWindow:
    return TimeWindow(since=_ts(date(year, 1, 1)), until=_ts(_first_of(year + 1, 1)), label=str(year))


def month_window(year: int, month: int) -> TimeWindow:
    return _month_window(year, month)
