"""The input drop rules read the same from a column's values (a build) and from its
upload profile (a plan): one rule, two views."""

from __future__ import annotations

import numpy as np
import pandas as pd

from intentml.ml.datasets import column_type, profile_frame
from intentml.ml.features import drop_reason, stats_from_profile, stats_of


def _frame(n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(4)
    return pd.DataFrame(
        {
            "rownames": np.arange(n) * 3 + 5,  # rising with gaps: a row index
            "customer_id": [f"c{i:04d}" for i in range(n)],  # unique text
            "account_no": rng.permutation(n) + 1000,  # a dense shuffled id
            "constant": ["x"] * n,
            "mostly_empty": [None] * (n - 2) + [1.0, 2.0],
            "comment": [f"note {i % 150}" for i in range(n)],  # too many categories
            "usage": rng.uniform(0, 10, n),
            "plan": rng.choice(["a", "b", "c"], n),
            "tickets": rng.integers(0, 8, n),
        }
    )


def test_a_profile_and_the_values_drop_the_same_columns_for_the_same_reasons() -> None:
    df = _frame()
    profiles = profile_frame(df)
    for name, profile in zip(df.columns, profiles, strict=True):
        assert profile is not None
        from_values = drop_reason(name, stats_of(df[name]))
        from_profile = drop_reason(
            name, stats_from_profile(column_type(df[name]), profile, len(df))
        )
        assert from_profile == from_values, name
    reasons = {n: drop_reason(n, stats_of(df[n])) for n in df.columns}
    assert reasons["rownames"] is not None and "row index" in reasons["rownames"]
    assert reasons["customer_id"] == "identifier: a different value in every row"
    assert reasons["account_no"] == "identifier: a different whole number in every row"
    assert reasons["constant"] == "the same value ('x') in every row"
    assert reasons["mostly_empty"] == "99% of values are missing"
    assert reasons["comment"] is not None and "too many to use as a category" in reasons["comment"]
    assert [n for n, why in reasons.items() if why is None] == ["usage", "plan", "tickets"]
