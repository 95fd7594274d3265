"""Column profiles learned by the upload's inspection (`ColumnProfile` per column)."""

from __future__ import annotations

from pathlib import Path

import pytest

from intentml.domain.profiles import TOP_VALUE_MAX_CHARS, ColumnProfile
from intentml.ml import datasets
from intentml.ml.datasets import inspect_dataset, profile_frame, profiling, read_dataset


def _profiles(path: Path, fmt: str) -> dict[str, ColumnProfile | None]:
    summary = inspect_dataset(path, fmt)
    whole = read_dataset(path, fmt)
    # Streaming and reading whole agree, whatever the batches.
    assert summary.profiles == profile_frame(whole)
    return {c.name: p for c, p in zip(summary.columns, summary.profiles, strict=True)}


def _table(rows: int) -> str:
    lines = ["rownames,customerID,churn,price,day,plan,flag"]
    for i in range(rows):
        # A subset of the rows: the row numbers have gaps.
        lines.append(
            f"{3 * i + 1},C-{(i * 7919) % 100_003:06d},{'yes' if i % 3 == 0 else 'no'},"
            f"{(i % 17) * 1.5},2024-01-{i % 28 + 1:02d},{['basic', 'pro', 'team'][i % 3]},"
            f"{'true' if i % 2 else 'false'}"
        )
    return "\n".join(lines) + "\n"


def test_a_table_profiled_in_many_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(datasets.base, "INSPECT_BLOCK_BYTES", 4096)
    path = tmp_path / "t.csv"
    path.write_text(_table(3000))
    profiles = _profiles(path, "csv")
    rownames = profiles["rownames"]
    assert rownames == ColumnProfile(
        distinct=3000, missing=0, unique=True, rising=True, min=1.0, max=8998.0, top=[]
    )
    customer = profiles["customerID"]
    assert customer is not None and customer.unique and not customer.rising
    assert customer.distinct == 3000 and customer.min == "C-000000"
    churn = profiles["churn"]
    assert churn is not None
    assert (churn.distinct, churn.unique, churn.rising) == (2, False, False)
    assert churn.top == ["no", "yes"]  # most frequent first
    price = profiles["price"]
    assert price is not None and price.distinct == 17 and not price.rising
    assert (price.min, price.max) == (0.0, 24.0)
    assert price.top[:2] == ["0", "1.5"]  # ties by value, numbers as numbers read
    day = profiles["day"]
    assert day is not None and (day.min, day.max, day.distinct) == ("2024-01-01", "2024-01-28", 28)
    flag = profiles["flag"]
    assert (
        flag is not None
        and flag.top == ["false", "true"]
        and (flag.min, flag.max)
        == (
            "false",
            "true",
        )
    )


def test_rising_needs_every_row_strictly_above_the_one_before(tmp_path: Path) -> None:
    body = "a,b,c,d,when\n" + "".join(
        f"{i},{i // 2},{'' if i == 5 else i},{-i},2024-01-01T{i:02d}:00:00\n" for i in range(20)
    )
    path = tmp_path / "r.csv"
    path.write_text(body)
    profiles = _profiles(path, "csv")
    rising = {name: p.rising for name, p in profiles.items() if p is not None}
    assert rising == {"a": True, "b": False, "c": False, "d": False, "when": True}
    c = profiles["c"]
    assert c is not None and c.missing == 1 and not c.unique and c.distinct == 19


def test_many_distinct_values_stop_at_a_cap_and_say_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(profiling, "KEYS_BUDGET", 3 * 2 * 1000)  # 1000 keys a view
    monkeypatch.setattr(profiling, "KEYS_MIN", 10)
    body = "n,s,k\n" + "".join(f"{i},x{i},{i % 4}\n" for i in range(5000))
    path = tmp_path / "big.csv"
    path.write_text(body)
    summary = inspect_dataset(path, "csv")
    n, s, k = summary.profiles
    # A rising column cannot repeat: still known to be unique past the cap.
    assert n is not None and (n.distinct, n.distinct_exact, n.unique, n.rising) == (
        1000,
        False,
        True,
        True,
    )
    assert s is not None and (s.distinct, s.distinct_exact, s.unique) == (1000, False, False)
    assert k is not None and (k.distinct, k.distinct_exact) == (4, True)


def test_top_values_only_for_few_distinct_values_and_cut_short(tmp_path: Path) -> None:
    long = "y" * 100
    body = "few,many\n" + "".join(f"{long if i % 2 else 'a'},v{i}\n" for i in range(50))
    path = tmp_path / "top.csv"
    path.write_text(body)
    profiles = _profiles(path, "csv")
    few, many = profiles["few"], profiles["many"]
    assert few is not None and few.top == ["a", "y" * (TOP_VALUE_MAX_CHARS - 1) + "…"]
    assert many is not None and many.top == [] and many.distinct == 50


def test_json_lines_column_starting_late_counts_earlier_rows_as_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(datasets.base, "INSPECT_BLOCK_BYTES", 256)
    lines = [f'{{"a": {i}}}' for i in range(40)] + [
        f'{{"a": {i}, "late": "x"}}' for i in range(40, 50)
    ]
    path = tmp_path / "late.jsonl"
    path.write_text("\n".join(lines) + "\n")
    profiles = _profiles(path, "jsonl")
    late = profiles["late"]
    assert late is not None and (late.missing, late.distinct, late.top) == (40, 1, ["x"])
    a = profiles["a"]
    assert a is not None and a.rising and a.unique


def test_parquet_profiles(tmp_path: Path) -> None:
    import pandas as pd

    frame = pd.DataFrame(
        {
            "idx": range(100),
            "when": pd.date_range("2024-01-01", periods=100, freq="h", tz="UTC"),
            "ok": [i % 2 == 0 for i in range(100)],
            "city": ["Oslo", "Lima"] * 50,
        }
    )
    path = tmp_path / "p.parquet"
    frame.to_parquet(path)
    profiles = _profiles(path, "parquet")
    when = profiles["when"]
    assert when is not None and when.rising and when.min == "2024-01-01T00:00:00"
    assert profiles["ok"] is not None and profiles["ok"].top == ["false", "true"]
    assert profiles["city"] is not None and profiles["city"].top == ["Lima", "Oslo"]
