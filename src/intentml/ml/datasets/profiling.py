"""Column profiles (`ColumnProfile`): what each column holds, learned while a file streams.

A column is profiled through *views*, one per type its values may end up with: its
numbers, its instants (ns since the epoch, UTC), its booleans and its texts. The
streaming inspection learns a column's final type only at the end of the file (a
column of integers may turn out to be text in its last block), so every view that is
still possible is fed each batch, and `ColumnProfiler.finish` keeps the one of the
final type. A view that misses a batch with values (a Parquet number column has no
texts) is dropped, which costs nothing: its type can then no longer win.

Memory is bounded whatever the size of the file. Distinct values are counted exactly
by keeping one 64-bit key per distinct value (the number's bits, the instant, or a
hash of the text) in a numpy array, deduplicated every few batches, up to a cap per
view (`keys_cap`: `KEYS_BUDGET` keys shared by the file's columns, two views each, at
least `KEYS_MIN`). Past the cap the view stops counting: `distinct` is then the cap
and `distinct_exact` is False (a lower bound), and `unique` is True only when it is
proven another way (values that strictly rise cannot repeat). Texts are hashed with
pandas' 64-bit SipHash: a collision among a million values has odds of about 1 in
30 million. The most frequent values are counted exactly while a column has at most
`TOP_VALUES_MAX_DISTINCT` distinct values.

`profile_frame` profiles a whole DataFrame through the same views (one batch per
column), so reading a file whole and streaming it give the same profiles.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from intentml.domain.profiles import (
    TOP_VALUE_MAX_CHARS,
    TOP_VALUES,
    TOP_VALUES_MAX_DISTINCT,
    ColumnProfile,
)

#: Distinct-value keys (8 bytes each) a file's profiles keep at most, all columns together.
KEYS_BUDGET = 600_000
#: A view's cap is never below this, however many columns the file has.
KEYS_MIN = 1_000
#: Keys gathered before they are deduplicated into a view's sorted set (at least).
_PENDING_MIN = 4_096

Keys = npt.NDArray[np.uint64]


def keys_cap(columns: int) -> int:
    """The distinct values a view of one column counts exactly in a file of `columns`."""
    return max(KEYS_MIN, KEYS_BUDGET // (2 * max(1, columns)))


class _Distinct:
    """A capped set of 64-bit keys: exact up to `cap` distinct keys, then a lower bound."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.kept: Keys = np.empty(0, dtype=np.uint64)
        self.pending: list[Keys] = []
        self.pending_count = 0
        self.capped = False

    def add(self, keys: Keys) -> None:
        if self.capped or len(keys) == 0:
            return
        self.pending.append(keys)
        self.pending_count += len(keys)
        # Deduplicating only every so often keeps the sorting cost proportional to the
        # keys, and the pending keys below a quarter of the kept ones (or a few thousand).
        if self.pending_count >= max(_PENDING_MIN, len(self.kept) // 4):
            self._merge()

    def _merge(self) -> None:
        merged = np.unique(np.concatenate([self.kept, *self.pending]))
        self.pending, self.pending_count = [], 0
        if len(merged) > self.cap:
            self.capped = True
            self.kept = np.empty(0, dtype=np.uint64)
        else:
            self.kept = merged

    def count(self) -> int:
        if not self.capped and self.pending:
            self._merge()
        return self.cap if self.capped else len(self.kept)


class _View:
    """One way of reading a column's values: their distinct keys, frequencies and order."""

    def __init__(self, cap: int) -> None:
        self.alive = True
        self.distinct = _Distinct(cap)
        #: Value → rows, while there are at most `TOP_VALUES_MAX_DISTINCT` values.
        self.counts: dict[Any, int] | None = {}
        self.low: Any = None
        self.high: Any = None
        self.last: Any = None
        self.rising = True

    def kill(self) -> None:
        """This view cannot be the column's: free what it holds."""
        self.alive = False
        self.distinct = _Distinct(0)
        self.counts = None

    def count(self, values: list[Any], counts: list[int]) -> None:
        """Add a batch's value counts while the column has few distinct values."""
        if self.counts is None:
            return
        for value, n in zip(values, counts, strict=True):
            self.counts[value] = self.counts.get(value, 0) + int(n)
        if len(self.counts) > TOP_VALUES_MAX_DISTINCT:
            self.counts = None

    def order(self, low: Any, high: Any, first: Any, last: Any, rising: bool) -> None:
        """Add a batch's smallest, largest, first and last value and whether it rises."""
        if self.rising and (not rising or (self.last is not None and first <= self.last)):
            self.rising = False
        self.last = last
        self.low = low if self.low is None else min(self.low, low)
        self.high = high if self.high is None else max(self.high, high)


def _add_ordered(view: _View, values: npt.NDArray[Any], keys: Keys) -> None:
    """Numbers or instants (non-missing, in row order) into their view."""
    if len(values) == 0:
        return
    view.distinct.add(keys)
    if view.counts is not None:
        uniques, counts = np.unique(values, return_counts=True)
        if len(uniques) > TOP_VALUES_MAX_DISTINCT:
            view.counts = None
        else:
            view.count(uniques.tolist(), counts.tolist())
    rising = bool(np.all(values[1:] > values[:-1]))
    first, last = values[0].item(), values[-1].item()
    view.order(values.min().item(), values.max().item(), first, last, rising)


def _add_texts(view: _View, texts: pa.Array) -> None:
    """Texts (non-missing) into their view."""
    # Once the count is capped and the column has too many values to list, only the
    # smallest and largest text are left to learn.
    uniques = None if view.distinct.capped and view.counts is None else pc.unique(texts)
    if uniques is not None and not view.distinct.capped:
        objects = uniques.to_numpy(zero_copy_only=False)
        view.distinct.add(pd.util.hash_array(objects, categorize=False).astype(np.uint64))
    if view.counts is not None and uniques is not None:
        if len(uniques) > TOP_VALUES_MAX_DISTINCT:
            view.counts = None
        else:
            counted = pc.value_counts(texts)
            view.count(counted.field("values").to_pylist(), counted.field("counts").to_pylist())
    extremes = pc.min_max(texts)
    low, high = extremes["min"].as_py(), extremes["max"].as_py()
    view.low = low if view.low is None else min(view.low, low)
    view.high = high if view.high is None else max(view.high, high)
    view.rising = False


def _add_flags(view: _View, flags: npt.NDArray[np.bool_]) -> None:
    """Booleans (non-missing) into their view."""
    trues = int(flags.sum())
    pairs = [(value, n) for value, n in ((True, trues), (False, len(flags) - trues)) if n]
    view.distinct.add(np.array([int(v) for v, _ in pairs], dtype=np.uint64))
    view.count([v for v, _ in pairs], [n for _, n in pairs])
    low, high = bool(flags.all()), bool(flags.any())
    view.low = low if view.low is None else min(view.low, low)
    view.high = high if view.high is None else max(view.high, high)
    view.rising = False


#: The view that profiles a column of each user-facing type.
_VIEW_OF_TYPE = {
    "integer": "numbers",
    "number": "numbers",
    "date": "instants",
    "datetime": "instants",
    "boolean": "flags",
    "string": "texts",
}


class ColumnProfiler:
    """One column's profile, fed batch by batch (`add`), read once at the end (`finish`)."""

    def __init__(self, cap: int) -> None:
        self.rows = 0
        self.missing = 0
        self.views = {name: _View(cap) for name in ("numbers", "instants", "flags", "texts")}

    def add(
        self,
        rows: int,
        missing: int,
        *,
        texts: pa.Array | None = None,
        numbers: npt.NDArray[np.float64] | None = None,
        instants: npt.NDArray[np.int64] | None = None,
        flags: npt.NDArray[np.bool_] | None = None,
    ) -> None:
        """One batch: its row and missing counts and its present values, in row order, as
        each possible type reads them (None: not of that type)."""
        self.rows += rows
        self.missing += missing
        if rows == missing:
            return  # an all-missing batch says nothing about the type
        batch = {"numbers": numbers, "instants": instants, "flags": flags, "texts": texts}
        for name, values in batch.items():
            view = self.views[name]
            if not view.alive:
                continue
            if values is None:
                view.kill()
            else:
                _ADDERS[name](view, values)

    def finish(self, kind: str) -> ColumnProfile | None:
        """The profile of the column as of type `kind` (None if that view was dropped)."""
        view = self.views[_VIEW_OF_TYPE[kind]]
        if not view.alive:
            return None
        present = self.rows - self.missing
        if present == 0:
            return ColumnProfile(distinct=0, missing=self.missing, unique=False, rising=False)
        distinct = view.distinct.count()
        exact = not view.distinct.capped
        rising = view.rising and self.missing == 0 and present >= 2
        unique = self.missing == 0 and (rising or (exact and distinct == present))
        top: list[str] = []
        if view.counts is not None and exact and distinct <= TOP_VALUES_MAX_DISTINCT:
            labelled = [(_label(value, kind), n) for value, n in view.counts.items()]
            labelled.sort(key=lambda pair: (-pair[1], pair[0]))
            top = [_short(label) for label, _ in labelled[:TOP_VALUES]]
        return ColumnProfile(
            distinct=distinct,
            distinct_exact=exact,
            missing=self.missing,
            unique=unique,
            rising=rising,
            min=_extreme(view.low, kind),
            max=_extreme(view.high, kind),
            top=top,
        )


def _add_numbers(view: _View, numbers: npt.NDArray[np.float64]) -> None:
    # + 0.0 turns -0.0 into 0.0, so equal numbers have equal bits.
    canonical = numbers + 0.0
    _add_ordered(view, canonical, canonical.view(np.uint64))


def _add_instants(view: _View, instants: npt.NDArray[np.int64]) -> None:
    _add_ordered(view, instants, instants.view(np.uint64))


_ADDERS: dict[str, Callable[[_View, Any], None]] = {
    "numbers": _add_numbers,
    "instants": _add_instants,
    "flags": _add_flags,
    "texts": _add_texts,
}


def _label(value: Any, kind: str) -> str:
    """A value of the view of `kind` as the text a profile shows."""
    if kind in ("integer", "number"):
        number = float(value)
        return str(int(number)) if number.is_integer() and abs(number) < 2**53 else repr(number)
    if kind in ("date", "datetime"):
        stamp = pd.Timestamp(int(value), unit="ns")
        return stamp.strftime("%Y-%m-%d") if kind == "date" else stamp.isoformat()
    if kind == "boolean":
        return "true" if value else "false"
    return str(value)


def _extreme(value: Any, kind: str) -> float | str | None:
    if value is None:
        return None
    if kind in ("integer", "number"):
        return float(value)
    return _short(_label(value, kind))


def _short(text: str) -> str:
    return text if len(text) <= TOP_VALUE_MAX_CHARS else text[: TOP_VALUE_MAX_CHARS - 1] + "…"
