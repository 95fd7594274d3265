"""Format detection, parsing and column typing of uploaded datasets."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from intentml.ml import datasets
from intentml.ml.datasets import (
    COLUMN_TYPES,
    ColumnInfo,
    DatasetError,
    DatasetSummary,
    column_infos,
    detect_format,
    inspect_dataset,
    merge_column_types,
    profile_frame,
    read_dataset,
)
from tests.data import churn_rows, to_csv

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


# ------------------------------------------------------------ streaming inspection


def _whole(path: Path, fmt: str) -> DatasetSummary:
    """What inspection used to do: read everything, then type (and profile) the frame."""
    df = read_dataset(path, fmt)
    return DatasetSummary(len(df), column_infos(df), profile_frame(df))


def _parquet_frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame(
        {
            "x": rng.normal(size=50),
            "k": rng.integers(0, 5, 50),
            "c": rng.choice(["a", "b"], 50),
            "flag": rng.random(50) < 0.5,
            "when": pd.date_range("2024-01-01", periods=50, freq="h", tz="UTC"),
            "naive": pd.date_range("2024-01-01", periods=50, freq="D"),
            "day": [f"2024-03-{d:02d}" for d in rng.integers(1, 29, 50)],
            "none": [None] * 50,
        }
    )


SAME_AS_WHOLE: list[tuple[str, bytes | str]] = [
    ("csv", CSV),
    ("csv", "n,m\n1,a\n,b\n3,c\n"),
    ("csv", 'a,b\n"two\nlines",1\nx,2\n'),
    ("csv", "a;b\n1;x\n2;y\n"),
    ("csv", "a\tb\n1\tx\n"),
    ("csv", "city,n\nMünchen,1\n".encode("latin-1")),
    ("csv", "city,n\ncaf\x81,1\n".encode("latin-1")),  # not cp1252 either
    ("csv", ",a\n0,x\n1,y\n"),
    ("csv", "a,b\n" + "".join(f"{i},{i * 2}\n" for i in range(1000))),
    ("csv", to_csv(churn_rows(40))),
    ("csv", "a,b\n" + "x" * 300_000 + ",1\ny,2\n"),  # a record longer than a block
    (
        "csv",
        "flag,ts,tz,mid,mixed,bad_date,t,big,nul,pct\n"
        "true,2024-01-05 10:00:00,2024-01-05T10:00:00Z,2024-01-05 00:00,2024-01-05,"
        "2024-02-30,10:00:00,99999999999999999999,,+1.5\n"
        "FALSE,2024-01-05T11:00,2024-01-05T10:00:00+02:00,2024-01-06T00:00:00,"
        "2024-01-06 10:00,2024-01-01,11:30:00,1,NULL,-2\n",
    ),
    (
        "jsonl",
        '{"a": 1, "b": "x", "t": "2024-01-05T10:00:00Z", "tags": [1, 2]}\n'
        '{"a": 2, "b": null, "t": "2024-01-06T11:00:00Z"}\n',
    ),
    ("jsonl", "\n".join(json.dumps(x) for x in churn_rows(40))),
    ("jsonl", '{"a": 1}\n\n{"a": 2.5, "late": true}\n'),
]


@pytest.mark.parametrize(("fmt", "body"), SAME_AS_WHOLE)
def test_inspect_dataset_matches_reading_it_whole(
    tmp_path: Path, fmt: str, body: bytes | str
) -> None:
    path = _write(tmp_path, f"d.{fmt}", body)
    assert inspect_dataset(path, fmt) == _whole(path, fmt)


def test_inspect_parquet_matches_reading_it_whole(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    frame = pd.concat([_parquet_frame()] * 3000, ignore_index=True)  # several batches
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=40_000)
    assert inspect_dataset(path, "parquet") == _whole(path, "parquet")
    assert inspect_dataset(path, "parquet").rows == 150_000


BROKEN: list[tuple[str, bytes | str]] = [
    ("csv", "a,b,c\n1,2,3\n4,5,6\n7,8\n9,10,11\n"),
    ("csv", "a,b,c\n" + "1,2,3\n" * 50_000 + "1,2,3,4\n"),
    ("csv", "a,b,c\n"),
    ("csv", "a,b,a\n1,2,3\n"),
    ("csv", ""),
    ("jsonl", '{"a": 1}\n{"a": 2}\n{"a": 3,}\n'),
    ("jsonl", '{"a": 1}\n{"a": 2\n{"a": 3}\n'),
    ("parquet", b"PAR1 not really"),
    ("parquet", b"PAR1" + b"\x00garbage" * 50),
]


@pytest.mark.parametrize(("fmt", "body"), BROKEN)
def test_inspect_dataset_fails_as_reading_it_whole(
    tmp_path: Path, fmt: str, body: bytes | str
) -> None:
    path = _write(tmp_path, f"bad.{fmt}", body)
    with pytest.raises(DatasetError) as whole:
        read_dataset(path, fmt)
    with pytest.raises(DatasetError) as streamed:
        inspect_dataset(path, fmt)
    # pq.read_table names the (server-side, temporary) path; ParquetFile does not.
    expected = str(whole.value).replace(f"Could not open Parquet input source '{path}': ", "")
    assert str(streamed.value) == expected


def test_inspect_dataset_names_lines_beyond_the_first_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(datasets.base, "INSPECT_BLOCK_BYTES", 4096)
    csv_path = _write(tmp_path, "bad.csv", "a,b,c\n" + "1,2,3\n" * 20_000 + "1,2\n")
    with pytest.raises(DatasetError, match=r"CSV line 20002: expected 3 columns.*found 2"):
        inspect_dataset(csv_path, "csv")
    jsonl_path = _write(tmp_path, "bad.jsonl", '{"a": 1}\n' * 20_000 + '{"a": }\n')
    with pytest.raises(DatasetError, match=r"^JSON Lines line 20001: "):
        inspect_dataset(jsonl_path, "jsonl")
    with pytest.raises(DatasetError, match="cannot read"):
        inspect_dataset(tmp_path / "nope.csv", "csv")


def test_inspect_dataset_rejects_unknown_formats(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="unknown format"):
        inspect_dataset(_write(tmp_path, "x.csv", CSV), "xlsx")


@pytest.mark.parametrize(
    ("first", "second", "merged"),
    [
        ("integer", "number", "number"),
        ("number", "integer", "number"),
        ("date", "datetime", "datetime"),
        ("datetime", "date", "datetime"),
        ("integer", "string", "string"),
        ("date", "string", "string"),
        ("boolean", "integer", "string"),
        ("number", "date", "string"),
        ("boolean", "datetime", "string"),
    ],
)
def test_merge_column_types(first: str, second: str, merged: str) -> None:
    assert merge_column_types(first, second) == merged


def test_merge_column_types_is_symmetric_and_idempotent() -> None:
    for a in COLUMN_TYPES:
        assert merge_column_types(a, a) == a
        for b in COLUMN_TYPES:
            assert merge_column_types(a, b) == merge_column_types(b, a)
            assert merge_column_types(a, b) in COLUMN_TYPES
            assert merge_column_types(a, "string") == "string"


def test_column_turning_decimal_then_text_after_the_first_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small batches, so the integers fill several of them before the first decimal,
    # as they would fill pyarrow's first block in a big file.
    monkeypatch.setattr(datasets.base, "INSPECT_BLOCK_BYTES", 16 * 1024)
    ints = "".join(f"{i},{i % 7},2024-01-{i % 28 + 1:02d},\n" for i in range(12_000))
    decimals = "".join(f"{i},{i}.5,2024-01-05 10:00,\n" for i in range(12_000, 12_100))
    body = "id,x,when,empty\n" + ints + decimals
    path = _write(tmp_path, "late.csv", body)
    summary = inspect_dataset(path, "csv")
    assert (summary.rows, summary.columns) == (
        12_100,
        [
            ColumnInfo("id", "integer"),
            ColumnInfo("x", "number"),
            ColumnInfo("when", "datetime"),
            ColumnInfo("empty", "string"),
        ],
    )
    assert summary == _whole(path, "csv")  # the profiles too

    path = _write(tmp_path, "text.csv", body + "12100,n/a?,soon,\n")
    summary = inspect_dataset(path, "csv")
    assert [c.type for c in summary.columns] == ["integer", "string", "string", "string"]
    assert summary == _whole(path, "csv")


_MEASURE = """
import json, resource, sys, tracemalloc
from pathlib import Path
import pyarrow as pa
from intentml.ml.datasets import column_infos, inspect_dataset, read_dataset
path, how = Path(sys.argv[1]), sys.argv[2]
tracemalloc.start()
if how == "stream":
    rows = inspect_dataset(path, "csv").rows
else:
    rows = len(read_dataset(path, "csv"))
_, peak = tracemalloc.get_traced_memory()
print(json.dumps({
    "rows": rows,
    "python_peak": peak,
    "arrow_peak": pa.default_memory_pool().max_memory(),
    "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
}))
"""


def _measure(path: Path, how: str) -> dict[str, int]:
    # A fresh interpreter: pyarrow's pool keeps its peak for the life of the process.
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_MEASURE), str(path), how],
        capture_output=True,
        text=True,
        check=True,
    )
    measured: dict[str, int] = json.loads(done.stdout)
    return measured


def test_inspecting_a_big_csv_holds_a_few_mib_whatever_its_size(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    line = "{i},{u:.3f},plan_{p},{b},2024-{m:02d}-{d:02d},some free text number {i}\n"
    with path.open("w") as fh:
        fh.write("id,usage,plan,active,day,note\n")
        for start in range(0, 800_000, 10_000):
            fh.write(
                "".join(
                    line.format(i=i, u=i / 7, p=i % 5, b=i % 2 == 0, m=i % 12 + 1, d=i % 28 + 1)
                    for i in range(start, start + 10_000)
                )
            )
    size = path.stat().st_size
    assert size > 50 * 1024 * 1024
    measured = _measure(path, "stream")
    assert measured["rows"] == 800_000
    # Measured: 0.1 MiB of Python objects and 5 MiB in pyarrow's pool (reading the
    # file whole: 9 MiB and 115 MiB).
    assert measured["python_peak"] < 16 * 1024 * 1024, measured
    assert measured["arrow_peak"] < 16 * 1024 * 1024, measured


def test_an_unclosed_quote_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "cut.csv"
    # Escaped quotes ("") are fine; the quote opened on line 4 never closes.
    path.write_bytes(b'a,b\n1,"say ""hi"""\n2,x\n3,"4\n5,6\n')
    with pytest.raises(datasets.DatasetError, match=r"line 4: a quoted value opens here"):
        datasets.inspect_dataset(path, "csv")
    path.write_bytes(b'a,b\n1,"say ""hi"""\n2,"multi\nline"\n')
    assert datasets.inspect_dataset(path, "csv").rows == 2
