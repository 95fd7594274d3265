"""Evidence for and against each column as the target, with a score for each piece.

Weights are points; a column's score is their sum. They are named here so that the
benchmark (`benchmarks/intent.py`) and the README speak of the same numbers.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field

import msgspec

from intentml.domain.profiles import ColumnProfile
from intentml.ml.question import read_question
from intentml.ml.target import matching as mt
from intentml.ml.target.names import name_tokens, stem
from intentml.ml.target.vocabulary import Concept, Vocabulary, vocabulary

#: The intent's phrase naming the target is headed by the column's name.
NAME_AT_HEAD = 10.0
#: The column's name is in that phrase, or (without one) anywhere outside the inputs.
NAME_IN_PHRASE = 6.0
NAME_NEUTRAL = 8.0
#: The name is in the sentence, but outside the phrase naming the target ("... in default").
NAME_OUTSIDE_PHRASE = 3.0
#: The name is the unit the answer is counted in ("how many minutes late" and `minute`):
#: weak, so that a column named for what is counted wins, but a column that is only
#: that count (`hours` for "how many hours ...") still can.
NAME_IS_UNIT = 3.0
#: Each extra word the name match covers ("house price" over "price").
NAME_PER_EXTRA_WORD = 2.0
#: How exactly it was spelled: verbatim, ignoring case, normalized, generic, loosely.
NAME_TIER = {mt.VERBATIM: 2.5, mt.EXACT: 2.0, mt.NORMALIZED: 1.5, mt.GENERIC: 1.0, mt.FUZZY: 0.5}
#: Words of the intent found in a longer column name (`median_house_value`).
WORD_IN_NAME = 3.0
#: ...and one of them heads the phrase naming the target ("predict credit card default").
HEAD_IN_NAME = 2.0
#: The intent says a word the vocabulary maps to the column's name: all of it / a part.
MEANING_WHOLE = 8.0
MEANING_PART = 5.0
#: The column holds the values the intent speaks of ("poisonous or edible" → p/e).
VALUES = 5.0
#: The question's form fits the column ("how much" → a number), or does not.
FORM_FITS = 2.0
FORM_CLASHES = -3.0
#: `target`, `label`, `class`, `outcome`, `output`, `y`: the target by convention.
CONVENTIONAL = 5.0

CONVENTIONAL_NAMES = frozenset(["target", "label", "class", "outcome", "output", "y"])
#: Names of row numbers and keys, whatever their data.
_INDEX_NAMES = frozenset(["rownames", "index", "unnamed: 0", "rownumber", "row_number", "row_id"])
#: A text column with more distinct values than this is free text, not classes.
MAX_TEXT_CLASSES = 100


class ColumnFacts(msgspec.Struct, frozen=True):
    """A column as resolution sees it: its name, type and profile (when known)."""

    name: str
    type: str | None = None
    profile: ColumnProfile | None = None


@dataclass(slots=True)
class Scored:
    """A column's score and the evidence behind it (strongest first when shown)."""

    column: str
    score: float = 0.0
    evidence: list[tuple[float, str]] = field(default_factory=list)
    excluded: str = ""
    #: The intent names or means this column (its name, or a word the vocabulary ties to it).
    named: bool = False
    #: The question's form fits the column's values.
    fits_form: bool = False
    #: The intent says one of the column's values ("successful", "drop out").
    said_value: str = ""

    def add(self, points: float, why: str) -> None:
        """Count one piece of evidence."""
        self.score += points
        self.evidence.append((points, why))


@dataclass(frozen=True, slots=True)
class _Hit:
    label: str  # what the vocabulary says it means
    words: tuple[int, ...]  # token indices of the intent that said it
    phrase: str


class _Runs:
    """The runs of words of the intent in one order (fillers skipped), indexed by their
    stems, so that finding each phrase of the vocabulary costs a lookup."""

    def __init__(self, sentence: mt.Sentence, order: list[int]) -> None:
        tokens = sentence.tokens
        self.content = [i for i in order if tokens[i].text not in _SKIPPED]
        stems = [tokens[i].stem for i in self.content]
        self.at: dict[tuple[str, ...], list[int]] = {}
        for n in range(1, _longest_phrase() + 1):
            for k in range(len(stems) - n + 1):
                self.at.setdefault(tuple(stems[k : k + n]), []).append(k)


@functools.cache
def _longest_phrase() -> int:
    """Words in the vocabulary's longest phrase."""
    vocab = vocabulary()
    says = (
        [s for c in vocab.concepts for s in c.says]
        + [s for v in vocab.value_hints for s in v.says]
        + [s for v in vocab.value_words for s in v.says]
    )
    return max(len(s) for s in says)


class Reading:
    """The intent read against the vocabulary: concepts and values it speaks of, its
    entities, and the form of its question."""

    def __init__(self, intent: str) -> None:
        self.sentence = mt.Sentence(intent)
        self.vocab: Vocabulary = vocabulary()
        tokens = self.sentence.tokens
        zone = [i for i in range(len(tokens)) if self.sentence.in_target_zone(i)]
        self.zone_stems = {tokens[i].stem: i for i in zone}
        # "land" says arrival as surely as "arrive" does (`arr_delay`).
        for i in zone:
            for same in self.vocab.synonyms.get(tokens[i].stem, ()):
                self.zone_stems.setdefault(same, i)
        self.entities = {i for i in zone if tokens[i].stem in self.vocab.entities}
        # Words that mean something are looked for everywhere but among the inputs:
        # "make at the box office", "miles per gallon" sit past a "per" or an "at".
        not_inputs = [i for i in range(len(tokens)) if self.sentence.roles[i] != mt.FEATURE_ZONE]
        self.all_stems = frozenset(t.stem for t in tokens)
        self.heads = {i for i in zone if self.sentence.roles[i] == mt.HEAD}
        # "How much money will a film make" says "make money" too, in the verb's order.
        orders = [_Runs(self.sentence, not_inputs)]
        if (reordered := mt.unfronted(tokens, not_inputs)) != not_inputs:
            orders.append(_Runs(self.sentence, reordered))
        self.concepts = [
            (c, hit)
            for c in self.vocab.concepts
            for hit in _unique(h for runs in orders for h in self._find(c.says, runs, c.name))
        ]
        # Indexed by the first word of each column-name run, so a column costs a lookup
        # per word of its name rather than a pass over every concept.
        self.runs_by_first: dict[str, list[tuple[Concept, _Hit, tuple[str, ...]]]] = {}
        for concept, hit in self.concepts:
            for run in concept.columns:
                self.runs_by_first.setdefault(run[0], []).append((concept, hit, run))
        in_zone = _Runs(self.sentence, zone)
        self.values = [
            (v, hit) for v in self.vocab.value_hints for hit in self._find(v.says, in_zone, "")
        ]
        self.value_words = _value_forms(self.sentence, zone)
        for words, hit in (
            (w, hit) for w in self.vocab.value_words for hit in self._find(w.says, in_zone, "")
        ):
            for value in words.values:
                self.value_words.setdefault(value, hit.phrase)
        counted = mt.how_many_object(tokens)
        self.units = (
            {counted[0]}
            if counted is not None and tokens[counted[0]].stem in self.vocab.units
            else set()
        )
        text = " ".join(t.text for t in tokens)
        # The question's form, as the task and metric read it too; a count is a number.
        form = read_question(intent).form
        self.form = "number" if form == "count" else form
        self.form_words = text.split(" ")[:2]
        self.asked = " ".join(self.form_words)

    def _find(self, says: tuple[tuple[str, ...], ...], runs: _Runs, label: str) -> list[_Hit]:
        """Where the intent says one of `says` (fillers between words are skipped)."""
        hits: list[_Hit] = []
        for said in says:
            for k in runs.at.get(said, ()):
                words = tuple(runs.content[k : k + len(said)])
                hits.append(_Hit(label, words, self._phrase(words)))
        return hits

    def _phrase(self, words: tuple[int, ...]) -> str:
        """The words as written: the span of the intent, or (when reordered) each word."""
        tokens, text = self.sentence.tokens, self.sentence.text
        if list(words) == sorted(words):
            return text[tokens[words[0]].start : tokens[words[-1]].end]
        return " ".join(text[tokens[i].start : tokens[i].end] for i in words)


def _unique(hits: Iterable[_Hit]) -> list[_Hit]:
    """Hits with the same meaning over the same words counted once."""
    seen: dict[tuple[str, frozenset[int]], _Hit] = {}
    for hit in hits:
        seen.setdefault((hit.label, frozenset(hit.words)), hit)
    return list(seen.values())


_SKIPPED = frozenset(
    ["a", "an", "the", "their", "his", "her", "its", "our", "my", "your", "this", "that", "to"]
)


def identifier_reason(column: ColumnFacts) -> str:
    """Why a column is a key or a row number (never a target), or ""."""
    if _named_like_identifier(column.name):
        return f"'{column.name}' is named like an identifier or row number"
    profile = column.profile
    if profile is not None and profile.unique:
        if column.type == "integer" and profile.rising:
            return f"'{column.name}' is a row number: whole numbers, unique, rising row by row"
        if column.type == "string":
            return f"'{column.name}' is an identifier: a different text code on every row"
    return ""


@functools.lru_cache(maxsize=1 << 16)
def _named_like_identifier(name: str) -> bool:
    tokens = name_tokens(name)
    lowered = name.strip().lower()
    return (
        lowered in _INDEX_NAMES
        or (bool(tokens) and tokens[-1] == "id")
        or tokens == ["row", "number"]
    )


def unusable_reason(column: ColumnFacts) -> str:
    """Why a column cannot be learned as a target (dates, free text), or "". A column with
    a single value is not refused here: the user named it, and its build fails saying so
    (`target_single_class`), which is clearer than "no column fits"."""
    if column.type in ("date", "datetime"):
        return f"'{column.name}' holds {column.type}s, which cannot be predicted"
    profile = column.profile
    if profile is None:
        return ""
    if column.type == "string" and profile.distinct > MAX_TEXT_CLASSES:
        return f"'{column.name}' is free text ({profile.distinct:,} distinct values)"
    return ""


@functools.lru_cache(maxsize=1 << 16)
def column_stems(name: str) -> tuple[str, ...]:
    """The name's words, abbreviations spelled out, stemmed."""
    out: list[str] = []
    abbreviations = vocabulary().abbreviations
    for token in name_tokens(name):
        out.extend(stem(w) for w in abbreviations.get(token, (token,)))
    return tuple(out)


def score_column(column: ColumnFacts, reading: Reading) -> Scored:
    """All the evidence for `column` being what the intent asks to predict."""
    scored = Scored(column.name)
    reason = identifier_reason(column) or unusable_reason(column)
    if reason:
        scored.excluded = reason
        return scored
    used, whole, spelled = _name_evidence(scored, column, reading)
    # A name said only in part: its word and that word's meaning are one piece of evidence.
    partly = used if not whole and not spelled else set()
    meant = _meaning_evidence(scored, column, reading, used if whole else set(), partly)
    scored.named = meant or (spelled and scored.score > 0)
    _value_evidence(scored, column, reading)
    _form_evidence(scored, column, reading)
    return scored


def conventional_evidence(scored: list[Scored], dimensions: bool, asks_form: bool) -> None:
    """`target`, `label`, `y`...: the target by convention, unless the table or the
    intent says otherwise (`x`/`y`/`z` dimensions; another column named or meant)."""
    conventional = [s for s in scored if s.column.strip().lower() in CONVENTIONAL_NAMES]
    other = next(
        (
            s
            for s in scored
            if s.named
            and (s.fits_form or not asks_form)
            and s not in conventional
            and not s.excluded
        ),
        None,
    )
    for s in conventional:
        if s.excluded:
            continue
        if s.column.strip().lower() == "y" and dimensions:
            s.evidence.append((0.0, "'y' stands beside 'x' and 'z': a dimension"))
        elif other is not None and not s.named:
            s.evidence.append(
                (0.0, f"a conventional name, but the intent speaks of '{other.column}'")
            )
        else:
            s.add(CONVENTIONAL, f"'{s.column}' is a conventional target name")


def _name_evidence(
    scored: Scored, column: ColumnFacts, reading: Reading
) -> tuple[set[int], bool, bool]:
    """The intent spells the name (whole, or some of its words): the words used, whether
    they were matched as the name (so their meaning is not counted again), and whether
    they say every word of it."""
    sentence = reading.sentence
    match = sentence.name_match(column.name)
    if match is not None and match.rank > mt.FEATURE_ZONE:
        words = set(range(match.first, match.last + 1))
        inside = next(
            (h for _, h in reading.concepts if len(h.words) > 1 and words < set(h.words)), None
        )
        if inside is not None:
            scored.evidence.append(
                (0.0, f"'{match.phrase}' is part of '{inside.phrase}', which means {inside.label}")
            )
            return words, True, True
        if words <= reading.entities:
            scored.evidence.append(
                (0.0, f"'{match.phrase}' is who the prediction is about, not what is predicted")
            )
            return words, True, True
        if words <= reading.units:
            scored.add(
                NAME_IS_UNIT,
                f"'{match.phrase}' is the unit the answer is counted in, so only weakly "
                f"column '{column.name}'",
            )
            return words, True, True
        base = NAME_AT_HEAD if match.rank == mt.HEAD else NAME_IN_PHRASE
        if not sentence.has_phrase:
            base = NAME_NEUTRAL
        elif match.rank < sentence.floor:
            base = NAME_OUTSIDE_PHRASE
        points = base + NAME_PER_EXTRA_WORD * (match.span - 1) + NAME_TIER[match.tier]
        if match.rank < sentence.floor:
            points = NAME_OUTSIDE_PHRASE
        if match.phrase == column.name:
            scored.add(points, f"the intent names column '{column.name}'")
        else:
            scored.add(points, f"matched '{match.phrase}' in the intent to column '{column.name}'")
        return words, True, True
    stems = column_stems(column.name)
    if reading.zone_stems.keys().isdisjoint(stems):
        return set(), False, False  # most columns of a wide table: none of their words said
    found = sorted(
        {i for s in stems if (i := reading.zone_stems.get(s)) is not None} - reading.entities
    )
    found = [i for i in found if mt.is_content(sentence.tokens[i].text)]
    if not found:
        return set(), False, False
    said = ", ".join(f"'{sentence.tokens[i].text}'" for i in found)
    points = WORD_IN_NAME * len(found) + (HEAD_IN_NAME if reading.heads & set(found) else 0)
    scored.add(points, f"{said} in the intent, in the name '{column.name}'")
    # Every word of the name said, abbreviations spelled out ("cholesterol" for `chol`):
    # the intent names the column as surely as if it had spelled it.
    spelled = {sentence.tokens[i].stem for i in found} >= set(stems)
    return set(found), False, spelled


def _meaning_evidence(
    scored: Scored, column: ColumnFacts, reading: Reading, used: set[int], in_name: set[int]
) -> bool:
    """The intent says a word whose meaning the vocabulary ties to the column's name. A
    meaning already counted as one of the words of a name said in part (`in_name`) counts
    once, for the larger of the two: "how well rated" means quality, and "rated" is in
    `content_rating`; that is one piece of evidence, not two. (A name said word by word
    keeps its words' meanings: `arr_delay` for "arrival ... delayed".)"""
    stems = column_stems(column.name)
    if reading.runs_by_first.keys().isdisjoint(stems):
        return False
    best: tuple[float, str] | None = None
    spelled = {c.name for c, h in reading.concepts if in_name.intersection(h.words)}
    for first in set(stems):
        for concept, hit, run in reading.runs_by_first.get(first, ()):
            if used & set(hit.words) or not _contains(stems, run):
                continue  # the same words already counted as the name
            explained = set(run) | reading.all_stems
            whole = all(s in explained for s in stems)
            points = MEANING_WHOLE if whole else MEANING_PART
            why = f"'{hit.phrase}' means {concept.name}; column '{column.name}' is named for it"
            if concept.name in spelled:
                points = max(0.0, points - WORD_IN_NAME)
                why += " (beyond the word in its name)"
            if best is None or points > best[0]:
                best = (points, why)
    if best is not None:
        scored.add(*best)
    return best is not None


def _value_evidence(scored: Scored, column: ColumnFacts, reading: Reading) -> None:
    profile = column.profile
    if profile is None or not profile.top:
        return
    top = frozenset(v.strip().lower() for v in profile.top)
    shown = "/".join(profile.top)
    for hint, hit in reading.values:
        if any(group <= top and len(top) <= len(group) + 1 for group in hint.values):
            scored.add(VALUES, f"'{hit.phrase}': column '{column.name}' holds {shown}")
            return
    for value, forms in _top_forms(tuple(profile.top)):
        phrase = next((reading.value_words[f] for f in forms if f in reading.value_words), "")
        if phrase and value not in _GENERIC_VALUES:
            why = f"'{phrase}' says '{value}', a value of column '{column.name}' ({shown})"
            scored.add(VALUES, why)
            scored.said_value = value
            return


def _value_forms(sentence: mt.Sentence, zone: list[int]) -> dict[str, str]:
    """The forms in which the target's words may be a column's value, each with the words
    as said: every word as written and stemmed, and two neighbours joined ("drop out" is
    the value `Dropout`)."""
    tokens = sentence.tokens
    forms: dict[str, str] = {}
    for i in zone:
        word = tokens[i]
        if len(word.text) > 1 and mt.is_content(word.text):
            forms.setdefault(word.text, word.text)
            forms.setdefault(word.stem, word.text)
    for i, j in itertools.pairwise(zone):
        if j == i + 1 and mt.is_content(tokens[i].text) and mt.is_content(tokens[j].text):
            phrase = sentence.text[tokens[i].start : tokens[j].end]
            forms.setdefault(tokens[i].text + tokens[j].text, phrase)
            forms.setdefault(stem(tokens[i].text + tokens[j].text), phrase)
    return forms


@functools.lru_cache(maxsize=1 << 14)
def _top_forms(top: tuple[str, ...]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Each top value (lowercase) with the forms the intent's words are compared with:
    itself, and its words stemmed and joined (`Fully Paid` → "fullypaid")."""
    out = []
    for value in top:
        lowered = value.strip().lower()
        joined = "".join(stem(t) for t in name_tokens(value))
        out.append((lowered, (lowered, joined) if joined else (lowered,)))
    return tuple(out)


_GENERIC_VALUES = frozenset(
    ["yes", "no", "true", "false", "y", "n", "t", "f", "0", "1", "unknown", "other", "none"]
)


def _form_evidence(scored: Scored, column: ColumnFacts, reading: Reading) -> None:
    """How the question is asked fits the column's values, or clashes with them."""
    form = reading.form
    if not form or column.type is None:
        return
    distinct = column.profile.distinct if column.profile is not None else None
    numeric = column.type in ("integer", "number")
    two = column.type == "boolean" or distinct == 2
    asked = reading.asked
    if form == "number":
        if numeric and not two:
            scored.add(FORM_FITS, f"the question asks for a number; '{column.name}' holds numbers")
            scored.fits_form = True
        elif not numeric:
            scored.add(FORM_CLASHES, f"the question asks for a number; '{column.name}' does not")
    elif form == "two" and two:
        scored.add(
            FORM_FITS, f"'{asked}…' asks yes or no; column '{column.name}' holds {_shown(column)}"
        )
        scored.fits_form = True
    elif form == "two" and scored.said_value:
        # "Will it be successful?" asks whether the column takes that value: yes or no.
        scored.evidence.append(
            (0.0, f"'{asked}…' asks whether '{column.name}' is '{scored.said_value}'")
        )
    elif form == "two" and distinct is not None and distinct > 2:
        scored.add(
            FORM_CLASHES, f"'{asked}…' asks yes or no; '{column.name}' has {distinct} values"
        )
    elif form == "category" and column.type == "string" and distinct is not None and distinct > 2:
        scored.add(
            FORM_FITS, f"the question asks for a kind; '{column.name}' holds {_shown(column)}"
        )
        scored.fits_form = True


def _shown(column: ColumnFacts) -> str:
    return "/".join(column.profile.top) if column.profile and column.profile.top else ""


def _contains(stems: tuple[str, ...], run: tuple[str, ...]) -> bool:
    n = len(run)
    return any(tuple(stems[k : k + n]) == run for k in range(len(stems) - n + 1))
