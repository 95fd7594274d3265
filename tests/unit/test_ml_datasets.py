"""Format detection, parsing and column typing of uploaded datasets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from intentml.ml.datasets import (
    ColumnInfo,
    DatasetError,
    column_infos,
    detect_format,
    read_dataset,
)

CSV = (
    "id,amount,plan,active,signup,seen_at\n"
    "1,10.5,basic,true,2024-01-05,2024-01-05 10:00:00\n"
    "2,,pro,false,2024-02-06,2024-01-06 11:30:00\n"
    "3,7.25,,true,,2024-01-07 09:15:00\n"
)


def _write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


# ------------------------------------------------------------------- detect_format


@pytest.mark.parametrize(
    ("filename", "head", "expected"),
    [
        ("data.parquet", b"PAR1\x15\x04", "parquet"),
        ("upload.bin", b"PAR1\x15\x04", "parquet"),  # content wins over the name
        ("rows.jsonl", b'{"a": 1}\n{"a": 2}\n', "jsonl"),
        ("rows.txt", b'  \n {"a": 1}\n', "jsonl"),
        ("rows.ndjson", b'{"a": 1}\n', "jsonl"),
        ("data.csv", b"a,b\n1,2\n", "csv"),
        ("data", b"a;b\n1;2\n", "csv"),
        ("data.csv", b"\xef\xbb\xbfa,b\n1,2\n", "csv"),
        ("data.tsv", b"caf\xe9,b\n1,2\n", "csv"),  # latin-1 text is still text
    ],
)
def test_detect_format(filename: str, head: bytes, expected: str) -> None:
    assert detect_format(filename, head) == expected


@pytest.mark.parametrize(
    ("filename", "head", "fragment"),
    [
        ("empty.csv", b"", "empty"),
        ("blank.csv", b"   \n\n", "whitespace"),
        ("x.bin", bytes(range(256)) * 4, "binary"),
        ("archive.zip", b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(200), "binary"),
        ("fake.parquet", b"a,b\n1,2\n", "PAR1"),
        ("excel.txt", "a\tb\n1\t2\n".encode("utf-16"), "UTF-16"),
        ("rows.json", b'[{"a": 1}]', "JSON array"),
        ("rows.jsonl", b"a,b\n1,2\n", "JSON"),
    ],
)
def test_detect_format_rejects(filename: str, head: bytes, fragment: str) -> None:
    with pytest.raises(DatasetError, match=fragment):
        detect_format(filename, head)


# ---------------------------------------------------------------------------- CSV


def test_read_csv_types(tmp_path: Path) -> None:
    df = read_dataset(_write(tmp_path, "d.csv", CSV), "csv")
    assert list(df.columns) == ["id", "amount", "plan", "active", "signup", "seen_at"]
    assert len(df) == 3
    assert str(df["id"].dtype) == "Int64"
    assert df["amount"].isna().sum() == 1
    assert df["plan"].isna().sum() == 1  # an empty string is missing, not a category
    assert column_infos(df) == [
        ColumnInfo("id", "integer"),
        ColumnInfo("amount", "number"),
        ColumnInfo("plan", "string"),
        ColumnInfo("active", "boolean"),
        ColumnInfo("signup", "date"),
        ColumnInfo("seen_at", "datetime"),
    ]


def test_read_csv_nullable_integers_stay_integers(tmp_path: Path) -> None:
    df = read_dataset(_write(tmp_path, "d2.csv", "n,m\n1,a\n,b\n3,c\n"), "csv")
    assert column_infos(df)[0] == ColumnInfo("n", "integer")
    assert df["n"].isna().tolist() == [False, True, False]


def test_broken_csv_names_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "bad.csv", "a,b,c\n1,2,3\n4,5,6\n7,8\n9,10,11\n")
    with pytest.raises(DatasetError, match=r"line 4.*expected 3 columns.*found 2"):
        read_dataset(path, "csv")


def test_broken_csv_late_in_a_big_file_names_the_line(tmp_path: Path) -> None:
    body = "a,b,c\n" + "1,2,3\n" * 50_000 + "1,2,3,4\n"
    with pytest.raises(DatasetError, match="line 50002"):
        read_dataset(_write(tmp_path, "bad.csv", body), "csv")


def test_csv_with_newlines_in_quoted_values(tmp_path: Path) -> None:
    df = read_dataset(_write(tmp_path, "q.csv", 'a,b\n"two\nlines",1\nx,2\n'), "csv")
    assert df["a"].tolist() == ["two\nlines", "x"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("", "empty"),
        ("a,b,c\n", "no data rows"),
        ("a,b,a\n1,2,3\n", "duplicate column names: 'a'"),
    ],
)
def test_unusable_csv(tmp_path: Path, body: str, fragment: str) -> None:
    with pytest.raises(DatasetError, match=fragment):
        read_dataset(_write(tmp_path, "x.csv", body), "csv")


def test_semicolon_and_tab_delimiters(tmp_path: Path) -> None:
    df = read_dataset(_write(tmp_path, "s.csv", "a;b\n1;x\n2;y\n"), "csv")
    assert list(df.columns) == ["a", "b"]
    df = read_dataset(_write(tmp_path, "t.tsv", "a\tb\n1\tx\n"), "csv")
    assert list(df.columns) == ["a", "b"]


def test_latin1_csv_is_decoded(tmp_path: Path) -> None:
    df = read_dataset(_write(tmp_path, "l.csv", "city,n\nMünchen,1\n".encode("latin-1")), "csv")
    assert df["city"].tolist() == ["München"]


def test_pandas_index_column_gets_a_name(tmp_path: Path) -> None:
    df = read_dataset(_write(tmp_path, "i.csv", ",a\n0,x\n1,y\n"), "csv")
    assert list(df.columns) == ["unnamed_0", "a"]


def test_max_rows(tmp_path: Path) -> None:
    body = "a,b\n" + "".join(f"{i},{i * 2}\n" for i in range(1000))
    df = read_dataset(_write(tmp_path, "m.csv", body), "csv", max_rows=10)
    assert len(df) == 10
    assert df["a"].tolist() == list(range(10))


# ------------------------------------------------------------------ Parquet, JSONL


def test_read_parquet(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=50),
            "k": rng.integers(0, 5, 50),
            "c": rng.choice(["a", "b"], 50),
            "flag": rng.random(50) < 0.5,
            "when": pd.date_range("2024-01-01", periods=50, freq="h", tz="UTC"),
            "day": [f"2024-03-{d:02d}" for d in rng.integers(1, 29, 50)],
        }
    )
    path = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    assert detect_format("d.parquet", path.read_bytes()[:16]) == "parquet"
    df = read_dataset(path, "parquet")
    assert len(df) == 50
    types = {c.name: c.type for c in column_infos(df)}
    assert types == {
        "x": "number",
        "k": "integer",
        "c": "string",
        "flag": "boolean",
        "when": "datetime",
        "day": "date",  # ISO strings count as dates
    }
    assert len(read_dataset(path, "parquet", max_rows=7)) == 7


def test_read_jsonl(tmp_path: Path) -> None:
    body = (
        '{"a": 1, "b": "x", "t": "2024-01-05T10:00:00Z", "tags": [1, 2]}\n'
        '{"a": 2, "b": null, "t": "2024-01-06T11:00:00Z"}\n'
    )
    df = read_dataset(_write(tmp_path, "d.jsonl", body), "jsonl")
    types = {c.name: c.type for c in column_infos(df)}
    assert types["a"] == "integer"
    assert types["b"] == "string"
    assert types["t"] == "datetime"
    assert df["tags"].tolist()[0] == "[1,2]"  # nested values become their JSON text


def test_broken_jsonl_names_the_line(tmp_path: Path) -> None:
    body = '{"a": 1}\n{"a": 2}\n{"a": 3,}\n'
    with pytest.raises(DatasetError, match="line 3"):
        read_dataset(_write(tmp_path, "bad.jsonl", body), "jsonl")


def test_garbage_as_parquet(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="Parquet"):
        read_dataset(_write(tmp_path, "g.parquet", b"PAR1 not really"), "parquet")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="cannot read"):
        read_dataset(tmp_path / "nope.csv", "csv")


def test_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="unknown format"):
        read_dataset(_write(tmp_path, "x.csv", CSV), "xlsx")


# ----------------------------------------------------------------- column typing


def test_column_types_of_strings() -> None:
    df = pd.DataFrame(
        {
            "d": ["2024-01-05", None, "2023-12-31"],
            "dt": ["2024-01-05T10:00:00+02:00", "2024-01-05 08:00", None],
            "bad_date": ["2024-02-30", "2024-01-01", None],
            "s": ["a", "b", None],
            "empty": [None, None, None],
        }
    )
    assert [c.type for c in column_infos(df)] == [
        "date",
        "datetime",
        "string",
        "string",
        "string",
    ]
