"""Resolving the target column from an explicit field, an output schema or the intent."""

from __future__ import annotations

import pytest

from intentml.ml.target import (
    TargetResolutionError,
    name_key,
    name_tokens,
    resolve_target,
    stem,
)

CHURN_INTENT = "Predict customer churn based on usage patterns"
CUSTOMER = ["customer_id", "usage_minutes", "plan_type", "signup_date"]


@pytest.mark.parametrize("target", ["churned", "Churn", "is_churn", "churn", "churn_flag"])
def test_intent_names_the_churn_column(target: str) -> None:
    choice = resolve_target([*CUSTOMER, target], CHURN_INTENT)
    assert choice.column == target
    assert choice.output_field is None
    assert target in choice.reason


def test_reason_says_what_matched() -> None:
    choice = resolve_target([*CUSTOMER, "churned"], CHURN_INTENT)
    assert choice.reason == "matched 'churn' in the intent to column 'churned'"


ACCOUNTS = ["account_id", "tenure_months", "monthly_spend", "support_tickets", "renewed"]


@pytest.mark.parametrize(
    ("intent", "phrase", "column"),
    [
        ("Forecast monthly spend for each account", "monthly spend", "monthly_spend"),
        ("How many support tickets will an account open", "support tickets", "support_tickets"),
        ("Predict the montly spnd of accounts", "montly spnd", "monthly_spend"),
        ("Will the account be renewed? Predict renewal from usage", "renewal", "renewed"),
    ],
)
def test_the_reason_quotes_only_the_words_that_name_the_column(
    intent: str, phrase: str, column: str
) -> None:
    """A misspelling may be matched loosely, but not a neighbouring "for" or "an"."""
    choice = resolve_target(ACCOUNTS, intent)
    assert choice.column == column
    assert choice.reason == f"matched '{phrase}' in the intent to column '{column}'"


def test_a_loose_match_is_not_built_from_a_subject_and_its_verb() -> None:
    """ "customer get" shares enough letters with `Customer_Age` for a loose match, but a
    misspelling keeps each word's first letter: the subject and its verb name nothing."""
    columns = ["CLIENTNUM", "Customer_Age", "Credit_Limit", "Total_Trans_Amt"]
    choice = resolve_target(columns, "What credit limit will a customer get?")
    assert choice.column == "Credit_Limit"
    with pytest.raises(TargetResolutionError):
        resolve_target(
            ["CLIENTNUM", "Customer_Age", "Total_Trans_Amt"], "What will a customer get?"
        )


@pytest.mark.parametrize(
    ("intent", "columns", "expected"),
    [
        ("forecast house prices", ["sqft", "bedrooms", "price", "zip"], "price"),
        ("Forecast house prices", ["house_age", "house_price", "price_per_sqft"], "house_price"),
        ("predict SalePrice from the lot area", ["LotArea", "SalePrice"], "SalePrice"),
        ("predict sale price from the lot area", ["LotArea", "SalePrice"], "SalePrice"),
        ("Predict whether a customer will churn", ["tenure", "churned"], "churned"),
        ("Predict which customers will default on their loan", ["income", "default"], "default"),
        ("Estimate the probability of churn", ["tenure", "churn"], "churn"),
        ("Classify iris species using petal length", ["petal_length", "species"], "species"),
        ("I want to know if a loan defaults", ["amount", "defaulted"], "defaulted"),
        ("Churn prediction based on usage", ["usage", "churned"], "churned"),
        ("Build a churn prediction model using usage", ["usage", "churned"], "churned"),
        # words after "based on"/"using" are inputs, even when they name columns exactly
        ("Predict churn based on usage", ["usage", "churned"], "churned"),
        ("Predict renewal from weekly usage", ["weekly_usage", "renewed"], "renewed"),
        ("forecast weekly sales for each store", ["store", "weekly_sales"], "weekly_sales"),
        ("Predict sales next month by region", ["month", "region", "sales"], "sales"),
        ("predict employee attrition", ["Age", "Attrition", "Department"], "Attrition"),
        ("predict survival", ["Pclass", "Sex", "Survived"], "Survived"),
        ("estimate the number of bike rentals", ["temp", "rentals_count"], "rentals_count"),
        # British spelling against American: only a fuzzy match
        ("predict whether a booking is cancelled", ["lead_time", "is_canceled"], "is_canceled"),
        ("Predict if a transaction is fraudulent", ["amount", "is_fraud"], "is_fraud"),
        ("predict booking cancellations", ["lead_time", "is_canceled"], "is_canceled"),
        (
            "what is the median_house_value?",
            ["median_income", "median_house_value"],
            "median_house_value",
        ),
    ],
)
def test_intent_phrasings(intent: str, columns: list[str], expected: str) -> None:
    assert resolve_target(columns, intent).column == expected


def test_output_schema_field_refers_to_a_column() -> None:
    choice = resolve_target(
        [*CUSTOMER, "churned"], "make a model", output_schema={"churn_probability": "float"}
    )
    assert choice.column == "churned"
    assert choice.output_field == "churn_probability"
    assert "churn_probability" in choice.reason


def test_output_schema_as_json_schema() -> None:
    schema = {
        "type": "object",
        "properties": {"risk_level": {"type": "string"}, "predicted_price": {"type": "number"}},
    }
    choice = resolve_target(["sqft", "price"], "", output_schema=schema)
    assert choice.column == "price"
    assert choice.output_field == "predicted_price"


def test_output_schema_that_names_no_column_falls_back_to_the_intent() -> None:
    choice = resolve_target([*CUSTOMER, "churned"], CHURN_INTENT, output_schema={"score": "number"})
    assert choice.column == "churned"
    assert choice.output_field is None


def test_explicit_target_wins() -> None:
    choice = resolve_target([*CUSTOMER, "churned"], CHURN_INTENT, target="plan_type")
    assert choice.column == "plan_type"
    assert "`target`" in choice.reason


def test_explicit_target_ignores_case() -> None:
    assert resolve_target(["Churned", "x"], "", target="churned").column == "Churned"


def test_explicit_target_must_be_a_column() -> None:
    with pytest.raises(TargetResolutionError, match="target") as info:
        resolve_target([*CUSTOMER, "churned"], CHURN_INTENT, target="churnd")
    assert info.value.candidates == ["churned"]
    assert "Did you mean 'churned'" in str(info.value)


def test_explicit_target_ambiguous_by_case() -> None:
    with pytest.raises(TargetResolutionError) as info:
        resolve_target(["Churn", "CHURN"], "", target="churn")
    assert sorted(info.value.candidates) == ["CHURN", "Churn"]


def test_two_equally_good_columns_are_ambiguous() -> None:
    with pytest.raises(TargetResolutionError, match="several columns") as info:
        resolve_target([*CUSTOMER, "is_churn", "churned"], CHURN_INTENT)
    assert sorted(info.value.candidates) == ["churned", "is_churn"]
    assert "`target`" in str(info.value)


def test_two_conjoined_targets_are_ambiguous() -> None:
    with pytest.raises(TargetResolutionError) as info:
        resolve_target(["price", "cost", "sqft"], "predict price and cost")
    assert sorted(info.value.candidates) == ["cost", "price"]


def test_exact_case_breaks_a_tie() -> None:
    assert resolve_target(["Churn", "churn"], "predict churn").column == "churn"


def test_unknown_target() -> None:
    columns = ["a", "b", "c"]
    with pytest.raises(TargetResolutionError, match="could not tell") as info:
        resolve_target(columns, "Predict customer lifetime value")
    # Every column, the table's last first among equals (where targets are usually put).
    assert info.value.candidates == ["c", "a", "b"]
    assert "`target` field" in str(info.value)


def test_columns_named_only_as_inputs_are_not_targets() -> None:
    with pytest.raises(TargetResolutionError) as info:
        resolve_target(["usage", "plan"], "Predict revenue based on usage")
    assert "usage" in info.value.candidates


@pytest.mark.parametrize("conventional", ["target", "label", "Class", "outcome", "output", "y"])
def test_conventional_target_name(conventional: str) -> None:
    choice = resolve_target(["x1", "x2", conventional], "train something")
    assert choice.column == conventional
    assert "conventional" in choice.reason


def test_no_columns() -> None:
    with pytest.raises(TargetResolutionError):
        resolve_target([], "predict churn")


def test_name_helpers() -> None:
    assert name_tokens("SalePrice") == ["sale", "price"]
    assert name_tokens("is_churn") == ["is", "churn"]
    assert name_tokens("HTTPStatus2xx") == ["http", "status", "2", "xx"]
    assert stem("churned") == stem("churn") == stem("churning") == "churn"
    assert stem("prices") == stem("price") == stem("priced")
    assert stem("categories") == "category"
    assert stem("status") == "status"
    assert stem("fraudulent") == stem("fraud")
    assert stem("renewal") == stem("renewed") == stem("renew")
    assert stem("approval") == stem("approved")
    assert stem("departure") == stem("departs") == stem("departed") == "depart"
    assert name_key("is_churn") == name_key("Churned") == "churn"
