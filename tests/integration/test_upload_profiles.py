"""Column profiles through the real stack: `POST /uploads` and `GET /uploads/{id}` show
them, and a table sorted by its target trains without its row numbers."""

from __future__ import annotations

import numpy as np

from intentml.config import Settings
from tests.stack import platform_stack


def _diamonds_sorted_by_price(n: int = 600, seed: int = 11) -> list[dict[str, object]]:
    """Sorted by price, with the row numbers of a subset of the rows kept (gaps)."""
    rng = np.random.default_rng(seed)
    carat = rng.uniform(0.2, 3.0, n)
    cut = rng.choice(["Fair", "Good", "Ideal"], n)
    price = 3000 * carat + np.where(cut == "Ideal", 800.0, 0.0) + rng.normal(0, 900, n)
    order = np.argsort(price)
    kept = np.sort(rng.choice(n, n * 2 // 3, replace=False))
    return [
        {
            "rownames": int(k) + 1,
            "carat": round(float(carat[order[k]]), 3),
            "cut": str(cut[order[k]]),
            "price": round(float(price[order[k]]), 2),
        }
        for k in kept
    ]


async def test_uploads_show_profiles_and_row_numbers_are_not_learned(settings: Settings) -> None:
    rows = _diamonds_sorted_by_price()
    async with platform_stack(settings) as stack:
        c = stack.client
        upload_id = await stack.upload(rows)
        body = (await c.get(f"/uploads/{upload_id}")).json()
        profiles = {col["name"]: col["profile"] for col in body["columns"]}
        assert profiles["rownames"]["unique"] and profiles["rownames"]["rising"]
        assert profiles["rownames"]["distinct"] == len(rows)
        assert profiles["price"]["rising"]  # the table is sorted by it
        assert set(profiles["cut"]["top"]) == {"Fair", "Good", "Ideal"}
        assert profiles["carat"]["min"] >= 0.2 and profiles["carat"]["max"] <= 3.0

        r = await c.post(
            "/models/diamonds",
            json={
                "intent": "Predict the price",
                "upload_id": upload_id,
                "target": "price",
                "max_iterations": 2,
            },
        )
        assert r.status_code == 202, r.text
        status = await stack.wait_status("diamonds", "v1")
        assert status["status"] == "READY", status
        d = (await c.get("/models/diamonds/v1/describe")).json()
        assert sorted(d["features"]) == ["carat", "cut"]
        why = d["training_info"]["dropped_columns"]["rownames"]
        assert "row index" in why and "rising with the row order" in why
        assert d["data_summary"]["dropped_columns"]["rownames"] == why
