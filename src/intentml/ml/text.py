"""Short, readable renderings of numbers, values and name lists for build-log lines."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def fmt(value: float) -> str:
    """A number with about four significant digits; scientific notation when tiny or huge."""
    if math.isnan(value):
        return "n/a"
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:.3g}"
    return f"{value:.4g}" if abs(value) >= 1 else f"{value:.3f}"


def short(value: Any) -> str:
    """repr of a value, cut to 40 characters."""
    text = repr(value.item() if isinstance(value, np.generic) else value)
    return text if len(text) <= 40 else text[:37] + "..."


def preview(names: list[str], limit: int = 10) -> str:
    """The first `limit` names, comma-separated, and how many more there are."""
    shown = ", ".join(names[:limit])
    return shown + (f" (+{len(names) - limit} more)" if len(names) > limit else "")
