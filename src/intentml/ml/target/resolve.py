"""Which column should the model predict? Resolved from the request and the data, with
a score and the evidence for every candidate, never guessed silently.

Precedence: an explicit `target` field, then the output schema's field names, then the
intent sentence weighed against every column (`evidence`). The best column is taken
only when it is clearly ahead (`MIN_SCORE`, `MARGIN`); otherwise the caller gets a
`TargetResolutionError` with the ranked candidates and how to choose.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from intentml.ml.target import evidence as ev
from intentml.ml.target.matching import (
    EXACT,
    FUZZY,
    FUZZY_MIN_RATIO,
    GENERIC,
    NORMALIZED,
    VERBATIM,
    _ratio,
)
from intentml.ml.target.names import generic_key, name_key, name_tokens, stem, strip_prefixes

#: The best column needs at least this score (about one strong piece of evidence: its
#: name at the head of the intent, or a word the vocabulary ties to its name).
MIN_SCORE = 5.0
#: ...and this lead over the runner-up (more than the question's form alone can give),
#: or the request is refused with the candidates.
MARGIN = 2.5
#: Candidates listed in a refusal.
MAX_CANDIDATES = 5

_OUTPUT_SUFFIXES = (
    "probability",
    "probabilities",
    "prob",
    "proba",
    "score",
    "prediction",
    "predicted",
    "pred",
    "label",
    "class",
    "value",
    "likelihood",
    "estimate",
    "forecast",
    "flag",
)
_OUTPUT_PREFIXES = ("predicted", "pred", "expected", "estimated", "forecast", "forecasted")


class Candidate(msgspec.Struct, frozen=True):
    """A column considered as the target: its score and the evidence, strongest first."""

    column: str
    score: float
    evidence: list[str]


class TargetChoice(msgspec.Struct, frozen=True):
    """The column to predict, why it was chosen, and the output field that named it;
    `candidates` ranks what else was weighed (empty when the request named it)."""

    column: str
    reason: str
    output_field: str | None = None
    candidates: list[Candidate] = []


class TargetResolutionError(ValueError):
    """No column, or more than one, fits; `candidates` are the columns to choose from
    (best first) and `ranked` the same with their scores and evidence."""

    def __init__(
        self, message: str, candidates: list[str], ranked: list[Candidate] | None = None
    ) -> None:
        super().__init__(message)
        self.candidates = candidates
        self.ranked = ranked if ranked is not None else [Candidate(c, 0.0, []) for c in candidates]


def resolve_target(
    columns: Sequence[str | ev.ColumnFacts],
    intent: str,
    target: str | None = None,
    output_schema: Mapping[str, Any] | None = None,
) -> TargetChoice:
    """Pick the column to predict from an explicit target, output schema or intent.

    `columns` are names, or `ColumnFacts` with types and upload profiles (more evidence).
    Raises `TargetResolutionError` (with ranked candidates) when the explicit target is
    not a column, or when no column is clearly ahead.
    """
    facts = [c if isinstance(c, ev.ColumnFacts) else ev.ColumnFacts(c) for c in columns]
    names = [c.name for c in facts]
    if not names:
        raise TargetResolutionError("the dataset has no columns to predict", [])
    if target is not None and target.strip():
        return _explicit(names, target.strip())
    tied: list[str] = []
    fields = _output_fields(output_schema)
    if fields:
        eligible = [c.name for c in facts if not ev.identifier_reason(c)]
        choice, tied = _from_output_fields(eligible, fields)
        if choice is not None:
            return choice
    return _from_intent(facts, intent, tied)


def rank_columns(columns: Sequence[ev.ColumnFacts], intent: str) -> list[ev.Scored]:
    """Every column scored against the intent, best first (excluded ones last). Among
    equal scores the table's last column comes first: published tables put the target
    there more often than anywhere else. That orders a refusal's candidates; it never
    decides, since equal scores are refused."""
    reading = ev.Reading(intent)
    lowered = {c.name.strip().lower() for c in columns}
    dimensions = {"x", "y", "z"} <= lowered
    scored = [ev.score_column(c, reading) for c in columns]
    ev.conventional_evidence(scored, dimensions, bool(reading.form))
    last = len(scored) - 1
    if scored and not scored[last].excluded:
        scored[last].evidence.append((0.0, f"'{scored[last].column}' is the table's last column"))
    order = sorted(
        range(len(scored)),
        key=lambda i: (bool(scored[i].excluded), -scored[i].score, i != last),
    )
    return [scored[i] for i in order]


def _from_intent(facts: list[ev.ColumnFacts], intent: str, tied: list[str]) -> TargetChoice:
    ranked = [s for s in rank_columns(facts, intent) if not s.excluded]
    if not ranked:
        raise TargetResolutionError(
            f"every column is an identifier or cannot be predicted; {_HOW_TO_NAME}", []
        )
    best = ranked[0]
    runner = ranked[1].score if len(ranked) > 1 else 0.0
    lead = best.score - runner
    if len(ranked) > 1 and lead < MARGIN and _same_but_case(best, ranked[1], intent):
        lead = MARGIN  # "churn" vs "Churn": the spelling in the sentence decides
    if best.score >= MIN_SCORE and lead >= MARGIN and not tied:
        # Only the shown candidates are built: a wide table's other columns cost nothing.
        shown = [_candidate(s) for s in ranked[:MAX_CANDIDATES]]
        return TargetChoice(column=best.column, reason=_reason(best), candidates=shown)
    raise _refusal(intent, ranked, [_candidate(s) for s in ranked], tied)


def _refusal(
    intent: str, ranked: list[ev.Scored], candidates: list[Candidate], tied: list[str]
) -> TargetResolutionError:
    with_evidence = [c for c in candidates if c.score > 0][:MAX_CANDIDATES]
    if tied:
        listed = ", ".join(f"'{c}'" for c in tied)
        return TargetResolutionError(
            f"the request fits several columns equally well ({listed}); {_HOW_TO_NAME}",
            tied,
            [c for c in candidates if c.column in tied],
        )
    if with_evidence and ranked[0].score >= MIN_SCORE:
        close = [c for c in with_evidence if ranked[0].score - c.score < MARGIN]
        listed = ", ".join(f"'{c.column}' ({c.score:g})" for c in close)
        return TargetResolutionError(
            f"the request fits several columns about equally well ({listed}); "
            f"{_HOW_TO_NAME}. See the candidates' evidence",
            [c.column for c in with_evidence],
            with_evidence,
        )
    shown = with_evidence or candidates[:MAX_CANDIDATES]
    return TargetResolutionError(
        f"could not tell which column to predict from the intent {intent.strip()!r}; "
        f"{_HOW_TO_NAME}. Closest columns: {_preview([c.column for c in shown])}",
        [c.column for c in shown],
        shown,
    )


def _same_but_case(a: ev.Scored, b: ev.Scored, intent: str) -> bool:
    return a.column.casefold() == b.column.casefold() and a.column in intent


def _candidate(scored: ev.Scored) -> Candidate:
    ordered = sorted(scored.evidence, key=lambda e: -abs(e[0]))
    return Candidate(scored.column, round(scored.score, 2), [why for _, why in ordered])


def _reason(scored: ev.Scored) -> str:
    ordered = sorted((e for e in scored.evidence if e[0] > 0), key=lambda e: -e[0])
    return "; ".join(why for _, why in ordered)


_HOW_TO_NAME = (
    'name the column in the intent (e.g. "predict <column>") or set the `target` field '
    "to the column to predict"
)


# ------------------------------------------------------------------------ explicit


def _explicit(columns: list[str], target: str) -> TargetChoice:
    if target in columns:
        return TargetChoice(column=target, reason=f"the `target` field names column '{target}'")
    folded = [c for c in columns if c.casefold() == target.casefold()]
    if len(folded) == 1:
        return TargetChoice(
            column=folded[0],
            reason=f"the `target` field '{target}' matches column '{folded[0]}' (ignoring case)",
        )
    if len(folded) > 1:
        raise TargetResolutionError(
            f"the `target` field '{target}' matches several columns that differ only in "
            f"case ({', '.join(folded)}); set it to the exact column name",
            folded,
        )
    close = difflib.get_close_matches(target, columns, n=5, cutoff=0.6)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise TargetResolutionError(
        f"the `target` field names '{target}', which is not a column of the dataset.{hint} "
        f"Set `target` to one of: {_preview(columns)}",
        close or list(columns),
    )


# ------------------------------------------------------------------- output schema


def _output_fields(schema: Mapping[str, Any] | None) -> list[str]:
    if not schema:
        return []
    properties = schema.get("properties")
    if isinstance(properties, Mapping):
        return [str(k) for k in properties]
    return [str(k) for k in schema]


def _strip_output_affixes(field: str) -> list[str]:
    tokens = name_tokens(field)
    while len(tokens) > 1 and tokens[-1] in _OUTPUT_SUFFIXES:
        tokens = tokens[:-1]
    while len(tokens) > 1 and tokens[0] in _OUTPUT_PREFIXES:
        tokens = tokens[1:]
    return tokens


def _from_output_fields(
    columns: list[str], fields: list[str]
) -> tuple[TargetChoice | None, list[str]]:
    best: dict[str, tuple[int, str]] = {}
    for field in fields:
        core = _strip_output_affixes(field)
        core_key = "".join(stem(t) for t in strip_prefixes(core))
        for column in columns:
            if field == column:
                tier = VERBATIM
            elif field.casefold() == column.casefold():
                tier = EXACT
            elif core_key and core_key == name_key(column):
                tier = NORMALIZED
            elif core_key and core_key == generic_key(column):
                tier = GENERIC
            elif core_key and _ratio(core_key, name_key(column)) >= FUZZY_MIN_RATIO:
                tier = FUZZY
            else:
                continue
            if column not in best or tier > best[column][0]:
                best[column] = (tier, field)
    if not best:
        return None, []
    top = max(tier for tier, _ in best.values())
    winners = [c for c, (tier, _) in best.items() if tier == top]
    if len(winners) > 1:
        return None, winners
    column = winners[0]
    field = best[column][1]
    if field == column:
        reason = f"the output field '{field}' is the column '{column}'"
    else:
        reason = f"the output field '{field}' refers to column '{column}'"
    return TargetChoice(column=column, reason=reason, output_field=field), []


def _preview(names: list[str], limit: int = 12) -> str:
    shown = ", ".join(names[:limit])
    if len(names) > limit:
        shown += f", … ({len(names) - limit} more)"
    return shown
