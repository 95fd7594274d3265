"""The LLM interpreter's pure half: the prompt, its hash, the answer's checks, combine."""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec
import pytest

from intentml.domain.interpretation import Interpretation, LlmAnswer
from intentml.domain.profiles import ColumnProfile
from intentml.events.types import Column
from intentml.ml.target import Candidate, ColumnFacts, TargetChoice, TargetResolutionError
from intentml.ml.target.interpreter import (
    MAX_SAMPLE_CHARS,
    InterpretedRefusal,
    InvalidAnswer,
    build_prompt,
    combine,
    prompt_hash,
    read_answer,
    samples,
)


def profile(
    distinct: int,
    *,
    top: list[str] | None = None,
    unique: bool = False,
    rising: bool = False,
    lo: float | str | None = None,
    hi: float | str | None = None,
) -> ColumnProfile:
    return ColumnProfile(
        distinct=distinct, missing=0, unique=unique, rising=rising, min=lo, max=hi, top=top or []
    )


COLUMNS = [
    Column("customer_id", "string", profile(500, unique=True, lo="C0001", hi="C0500")),
    Column("tenure", "integer", profile(70, lo=0.0, hi=72.0)),
    Column("contract", "string", profile(3, top=["Month-to-month", "One year", "Two year"])),
    Column("Churned", "boolean", profile(2, top=["false", "true"])),
    Column("signup", "date", profile(400, lo="2020-01-01", hi="2024-12-31")),
    Column("plan", "string", profile(7, top=[f"plan {i}" for i in range(7)])),
    Column("comment", "string", profile(480, lo="a" * 100, hi="zzz")),
    Column("legacy", "integer", None),
]
FACTS = [ColumnFacts(c.name, c.type, c.profile) for c in COLUMNS]


def reply(content: str) -> dict[str, Any]:
    return {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}


def good(**fields: Any) -> dict[str, Any]:
    body = {"target": "Churned", "task": None, "metric": None, "reasons": "'leave' is churn"}
    return reply(msgspec.json.encode(body | fields).decode())


# ------------------------------------------------------------------------- prompt


def test_the_prompt_carries_the_sentence_columns_types_and_at_most_five_samples() -> None:
    body = build_prompt("Which customers will leave?", COLUMNS, model="llama3.1")

    assert body["model"] == "llama3.1"
    assert body["temperature"] == 0
    assert set(body) == {"model", "temperature", "messages", "response_format"}
    system, user = body["messages"]
    assert system["role"] == "system" and user["role"] == "user"
    table = msgspec.json.decode(user["content"])
    assert table["sentence"] == "Which customers will leave?"
    by_name = {c["name"]: c for c in table["columns"]}
    assert list(by_name) == [c.name for c in COLUMNS]
    assert by_name["contract"] == {
        "name": "contract",
        "type": "string",
        "samples": ["Month-to-month", "One year", "Two year"],
    }
    assert by_name["plan"]["samples"] == [f"plan {i}" for i in range(5)]
    assert by_name["tenure"]["samples"] == ["0", "72"]  # min and max without top values
    assert by_name["legacy"]["samples"] == []  # no profile, nothing to show
    # Nothing of an identifier's or of free text's values leaves the machine.
    assert by_name["customer_id"]["samples"] == []
    assert by_name["comment"]["samples"] == []
    assert all(len(s) <= MAX_SAMPLE_CHARS for c in table["columns"] for s in c["samples"])


def test_the_schema_names_the_columns_tasks_and_metrics_strictly() -> None:
    rf = build_prompt("predict churn", COLUMNS)["response_format"]

    assert rf["type"] == "json_schema"
    assert rf["json_schema"]["strict"] is True
    schema = rf["json_schema"]["schema"]
    assert schema["required"] == ["target", "task", "metric", "reasons"]
    assert schema["additionalProperties"] is False
    targets = schema["properties"]["target"]["enum"]
    assert "Churned" in targets and "tenure" in targets
    assert "customer_id" not in targets  # an identifier is never offered
    assert schema["properties"]["task"]["enum"] == ["binary", "multiclass", "regression", None]
    assert {"roc_auc", "rmse", None} <= set(schema["properties"]["metric"]["enum"])


def test_the_same_inputs_give_the_same_bytes_and_hash() -> None:
    a = build_prompt("predict churn", COLUMNS, "m")
    b = build_prompt("predict churn", list(COLUMNS), "m")
    assert msgspec.json.encode(a) == msgspec.json.encode(b)
    assert prompt_hash(a) == prompt_hash(b)
    expected = hashlib.sha256(msgspec.json.encode(a, order="sorted")).hexdigest()
    assert prompt_hash(a) == expected
    assert prompt_hash(build_prompt("predict tenure", COLUMNS, "m")) != prompt_hash(a)
    assert prompt_hash(build_prompt("predict churn", COLUMNS, "other")) != prompt_hash(a)


def test_long_samples_are_cut() -> None:
    long = Column("city", "string", profile(2, top=["x" * 100, "Oslo"]))
    got = samples(long)
    assert got == ["x" * (MAX_SAMPLE_CHARS - 1) + "…", "Oslo"]


def test_samples_say_a_constant_once() -> None:
    assert samples(Column("x", "integer", profile(1, lo=3.0, hi=3.0))) == ["3"]
    assert samples(Column("x", "number", profile(9, lo=0.5, hi=2.25))) == ["0.5", "2.25"]


# ------------------------------------------------------------------------- answer


def test_a_good_answer_is_read_and_canonicalized() -> None:
    got = read_answer(good(task="binary", metric="AUC"), COLUMNS)
    assert got == LlmAnswer(target="Churned", task="binary", metric="roc_auc", reasons=got.reasons)
    assert got.reasons == "'leave' is churn"


def test_json_in_fences_is_accepted() -> None:
    body = '{"target": "tenure", "task": "regression", "metric": "rmse", "reasons": "how long"}'
    got = read_answer(reply(f"Sure!\n```json\n{body}\n```\nanything else?"), COLUMNS)
    assert (got.target, got.task, got.metric) == ("tenure", "regression", "rmse")
    assert read_answer(reply(f"```\n{body}\n```"), COLUMNS).target == "tenure"


def test_a_target_differing_only_in_case_is_the_column() -> None:
    assert read_answer(good(target="churned"), COLUMNS).target == "Churned"


def test_missing_task_and_metric_are_none() -> None:
    got = read_answer(reply('{"target": "contract"}'), COLUMNS)
    assert (got.task, got.metric, got.reasons) == (None, None, "")


@pytest.mark.parametrize(
    ("response", "why"),
    [
        ({"choices": []}, "no choices"),
        ({"object": "error"}, "no choices"),
        ([1, 2], "not a JSON object"),
        ({"choices": [{"message": {"content": ""}}]}, "no content"),
        ({"choices": [{"message": {"content": None, "refusal": "no"}}]}, "refused: no"),
        (reply("I think it is churn."), "not JSON"),
        (reply("```json\n{target: churn}\n```"), "not JSON"),
        (reply('{"task": "binary"}'), "does not fit the schema"),
        (reply('{"target": 3}'), "does not fit the schema"),
        (good(target="churn_flag"), "'churn_flag' is not a column"),
        (good(target="customer_id"), "identifier"),
        (good(target="signup"), "dates, which cannot be predicted"),
        (good(target="comment"), "free text"),
        (good(task="clustering"), "task 'clustering' is not one of"),
        (good(metric="bleu"), "metric 'bleu' is not one of"),
        (good(target="contract", task="regression"), "regression for 'contract'"),
        (good(target="Churned", task="multiclass"), "multiclass for 'Churned'"),
        (good(target="contract", metric="rmse"), "rmse does not fit"),
        (good(target="tenure", task="regression", metric="accuracy"), "accuracy does not fit"),
    ],
)
def test_an_unusable_answer_is_invalid_and_says_why(response: Any, why: str) -> None:
    with pytest.raises(InvalidAnswer) as caught:
        read_answer(response, COLUMNS)
    assert why in str(caught.value)


def test_a_classification_task_leaves_binary_or_multiclass_to_the_data() -> None:
    got = read_answer(good(target="contract", task="classification", metric="f1"), COLUMNS)
    assert (got.task, got.metric) == (None, "f1")
    got = read_answer(good(target="contract", task="Multi-Class"), COLUMNS)
    assert got.task == "multiclass"


# ------------------------------------------------------------------------ combine

CHOICE = TargetChoice(
    column="Churned",
    reason="'leave' means churn",
    candidates=[
        Candidate("Churned", 13.0, ["'leave' means churn"]),
        Candidate("contract", 2.0, ["the question's form fits"]),
    ],
)
UNSURE = TargetResolutionError(
    "could not tell which column to predict",
    ["contract", "plan"],
    [Candidate("contract", 3.0, ["a"]), Candidate("plan", 2.5, ["b"])],
)


def interpretation(target: str | None, outcome: str = "answered", detail: str = "") -> Any:
    answer = None if target is None else LlmAnswer(target=target, reasons="it says so")
    return Interpretation(
        model="qwen2.5", prompt_sha256="0" * 64, outcome=outcome, answer=answer, detail=detail
    )  # type: ignore[arg-type]


def test_without_an_interpretation_the_resolver_decides_unchanged() -> None:
    assert combine(CHOICE, None, FACTS) == CHOICE
    with pytest.raises(TargetResolutionError) as caught:
        combine(UNSURE, None, FACTS)
    assert caught.value is UNSURE


def test_agreement_keeps_the_choice_and_quotes_the_llm() -> None:
    got = combine(CHOICE, interpretation("Churned"), FACTS)
    assert got.column == "Churned"
    assert got.reason == "'leave' means churn; the LLM (qwen2.5) agrees: it says so"
    assert got.candidates == CHOICE.candidates


def test_an_unsure_resolver_takes_the_llms_column_and_says_so() -> None:
    got = combine(UNSURE, interpretation("plan"), FACTS)
    assert got.column == "plan"
    assert got.reason.startswith("the LLM (qwen2.5) chose 'plan': it says so; ")
    assert "the resolver alone was unsure (closest: 'contract' (3), 'plan' (2.5))" in got.reason
    assert got.candidates == UNSURE.ranked


def test_a_disagreement_with_a_confident_resolver_is_refused_with_both() -> None:
    with pytest.raises(TargetResolutionError) as caught:
        combine(CHOICE, interpretation("contract"), FACTS)
    err = caught.value
    assert isinstance(err, InterpretedRefusal) and err.interpretation.model == "qwen2.5"
    assert err.candidates == ["Churned", "contract"]
    assert [c.column for c in err.ranked[:2]] == ["Churned", "contract"]
    assert err.ranked[0].evidence == ["'leave' means churn"]
    assert err.ranked[1].evidence[0] == "the LLM (qwen2.5) chose it: it says so"
    assert "the resolver and the LLM (qwen2.5) disagree" in str(err)
    assert "set the `target` field" in str(err)


def test_a_disagreement_over_a_column_without_candidates_still_has_evidence() -> None:
    bare = TargetChoice(column="tenure", reason="the output field 'tenure' is the column")
    with pytest.raises(TargetResolutionError) as caught:
        combine(bare, interpretation("plan"), FACTS)
    assert caught.value.ranked[0] == Candidate("tenure", 0.0, [bare.reason])
    assert caught.value.ranked[1].column == "plan"


@pytest.mark.parametrize("outcome", ["invalid", "timeout", "error"])
def test_no_usable_answer_leaves_the_choice_to_the_resolver_and_says_so(outcome: str) -> None:
    got = combine(CHOICE, interpretation(None, outcome, "no answer within 1 s"), FACTS)
    assert got.column == "Churned"
    assert got.reason == (
        f"'leave' means churn (LLM {outcome}: no answer within 1 s; "
        "the deterministic resolver decided)"
    )
    with pytest.raises(TargetResolutionError) as caught:
        combine(UNSURE, interpretation(None, outcome, "boom"), FACTS)
    assert str(caught.value).endswith(f"(LLM {outcome}: boom; the deterministic resolver decided)")
    assert caught.value.ranked == UNSURE.ranked
    assert isinstance(caught.value, InterpretedRefusal)
    assert caught.value.interpretation.outcome == outcome


@pytest.mark.parametrize("target", ["gone", "customer_id", "signup"])
def test_an_answer_naming_no_usable_column_is_not_trusted(target: str) -> None:
    got = combine(CHOICE, interpretation(target), FACTS)
    assert got.column == "Churned"
    assert "(LLM invalid:" in got.reason and "the deterministic resolver decided" in got.reason
