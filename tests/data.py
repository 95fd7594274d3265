"""Synthetic datasets with a known rule, so tests can tell a right model from a wrong one."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import numpy as np

PLANS = ("basic", "standard", "premium")
#: The intent the churn data is made for.
CHURN_INTENT = "Predict customer churn based on usage patterns"


def churn_rows(n: int = 600, seed: int = 1) -> list[dict[str, object]]:
    """Customers who churn when they use the product little (and a bit by chance)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        usage = float(rng.uniform(0, 400))
        tickets = int(rng.integers(0, 8))
        plan = PLANS[int(rng.integers(0, 3))]
        p = 0.9 if usage < 120 else 0.08
        rows.append(
            {
                "customer_id": f"c{i:05d}",
                "usage_minutes": round(usage, 2),
                "support_tickets": tickets,
                "plan_type": plan,
                "signup_date": (
                    date(2023, 1, 1) + timedelta(days=int(rng.integers(0, 600)))
                ).isoformat(),
                "churned": int(rng.random() < p),
            }
        )
    return rows


def to_csv(rows: list[dict[str, object]]) -> bytes:
    """CSV bytes of dict rows (header from the first row)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue().encode()


POSITIVE = {
    "customer_id": "x1",
    "usage_minutes": 10.0,
    "support_tickets": 5,
    "plan_type": "basic",
    "signup_date": "2024-02-01",
}
NEGATIVE = {
    "customer_id": "x2",
    "usage_minutes": 390.0,
    "support_tickets": 0,
    "plan_type": "premium",
    "signup_date": "2023-03-01",
}
