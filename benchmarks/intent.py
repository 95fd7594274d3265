"""Intent resolution benchmark: does the sentence find the column a person would pick?

Cases come from public datasets with their published column names (`intent_data.py`),
phrased as users write (`intent_cases.py`: tuning; `intent_heldout.py`: the held-out
fifth, written before tuning; `intent_fresh.py`: a fourth held-out set, scored once
and only with `--set fresh`; `intent_heldout3.py`: a fifth, scored once and only with
`--set heldout3`). Each case is right, refused (with or without the right
column in the first three candidates) or wrong. Also times resolution over a
200-column table against a bare token match in the same process.

    make bench-intent            # both sets
    python benchmarks/intent.py --set tuning -v
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from intent_cases import TUNING
from intent_data import DATASETS, num
from intent_fresh import FRESH
from intent_heldout import HELD_OUT
from intent_heldout3 import HELD_OUT3

from intentml.ml.target import ColumnFacts, TargetResolutionError, resolve_target
from intentml.ml.target.names import name_tokens, stem


@dataclass
class Outcome:
    """One case's result."""

    dataset: str
    intent: str
    expected: str
    verdict: str  # right, refused, wrong
    got: str
    in_top3: bool


def facts(dataset: str) -> list[ColumnFacts]:
    """The dataset's columns as an upload would describe them."""
    return [ColumnFacts(name, kind, profile) for name, kind, profile in DATASETS[dataset]]


def run_case(dataset: str, intent: str, expected: str) -> Outcome:
    """Resolve one case and judge it."""
    try:
        choice = resolve_target(facts(dataset), intent)
    except TargetResolutionError as exc:
        top = exc.candidates[:3]
        return Outcome(dataset, intent, expected, "refused", ", ".join(top), expected in top)
    verdict = "right" if choice.column == expected else "wrong"
    return Outcome(dataset, intent, expected, verdict, choice.column, verdict == "right")


def run_set(cases: list[tuple[str, str, str]]) -> list[Outcome]:
    """Every case of a set."""
    return [run_case(*case) for case in cases]


def summary(outcomes: list[Outcome]) -> dict[str, float]:
    """Counts and the share right."""
    n = len(outcomes)
    right = sum(o.verdict == "right" for o in outcomes)
    refused = [o for o in outcomes if o.verdict == "refused"]
    return {
        "cases": n,
        "right": right,
        "refused": len(refused),
        "refused_top3": sum(o.in_top3 for o in refused),
        "wrong": sum(o.verdict == "wrong" for o in outcomes),
        "right_pct": 100.0 * right / max(1, n),
    }


def _wide_table() -> tuple[list[ColumnFacts], str]:
    columns = [
        ColumnFacts(*num(f"feature_{i:03d}_{w}", 0, 1))
        for i, w in enumerate(["level", "ratio", "mean", "load", "temp"] * 40)
    ]
    columns[137] = ColumnFacts("monthly_churn_flag", "integer")
    return columns, "Which customers are going to leave us next month?"


def _bare_match(columns: list[ColumnFacts], intent: str) -> str | None:
    words = {stem(w) for w in name_tokens(intent)}
    for column in columns:
        if {stem(t) for t in name_tokens(column.name)} & words:
            return column.name
    return None


def timing(repeats: int = 200) -> tuple[float, float]:
    """Milliseconds per resolution of a 200-column table, and per bare token match."""
    columns, intent = _wide_table()
    resolve_target(columns, intent)  # warm the vocabulary
    start = time.perf_counter()
    for _ in range(repeats):
        resolve_target(columns, intent)
    ours = (time.perf_counter() - start) * 1000 / repeats
    start = time.perf_counter()
    for _ in range(repeats):
        _bare_match(columns, intent)
    bare = (time.perf_counter() - start) * 1000 / repeats
    return ours, bare


def _report(name: str, outcomes: list[Outcome], verbose: bool) -> None:
    s = summary(outcomes)
    print(
        f"{name:9} {s['cases']:4.0f} cases: {s['right']:3.0f} right ({s['right_pct']:.1f} %), "
        f"{s['refused']:.0f} refused ({s['refused_top3']:.0f} with the right column in the "
        f"top 3), {s['wrong']:.0f} wrong"
    )
    for o in outcomes:
        if verbose or o.verdict != "right":
            print(
                f"    {o.verdict:7} [{o.dataset}] {o.intent!r}: "
                f"expected {o.expected!r}, got {o.got}"
            )


def main() -> None:
    """Score the chosen sets and time resolution."""
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--set", choices=["tuning", "heldout", "both", "fresh", "heldout3"], default="both"
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    if args.set in ("tuning", "both"):
        _report("tuning", run_set(TUNING), args.verbose)
    if args.set in ("heldout", "both"):
        _report("held-out", run_set(HELD_OUT), args.verbose)
    if args.set == "fresh":
        _report("fresh", run_set(FRESH), args.verbose)
    if args.set == "heldout3":
        _report("heldout3", run_set(HELD_OUT3), args.verbose)
    ours, bare = timing()
    print(
        f"200-column table: {ours:.3f} ms per resolution (bare token match {bare:.3f} ms, "
        f"{ours / bare:.1f}x); budget 5 ms"
    )


if __name__ == "__main__":
    main()
