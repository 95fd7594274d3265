"""What a model artifact describes: `FeatureSpec`, `ModelMeta` and the artifact
constants, and how inputs become matrix columns (the layout, date and date-time
parts, class labels back in the target's type).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import msgspec

#: Bumped when the artifact layout changes incompatibly.
FORMAT_VERSION = 1


MODEL_FILE = "model.txt"


META_FILE = "meta.json"


INPUT_KINDS = ("number", "integer", "boolean", "category", "date", "datetime")


#: The numeric features a date expands to, in matrix order. `dayofweek` is 0 for Monday.
DATE_PARTS = ("year", "month", "day", "dayofweek", "epoch_days")


#: A date-time also keeps its hour (UTC).
DATETIME_PARTS = (*DATE_PARTS, "hour")


RISK_LEVELS = ("low", "medium", "high")


NAN = math.nan


_EPOCH = datetime(1970, 1, 1)


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


class FeatureSpec(msgspec.Struct, frozen=True):
    """One raw input field of a model.

    For `kind == "category"`, `categories` lists the values seen in training in code
    order (a value's index is the code LightGBM was trained on). A field that had
    missing values in training is not `required`: leaving it out means "unknown".
    """

    name: str
    kind: str
    categories: list[str] = msgspec.field(default_factory=list)
    required: bool = True


class ModelMeta(msgspec.Struct, frozen=True, kw_only=True):
    """Everything besides the booster that serving needs, stored as `meta.json`."""

    format_version: int = FORMAT_VERSION
    task: str
    target: str
    #: The user-facing type of the target column, so labels come back typed.
    target_type: str = "string"
    #: Class labels as strings, in code order (classifiers only).
    classes: list[str] = msgspec.field(default_factory=list)
    positive_class: str | None = None
    inputs: list[FeatureSpec] = msgspec.field(default_factory=list)
    ignored_columns: list[str] = msgspec.field(default_factory=list)
    output_fields: list[str] = msgspec.field(default_factory=list)
    metric_name: str = ""
    metric_value: float = 0.0
    metrics: dict[str, float] = msgspec.field(default_factory=dict)
    #: Names of the matrix columns the booster sees, derived from `inputs`.
    matrix_columns: list[str] = msgspec.field(default_factory=list)
    best_iteration: int = 0
    decision_threshold: float = 0.5
    risk_thresholds: list[float] = msgspec.field(default_factory=lambda: [0.33, 0.66])
    rows_used: int = 0
    intent: str = ""
    lightgbm_version: str = ""
    #: A typical valid request row (medians, most frequent values), for smoke tests
    #: and documentation.
    sample_input: dict[str, Any] = msgspec.field(default_factory=dict)


def expanded_columns(spec: FeatureSpec) -> list[str]:
    """The matrix column names one input expands to (dates expand to several)."""
    if spec.kind == "date":
        return [f"{spec.name}.{part}" for part in DATE_PARTS]
    if spec.kind == "datetime":
        return [f"{spec.name}.{part}" for part in DATETIME_PARTS]
    return [spec.name]


def matrix_layout(inputs: Sequence[FeatureSpec]) -> tuple[list[str], list[int]]:
    """All matrix column names, and the positions of the categorical ones."""
    names: list[str] = []
    categorical: list[int] = []
    for spec in inputs:
        if spec.kind == "category":
            categorical.append(len(names))
        names.extend(expanded_columns(spec))
    return names, categorical


def parse_when(value: Any) -> datetime:
    """An ISO 8601 date or date-time (or a date/datetime object) as naive UTC."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        moment = datetime.fromisoformat(value)
    else:
        raise TypeError(f"expected an ISO 8601 string, got {type(value).__name__}")
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def date_features(value: Any) -> list[float]:
    """year, month, day, dayofweek, epoch_days of a date (a date-time's UTC date)."""
    return [float(part) for part in date_parts(value)]


def date_parts(value: Any) -> tuple[int, int, int, int, int]:
    """`date_features` as ints."""
    if type(value) is str and len(value) == 10:
        # The common YYYY-MM-DD: what datetime.fromisoformat would give, faster.
        try:
            day = date.fromisoformat(value)
        except ValueError:
            day = parse_when(value).date()
    else:
        day = parse_when(value).date()
    return (day.year, day.month, day.day, day.weekday(), day.toordinal() - _EPOCH_ORDINAL)


def datetime_features(value: Any) -> list[float]:
    """The date features of a UTC date-time (epoch_days with the time of day) and its hour."""
    moment = parse_when(value)
    delta = moment - _EPOCH
    # Whole seconds, as training truncates datetime64 to seconds.
    seconds = delta.days * 86400 + delta.seconds
    return [
        float(moment.year),
        float(moment.month),
        float(moment.day),
        float(moment.weekday()),
        seconds / 86400.0,
        float(moment.hour),
    ]


def typed_label(label: str, target_type: str) -> Any:
    """A class label back in the target column's own type ("1" → 1, "true" → True)."""
    try:
        if target_type == "boolean":
            return label == "true"
        if target_type == "integer":
            return int(label)
        if target_type == "number":
            return float(label)
    except ValueError:
        pass
    return label
