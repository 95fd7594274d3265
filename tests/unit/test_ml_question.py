"""The question's form as evidence for the task and the metric (`intentml.ml.question`)."""

from __future__ import annotations

import pytest

from intentml.domain.interpretation import Interpretation, LlmAnswer
from intentml.ml.question import hint_for, read_question, task_hint


@pytest.mark.parametrize(
    ("intent", "form", "words"),
    [
        ("How many bikes will be rented in an hour?", "count", "how many"),
        ("Predict the number of claims per policy", "count", "number of"),
        ("How much will this house sell for?", "number", "how much"),
        ("Will this customer leave us?", "two", "will"),
        ("Which customers are going to leave us?", "two", "which"),
        ("What kind of glass is this?", "category", "what kind"),
        ("Which species is this penguin?", "category", "which species"),
        ("Which crop should a farmer plant?", "category", "which crop should a"),
        ("Which cultivar does this wine come from?", "category", "which cultivar does this"),
        ("Which clients will say yes to the campaign?", "two", "which"),
        ("Predict churn", "", ""),
    ],
)
def test_the_form_of_a_question(intent: str, form: str, words: str) -> None:
    question = read_question(intent)
    assert (question.form, question.form_words) == (form, words)


def test_how_many_asks_for_a_regression_on_counts() -> None:
    hint = task_hint(read_question("How many bikes will be rented in an hour?"))
    assert hint is not None
    assert (hint.task, hint.counts, hint.metric) == ("regression", True, None)
    assert "'how many' asks for a count" in hint.task_reason


def test_a_risk_asks_for_probabilities_judged_by_log_loss() -> None:
    hint = task_hint(read_question("Estimate the risk of a stroke for each patient"))
    assert hint is not None
    assert hint.metric == "log_loss"
    assert hint.metric_reason.startswith("'risk' asks for a probability")
    chance = task_hint(read_question("What is the chance that this loan defaults?"))
    assert chance is not None and chance.metric == "log_loss"


def test_a_rating_question_leaves_the_task_to_the_data() -> None:
    assert task_hint(read_question("How good is this wine?")) is None
    assert task_hint(read_question("Predict churn")) is None


def test_an_llm_answer_with_a_task_outranks_the_form() -> None:
    said = Interpretation(
        model="m",
        prompt_sha256="0" * 64,
        outcome="answered",
        answer=LlmAnswer(target="cnt", task="multiclass", reasons="few values"),
    )
    hint = hint_for("How many bikes will be rented?", said)
    assert hint is not None and hint.task == "multiclass" and not hint.counts
    assert "LLM interpreter (m)" in hint.task_reason and "few values" in hint.task_reason
    failed = Interpretation(model="m", prompt_sha256="0" * 64, outcome="timeout")
    form = hint_for("How many bikes will be rented?", failed)
    assert form is not None and form.task == "regression" and form.counts
