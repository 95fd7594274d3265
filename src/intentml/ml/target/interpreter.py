"""The optional LLM interpreter's pure half: what is asked, how the answer is checked,
and how it is weighed against the deterministic resolver.

No I/O here: `intentml.infra.llm` sends `build_prompt`'s body and hands the reply to
`read_answer`; `combine` decides with both opinions. The LLM only proposes: its target
must be a column that could be predicted, and when the resolver is confident of
another column the request is refused with both as candidates, never guessed.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Any

import msgspec

from intentml.domain.interpretation import Interpretation, LlmAnswer
from intentml.events.types import Column
from intentml.ml.errors import TrainingFailed
from intentml.ml.metrics import CLASSIFICATION_METRICS, REGRESSION_METRICS, canonical_metric
from intentml.ml.outputs import possible_tasks
from intentml.ml.target.evidence import ColumnFacts, identifier_reason, unusable_reason
from intentml.ml.target.resolve import Candidate, TargetChoice, TargetResolutionError
from intentml.ml.task import TASKS, check_task

#: Sample values sent per column, and the characters kept of each.
MAX_SAMPLES = 5
MAX_SAMPLE_CHARS = 40
#: Characters of the sentence sent (a sentence, not a document).
MAX_INTENT_CHARS = 1000
#: Characters of the LLM's reasons kept in the event and the target's reason.
MAX_REASONS_CHARS = 500
#: Candidates named in the reason when the resolver alone was unsure.
_UNSURE_SHOWN = 3

SCHEMA_NAME = "target_choice"

SYSTEM_PROMPT = (
    "You help a machine-learning platform decide what a user wants to predict from a "
    "table. You get the user's sentence and the table's columns (name, type and a few "
    "sample values). Answer with JSON only, matching the given schema: `target` is the "
    "one column the model should predict (exactly as named in the list; never an "
    "identifier or row number); `task` is binary, multiclass or regression, or null "
    "when the data should decide; `metric` is one of the listed metrics when the "
    "sentence asks for one, else null; `reasons` says in one or two short sentences "
    "which words of the sentence and which values of the column made you choose it."
)


class InvalidAnswer(ValueError):
    """The LLM's reply cannot be used; the message says why, for the build log."""


class InterpretedRefusal(TargetResolutionError):
    """A refusal after the LLM was asked: the resolver and the LLM disagree, or the
    resolver was unsure and the LLM gave no usable answer; `interpretation` is what the
    LLM said (shown beside the candidates)."""

    def __init__(
        self,
        message: str,
        candidates: list[str],
        ranked: list[Candidate] | None,
        interpretation: Interpretation,
    ) -> None:
        super().__init__(message, candidates, ranked)
        self.interpretation = interpretation


class _RawAnswer(msgspec.Struct, kw_only=True):
    """The answer as the schema asks for it, before it is checked against the table."""

    target: str
    task: str | None = None
    metric: str | None = None
    reasons: str = ""


# ----------------------------------------------------------------------- the prompt


def samples(column: Column) -> list[str]:
    """Up to `MAX_SAMPLES` values of a column as text: its most frequent values, else its
    smallest and largest; each cut to `MAX_SAMPLE_CHARS`. None of an identifier or of
    free text: they tell the LLM little and are what a table holds most private."""
    profile = column.profile
    if profile is None or _private(column):
        return []
    if profile.top:
        values = list(profile.top)
    else:
        values = [_text(v) for v in (profile.min, profile.max) if v is not None]
        values = list(dict.fromkeys(values))  # min == max: say it once
    return [_cut(v, MAX_SAMPLE_CHARS) for v in values[:MAX_SAMPLES]]


def answer_schema(columns: Sequence[Column]) -> dict[str, Any]:
    """The JSON schema of the answer: `target` one of the columns that may be predicted."""
    eligible = [c.name for c in columns if not identifier_reason(_facts(c))]
    metrics: list[str | None] = [*CLASSIFICATION_METRICS, *REGRESSION_METRICS, None]
    return {
        "type": "object",
        "properties": {
            "target": {"type": "string", "enum": eligible or [c.name for c in columns]},
            "task": {"type": ["string", "null"], "enum": [*TASKS, None]},
            "metric": {"type": ["string", "null"], "enum": metrics},
            "reasons": {"type": "string"},
        },
        "required": ["target", "task", "metric", "reasons"],
        "additionalProperties": False,
    }


def build_prompt(intent: str, columns: Sequence[Column], model: str = "") -> dict[str, Any]:
    """The chat-completions request body: everything that leaves the machine.

    Deterministic (same inputs, same bytes, same `prompt_hash`): the sentence, each
    column's name, type and `samples`, and the answer's schema; nothing else.
    """
    table = {
        "sentence": _cut(intent.strip(), MAX_INTENT_CHARS),
        "columns": [{"name": c.name, "type": c.type, "samples": samples(c)} for c in columns],
    }
    return {
        "model": model,
        "temperature": 0,
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": msgspec.json.encode(table).decode()},
        ],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": SCHEMA_NAME, "strict": True, "schema": answer_schema(columns)},
        },
    }


def prompt_hash(body: dict[str, Any]) -> str:
    """SHA-256 (hex) of the request body's canonical JSON bytes (keys in order)."""
    return hashlib.sha256(msgspec.json.encode(body, order="sorted")).hexdigest()


# ----------------------------------------------------------------------- the answer

_FENCED = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)


def read_answer(response: Any, columns: Sequence[Column]) -> LlmAnswer:
    """The validated answer in a chat-completions response (decoded JSON).

    Raises `InvalidAnswer` saying why: no choice, no JSON (JSON inside ``` fences is
    accepted: many local servers ignore `response_format`), not the schema, a target
    that is not a column or cannot be one, an unknown task or metric, or a task or
    metric the column cannot have.
    """
    raw = _raw_answer(_content(response))
    column = _column(raw.target, columns)
    facts = _facts(column)
    why_not = identifier_reason(facts) or unusable_reason(facts)
    if why_not:
        raise InvalidAnswer(f"the LLM chose {why_not}, which is never a target")
    task = _task(raw.task, column)
    metric = _metric(raw.metric, task, column)
    reasons = _cut(" ".join(raw.reasons.split()), MAX_REASONS_CHARS)
    return LlmAnswer(target=column.name, task=task, metric=metric, reasons=reasons)


def _content(response: Any) -> str:
    if not isinstance(response, dict):
        raise InvalidAnswer("the response is not a JSON object")
    choices = response.get("choices")
    if not isinstance(choices, list) or not choices:
        raise InvalidAnswer("the response has no choices")
    first = choices[0]
    message = first.get("message") if isinstance(first, dict) else None
    if not isinstance(message, dict):
        raise InvalidAnswer("the response's first choice has no message")
    content = message.get("content")
    if not isinstance(content, str) or not content.strip():
        refusal = message.get("refusal")
        if isinstance(refusal, str) and refusal.strip():
            raise InvalidAnswer(f"the LLM refused: {_cut(refusal.strip(), 200)}")
        raise InvalidAnswer("the response's message has no content")
    return content


def _raw_answer(content: str) -> _RawAnswer:
    text = content.strip()
    fenced = _FENCED.search(text)
    if fenced is not None:
        text = fenced.group(1).strip()
    try:
        decoded = msgspec.json.decode(text)
    except msgspec.DecodeError:
        raise InvalidAnswer(f"the answer is not JSON: {_cut(content.strip(), 120)!r}") from None
    try:
        return msgspec.convert(decoded, _RawAnswer)
    except msgspec.ValidationError as exc:
        raise InvalidAnswer(f"the answer does not fit the schema: {exc}") from None


def _column(target: str, columns: Sequence[Column]) -> Column:
    for column in columns:
        if column.name == target:
            return column
    folded = [c for c in columns if c.name.casefold() == target.strip().casefold()]
    if len(folded) == 1:
        return folded[0]
    if folded:
        names = ", ".join(repr(c.name) for c in folded)
        raise InvalidAnswer(f"the LLM's target {target!r} matches several columns ({names})")
    raise InvalidAnswer(f"the LLM's target {_cut(target, 80)!r} is not a column of the table")


def _task(task: str | None, column: Column) -> str | None:
    if task is None or not task.strip() or task.strip().lower() == "null":
        return None
    try:
        canonical = check_task(task)
    except TrainingFailed:
        raise InvalidAnswer(
            f"the LLM's task {_cut(task, 40)!r} is not one of {', '.join(TASKS)}"
        ) from None
    allowed = possible_tasks(column.type, None, None)
    if canonical == "classification":
        # Binary or multiclass is the data's to say (two values or more); a build
        # follows the answer's task as given, so only the three tasks are kept.
        canonical = None
    elif canonical not in allowed:
        raise InvalidAnswer(
            f"the LLM chose {canonical} for '{column.name}', a {column.type} column "
            f"(it can be: {', '.join(allowed)})"
        )
    return canonical


def _metric(metric: str | None, task: str | None, column: Column) -> str | None:
    if metric is None or not metric.strip() or metric.strip().lower() == "null":
        return None
    canonical = canonical_metric(metric)
    if canonical is None:
        known = ", ".join((*CLASSIFICATION_METRICS, *REGRESSION_METRICS))
        raise InvalidAnswer(f"the LLM's metric {_cut(metric, 40)!r} is not one of {known}")
    allowed = [task] if task is not None else possible_tasks(column.type, None, None)
    regression = canonical in REGRESSION_METRICS
    fits = "regression" in allowed if regression else allowed != ["regression"]
    if not fits:
        raise InvalidAnswer(
            f"the LLM's metric {canonical} does not fit "
            f"{task or 'a ' + column.type + ' target'} ('{column.name}')"
        )
    return canonical


# ---------------------------------------------------------------------- combining


def combine(
    deterministic: TargetChoice | TargetResolutionError,
    interpretation: Interpretation | None,
    facts: Sequence[ColumnFacts],
) -> TargetChoice:
    """The target, from the resolver's result and the LLM's interpretation.

    Agreement, or a resolver that was unsure: the LLM's column, with both reasons.
    The resolver confident of another column: `InterpretedRefusal` with both columns
    first (the user sets `target`). No usable answer: the resolver's result, its reason
    (or its refusal's message) saying the LLM did not decide. Without an interpretation:
    the resolver's result as it is. Raises `TargetResolutionError` when that is a refusal.
    """
    if interpretation is None:
        if isinstance(deterministic, TargetResolutionError):
            raise deterministic
        return deterministic
    answer = interpretation.answer
    if interpretation.outcome != "answered" or answer is None:
        detail = interpretation.detail or "no answer"
        note = f" (LLM {interpretation.outcome}: {detail}; the deterministic resolver decided)"
        return _decided_alone(deterministic, note, interpretation)
    by_name = {f.name: f for f in facts}
    column = by_name.get(answer.target)
    if column is None or identifier_reason(column) or unusable_reason(column):
        # An answer read back from an event for another table: never trusted blindly.
        why = f"'{answer.target}' is not a column that can be predicted"
        note = f" (LLM invalid: {why}; the deterministic resolver decided)"
        return _decided_alone(deterministic, note, interpretation)
    model = interpretation.model
    said = answer.reasons or "no reasons given"
    if isinstance(deterministic, TargetResolutionError):
        return TargetChoice(
            column=column.name,
            reason=(
                f"the LLM ({model}) chose '{column.name}': {said}; the resolver alone was "
                f"unsure ({_top(deterministic.ranked)})"
            ),
            candidates=deterministic.ranked[:5],
        )
    if deterministic.column == column.name:
        return msgspec.structs.replace(
            deterministic, reason=f"{deterministic.reason}; the LLM ({model}) agrees: {said}"
        )
    raise _disagreement(deterministic, column.name, interpretation, said)


def _decided_alone(
    deterministic: TargetChoice | TargetResolutionError, note: str, said: Interpretation
) -> TargetChoice:
    if isinstance(deterministic, TargetResolutionError):
        raise InterpretedRefusal(
            f"{deterministic}{note}", deterministic.candidates, deterministic.ranked, said
        ) from deterministic
    return msgspec.structs.replace(deterministic, reason=deterministic.reason + note)


def _disagreement(
    chosen: TargetChoice, proposed: str, interpretation: Interpretation, said: str
) -> InterpretedRefusal:
    model = interpretation.model
    known = {c.column: c for c in chosen.candidates}
    ours = known.get(chosen.column) or Candidate(chosen.column, 0.0, [chosen.reason])
    if not ours.evidence:
        ours = Candidate(ours.column, ours.score, [chosen.reason])
    theirs = known.get(proposed) or Candidate(proposed, 0.0, [])
    theirs = Candidate(
        theirs.column, theirs.score, [f"the LLM ({model}) chose it: {said}", *theirs.evidence]
    )
    rest = [c for c in chosen.candidates if c.column not in (chosen.column, proposed)]
    return InterpretedRefusal(
        f"the resolver and the LLM ({model}) disagree: the resolver chose "
        f"'{chosen.column}' ({chosen.reason}), the LLM chose '{proposed}' ({said}); "
        "set the `target` field to the column to predict (or name it in the intent)",
        [chosen.column, proposed],
        [ours, theirs, *rest[:3]],
        interpretation,
    )


def _top(ranked: list[Candidate]) -> str:
    shown = [f"'{c.column}' ({c.score:g})" for c in ranked[:_UNSURE_SHOWN]]
    return "closest: " + ", ".join(shown) if shown else "no column had evidence"


def _private(column: Column) -> bool:
    facts = _facts(column)
    return bool(identifier_reason(facts)) or (
        column.type == "string" and bool(unusable_reason(facts))
    )


def _facts(column: Column) -> ColumnFacts:
    return ColumnFacts(column.name, column.type, column.profile)


def _text(value: float | str) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
