"""How column names and sentence words are split and normalized, so that `SalePrice`,
`sale_price`, `sale-price` and "sale prices" meet."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

_WORD = re.compile(r"[^\W_]+")

#: Leading name tokens that only say "this is a yes/no column" (`is_churn`).
BOOLEAN_PREFIXES = frozenset(["is", "has", "was", "did", "does", "will", "have", "had"])

#: Trailing name tokens that only say "this is the target" (`churn_flag`) or "a
#: quantity of" (`rentals_count` for "predict rentals").
GENERIC_SUFFIXES = frozenset(
    [
        "flag",
        "label",
        "target",
        "indicator",
        "ind",
        "yn",
        "bool",
        "binary",
        "class",
        "count",
        "cnt",
        "total",
        "number",
        "num",
        "amount",
        "qty",
    ]
)


def name_tokens(name: str) -> list[str]:
    """Split a column or field name into lowercase words (snake, kebab, dotted and camel
    case)."""
    return list(_name_tokens(name))


# Cached because one upload's columns are resolved again at every create and retrain.
@functools.lru_cache(maxsize=1 << 16)
def _name_tokens(name: str) -> tuple[str, ...]:
    tokens: list[str] = []
    for word in _WORD.findall(name):
        tokens.extend(t.lower() for t in split_camel(word))
    return tuple(tokens)


@functools.lru_cache(maxsize=1 << 16)
def stem(word: str) -> str:
    """A deliberately small English stemmer: churned→churn, prices→pric, fraudulent→fraud,
    renewal→renew, departure→depart."""
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
    elif w.endswith("ied") and len(w) == 4:
        w = w[:-1]  # died→die, tied→tie
    elif w.endswith("ed") and len(w) > 4:
        w = _undouble(w[:-2])
    elif w.endswith("ing") and len(w) > 5:
        w = _undouble(w[:-3])
    # A quality's noun meets its adjective: severity/severe, happiness/happy,
    # likelihood/likely, profitable/profit, successful/success.
    w = _underive(w)
    # Two derivations common in target names: fraudulent→fraud, cancellation→cancell
    # (which the fuzzy match then pairs with "canceled").
    if w.endswith(("ulent", "ation")) and len(w) > 8:
        w = w[:-5]
    # Nouns of an action meet its past participle: renewal/renewed, approval/approved.
    if w.endswith(("wal", "val", "sal")) and len(w) > 6:
        w = w[:-2]
    # ...and its verb: departure/departs (`dep_delay`), failure/failed, exposure/exposed.
    elif w.endswith("ure") and len(w) > 6:
        w = w[:-3]
    # Dropping a final "e" makes price/priced/pricing agree.
    if w.endswith("e") and len(w) > 3:
        w = w[:-1]
    return w


@dataclass(frozen=True, slots=True)
class NameForms:
    """The forms of a column name that matching compares with the sentence's words."""

    text: str  # its lowercase words joined ("saleprice")
    key: str  # `name_key`
    generic: str  # `generic_key`
    initials: str  # the first letter of each word of the key ("sp")


# Cached because a table's columns are matched again for every intent, and their forms
# do not depend on it.
@functools.lru_cache(maxsize=1 << 16)
def name_forms(name: str) -> NameForms:
    """A name's lowercase words joined, its key and its generic key."""
    tokens = name_tokens(name)
    kept = strip_prefixes(tokens)
    stripped = kept
    while len(stripped) > 1 and stripped[-1] in GENERIC_SUFFIXES:
        stripped = stripped[:-1]
    generic = "" if stripped == kept else "".join(stem(t) for t in stripped)
    initials = "".join(t[0] for t in kept)
    return NameForms("".join(tokens), "".join(stem(t) for t in kept), generic, initials)


def name_key(name: str) -> str:
    """A normalized form of a name: words stemmed, `is_`/`has_` prefixes dropped."""
    return name_forms(name).key


def generic_key(column: str) -> str:
    """The name's key without a generic suffix (`churn_flag` → churn); "" if it has none."""
    return name_forms(column).generic


def strip_prefixes(tokens: list[str]) -> list[str]:
    """Drop leading `is`/`has`/... tokens (but never the last token)."""
    while len(tokens) > 1 and tokens[0] in BOOLEAN_PREFIXES:
        tokens = tokens[1:]
    return tokens


def split_camel(word: str) -> list[str]:
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


def words_of(text: str) -> list[str]:
    """The raw words of a text (letters and digits), for finding their offsets."""
    return _WORD.findall(text)


def word_spans(text: str) -> list[tuple[str, int, int]]:
    """Each camel-split word of `text` with its start and end offsets."""
    spans: list[tuple[str, int, int]] = []
    for match in _WORD.finditer(text):
        offset = match.start()
        for part in split_camel(match.group()):
            start = text.index(part, offset)
            offset = start + len(part)
            spans.append((part, start, offset))
    return spans


#: Suffixes that make a noun of an adjective or an adjective of a noun or verb, with the
#: shortest word each may be taken from (so that "city", "table" and "awful" stay).
_DERIVATIONS = (("ness", 7), ("hood", 7), ("ity", 7), ("able", 8), ("ful", 7))


#: Words that only look derived.
_UNDERIVED = frozenset(["business", "witness", "harness", "community", "university"])


def _underive(w: str) -> str:
    if w in _UNDERIVED:
        return w
    for suffix, shortest in _DERIVATIONS:
        if w.endswith(suffix) and len(w) >= shortest:
            base = w[: -len(suffix)]
            return base[:-1] + "y" if base.endswith("i") else base  # happi(ness)→happy
    return w


def _undouble(w: str) -> str:
    if len(w) >= 3 and w[-1] == w[-2] and w[-1] not in "aeiouls":
        return w[:-1]
    return w
