"""Reading uploaded tabular files (CSV, Parquet, JSON Lines) into pandas.

Parsing goes through pyarrow, which is multi-threaded and infers column types over
the whole file. Every parser failure becomes a `DatasetError` whose message a user
can act on (with the line number when it is known).

One pipeline for every format (`pipeline`): sniff (`sniff.detect_format`) → read
whole (`read_dataset`) or stream (`inspect_dataset`) → type (`column_types`). Each
format is one module implementing the `base.DatasetFormat` Protocol (`csv`,
`parquet`, `jsonl`); the checks of names and rows and the arrow → pandas conversion
are in `tables`, once.
"""

from intentml.ml.datasets.base import (
    COLUMN_TYPES,
    FORMATS,
    ColumnInfo,
    DatasetError,
    DatasetFormat,
    DatasetSummary,
)
from intentml.ml.datasets.column_types import (
    column_infos,
    column_type,
    merge_column_types,
    parse_iso_datetimes,
    profile_frame,
)
from intentml.ml.datasets.pipeline import inspect_dataset, read_dataset
from intentml.ml.datasets.sniff import detect_format

__all__ = [
    "COLUMN_TYPES",
    "FORMATS",
    "ColumnInfo",
    "DatasetError",
    "DatasetFormat",
    "DatasetSummary",
    "column_infos",
    "column_type",
    "detect_format",
    "inspect_dataset",
    "merge_column_types",
    "parse_iso_datetimes",
    "profile_frame",
    "read_dataset",
]
