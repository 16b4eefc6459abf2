"""The query plan of ``ask``: what a question wants, typed, before any record is read (docs/answers.md).

A plan is built from the question's words and the store's vocabulary only — no model, no LLM — and is
cheap (regular expressions over one short text). It names:

- the **subjects**: models named or aliased, or *described* ("the model whose shadow deployment was
  aborted") and resolved later by a sub-search over the records;
- the **techniques**, from the fixed technique list and from a lexicon of methods the list lacks
  (speculative decoding, AWQ …) that records file under ``technique: other``;
- the **answer kind**: an attempt, a procedure, a serving config, a budget note, an incident, a feature,
  a deployment or a benchmark;
- the **time** window: dates, quarters, months, or anchors named by events ("before the v3 rollout",
  "between the shadow test and the 50 % ramp") that are resolved to records' ``occurred_at``;
- a **status** filter ("any open incidents?"), a **superlative** (metric, which way is better, and
  whether the change or the value is ranked), a **comparison** of two sides, and the **intent**:
  list, outcome ("did it work?"), existence ("did we ever try?") or status.

Answer assembly (``elephant.answers.assemble``) reads the plan; ``elephant ask --explain`` prints it.
"""

from __future__ import annotations

import calendar
import math
import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from elephant.answers.questions import (
    IDENT_LIKE,
    KIND_RE,
    STOPWORDS,
    TECHNIQUE_RE,
    TIME_RANGE,
    YES_NO_END,
    Question,
    TimeWindow,
    Vocabulary,
    compact,
    describing_terms,
    find_models,
    parse_question,
    parse_time,
    stem,
    tokens,
)
from elephant.answers.validtime import serving_moment
from elephant.kinds.optimization import QUANTIZATION

# ---------------------------------------------------------------- lexicons (general, not any team's)
# Metrics: the words that name them and which way is better. Lower is better for latency, error rates
# and sizes; higher for throughput and quality.
METRICS: dict[str, tuple[str, tuple[str, ...]]] = {
    "p50": ("lower", (r"\bp50\b", r"\bmedian\b")),
    "p90": ("lower", (r"\bp90\b",)),
    "p95": ("lower", (r"\bp95\b",)),
    "p99": ("lower", (r"\bp99(?:\.9)?\b", r"\btail latency\b", r"\btail\b")),
    "latency": ("lower", (r"\blatenc", r"\bspeed ?ups?\b", r"\bfaster\b", r"\bfastest\b", r"\bslow",
                          r"\bresponse time", r"\bttft\b", r"\btime to first token\b")),
    "throughput": ("higher", (r"\bthroughput\b", r"\bthru-?put\b", r"\bqps\b", r"\brps\b", r"\bper second\b", r"\btokens?/s\b",
                              r"\bsamples?/s\b", r"\bimages?/s\b", r"\btok/s\b", r"\bfps\b",
                              r"\bframes? (?:per second|/s)\b", r"\brequests?/s\b")),
    "wer": ("lower", (r"\bwer\b", r"\bword error", r"\bcer\b")),
    "mae": ("lower", (r"\bmae\b", r"\brmse\b", r"\bmean absolute error\b", r"\bmape\b")),
    "error_rate": ("lower", (r"\berror rate\b", r"\berrors\b")),
    "memory": ("lower", (r"\bmemory\b", r"\bvram\b", r"\bmodel size\b", r"\bfootprint\b", r"\bgb\b")),
    "cost": ("lower", (r"\bcost\b", r"\bcheaper\b", r"\bcheapest\b", r"\$")),
    "accuracy": ("higher", (r"\baccura", r"\brecall\b", r"\bndcg\b", r"\bauc\b", r"\bprecision\b(?! (?:does|is|do))",
                            r"\bf1\b", r"\bmap@?\b", r"\bbleu\b", r"\brouge", r"\bquality\b", r"\btop-?[15]\b",
                            r"\bmrr\b", r"\bexact match\b", r"\bscores?\b", r"\bacceptance\b", r"\bdice\b",
                            r"\bm?iou\b", r"\bsensitivity\b", r"\bspecificity\b", r"\bau(?:roc|prc)\b",
                            r"\bhit rate\b", r"\bctr\b", r"\bconversion\b", r"\bcomet\b", r"\bchrf\b")),
}
METRIC_RE = {name: re.compile("|".join(f"(?:{p})" for p in pats)) for name, (_d, pats) in METRICS.items()}
BETTER = {name: direction for name, (direction, _p) in METRICS.items()}
# Where each metric lives in a record's fields: (kind-independent) names to look for.
LATENCY_METRICS = ("p50", "p90", "p95", "p99")

SUPERLATIVE_RE = re.compile(
    r"\b(?:most|least|biggest|largest|greatest|smallest|best|worst|highest|lowest|fastest|slowest|top|"
    r"maximum|minimum|max|min|cheapest|strongest|weakest|record)\b|\bthe (?:\w+ )?(?:fastest|best|lowest|highest)\b")
# Verbs that say which way the number moved: "cut p99 the most" (down), "raised throughput" (up).
DOWN_RE = re.compile(r"\b(?:cut|cuts|reduc\w*|lower(?:ed|s)?|decreas\w*|drop\w*|shav\w*|shr[aiu]nk\w*|lost|lose|"
                     r"tank\w*|crater\w*|plummet\w*|tumbl\w*|nosediv\w*|"
                     r"loses|losing|slash\w*|trim\w*|sav(?:e|ed|ing)s?)\b")
UP_RE = re.compile(r"\b(?:increas\w*|rais\w*|boost\w*|grew|grow\w*|doubl\w*|gain\w*|improv\w*|lift\w*|jump\w*|"
                   r"climb\w*|bump\w*)\b")
WORSE_RE = re.compile(r"\b(?:hurt|hurts|worst|degrad\w*|regress\w*|harm\w*|penal\w*|sacrific\w*|damag\w*|hits?)\b")
DELTA_RE = re.compile(r"\b(?:change[sd]?|improv\w*|gain\w*|speed ?ups?|cut|cuts|reduc\w*|lost|lose|loses|drop\w*|rais\w*|"
                      r"tank\w*|crater\w*|plummet\w*|tumbl\w*|nosediv\w*|"
                      r"increas\w*|decreas\w*|delta|sav\w*|help\w*|gave|brought|hurt\w*|cost|boost\w*|"
                      r"degrad\w*|shav\w*|slash\w*|wins?|hits?|savings?|jump\w*|bump\w*|multipliers?|x faster|times faster|"
                      r"regress\w*)\b")

# Answer kinds: what the answer is, when it is not "the attempts". First match wins.
ANSWER_KINDS: tuple[tuple[str, str, re.Pattern[str]], ...] = (
    ("procedure", "rollback_procedure", re.compile(
        r"\bhow (?:do|can|should|would) (?:we|i|you|one) (?:roll ?back|revert|undo|fall ?back|back out|restore|"
        r"downgrade|turn off|switch off|shut off|disable|deactivate|kill|bypass|recover|restore|fix|repair|remediate|"
        r"mitigate|fail ?over|drain|clean up)|\brunbook|\bplaybook|\bprocedure|\bsteps? to (?:roll ?back|revert|restore)|\brollback (?:plan|steps)")),
    ("config", "serving_config", re.compile(
        r"\bserv(?:e|es|ed|ing) (?:at|on|with|in)\b|\bserving (?:config|setup|stack|precision|hardware)|"
        r"\b(?:what|which) (?:kind of |type of )?(?:precision|hardware|gpus?|cpus?|instances?|runtime|replicas?|"
        r"machines?|accelerators?|dtype|chips?|serving stack|inference server)\b|"
        r"\b(?:run|runs|running|hosted|served|deployed) on(?: (?:now|today|currently|these days|at the moment))?\s*\??$|"
        r"\bhow (?:is|are) .*\b(?:served|hosted)\b|\b(?:precision|hardware|runtime|replicas|"
        r"instance type)\b.*\b(?:now|currently|today|serve|serves)\b|\bconfig(?:uration)?s?\b|"
        r"\bdeployed on\b|\brun(?:s|ning)? on (?:what|which)\b|\bsettings?\b.*\b(?:use|uses|run|runs|in production)\b|"
        r"\b(?:use|uses|run|runs) in production\b|\bwhat (?:runs|serves|hosts)\b|"
        r"\b(?:batching|serving|server|runtime|triton|vllm|torchserve|kserve) (?:settings?|params|parameters|flags)\b|"
        r"^\s*(?:are|is) (?:we|it|\S+) still (?:serving|running|hosting|on)\b|"
        r"^\s*(?:are|is) .{1,60}? still (?:served|serving|running|hosted|deployed) (?:on|with|in|from)\b")),
    ("note", "note", re.compile(
        r"\bbudget\b|\bslos?\b|\bguidelines?\b|\bpolicy\b|\bprotocols?\b|\bour (?:\w+ ){0,2}process\b|\brules? (?:for|to|about)\b|\bconventions?\b|"
        r"\btarget\b|\bsla\b|\ballow(?:ed|ance)\b|\blimit\b|\bceiling\b|\bquota\b|\bfloor\b|\bthreshold\b|"
        r"\bhow (?:many|much) (?:ms|milliseconds|seconds|time|latency)\b.{0,40}\b(?:get|gets|have|has|allowed)\b|"
        r"\bwhen (?:does|do|is|are|should|would) .{0,40}\bescalat\w*|\bescalation\b|"
        r"\bwho (?:do|should|would|can) (?:we|i) (?:page|call|ping|escalate to|contact)\b|\bon-?call (?:rotation|schedule|policy)\b|"
        r"\brouting rules?\b|\bsign-?offs?\b|\b(?:release|launch|safety|quality) gates?\b|\bgates? (?:to|does|do|a|before)\b|\b(?:need|needs|require[sd]?) .{0,30}\b(?:approval|review)\b|\bwhen (?:does|do|is|are|should) .{0,40}\b(?:get |gets |be )?(?:routed|sent on|forwarded|handed off)\b|"
        r"\bdeadlines?\b|\bby when\b|\blessons?\b|\bwhat counts as\b|\bcounts as (?:a |an )?sev|"
        r"\b(?:minimum|maximum|min|max|lowest|highest)\b.{0,50}\bwe (?:accept|tolerate|allow)\b|"
        r"\bhow much (?:can|may|could|should) (?:we|i|the team|a team) spend\b|\btakeaways?\b|\blearnings\b|\b(?:change|code|release|deploy\w*) (?:freeze|blackout)s?\b|\bfreeze window\b|"
        r"\bhow (?:much|many|far) .{0,50}\b(?:may|are (?:we|they) allowed to|is (?:it|a model) allowed to)\b|\bacceptable\b|"
        r"\bpermitted\b|\bcut-?off\b|\b(?:has|have|needs?) to (?:be )?(?:done|finished|complete|ready)\b|"
        r"\bmust (?:be )?(?:done|finished|complete|ready)\b")),
    ("incident", "incident", re.compile(r"\bincidents?\b|\boutages?\b|(?<!-)\b(?:paged|pager|paging)\b|\bsev ?[0-4]\b|\bpostmortem|"
                                        r"\b(?:problem|issue|bug|glitch|breakage)s?\b.*\b(?:fixed|resolved|closed|"
                                        r"mitigated|sorted)\b")),
    ("feature", "feature_definition", re.compile(
        r"\bfeatures?\b.*\b(?:drift\w*|skew\w*|parity|consistent|mismatch)|\b(?:drift\w*|skew\w*|parity)\b|"
        r"\btraining and serving\b|\btrain(?:ing)?[-/ ]serv(?:e|ing)\b")),
    ("regression", "regression", re.compile(r"\bregressions?\b")),
    ("deployment", "deployment", re.compile(
        r"\bcanar(?:y|ies|ied|ying)\b|\bshadow(?:ed|ing)?\b|\brollouts?\b|\brolled out\b|\bramp\w*\b|\ba/?b test|\ba/b\b|\bdeploy\w*\b|\bpromot\w*\b|"
        r"\b(?:go|goes|gone|went|going) (?:fully )?live\b|\bfull rollout\b|\b(?:go|goes|went|gone|ramp\w*) to 100 ?%|"
        r"\brelease[ds]?\b|\bblue[- ]green\b")),
    ("benchmark", "benchmark", re.compile(
        r"\bbenchmark\w*|\bbench(?:es)?\b|\bmlperf\b|\bsubmission\b|\bround v?\d|\bmeasured\b|\bload test|\bperf(?:ormance)? run")),
)
ANSWER_KIND_OF = {name: kind for name, kind, _p in ANSWER_KINDS}
ANSWER_KIND_RE = {name: pattern for name, _kind, pattern in ANSWER_KINDS}

STATUS_OPEN_RE = re.compile(r"\b(?:open|unresolved|ongoing|active|outstanding|unfixed|still (?:open|happening|"
                            r"drifting|broken|failing|skewed)|drifting|in drift|broken|on fire|firing)\b|\bnot (?:yet )?(?:resolved|fixed)\b"
                            r"|\b(?:currently|now|still|today) (?:show|shows|showing|ha[sv]e?|with)\b.{0,30}\b(?:drift|skew)\b"
                            r"|\b(?:show|shows|showing|ha[sv]e?|with) (?:any |some )?(?:train\S*[ /-]serv\S* )?(?:drift|skew)\b.{0,20}\b(?:now|currently|today|right now)\b")
STATUS_QUESTION_RE = re.compile(r"^\s*(?:are there|is there|any|do we have|have we got|does \S+ have|is \S+ still)\b"
                                r"|\bstill\b|\bright now\b|\bcurrently\b")
OUTCOME_RE = re.compile(
    r"\b(?:work|works|worked|working|help|helps|helped|succeed\w*|success\w*|pay(?:s)? off|paid off|stick|stuck|"
    r"hold|held up|go well|went well|go ok|pan(?:ned)? out|make it|made it|pass|passed|land|landed|ship|shipped|"
    r"adopted|kept|keep it|stay(?:ed)?|survive\w*|fail\w*|get rolled back|rolled back|backfire\w*|worth it|"
    r"make it to prod\w*|go live|went live|goes live|stick around|pay for itself|adopt|enabled?|turned on|"
    r"switched on|roll(?:ed)? out|in prod(?:uction)?|productioni[sz]ed|(?:are|is) (?:we|it|they) (?:still )?using|"
    r"do (?:we|they) (?:still )?use|(?:is|are) (?:\S+ ){1,3}?still \w+ing|"
    r"still (?:on|enabled|in use|used|running|live|serving|there|around|in place|active|deployed|adopted|in progress))\b")
# "did X ever ship?": asks whether any attempt reached production (adopted, or rolled back after it), not
# whether one exists.
SHIPPED_RE = re.compile(r"\b(?:ship|shipped|adopt\w*|land|landed|go live|went live|make it to prod\w*|"
                        r"made it to prod\w*|deploy\w*|roll(?:ed)? out|productioni[sz]ed)\b")
# "what's in flight?", "anything rolling out right now?": a status question about work under way.
UNDER_WAY_RE = re.compile(r"\b(?:in flight|in progress|ongoing|under ?way|rolling out|being rolled out|wip|in the works|"
                          r"being (?:tested|tried|worked on)|work in progress|in motion|cooking)\b")
# "is X still in progress?": the attempt's being under way is the yes.
IN_PROGRESS_RE = re.compile(r"\b(?:in progress|ongoing|under ?way|still running|still being|pending|being tested)\b")
EXISTENCE_RE = re.compile(
    r"\b(?:ever|already|previously|before now)\b|^\s*(?:did|have|has|had) (?:we|anyone|the team|somebody|someone)"
    r" (?:\w+ )?(?:try|tried|attempt\w*|test\w*|experiment\w*|run|ran|use|used|look\w* into)\b"
    r"|\bhave we\b|\bany (?:attempts?|experiments?|record)\b|\bnever\b")
_YES_NO_START_RE = re.compile(r"^\s*(?:did|do|does|have|has|had|was|were|is|are|can|could|will)\b")


def asks_yes_no(lowered: str) -> bool:
    """A yes/no question: asked at the start ("did INT8 work on X?") or at the end ("INT8 on X, did it work?")."""
    return bool(_YES_NO_START_RE.match(lowered) or YES_NO_END.search(lowered))
NOW_RE = re.compile(r"\b(?:now|currently|current|today|these days|at the moment|right now|still|latest|live)\b")

# Methods the fixed technique list lacks: records file them as ``technique: other`` with the method in the
# title, body or extra fields. Each entry: a name, and patterns for the question and for the record's text.
METHOD_LEXICON: dict[str, tuple[str, ...]] = {
    "speculative decoding": (r"\bspeculat", r"\bdraft model\b", r"\bspec(?:ulative)?[ -]?decod"),
    "medusa": (r"\bmedusa\b",),
    "eagle": (r"\beagle\b",),
    "awq": (r"\bawq\b", r"\bactivation[- ]aware\b"),
    "gptq": (r"\bgptq\b",),
    "fp8": (r"\bfp-?8\b", r"\bfloat-?8\b", r"\be4m3\b", r"\be5m2\b"),
    "int4": (r"\bint-?4\b", r"\b4[- ]?bits?\b", r"\bw4a16\b", r"\bnf4\b"),
    "smoothquant": (r"\bsmooth ?quant\b", r"\bw8a8\b"),
    "kv cache": (r"\bkv[- ]?cache\b", r"\bpaged ?attention\b", r"\bprefix cach"),
    "flash attention": (r"\bflash[- ]?attention\b", r"\bflashattn\b", r"\bsdpa\b"),
    "continuous batching": (r"\bcontinuous batching\b", r"\bin-?flight batching\b"),
    "tree compiler": (r"\btreelite\b", r"\bhummingbird\b", r"\btree compil", r"\bcompiled trees?\b",
                      r"\bcompil\w* (?:the )?(?:\w+ )?trees?\b", r"\bfil\b", r"\blleaves\b"),
    "compiler": (r"\btorch\.?compile\b", r"\btvm\b", r"\bxla\b", r"\bopenvino\b", r"\binductor\b",
                 r"\bcompil(?:e|ed|ing|er|ation)\b"),
    "lora": (r"\blora\b", r"\badapters?\b"),
    "sparsity": (r"\b2:4\b", r"\bsemi-?structured\b", r"\bsparsit", r"\bsparse\b"),
    "early exit": (r"\bearly[- ]exit", r"\blayer skipping\b", r"\badaptive depth\b"),
    "token merging": (r"\btoken merg", r"\btome\b"),
    "resolution": (r"\bresolution\b", r"\bdownscal", r"\bsmaller (?:input|image)s?\b"),
    "beam search": (r"\bbeam (?:size|width|search)\b", r"\bgreedy decoding\b"),
    "vad": (r"\bvad\b", r"\bvoice activity\b", r"\bsilence (?:trimming|removal)\b"),
    "mixed precision": (r"\bmixed precision\b", r"\bamp\b", r"\bbf-?16\b", r"\bfp-?16\b", r"\bhalf precision\b"),
    "onnx": (r"\bonnx\b",),
    "tensorrt": (r"\btensor-?rt\b", r"\btrt\b"),
    "distillation": (r"\bdistil(?!bert|roberta|gpt)", r"\bstudent\b"),
    "pruning": (r"\bprun",),
    "batching": (r"\bbatch(?:ing|ed)\b", r"\bmicro-?batch"),
    "caching": (r"\bcach", r"\bmemoi[sz]"),
    "quantization": (r"\bquanti[sz]", r"\bint-?8\b", r"\b8[- ]?bits?\b"),
}
SPECIFIC_QUANTIZATION = frozenset(["fp8", "int4", "awq", "gptq", "smoothquant"])
METHOD_RE = {name: re.compile("|".join(f"(?:{p})" for p in pats)) for name, pats in METHOD_LEXICON.items()}

# "the model whose …", "the model that had …", "the service with …": a subject described, not named.
DESCRIBED_RE = re.compile(
    r"\b(?:the|that|our|whichever|whatever)\s+(?:model|service|system|one|network|classifier|detector|predictor|bot|"
    r"assistant|llm|pipeline|engine)\s+(?:whose|that|which|where|with|behind|from|for which|we|affected by|hit by|"
    r"involved in|responsible for|used for|that's|associated with|linked to|tied to|implicated in|blamed for|"
    r"at the (?:center|centre|heart) of)\b\s*(.+?)(?=[?!;,—–]|\s-\s|$)")
# "the ranker whose canary was rolled back", "the scorer behind the outage": other nouns for a model, with
# the connectors that only a description follows ("the ranker with INT8" stays a named model's question).
DESCRIBED_NOUN_RE = re.compile(
    r"\b(?:the|that|our|whichever|whatever)\s+(ranker|scorer|recommender|tagger|transcriber|translator|generator|"
    r"encoder|embedder|forecaster|summari[sz]er|reader|matcher|copilot|chatbot|agent)\s+(?:whose|behind|"
    r"affected by|hit by|involved in|responsible for|associated with|linked to|tied to|implicated in|blamed for|"
    r"that (?:had|has|caused|broke|crashed|triggered|got|was|were|hit|failed|started|suffered|went|ran into)\b)"
    r"\s*(.+?)(?=[?!;,—–]|\s-\s|$)")
TEACHER_RE = re.compile(
    r"\bthe\s+(?:teacher|parent)(?:\s+model)?\s+(?:used\s+|behind\s+)?(?:for|of|in|behind)\s+(.+?)"
    r"(?=[?!;,]|\s+(?:serve[sd]?|run|runs|hosted|deployed)\b|$)"
    r"|\bthe\s+(?:teacher\s+|parent\s+)?model\s+(?:that\s+)?(.+?)\s+(?:was|were|got|is)\s+distilled\s+from\b")
MAIN_VERB_RE = re.compile(r"\b(?:run|runs|use|uses|serve|serves|need|needs|allow|allows|get|gets|take|takes|cost|costs|"
                          r"support|supports|sit|sits|live|lives|have)\b")
# Participles that end a described subject's clause when the question's own verb comes last.
END_VERB_RE = re.compile(r"\b(?:served|hosted|deployed|configured|set up|monitored|rolled back|measured|"
                         r"benchmarked|priced|budgeted)\b")
# Nouns people put after a model's name or description ("the support bot", "the receipt reader"): not content.
MODEL_NOUNS = frozenset(stem(w) for w in (
    "bot", "chatbot", "copilot", "assistant", "service", "model", "tagger", "classifier", "detector", "predictor", "estimator",
    "recogniser", "recognizer", "reader", "engine", "system", "network", "llm", "api", "one", "thing"))
# "the call transcription model", "our image tagger": a phrase that refers to one model without its name.
MODEL_REF_RE = re.compile(
    r"\b(?:the|our|that)\s+(?:[\w/-]+\s+){0,3}(?:model|bot|assistant|service|tagger|classifier|detector|predictor|"
    r"estimator|recogni[sz]er|reader|engine|network|llm|ranker|scorer|recommender|transcriber|translator|"
    r"generator|encoder|embedder|pipeline|forecaster|autocompleter)\b(?!s)")
# Words that mean "an optimization attempt" without naming a technique.
ATTEMPT_WORDS_RE = re.compile(r"\b(?:experiments?|optimi[sz]ations?|opts|attempts?|tried|try|tries)\b")
# "between the shadow test and the 50 % ramp": two anchors.
BETWEEN_RE = re.compile(r"\bbetween\s+(.+?)\s+and\s+(.+?)(?=[?!;,]|$)")
AFTER_BEFORE_RE = re.compile(r"\b(?:after|since)\s+(.+?),?\s+(?:but|and)\s+(?:still\s+)?(?:before|prior to)\s+(.+?)(?=[?!;,]|$)")
# "X vs Y", "compare X and Y", "what changed between vA and vB".
# "A vs B", "A versus B", "A compared to B", "how did A compare with B": the phrases on either side (up to
# five words, within the clause), which ``assemble`` narrows to the words one side has and the other lacks.
VERSUS_RE = re.compile(r"((?:[\w./+-]+\s+){0,7}[\w./+-]+)\s+(?:vs\.?|versus|against|compared (?:to|with)|"
                       r"compare[sd]? (?:to|with|against))\s+((?:[\w./+-]+\s*){1,5})")
# "A or B, which …", "which … better, A or B?", "A or B — which has lower WER?".
OR_RE = re.compile(r"^\s*([\w./+-]+(?:\s+[\w./+-]+)?) or ([\w./+-]+(?:\s+[\w./+-]+)?)\s*[,—–-]*\s*which\b"
                   r"|\bwhich\b.*?[,:]\s*([\w./+-]+(?:\s+[\w./+-]+)?) or ([\w./+-]+(?:\s+[\w./+-]+)?)\s*\??\s*$")
LEADING_OR_RE = re.compile(r"^\s*((?:[\w./+-]+\s+){0,2}[\w./+-]+) or ((?:[\w./+-]+\s+){0,2}?[\w./+-]+)\s+"
                           r"(?:for|on|in|with)\b")
COMPARE_AND_RE = re.compile(r"\bcompar\w*\s+(.+?)\s+(?:and|with|to|against)\s+(.+?)(?=[?!;,]|$)")
COMPARE_RE = re.compile(r"\b(?:what changed|difference|differ|compare\w*|diff|how much|change[sd]? between)\b")
# A comparative asks which of two sides did better: "between GPTQ and AWQ, which lost less quality?",
# "did the prefix cache or distillation cut p99 more?".
COMPARATIVE_RE = re.compile(r"\b(?:more|less|better|worse|faster|slower|higher|lower|cheaper|bigger|smaller|fewer|"
                            r"larger|stronger|weaker)\b")
# "what did we gain going from the CPU scorer to Triton FIL?": a move from one side to the other.
FROM_TO_RE = re.compile(r"\bfrom\s+((?:[\w./+-]+\s+){0,4}?[\w./+-]+)\s+(?:to|into)\s+((?:[\w./+-]+\s*){1,4})")
AROUND_RE = re.compile(r"\bbefore and after\s+(.+?)(?=[?!;,]|$)")
# "compare the ranker's two benchmarks", "what changed between its last two configs?"
LATEST_TWO_RE = re.compile(r"\b(?:the|its|their|our|\w+'s)\s+(?:last |latest |two latest |most recent )?(?:two|2|both)\s+"
                           r"(?:latest |last |recent |most recent )?\w+")
# "is the TensorRT engine faster than the PyTorch baseline?": a comparative with "than".
THAN_RE = re.compile(r"((?:[\w./+-]+\s+){0,4}?[\w./+-]+)\s+(?:(?:much|a lot|any|far)\s+)?(?:\w+er|more\s+\w+|less\s+\w+|"
                     r"better|worse)\s+than\s+((?:[\w./+-]+\s*){1,4})")
# Words that end a side of "A or B": verbs, metrics and comparatives after the side's own words.
SIDE_LEAD = frozenset(["did", "does", "do", "was", "were", "is", "are", "has", "have", "had", "which", "what",
                       "the", "a", "an", "our", "their", "its", "for", "on", "with", "using", "either", "whether"])

# Words of the plan's own that must not be searched for as content.
PLAN_WORDS = frozenset(stem(w) for w in (
    "most", "least", "biggest", "largest", "greatest", "smallest", "best", "worst", "highest", "lowest",
    "fastest", "slowest", "top", "maximum", "minimum", "cut", "cuts", "reduced", "reduce", "lowered", "lost",
    "lose", "gave", "give", "improvement", "improved", "gain", "change", "changed", "which", "one", "open",
    "unresolved", "ongoing", "still", "now", "currently", "current", "work", "worked", "help", "helped",
    "succeed", "succeeded", "ever", "already", "between", "whose", "whats", "never", "biggest", "delta",
    "came", "come", "comes", "next", "afterwards", "onwards", "better", "worse", "faster", "slower",
    "first", "earliest", "last", "previous",
))


@dataclass
class Subject:
    """A model the question is about: named (or aliased) in it, or described and resolved by a sub-search."""

    model: str | None
    how: str  # "named" | "option" | "described" | "unknown"
    description: str | None = None
    resolved_from: str | None = None  # key@version of the record that resolved a description
    resolved_title: str | None = None
    resolved_date: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"model": self.model, "how": self.how}
        if self.description is not None:
            out.update(description=self.description, resolved_from=self.resolved_from)
        return out


@dataclass
class AnchorSpec:
    """An event that bounds the time window: 'before the v3 rollout' → the record and its occurred_at."""

    bound: str  # "since" | "until"
    phrase: str
    resolved_key: str | None = None
    resolved_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"bound": self.bound, "phrase": self.phrase, "record": self.resolved_key, "at": self.resolved_at}


@dataclass
class TimeSpec:
    since: str | None = None
    until: str | None = None
    label: str = ""
    anchors: list[AnchorSpec] = field(default_factory=list)
    order: str = "newest"  # "newest" | "oldest"

    def to_dict(self) -> dict[str, Any]:
        return {"since": self.since, "until": self.until, "label": self.label or None, "order": self.order,
                "anchors": [a.to_dict() for a in self.anchors]}


@dataclass
class Superlative:
    """'which change cut p99 the most': rank by ``metric``; ``want`` is the end of the ranking asked for."""

    metric: str  # a key of METRICS
    better: str  # "lower" | "higher": which way is better for the metric
    want: str  # "min" | "max": of the ranked number (a change or a value)
    measure: str  # "change" (result against baseline) | "value" (a measurement)
    absolute: bool = False  # "the biggest p99 drop in milliseconds": a change in units, not in percent

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "better": self.better, "want": self.want, "measure": self.measure,
                "absolute": self.absolute}


@dataclass
class Comparison:
    """Two sides to compare, each a phrase (a version, a round, a technique) that selects one record."""

    left: str
    right: str
    around: str | None = None  # "before and after the FIL move": the event both sides are dated by
    around_key: str | None = None  # key@version of the record that resolved ``around``
    around_at: str | None = None
    latest_two: bool = False  # "compare X's two benchmarks": the two newest records of the kind asked

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"left": self.left, "right": self.right}
        if self.around is not None:
            out.update(around=self.around, record=self.around_key, at=self.around_at)
        if self.latest_two:
            out["latest_two"] = True
        return out


@dataclass
class QueryPlan:
    """What the question wants, typed; every field deterministic from the text and the vocabulary."""

    text: str
    intent: str  # "list" | "outcome" | "existence" | "status" | "lookup"
    subjects: list[Subject] = field(default_factory=list)
    techniques: list[str] = field(default_factory=list)  # the fixed list's names
    methods: list[str] = field(default_factory=list)  # METHOD_LEXICON names (found in any record text)
    answer_kind: str | None = None  # a name of ANSWER_KINDS, or None: attempts
    time: TimeSpec = field(default_factory=TimeSpec)
    status: str | None = None  # "open"
    superlative: Superlative | None = None
    comparison: Comparison | None = None
    wants_now: bool = False  # "now", "currently", "still": the latest record answers
    valid_at: str | None = None  # "what was X serving on DATE?": a point of valid time (answers.validtime)
    refers_to_model: bool = False  # "the speech model": one model is meant, even if no name was understood
    question: Question | None = field(default=None, repr=False)  # the parse the gather runs on
    main_text: str = ""  # the question without the described subject's clause
    excluded: list[str] = field(default_factory=list)  # techniques set aside ("besides TensorRT")

    @property
    def record_kind(self) -> str | None:
        return ANSWER_KIND_OF.get(self.answer_kind or "")

    @property
    def models(self) -> list[str]:
        return [s.model for s in self.subjects if s.model]

    def to_dict(self) -> dict[str, Any]:
        q = self.question
        return {
            "intent": self.intent,
            "subjects": [s.to_dict() for s in self.subjects],
            "techniques": self.techniques,
            "methods": self.methods,
            "answer_kind": self.answer_kind or "attempt",
            "time": self.time.to_dict(),
            "status": self.status,
            "superlative": self.superlative.to_dict() if self.superlative else None,
            "comparison": self.comparison.to_dict() if self.comparison else None,
            "now": self.wants_now,
            "terms": list(q.terms) if q else [],
            "exact": list(q.exact) if q else [],
        } | ({"excluded": self.excluded} if self.excluded else {})

    def explain(self) -> str:
        """The plan as a few lines for people (``elephant ask --explain``)."""
        d = self.to_dict()
        lines = [f"intent:      {d['intent']}"]
        subjects = []
        for s in self.subjects:
            if s.how == "described":
                via = f" ← {s.resolved_from}" if s.resolved_from else " (unresolved)"
                subjects.append(f"{s.model or '?'} (described: “{s.description}”{via})")
            else:
                subjects.append(f"{s.model} ({s.how})")
        lines.append(f"subjects:    {', '.join(subjects) or 'any model'}")
        lines.append(f"answer kind: {d['answer_kind']}")
        if self.techniques or self.methods:
            lines.append(f"techniques:  {', '.join(dict.fromkeys(self.techniques + self.methods))}")
        t = self.time
        if t.since or t.until or t.anchors or t.label:
            bounds = [f"since {t.since[:10]}" if t.since else "", f"until {t.until[:10]}" if t.until else ""]
            anchors = [f"{a.bound} “{a.phrase}” → {a.resolved_key or 'unresolved'}"
                       + (f" ({a.resolved_at[:10]})" if a.resolved_at else "") for a in t.anchors]
            lines.append("time:        " + "; ".join(p for p in [t.label, *bounds, *anchors] if p))
        lines.append(f"order:       {t.order} first")
        if self.status:
            lines.append(f"status:      {self.status}")
        if self.superlative:
            sup = self.superlative
            lines.append(f"superlative: {sup.want} {sup.measure} of {sup.metric} ({sup.better} is better)")
        if self.comparison:
            lines.append(f"comparison:  {self.comparison.left} ↔ {self.comparison.right}")
        if d["terms"] or d["exact"]:
            lines.append(f"words:       {', '.join(d['terms'] + d['exact'])}")
        return "\n".join(lines)


# ---------------------------------------------------------------- building
def build_plan(text: str, vocab: Vocabulary, *, now: datetime | None = None, model: str | None = None,
               anchors: bool = True) -> QueryPlan:
    """The plan of one question. Described subjects and event anchors are left for ``resolve`` to bind."""
    lowered = " ".join(text.lower().split())
    excluded: list[str] = []
    if model is None:
        lowered, excluded = _drop_negated_models(lowered, vocab)
    described = None
    main = lowered
    match = DESCRIBED_RE.search(lowered)
    if match is None:
        noun = DESCRIBED_NOUN_RE.search(lowered)
        if noun is not None and compact(noun.group(1)) not in vocab.strong_aliases:
            match = noun  # a model named "ranker" is named, not described
    teacher = TEACHER_RE.search(lowered) if model is None else None
    if teacher is not None:
        # "the teacher model used for the drone distillation", "the model the small grader was distilled
        # from": a model in relation to another, resolved through the distillation that links the two.
        described = "teacher of " + (teacher.group(1) or teacher.group(2)).strip()
        main = (lowered[: teacher.start()] + " the model " + lowered[teacher.end():]).strip()
    elif match and model is None:
        described = match.group(match.lastindex or 1).strip()
        tail = ""
        if re.search(r"\b(?:does|do|did|is|was|are|were|can|will)\s*$", lowered[: match.start()]):
            # "what hardware does the model with the X bug run on now?": the main verb ends the description.
            verb = MAIN_VERB_RE.search(described)
            # "how is the model that got triggered by hold music served?": a participle that ends it.
            last = list(END_VERB_RE.finditer(described))
            if verb is None and last and len(described[last[-1].end():].split()) <= 3 and last[-1].start() > 0:
                verb = last[-1]
            if verb:
                described, tail = described[: verb.start()].strip(), described[verb.start():]
        main = (lowered[: match.start()] + " the model " + tail + lowered[match.end():]).strip()
    # "after the v2 ramp but before the waterproof incident" is between the two.
    main = AFTER_BEFORE_RE.sub(r"between \1 and \2", main)
    between = BETWEEN_RE.search(main) if anchors else None
    comparison = _comparison(main, vocab)
    around = AROUND_RE.search(main)
    if around and comparison is None:
        # "the serving setup before and after the FIL move": the records of that kind either side of an event.
        comparison = Comparison("before", "after", around=around.group(1).strip())
        main = (main[: around.start()] + " " + main[around.end():]).strip()
    parse_text = main
    between_phrases: tuple[str | None, str | None] | None = None
    between_times: tuple[TimeWindow | None, TimeWindow | None] = (None, None)
    if between and comparison is None and not all(len(tokens(x)) == 1 and not re.search(r"\d", x)
                                                   for x in (between.group(1), between.group(2))):
        left, right = between.group(1).strip(), between.group(2).strip()
        left_time, right_time = parse_time(left, now or datetime.now()), parse_time(right, now or datetime.now())
        if left_time is not None and right_time is not None and TIME_RANGE.search(between.group(0)) \
                and parse_time(between.group(0), now or datetime.now()):
            pass  # "between Q1 and Q3 2025": one window, read by the question's own time parse
        elif left_time is None or right_time is None:
            # Events are anchors resolved to records; "between the ToMe rollout and the end of 2025" has one
            # of each: the event bounds one end, the time's window the other.
            between_phrases = (None if left_time else left, None if right_time else right)
            between_times = (left_time, right_time)
            parse_text = (main[: between.start()] + " " + main[between.end():]).strip()
        else:
            parse_text = main.replace(between.group(0), f"after {left}, before {right}")
    question = parse_question(parse_text, vocab, now=now, model=model, anchors=anchors and between_phrases is None
                              and comparison is None)
    plan = QueryPlan(text=text, intent="list", question=question, main_text=parse_text)
    if model:
        plan.subjects = [Subject(model, "option")]
    else:
        plan.subjects = [Subject(m, "named") for m in question.models]
        plan.subjects += [Subject(None, "unknown", description=n) for n in question.unknown_names]
    if described is not None:
        plan.subjects = [s for s in plan.subjects if s.how != "named"] + [Subject(None, "described", described)]
        question.models = []
        question.unknown_names = []
    else:
        _unknown_names_that_describe(plan, question, vocab)
    # "riskgrade-retail vs riskgrade-sme": every model spelled out by its own name, so none to choose between.
    named_in_full = len(question.models) > 1 and all(
        re.search(rf"(?<![\w-]){re.escape(m.lower())}(?![\w-])", parse_text) for m in question.models)
    if described is None and model is None and len(question.models) != 1 and not question.features \
            and not named_in_full and not any(IDENT_LIKE.match(n) for n in question.unknown_names):
        # An identifier the store has never seen ("payments-gateway") is a model Elephant does not know.
        _name_by_description(plan, question, vocab, parse_text)
    elif described is None and model is None and not question.models and question.unknown_names:
        # "the phone menu wake-word distillation": words no record holds, next to words that describe a
        # model well enough to name it; the unknown words were part of the description.
        unknown = question.unknown_names
        # "the card-authorisation gradient boosted model": the hyphenated words may be the description itself.
        _name_by_description(plan, question, vocab, parse_text.replace("-", " "))
        if not question.models:
            _name_by_description(plan, question, vocab, _without(parse_text, unknown))
        if question.models:
            question.unknown_names = []
        else:
            question.unknown_names = unknown
    elif described is None and model is None and question.by_one_word and len(question.models) == 1 \
            and not question.features:
        _recheck_one_word_name(plan, question, vocab, parse_text)
    if excluded and any(m not in excluded for m in question.models):
        question.models = [m for m in question.models if m not in excluded]
        plan.subjects = [s for s in plan.subjects if s.model not in excluded]
    kind_text = parse_text
    if question.anchor is not None:
        kind_text = kind_text.replace(question.anchor.phrase, " ")
    plan.answer_kind = _answer_kind(kind_text)
    month = question.window.month
    if plan.answer_kind == "note" and month is not None and not re.search(
            r"\b(?:in|during|since|after|before|until|till|from|by|of|last|this)\s+(?:early |late |mid[- ])?"
            + calendar.month_name[month].lower()[:3], parse_text):
        # "when does the december change freeze start?": the month is what the policy is about, not when
        # it was written.
        question.window = TimeWindow()
        question.terms.append(stem(calendar.month_name[month].lower()))
    plan.methods = [name for name, pattern in METHOD_RE.items() if pattern.search(kind_text)]
    besides = EXCEPT_RE.search(kind_text)
    if besides is not None:
        # "any compilers we tried besides TensorRT": that technique is set aside, not asked for.
        phrase = besides.group(1)
        plan.excluded = sorted({name for name, pattern in TECHNIQUE_RE.items() if pattern.search(phrase)}
                               | {name for name, pattern in METHOD_RE.items() if pattern.search(phrase)})
        rest = kind_text[: besides.start()] + " " + kind_text[besides.end():]
        plan.methods = [m for m in plan.methods if m not in plan.excluded or METHOD_RE[m].search(rest)]
        question.techniques = {t for t in question.techniques
                               if t not in plan.excluded or TECHNIQUE_RE[t].search(rest)}
        question.terms = [t for t in question.terms if t not in tokens(phrase) and t != "besid"]
    plan.techniques = sorted(question.techniques)
    if "quantization" in plan.methods and (set(plan.methods) & SPECIFIC_QUANTIZATION or (
            question.techniques and all(t.startswith("quantization_") for t in question.techniques)
            and len(question.techniques) < len(QUANTIZATION))):
        plan.methods.remove("quantization")  # "int4 quantization", "fp16 quantization": that precision only
    if plan.answer_kind in ("deployment", "benchmark", "incident") and ATTEMPT_WORDS_RE.search(kind_text) \
            and not re.search(r"\b(?:benchmark|deploy|rollout|canary|incident)", kind_text):
        plan.answer_kind = None
    if ATTEMPT_WORDS_RE.search(kind_text) and not question.techniques:
        question.kinds.add("optimization")
    plan.status = "open" if STATUS_OPEN_RE.search(parse_text) and plan.answer_kind in (
        "incident", "regression", "feature", None) else None
    if plan.status and plan.answer_kind is None:
        plan.answer_kind = "incident"
    if plan.status is None and UNDER_WAY_RE.search(parse_text) and plan.answer_kind in ("deployment", None) \
            and not asks_yes_no(lowered):
        # "what's in flight for X?", "anything rolling out at the moment?": attempts and rollouts under way.
        plan.status = "in_progress"
    # A model's own name is no superlative ("dga-max's latency budget").
    named = parse_text
    for name in sorted(question.models, key=len, reverse=True):
        named = re.sub(rf"(?<![\w-]){re.escape(name.lower())}(?![\w-])", " ", named)
    # A note's figure is a rule, not a ranking ("minimum citation precision we accept").
    plan.superlative = _superlative(named, plan) if plan.answer_kind != "note" else None
    plan.comparison = comparison
    plan.wants_now = bool(NOW_RE.search(parse_text))
    plan.valid_at = serving_moment(text)
    plan.refers_to_model = bool(MODEL_REF_RE.search(parse_text))
    plan.intent = _intent(lowered, plan)
    # Time: the parse's window and anchors, plus "between A and B".
    t = plan.time
    t.since, t.until, t.label = question.window.since, question.window.until, question.window.label
    t.order = "oldest" if question.oldest_first else "newest"
    if question.anchor is not None:
        t.anchors.append(AnchorSpec("until" if question.anchor.direction == "before" else "since",
                                    question.anchor.phrase))
    if between_phrases is not None:
        t.anchors = [AnchorSpec(bound, phrase) for bound, phrase in zip(("since", "until"), between_phrases, strict=True)
                     if phrase]
        since_time, until_time = between_times
        if since_time is not None:
            t.since = question.window.since = since_time.since
        if until_time is not None:
            t.until = question.window.until = until_time.until
        if since_time is not None or until_time is not None:
            question.window.label = t.label = ""
    if t.since and re.search(r"\bonwards?\b|\b(?:from|since) .+ on\b", parse_text):
        t.until = question.window.until = None  # "from mid 2025 onwards": open-ended
    # The plan's own words (superlatives, status, intent) and those of the time window are not content.
    if t.since or t.until or question.window.month:
        question.terms = [w for w in question.terms if not TIME_TOKEN_RE.fullmatch(w)]
    question.terms = [w for w in question.terms if w not in PLAN_WORDS and w not in MODEL_NOUNS
                      and not (w.startswith("experi") or w.startswith("optim"))]
    if plan.superlative is not None or plan.comparison is not None:
        question.metrics = set()
        question.terms = [w for w in question.terms if not (DOWN_RE.fullmatch(w) or UP_RE.fullmatch(w)
                                                            or WORSE_RE.fullmatch(w) or DELTA_RE.fullmatch(w)
                                                            or SUPERLATIVE_RE.fullmatch(w))]
    return plan


# "besides TensorRT", "other than quantization": a technique the question sets aside.
EXCEPT_RE = re.compile(r"\b(?:besides|other than|apart from|aside from|except(?: for)?|excluding|not counting)\s+"
                       r"((?:[\w.+-]+\s+){0,2}?[\w.+-]+)(?=[?!;,.]|\s+(?:on|for|in|at)\b|$)")
# "(not the sme one)", "excluding the large tagger": a model the question sets aside.
NEGATED_MODEL_RE = re.compile(r"\(?\b(?:not|excluding|except(?: for)?)\s+(?:the\s+|for\s+(?:the\s+)?)?([\w.-]+)"
                              r"(?:\s+(?:one|model|version|variant))?\)?(?=[\s,.;?!)]|$)")


def _drop_negated_models(text: str, vocab: Vocabulary) -> tuple[str, list[str]]:
    """The question without the phrases that set a model aside, and those models."""
    excluded: list[str] = []
    for match in reversed(list(NEGATED_MODEL_RE.finditer(text))):
        named = find_models(match.group(1), vocab)
        if len(named) != 1 or named[0] in excluded:
            continue
        excluded.append(named[0])
        text = (text[: match.start()] + " " + text[match.end():]).strip()
    return " ".join(text.split()), excluded


# Tokens of a time expression the window already holds ("H1 2025", "Q3", "2025").
TIME_TOKEN_RE = re.compile(r"[qh][1-4]|(?:19|20)\d\d|quarters?|halfs?|halves")
# Words of time, order and mood that describe no model ("the first half", "right now", "broken").
DESCRIPTION_STOP = frozenset(["first", "second", "third", "half", "early", "late", "right", "now", "today", "week",
                              "month", "year", "quarter", "recent", "latest", "last", "next", "previous", "current",
                              "broken", "work", "working", "worked", "change", "changes", "changed", "happen",
                              "thing", "stuff", "issue", "issues", "problem", "problems", "help", "helped"])
# Size words people use for look-alike models ("the small tagger" is x-base, "the big one" x-large).
SIZE_WORDS = {"small": "small", "smaller": "small", "little": "small", "tiny": "small", "mini": "small",
              "base": "small", "lite": "small", "light": "small", "compact": "small",
              "big": "large", "bigger": "large", "large": "large", "larger": "large", "huge": "large",
              "xl": "large", "full": "large", "heavy": "large"}
SIZE_OF_PART = {"base": "small", "small": "small", "mini": "small", "tiny": "small", "lite": "small", "s": "small",
                "large": "large", "xl": "large", "xxl": "large", "big": "large", "huge": "large", "l": "large"}


def _name_by_description(plan: QueryPlan, question: Question, vocab: Vocabulary, text: str) -> None:
    """'the receipt reader', 'the small image tagger': the model whose own records describe it so.

    Words that name a technique, a kind or a metric are left out; each remaining word (and word pair)
    weighs by how few models hold it (an idf over models), so a word every model shares decides nothing.
    """
    among = list(question.models) or list(vocab.models)
    if not among or not vocab.model_terms:
        return
    # "token merging on the face matcher": the words of a technique or method phrase name no model.
    for pattern in [*TECHNIQUE_RE.values(), *METHOD_RE.values()]:
        text = pattern.sub(lambda m: " " * (m.end() - m.start()), text)
    text = re.sub(r"(?<=\s)[a-z]*(?=\s{2,})", " ", text)  # the rest of a word a pattern began in ("merg|ing")
    words = [t for t in tokens(text) if t not in STOPWORDS and len(t) > 2 and not t[0].isdigit()
             and not any(p.search(t) for p in TECHNIQUE_RE.values()) and not any(p.search(t) for p in METRIC_RE.values())
             and not any(p.search(t) for p in KIND_RE.values()) and not any(p.search(t) for p in METHOD_RE.values())
             and t not in SIZE_WORDS and t not in DESCRIPTION_STOP and not _is_plan_word(t)]
    terms = describing_terms(" ".join(words))
    # The word right before a model noun is the head of the description: "the search *suggestion* model".
    raw = tokens(text)
    heads = {stem(raw[i - 1])[:7] for i in range(1, len(raw)) if stem(raw[i]) in MODEL_NOUNS and raw[i - 1] in words}
    n = max(len(vocab.models), 2)
    scores = dict.fromkeys(among, 0.0)
    used: dict[str, set[str]] = {}
    for term in terms:
        holders = vocab.model_terms.get(term)
        if not holders or len(holders) > max(2, n // 3):
            continue
        weight = math.log(n / len(holders)) * (1.5 if " " in term or term in heads else 1.0)
        total = sum(holders.values())
        for m, count in holders.items():
            if m in scores:
                # A word one model's records use far more leans to it; a word said once is weak evidence.
                scores[m] += weight * count / total * (1.0 if count > 1 or " " in term or term in heads else 0.5)
                used.setdefault(m, set()).add(term)
    # "the protein folding model" for foldwise: a word the start of one model's name (and of no other's).
    for word in words:
        root = compact(stem(word))
        prefixed = [m for m in among if len(root) >= 4 and compact(m).startswith(root)]
        if len(prefixed) == 1 and compact(prefixed[0]) != root:
            scores[prefixed[0]] += 2 * math.log(n)  # its own name outweighs a word its records happen to use
            used.setdefault(prefixed[0], set()).add(stem(word)[:7])
    sizes = {SIZE_WORDS[t] for t in tokens(text) if t in SIZE_WORDS}
    if len(sizes) == 1 and len(among) > 1:
        size = next(iter(sizes))
        sized = [m for m in among if any(SIZE_OF_PART.get(part) == size for part in re.split(r"[-_/.\s]+", m.lower()))]
        described_sized = [m for m in sized if scores[m] > 0]
        if len(sized) == 1 and question.models:  # look-alike names: the size word decides
            scores[sized[0]] += 100.0
        elif len(described_sized) == 1 and any(scores[m] > 0 and m not in sized and
                                               model_parts(m) & model_parts(described_sized[0]) for m in among):
            # "the small assistant" between assist-small and assist-large: the size word decides among the
            # look-alikes the description points to.
            scores[described_sized[0]] += 100.0
        for m in sized:
            scores[m] += 1.0
    ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
    if not ranked or ranked[0][1] < (0.9 if question.models else 1.5):
        return
    if len(ranked) > 1 and ranked[1][1] >= 0.75 * ranked[0][1]:
        return
    chosen = ranked[0][0]
    question.models = [chosen]
    question.unknown_names = []
    plan.subjects = [Subject(chosen, "described-name" if len(among) == len(vocab.models) else "disambiguated",
                             description=" ".join(sorted(used.get(chosen, set()))) or None)]
    # Words that named the model are not content. Between look-alikes only the description's head word is
    # ("the *catalog* tagger"): other words that happen to be the chosen model's own ("AMX kernels") stay.
    chosen_terms = used.get(chosen, set())
    if len(among) != len(vocab.models):
        nouns = {n[:7] for n in MODEL_NOUNS}
        chosen_terms = {t for t in chosen_terms if t in heads or (" " in t and t.split()[1] in nouns)}
    else:
        # Words that describe the model are shared by many of its records ("keyword", "spotter"); a word
        # few of them hold picks records within it ("stateful streaming") and stays content.
        records = max(vocab.model_records.get(chosen, 0), 1)
        chosen_terms = {t for t in chosen_terms if t in heads or _is_describing(t, chosen, records, vocab)}
    spent = {w for term in chosen_terms for w in term.split()}
    # "the tech assistant's torque answers": what follows a possessive is asked about, not a description.
    owned = re.search(r"\b\w+'s\s+(.+)$", text)
    if owned is not None:
        spent -= {stem(t)[:7] for t in tokens(owned.group(1))}
    question.terms = [t for t in question.terms if t[:7] not in spent]


def _recheck_one_word_name(plan: QueryPlan, question: Question, vocab: Vocabulary, text: str) -> None:
    """'the incident where the copilot hallucinated depot codes', 'the dock photo classifier': one word of a
    model's name ("depot", "dock") is as likely a word of a description of another model. The description
    is weighed over every model; a different model it points to decisively is the subject."""
    trial_question = replace(question, models=[], unknown_names=[], terms=list(question.terms))
    trial = replace(plan, subjects=list(plan.subjects), question=trial_question)
    _name_by_description(trial, trial_question, vocab, text)
    if len(trial_question.models) == 1 and trial_question.models != question.models:
        question.models = trial_question.models
        question.terms = trial_question.terms
        plan.subjects = trial.subjects
    elif trial_question.models == question.models:
        # "the hotel ranker" for stay-ranker: the description agrees, and its words are spent naming it.
        question.terms = trial_question.terms


def _is_plan_word(word: str) -> bool:
    """Words the plan reads as its own (superlatives, directions of change, status, outcome): they say
    what is asked, not which model."""
    return stem(word) in PLAN_WORDS or any(p.fullmatch(word) for p in (DOWN_RE, UP_RE, WORSE_RE, DELTA_RE,
                                                                        SUPERLATIVE_RE, COMPARATIVE_RE))


def _unknown_names_that_describe(plan: QueryPlan, question: Question, vocab: Vocabulary) -> None:
    """Hyphenated words read as unknown model names that are not: a technique ("half-precision"), or
    an expansion of a model's name part ("anti-money-laundering" for ``aml-gnn``, by its initials)."""
    kept: list[str] = []
    spent: set[str] = set()
    for name in question.unknown_names:
        if any(p.search(name.replace("-", " ")) for p in (*TECHNIQUE_RE.values(), *METHOD_RE.values())) \
                or any(p.search(name) for p in (*TECHNIQUE_RE.values(), *METHOD_RE.values())):
            continue
        parts = [p for p in re.split(r"[-_]+", name) if p]
        initials = "".join(p[0] for p in parts)
        holders = (vocab.weak_aliases.get(initials) or set()) | (vocab.strong_aliases.get(initials) or set())
        if len(parts) >= 2 and len(initials) >= 2 and len(holders) == 1:
            chosen = next(iter(holders))
            spent.update(parts)
            if chosen not in question.models:
                question.models.append(chosen)
                plan.subjects = [s for s in plan.subjects if s.how != "unknown"] + [Subject(chosen, "named")]
            continue
        kept.append(name)
    if len(kept) != len(question.unknown_names):
        plan.subjects = [s for s in plan.subjects if s.how != "unknown" or s.description in kept]
        question.unknown_names = kept
        question.terms = [t for t in question.terms if t not in spent and stem(t) not in spent]


def _without(text: str, words: list[str]) -> str:
    for word in words:
        text = text.replace(word, " ")
    return text


def _is_describing(term: str, model: str, records: int, vocab: Vocabulary) -> bool:
    """Whether a word (pair) describes ``model`` rather than picking some of its records: a third or more
    of its records hold it, or only one or two records exist."""
    held = (vocab.model_terms.get(term) or {}).get(model, 0)
    return records <= 2 or held * 3 >= records


def _answer_kind(text: str) -> str | None:
    for name, _kind, pattern in ANSWER_KINDS:
        if pattern.search(text):
            if name == "deployment" and re.search(r"\b(?:how do we|steps|runbook)\b", text):
                continue
            if name == "note" and re.search(r"\bhow did\b.{0,80}\b(?:go|turn out|end up|land)\b", text) \
                    and ANSWER_KIND_RE["deployment"].search(text):
                # "how did the first canary of the distilled policy go": an event went, a policy does not.
                return "deployment"
            return name
    return None


def _intent(lowered: str, plan: QueryPlan) -> str:
    if plan.superlative is not None or plan.comparison is not None:
        return "lookup"
    if plan.status is not None and (STATUS_QUESTION_RE.search(lowered) or asks_yes_no(lowered)):
        return "status"
    if asks_yes_no(lowered):
        if plan.answer_kind == "feature" and re.search(r"\bstill\b|\bdrift|\bskew", lowered):
            return "status"
        if OUTCOME_RE.search(lowered) and not re.search(r"\bever\b|\balready\b", lowered):
            return "outcome"
        if SHIPPED_RE.search(lowered) and re.search(r"\bever\b", lowered):
            return "outcome"
        if EXISTENCE_RE.search(lowered) or re.match(r"^\s*(?:did|have|has) (?:we|anyone)\b", lowered):
            return "existence"
        return "outcome" if OUTCOME_RE.search(lowered) else "existence"
    if re.search(r"\bnever\b|\bhave we (?:ever )?tried\b", lowered):
        return "existence"
    return "list"


def _superlative(text: str, plan: QueryPlan) -> Superlative | None:
    if not SUPERLATIVE_RE.search(text):
        return None
    metrics = [name for name, pattern in METRIC_RE.items() if pattern.search(text)]
    # The most specific metric named: a percentile over "latency", anything over "latency" from "fastest".
    if "cost" in metrics and len(metrics) > 1:
        metrics.remove("cost")  # "cost the most mAP": a verb
    metric = next((m for m in LATENCY_METRICS if m in metrics), None) or next(
        (m for m in metrics if m != "latency"), None) or ("latency" if "latency" in metrics else None)
    if metric is None and (WORSE_RE.search(text) or UP_RE.search(text) or DOWN_RE.search(text)):
        # "which experiment degraded lDDT the most": a figure no lexicon knows is a quality score, read
        # under the records' own accuracy_metric when ranked.
        metric = "accuracy"
    if metric is None:
        return None
    better = BETTER[metric]
    worse = bool(WORSE_RE.search(text)) or (metric != "cost" and bool(re.search(r"\bcost(?:s|ed)?\b", text)))
    # "the biggest qps improvement we ever measured": a change, though "measured" names benchmarks.
    is_change = bool(DELTA_RE.search(text)) and (plan.answer_kind != "benchmark" or (
        bool(re.search(r"\b(?:improv\w*|gains?|reduc\w*|cuts?|boost\w*|speed ?ups?|jump\w*|wins?|savings?)\b", text))
        and not re.search(r"\bbenchmark|\bmlperf\b|\bround\b", text)))
    if worse:
        want = "max" if better == "lower" else "min"
    elif DOWN_RE.search(text):
        want = "min"
    elif UP_RE.search(text):
        want = "max"
    elif re.search(r"\b(?:lowest|least|smallest|minimum|min|fastest|cheapest)\b", text):
        want = "min"
        if metric == "throughput" and re.search(r"\bfastest\b", text):
            want = "max"
    elif re.search(r"\b(?:highest|biggest|largest|greatest|maximum|max)\b", text) and not is_change:
        want = "max"
    elif re.search(r"\bslowest\b", text):
        want = "max" if metric != "throughput" else "min"
    else:  # "best", "most", "top": the better end
        want = "min" if better == "lower" else "max"
    if is_change and re.search(r"\b(?:biggest|largest|greatest|most|best|top)\b", text) and not (
            DOWN_RE.search(text) or UP_RE.search(text) or worse):
        want = "min" if better == "lower" else "max"  # "the biggest p99 win": the better end of the change
    if is_change and better == "lower" and re.search(r"\b(?:improv\w*|speed ?ups?)\b", text) and not WORSE_RE.search(text):
        want = "min"
    if is_change and re.search(r"\b(?:smallest|least|lowest|minimal|minimum|fewest|mildest)\b", text) \
            and (worse or DOWN_RE.search(text)):
        want = "max" if want == "min" else "min"  # "the smallest accuracy drop": the other end of the drops
    absolute = bool(re.search(r"\bin (?:milli)?seconds\b|\bin ms\b|\babsolute\b|\bin (?:qps|rps|units)\b|"
                              r"\bin (?:raw )?(?:numbers|terms)\b", text))
    return Superlative(metric=metric, better=better, want=want, measure="change" if is_change else "value",
                       absolute=absolute and is_change)


def _two_events(left: str, right: str) -> bool:
    """'between the int8 quantization and the v2 canary': two events of different kinds bound a stretch of
    time (what changed in it), where 'between the bf16 and the fp8 serving configs' compares two records."""
    if re.search(r"\b(?:configs|benchmarks|setups|runs|versions|rollouts|deployments|numbers|results|ones?)\b", right):
        return False

    def kind(side: str) -> str | None:
        named = _answer_kind(side)
        if named is None and (any(p.search(side) for p in TECHNIQUE_RE.values())
                              or any(p.search(side) for p in METHOD_RE.values())):
            return "attempt"
        return named
    sides = kind(left), kind(right)
    return None not in sides and sides[0] != sides[1]


def _comparison(text: str, vocab: Vocabulary) -> Comparison | None:
    """Two versions, rounds or records to compare: 'between v4.0 and v4.1', 'v3 vs v4'."""
    # "computed in training vs serving", "train/serve skew": the two sides of feature parity, not two records.
    text = re.sub(r"\btrain(?:ing)?\s+(?:vs\.?|versus|and|against|compared (?:to|with))\s+serv(?:e|ing)\b",
                  "training-serving", text)
    clause = re.split(r"[:;?!,—–]|\s-\s", text)
    for part in clause:
        versus = VERSUS_RE.search(part)
        if versus:
            return Comparison(versus.group(1).strip(".,"), versus.group(2).strip(".,? "))
    either = OR_RE.search(text)
    if either:
        left, right = (either.group(1), either.group(2)) if either.group(1) else (either.group(3), either.group(4))
        return Comparison(left.strip(".,"), right.strip(".,? "))
    for part in clause:
        than = THAN_RE.search(part)
        if than:
            left = _side_words(list(reversed(than.group(1).split())))[::-1]
            right = _side_words(than.group(2).split())
            if left and right:
                return Comparison(" ".join(left[-3:]), " ".join(right[:3]))
    compare = COMPARE_AND_RE.search(text)
    if compare and LATEST_TWO_RE.search(text) and not re.search(r"\band\b", compare.group(1)):
        return Comparison("latest", "previous", latest_two=True)
    if compare:
        return Comparison(compare.group(1).strip(), compare.group(2).strip())
    between = BETWEEN_RE.search(text)
    if between and (COMPARE_RE.search(text) or COMPARATIVE_RE.search(text)) \
            and not _two_events(between.group(1), between.group(2)):
        left, right = between.group(1).strip(), between.group(2).strip()
        # Sides that are single identifiers (versions, rounds) rather than events with articles.
        left_last, right_first = tokens(left)[-1:] or [""], tokens(right)[:1] or [""]
        if _is_version_like(left_last[0]) and _is_version_like(right_first[0]):
            return Comparison(left_last[0], right_first[0])
        return Comparison(left, right)
    moved = FROM_TO_RE.search(text)
    if moved and (COMPARE_RE.search(text) or DELTA_RE.search(text) or COMPARATIVE_RE.search(text)) \
            and parse_time(moved.group(0), datetime.now()) is None:
        left, right = _side_words(moved.group(1).split()), _side_words(moved.group(2).split())
        if left and right:
            return Comparison(" ".join(left), " ".join(right))
    leading_or = LEADING_OR_RE.search(text)
    if leading_or and (COMPARE_RE.search(text) or COMPARATIVE_RE.search(text) or LATEST_TWO_RE.search(text)
                       or re.search(r"\bwhich\b", text)):
        # "awq int4 or fp8 for the impression LLM, how did the two compare?": the two are the sides named.
        return Comparison(leading_or.group(1).strip(), leading_or.group(2).strip())
    if LATEST_TWO_RE.search(text) and (COMPARE_RE.search(text) or COMPARATIVE_RE.search(text)):
        return Comparison("latest", "previous", latest_two=True)
    if COMPARATIVE_RE.search(text):
        for part in clause:
            sides = _or_sides(part)
            if sides is not None:
                return Comparison(*sides)
    return None


def _side_words(words: list[str]) -> list[str]:
    """The words of one side, read away from the comparative: leading articles skipped, up to the next
    function word."""
    out: list[str] = []
    for word in words:
        if word in SIDE_LEAD or word in STOPWORDS:
            if out:
                break
            continue
        out.append(word)
    return out


def _or_sides(clause: str) -> tuple[str, str] | None:
    """'did the prefix cache or distillation cut p99 more' → ('prefix cache', 'distillation'): up to three
    words each side of "or", without the question's auxiliaries before and its verbs and metrics after."""
    words = clause.split()
    if "or" not in words:
        return None
    at = words.index("or")
    left: list[str] = []
    for word in reversed(words[:at]):
        if word in SIDE_LEAD or len(left) == 3:
            break
        left.insert(0, word)
    right: list[str] = []
    for word in words[at + 1:]:
        if (word in SIDE_LEAD and right) or len(right) == 3 or _ends_side(word):
            break
        if word not in SIDE_LEAD:
            right.append(word)
    if not left or not right:
        return None
    return " ".join(left), " ".join(right)


def _ends_side(word: str) -> bool:
    return bool(DOWN_RE.fullmatch(word) or UP_RE.fullmatch(word) or WORSE_RE.fullmatch(word)
                or DELTA_RE.fullmatch(word) or COMPARATIVE_RE.fullmatch(word) or word in STOPWORDS
                or any(p.fullmatch(word) for p in METRIC_RE.values()) or MAIN_VERB_RE.fullmatch(word))


def _is_version_like(word: str) -> bool:
    return bool(re.fullmatch(r"v?\d+(?:\.\d+)*[a-z0-9-]*|[a-z]+[-_]?v?\d+(?:\.\d+)*", word))


def referring_words(text: str) -> set[str]:
    """The words (and stems) of the phrases that refer to a model without its name ("the 70B assistant")."""
    out: set[str] = set()
    for match in MODEL_REF_RE.finditer(text):
        for word in tokens(match.group(0)):
            out.update((word, stem(word)))
    return out


def methods_in(text: str) -> set[str]:
    """Lexicon methods a record's text names (for ``technique: other`` records)."""
    return {name for name, pattern in METHOD_RE.items() if pattern.search(text)}


def model_parts(model: str) -> set[str]:
    return {compact(p) for p in re.split(r"[-_/.\s]+", model.lower()) if p}
