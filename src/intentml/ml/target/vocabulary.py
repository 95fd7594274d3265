"""The reviewed vocabulary (`vocabulary.toml`, and the abbreviations mined from published
column documentation and reviewed, `abbreviations.toml`), loaded once and indexed by
stems."""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from intentml.ml.target.names import name_tokens, stem


@dataclass(frozen=True, slots=True)
class Concept:
    """What people say (as stemmed word runs) and how columns holding it are named."""

    name: str
    says: tuple[tuple[str, ...], ...]
    columns: tuple[tuple[str, ...], ...]


@dataclass(frozen=True, slots=True)
class ValueHint:
    """Words of the intent that point at a column holding one of `values` (lowercase)."""

    says: tuple[tuple[str, ...], ...]
    values: tuple[frozenset[str], ...]


@dataclass(frozen=True, slots=True)
class ValueWords:
    """Words of the intent that mean a column holding any of `values` (lowercase) among
    its most frequent values ("default" and `Charged Off`)."""

    says: tuple[tuple[str, ...], ...]
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """Concepts, value hints, entity nouns (stems), abbreviations (token → words) and the
    units an answer is counted in (stems)."""

    concepts: tuple[Concept, ...]
    value_hints: tuple[ValueHint, ...]
    entities: frozenset[str]
    abbreviations: dict[str, tuple[str, ...]]
    units: frozenset[str] = frozenset()
    value_words: tuple[ValueWords, ...] = ()
    #: A word's stem → the stems of words that mean the same in a column's name.
    synonyms: dict[str, tuple[str, ...]] = field(default_factory=dict)


def _run(text: str) -> tuple[str, ...]:
    return tuple(stem(t) for t in name_tokens(text))


def mined_abbreviations() -> dict[str, str]:
    """The reviewed abbreviations mined from column documentation (`abbreviations.toml`):
    a name's token → the words it stands for."""
    with (Path(__file__).parent / "abbreviations.toml").open("rb") as f:
        return dict(tomllib.load(f)["abbreviations"])


def _column_run(text: str, abbreviations: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    return tuple(stem(w) for t in name_tokens(text) for w in abbreviations.get(t, (t,)))


@functools.cache
def vocabulary() -> Vocabulary:
    """The package's vocabulary, parsed on first use."""
    with (Path(__file__).parent / "vocabulary.toml").open("rb") as f:
        data = tomllib.load(f)
    # The mined abbreviations first; the hand-written ones win where both speak.
    abbreviations = {k: tuple(v.split()) for k, v in mined_abbreviations().items()}
    abbreviations.update({k: tuple(v.split()) for k, v in data["abbreviations"].items()})
    concepts = tuple(
        Concept(
            name=c["name"],
            says=tuple(_run(s) for s in c["says"]),
            # Spelled out as a column's name is (`column_stems`): "no show" is `No-show`.
            columns=tuple(_column_run(s, abbreviations) for s in c["columns"]),
        )
        for c in data["concept"]
    )
    hints = tuple(
        ValueHint(
            says=tuple(_run(s) for s in v["says"]),
            values=tuple(frozenset(x.lower() for x in group) for group in v["values"]),
        )
        for v in data["values"]
    )
    entities = frozenset(stem(w) for w in data["entities"]["words"])
    units = frozenset(stem(w) for w in data["units"]["words"])
    value_words = tuple(
        ValueWords(
            says=tuple(_run(s) for s in v["says"]), values=tuple(x.lower() for x in v["values"])
        )
        for v in data.get("value_words", [])
    )
    synonyms: dict[str, tuple[str, ...]] = {}
    for word, same in data.get("synonyms", {}).items():
        synonyms[stem(word)] = tuple(stem(w) for w in same.split())
    return Vocabulary(concepts, hints, entities, abbreviations, units, value_words, synonyms)
