"""How the user's sentence asks its question: evidence for the target, the task and
the metric ("how many" → a count, "will it" → yes or no, "what kind" → a category,
"the risk of" → a probability). Pure.

Target resolution weighs a column's values against `Question.form`; the task and the
metric take `task_hint` (applied only when the target's data allows it, see
`intentml.ml.task`).
"""

from __future__ import annotations

import re
from typing import Literal

import msgspec

from intentml.domain.interpretation import Interpretation

Form = Literal["", "number", "count", "two", "category"]

_COUNT_FORM = re.compile(r"\bhow many\b|\bnumber of\b|\bcount of\b")
_NUMBER_FORM = re.compile(
    r"\bhow (much|long|late|heavy|old|far|big|high|expensive|good|well)\b"
    r"|\bwhat (price|amount)\b"
)
_CATEGORY_FORM = re.compile(
    r"\b(what|which) (kind|type|species|category|sort|class|breed|genre|group)\b|\bclassify\b"
    # "Which crop should a farmer plant?": the noun after "which" is the answer (a kind),
    # not the rows asked about ("Which customers will leave?", a yes or no for each).
    r"|^which [a-z]+ (is|are|was|were|does|do|did|will|would|should|can|could) "
    r"(this|that|the|a|an|my|our|your|their|his|her|its|it|he|she|they|we|you|i)\b"
)
_TWO_FORM = re.compile(
    r"^(is|are|will|would|does|do|did|can|could|has|have|was|were|should)\b|\bwhether\b|"
    r"\bif\b|^(who|which)\b"
)
#: Words asking for how likely something is, not only whether it happens.
_PROBABILITY = re.compile(
    r"\b(risk|risks|chance|chances|probability|probabilities|likelihood|odds|"
    r"how likely|propensity)\b"
)
_WORD = re.compile(r"[a-z0-9]+")


class Question(msgspec.Struct, frozen=True):
    """The form of the sentence's question and the words that show it."""

    #: What kind of answer it asks for ("" when the sentence does not say).
    form: Form = ""
    #: The words that say so ("how many", "will", "what kind").
    form_words: str = ""
    #: The word asking for a probability ("risk", "chance"), or "".
    probability_word: str = ""


class TaskHint(msgspec.Struct, frozen=True, kw_only=True):
    """The task and metric a sentence asks for, each with its reason in words; the
    data still decides when the target cannot be trained that way."""

    task: str | None = None
    task_reason: str = ""
    metric: str | None = None
    metric_reason: str = ""
    #: The answer is a count: LightGBM's poisson objective is tried beside squared error.
    counts: bool = False


def read_question(intent: str) -> Question:
    """The question's form and probability word, from the lowercased words of `intent`."""
    text = " ".join(_WORD.findall(intent.lower()))
    form: Form = ""
    match = None
    for candidate, pattern in (
        ("category", _CATEGORY_FORM),
        ("count", _COUNT_FORM),
        ("number", _NUMBER_FORM),
        ("two", _TWO_FORM),
    ):
        match = pattern.search(text)
        if match:
            form = candidate  # type: ignore[assignment]
            break
    probability = _PROBABILITY.search(text)
    return Question(
        form=form,
        form_words=match.group(0) if match else "",
        probability_word=probability.group(0) if probability else "",
    )


def task_hint(question: Question) -> TaskHint | None:
    """What the question's form says of the task and metric (None: nothing)."""
    said = f"'{question.form_words}'"
    task, task_reason = {
        "count": ("regression", f"{said} asks for a count: regression on counts"),
        "number": ("regression", f"{said} asks for an amount: regression"),
        "category": ("multiclass", f"{said} asks for a kind: classification"),
        "two": ("binary", f"{said} asks yes or no: binary classification"),
        "": (None, ""),
    }[question.form]
    if question.form_words in _RATINGS:
        task, task_reason = None, ""
    metric, metric_reason = None, ""
    if question.probability_word:
        # A probability question wants the probabilities themselves to be right, not
        # only their order: log loss judges them, ROC AUC would not.
        metric = "log_loss"
        metric_reason = (
            f"'{question.probability_word}' asks for a probability: log loss judges the "
            "predicted probabilities themselves"
        )
    if task is None and metric is None:
        return None
    return TaskHint(
        task=task,
        task_reason=task_reason,
        metric=metric,
        metric_reason=metric_reason,
        counts=question.form == "count",
    )


#: "How good" and "how well" ask for a rating, which may be an amount or a grade: the
#: data decides.
_RATINGS = frozenset(["how good", "how well"])


def hint_for(intent: str, interpretation: Interpretation | None) -> TaskHint | None:
    """The hint a build follows: the LLM interpreter's task and metric when it answered
    with one, else what the question's form says."""
    answer = interpretation.answer if interpretation is not None else None
    if answer is None or (answer.task is None and answer.metric is None):
        return task_hint(read_question(intent))
    assert interpretation is not None
    said = f"the LLM interpreter ({interpretation.model}) read the sentence as"
    because = f": {answer.reasons}" if answer.reasons else ""
    return TaskHint(
        task=answer.task,
        task_reason=f"{said} {answer.task}{because}" if answer.task else "",
        metric=answer.metric,
        metric_reason=f"{said} judged by {answer.metric}{because}" if answer.metric else "",
        counts=answer.task == "regression" and read_question(intent).form == "count",
    )
