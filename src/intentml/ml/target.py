"""Which column should the model predict? Resolved from the request, never guessed silently.

Precedence: an explicit `target` field, then the output schema's field names, then the
column named in the intent sentence, then a conventionally named column (`target`,
`label`, ...). When no column fits, or two fit equally well, the caller gets a
`TargetResolutionError` listing the candidates instead of a model of the wrong thing.

Pure Python (no pandas), so the API can resolve targets at command time.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_FUZZY_MIN_RATIO = 0.85

#: Words whose prefix marks the verb (or noun) introducing what to predict.
_TRIGGER_PREFIXES = ("predict", "forecast", "estimat", "classif")

#: Words that carry no meaning for picking a column: skipped when looking for the
#: head of the target phrase.
_FILLERS = _words(
    "a an the whether if which who whom what why how much many will would could can "
    "should is are be been being was were do does did likely likelihood probability "
    "probabilities chance chances odds their its his her our my your some any to that "
    "this these those not future expected eventual model models prediction predictions i "
    "we you want need build create train make please let us me help new"
)

#: Nouns after which "of" continues the target phrase ("the probability of churn").
_OF_NOUNS = _words(
    "probability likelihood chance chances odds risk rate number amount count level "
    "percentage share proportion fraction volume quantity occurrence"
)

#: Words that end the target phrase (what follows is context, not the target).
_TERMINATORS = _words(
    "for in at per next during over within across before after when where since until on"
)

#: Words after which the sentence names inputs, not the target.
_FEATURE_MARKERS = _words("based using use from given with by via considering leveraging depending")

_CONJUNCTIONS = _words("and or vs versus plus")

#: Leading name tokens that only say "this is a yes/no column" (`is_churn`).
_BOOLEAN_PREFIXES = _words("is has was did does will have had")

#: Trailing name tokens that only say "this is the target" (`churn_flag`) or "a
#: quantity of" (`rentals_count` for "predict rentals").
_GENERIC_SUFFIXES = _words(
    "flag label target indicator ind yn bool binary class count cnt total number num amount qty"
)

#: Output-field suffixes that name a facet of the prediction, not the column.
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

#: Column names that are the target by convention, used when the intent names none.
_CONVENTIONAL_TARGETS = ("target", "label", "class", "outcome", "y")

# Ranks of where in the sentence a column was matched.
_FEATURE_ZONE, _NEUTRAL, _PHRASE, _HEAD = 0, 1, 2, 3
# Tiers of how closely a column name matched.
_FUZZY, _GENERIC, _NORMALIZED, _EXACT, _VERBATIM = 1, 2, 3, 4, 5

_WORD = re.compile(r"[^\W_]+")


class TargetChoice(msgspec.Struct, frozen=True):
    """The column to predict, why it was chosen, and the output field that named it."""

    column: str
    reason: str
    output_field: str | None = None


class TargetResolutionError(ValueError):
    """No column, or more than one, fits; `candidates` are the columns to choose from."""

    def __init__(self, message: str, candidates: list[str]) -> None:
        super().__init__(message)
        self.candidates = candidates


def resolve_target(
    columns: Sequence[str],
    intent: str,
    target: str | None = None,
    output_schema: Mapping[str, Any] | None = None,
) -> TargetChoice:
    """Pick the column to predict from an explicit target, output schema or intent.

    Raises `TargetResolutionError` (with `candidates`) when the explicit target is not
    a column, or when nothing else identifies exactly one column.
    """
    columns = list(columns)
    if not columns:
        raise TargetResolutionError("the dataset has no columns to predict", [])
    if target is not None and target.strip():
        return _explicit(columns, target.strip())

    tied: list[str] = []
    fields = _output_fields(output_schema)
    if fields:
        choice, tied = _from_output_fields(columns, fields)
        if choice is not None:
            return choice

    choice, intent_tied, matched = _from_intent(columns, intent)
    if choice is not None:
        return choice
    tied = tied or intent_tied
    if tied:
        listed = ", ".join(f"'{c}'" for c in tied)
        raise TargetResolutionError(
            f"the request fits several columns equally well ({listed}); {_HOW_TO_NAME}",
            tied,
        )

    conventional = [c for c in columns if c.strip().lower() in _CONVENTIONAL_TARGETS]
    if len(conventional) == 1:
        column = conventional[0]
        return TargetChoice(
            column=column,
            reason=f"the intent names no column; using '{column}', a conventional target name",
        )
    candidates = conventional or matched or list(columns)
    raise TargetResolutionError(
        f"could not tell which column to predict from the intent {intent.strip()!r}; "
        f"{_HOW_TO_NAME}. Columns: {_preview(candidates)}",
        candidates,
    )


_HOW_TO_NAME = (
    'name the column in the intent (e.g. "predict <column>") or set the `target` field '
    "to the column to predict"
)


def name_tokens(name: str) -> list[str]:
    """Split a column or field name into lowercase words (snake, kebab and camel case)."""
    tokens: list[str] = []
    for word in _WORD.findall(name):
        tokens.extend(t.lower() for t in _split_camel(word))
    return tokens


def stem(word: str) -> str:
    """A deliberately small English stemmer: churned→churn, prices→pric, fraudulent→fraud,
    renewal→renew."""
    w = word.lower()
    if len(w) <= 3 or w.isdigit():
        return w
    if w.endswith("ies") and len(w) > 4:
        w = w[:-3] + "y"
    elif w.endswith("sses"):
        w = w[:-2]
    elif w.endswith(("ss", "us", "is")):
        pass
    elif w.endswith(("xes", "ches", "shes", "zes")):
        w = w[:-2]
    elif w.endswith("s"):
        w = w[:-1]
    elif w.endswith("ed") and len(w) > 4:
        w = _undouble(w[:-2])
    elif w.endswith("ing") and len(w) > 5:
        w = _undouble(w[:-3])
    # Two derivations common in target names: fraudulent→fraud, cancellation→cancell
    # (which the fuzzy match then pairs with "canceled").
    if w.endswith(("ulent", "ation")) and len(w) > 8:
        w = w[:-5]
    # Nouns of an action meet its past participle: renewal/renewed, approval/approved.
    if w.endswith(("wal", "val", "sal")) and len(w) > 6:
        w = w[:-2]
    # Dropping a final "e" makes price/priced/pricing agree.
    if w.endswith("e") and len(w) > 3:
        w = w[:-1]
    return w


def name_key(name: str) -> str:
    """A normalized form of a name: words stemmed, `is_`/`has_` prefixes dropped."""
    return "".join(stem(t) for t in _strip_prefixes(name_tokens(name)))


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
        core_key = "".join(stem(t) for t in _strip_prefixes(core))
        for column in columns:
            if field == column:
                tier = _VERBATIM
            elif field.casefold() == column.casefold():
                tier = _EXACT
            elif core_key and core_key == name_key(column):
                tier = _NORMALIZED
            elif core_key and core_key == _generic_key(column):
                tier = _GENERIC
            elif core_key and _ratio(core_key, name_key(column)) >= _FUZZY_MIN_RATIO:
                tier = _FUZZY
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


# ------------------------------------------------------------------------- intent


@dataclass(frozen=True, slots=True)
class _Token:
    text: str  # lowercase
    stem: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class _Match:
    rank: int
    span: int
    tier: int
    phrase: str

    def key(self) -> tuple[int, int, int]:
        # Where the column was named matters most ("predict X based on Y"), then how
        # much of the phrase it covers ("house price" over "price"), then how exactly.
        return (self.rank, self.span, self.tier)


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    for match in _WORD.finditer(text):
        offset = match.start()
        for part in _split_camel(match.group()):
            start = text.index(part, offset)
            offset = start + len(part)
            tokens.append(_Token(part.lower(), stem(part), start, offset))
    return tokens


def _roles(tokens: list[_Token]) -> tuple[list[int], bool]:
    """The rank of each token, and whether a target phrase with content was found."""
    n = len(tokens)
    roles = [_NEUTRAL] * n
    # Everything after a feature marker names inputs, up to the next trigger.
    in_features = False
    for i, tok in enumerate(tokens):
        if _is_trigger(tok.text):
            in_features = False
        elif tok.text in _FEATURE_MARKERS:
            in_features = True
        if in_features:
            roles[i] = _FEATURE_ZONE

    trigger = next((i for i, t in enumerate(tokens) if _is_trigger(t.text)), None)
    start = 0 if trigger is None else trigger + 1
    phrase = _phrase_after(tokens, start)
    if not _has_content(tokens, phrase) and trigger is not None:
        # "churn prediction based on usage": the noun form follows its object.
        phrase = _phrase_before(tokens, trigger)
    if not _has_content(tokens, phrase):
        return roles, False
    for i in phrase:
        roles[i] = _PHRASE
    for head in _heads(tokens, phrase):
        roles[head] = _HEAD
    return roles, True


def _phrase_after(tokens: list[_Token], start: int) -> list[int]:
    phrase: list[int] = []
    seen_content = False
    for i in range(start, len(tokens)):
        word = tokens[i].text
        if _is_trigger(word) or word in _FEATURE_MARKERS:
            break
        is_end = word in _TERMINATORS or (
            word == "of" and seen_content and _last_content(tokens, phrase) not in _OF_NOUNS
        )
        if is_end:
            if seen_content:
                break
            continue  # "predict for each store the weekly sales": skip the lead-in
        phrase.append(i)
        if word not in _FILLERS and word not in _CONJUNCTIONS and word != "of":
            seen_content = True
    return phrase


def _phrase_before(tokens: list[_Token], trigger: int) -> list[int]:
    phrase: list[int] = []
    for i in range(trigger - 1, -1, -1):
        word = tokens[i].text
        if word in _TERMINATORS or word in _FEATURE_MARKERS or _is_trigger(word):
            break
        phrase.insert(0, i)
    return phrase


def _has_content(tokens: list[_Token], phrase: list[int]) -> bool:
    return any(_is_content(tokens[i].text) for i in phrase)


def _is_content(word: str) -> bool:
    return word not in _FILLERS and word not in _CONJUNCTIONS and word != "of"


def _bounded(run: list[_Token]) -> bool:
    """Whether a run of words starts and ends with words that can name something: a
    fuzzy match may absorb a misspelling, not a neighbouring "for" or "an" (which would
    make "monthly spend for" outrank the exact "monthly spend")."""
    edges = (run[0].text, run[-1].text)
    return all(_is_content(w) and w not in _TERMINATORS for w in edges)


def _last_content(tokens: list[_Token], phrase: list[int]) -> str:
    for i in reversed(phrase):
        if _is_content(tokens[i].text):
            return tokens[i].text
    return ""


def _heads(tokens: list[_Token], phrase: list[int]) -> list[int]:
    """The last content word of each conjunct ("price and cost" has two heads)."""
    heads: list[int] = []
    current: int | None = None
    for i in phrase:
        word = tokens[i].text
        if word in _CONJUNCTIONS:
            if current is not None:
                heads.append(current)
            current = None
        elif word == "of" and _last_content(tokens, [j for j in phrase if j < i]) in _OF_NOUNS:
            current = None  # "probability of churn": the head is after "of"
        elif _is_content(word):
            current = i
    if current is not None:
        heads.append(current)
    return heads


def _is_trigger(word: str) -> bool:
    return word.startswith(_TRIGGER_PREFIXES)


def _from_intent(
    columns: list[str], intent: str
) -> tuple[TargetChoice | None, list[str], list[str]]:
    """The column the intent names, else (None, tied columns, columns matched anywhere)."""
    tokens = _tokenize(intent)
    if not tokens:
        return None, [], []
    roles, has_phrase = _roles(tokens)
    # Columns named only where the sentence lists inputs, or outside the phrase that
    # names the target, are not targets.
    floor = _PHRASE if has_phrase else _NEUTRAL
    windows = _Windows(intent, tokens, roles, floor)
    matches: dict[str, _Match] = {}
    for column in columns:
        match = windows.best_match(column)
        if match is not None:
            matches[column] = match
    matched = sorted(matches, key=lambda c: matches[c].key(), reverse=True)
    eligible = [c for c in matched if matches[c].rank >= floor]
    if not eligible:
        return None, [], matched
    top = matches[eligible[0]].key()
    tied = [c for c in eligible if matches[c].key() == top]
    if len(tied) > 1:
        return None, tied, matched
    column = tied[0]
    phrase = matches[column].phrase
    if phrase == column:
        reason = f"the intent names column '{column}'"
    else:
        reason = f"matched '{phrase}' in the intent to column '{column}'"
    return TargetChoice(column=column, reason=reason), [], matched


@dataclass(frozen=True, slots=True)
class _Window:
    text: str  # lowercase words joined without separators
    key: str  # stemmed words joined
    rank: int
    span: int
    phrase: str  # the words as written in the intent


class _Windows:
    """Every run of up to five intent words, indexed so that matching thousands of
    columns costs a few dictionary lookups each (fuzzy matching only where it can
    decide the target)."""

    _MAX_SPAN = 5

    def __init__(self, intent: str, tokens: list[_Token], roles: list[int], floor: int) -> None:
        self.by_text: dict[str, list[_Window]] = {}
        self.by_key: dict[str, list[_Window]] = {}
        self.fuzzy: list[_Window] = []
        for size in range(1, min(len(tokens), self._MAX_SPAN) + 1):
            for i in range(len(tokens) - size + 1):
                run = tokens[i : i + size]
                window = _Window(
                    text="".join(t.text for t in run),
                    key="".join(t.stem for t in run),
                    rank=max(roles[i : i + size]),
                    span=size,
                    phrase=intent[run[0].start : run[-1].end],
                )
                self.by_text.setdefault(window.text, []).append(window)
                self.by_key.setdefault(window.key, []).append(window)
                if window.rank >= floor and len(window.key) >= 4 and _bounded(run):
                    self.fuzzy.append(window)

    def best_match(self, column: str) -> _Match | None:
        col_tokens = name_tokens(column)
        if not col_tokens:
            return None
        normalized = name_key(column)
        generic = _generic_key(column)
        candidates: list[_Match] = []
        for window in self.by_text.get("".join(col_tokens), []):
            tier = _VERBATIM if window.phrase == column else _EXACT
            candidates.append(_Match(window.rank, window.span, tier, window.phrase))
        for window in self.by_key.get(normalized, []):
            candidates.append(_Match(window.rank, window.span, _NORMALIZED, window.phrase))
        for window in self.by_key.get(generic, []) if generic else []:
            candidates.append(_Match(window.rank, window.span, _GENERIC, window.phrase))
        best = max(candidates, key=_Match.key, default=None)
        for window in self.fuzzy:
            if best is not None and (window.rank, window.span) <= (best.rank, best.span):
                continue  # a fuzzy match here could not beat what we have
            if _ratio(window.key, normalized) >= _FUZZY_MIN_RATIO:
                fuzzy = _Match(window.rank, window.span, _FUZZY, window.phrase)
                if best is None or fuzzy.key() > best.key():
                    best = fuzzy
        return best


# ------------------------------------------------------------------------ helpers


def _split_camel(word: str) -> list[str]:
    """SalePrice → Sale, Price; HTTPCode → HTTP, Code; area2 → area, 2."""
    parts: list[str] = []
    current = ""
    for i, char in enumerate(word):
        if current:
            prev = current[-1]
            nxt = word[i + 1] if i + 1 < len(word) else ""
            boundary = (
                (prev.islower() and char.isupper())
                or (prev.isupper() and char.isupper() and nxt.islower())
                or (prev.isdigit() != char.isdigit())
            )
            if boundary:
                parts.append(current)
                current = ""
        current += char
    if current:
        parts.append(current)
    return parts


def _strip_prefixes(tokens: list[str]) -> list[str]:
    while len(tokens) > 1 and tokens[0] in _BOOLEAN_PREFIXES:
        tokens = tokens[1:]
    return tokens


def _generic_key(column: str) -> str:
    tokens = _strip_prefixes(name_tokens(column))
    stripped = tokens
    while len(stripped) > 1 and stripped[-1] in _GENERIC_SUFFIXES:
        stripped = stripped[:-1]
    if stripped == tokens:
        return ""
    return "".join(stem(t) for t in stripped)


def _undouble(w: str) -> str:
    if len(w) >= 3 and w[-1] == w[-2] and w[-1] not in "aeiouls":
        return w[:-1]
    return w


def _ratio(a: str, b: str) -> float:
    # Cheap rejections first: length alone bounds the ratio (2·min / sum), and typos
    # rarely hit the first letter, so requiring it to agree prunes most pairs.
    if a[:1] != b[:1] or 2 * min(len(a), len(b)) < _FUZZY_MIN_RATIO * (len(a) + len(b)):
        return 0.0
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    if matcher.quick_ratio() < _FUZZY_MIN_RATIO:
        return 0.0
    return matcher.ratio()


def _preview(names: list[str], limit: int = 12) -> str:
    shown = ", ".join(names[:limit])
    if len(names) > limit:
        shown += f", … ({len(names) - limit} more)"
    return shown
