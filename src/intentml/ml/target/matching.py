"""Where the sentence names a column: the words of the intent, the phrase that names what
to predict (and its head), the words that name inputs, and every column whose name the
sentence spells (exactly, normalized, with a generic suffix, or loosely).

This is the spelling half of resolution; `evidence` adds meaning and data.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from intentml.ml.target.names import name_forms, stem, word_spans


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


FUZZY_MIN_RATIO = 0.85
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

#: Words that end the target phrase (what follows is context, not the target). What
#: follows "per", "each" or "every" is the unit or entity counted by ("rented each
#: hour"), never what is predicted.
_TERMINATORS = _words(
    "for in at per each every next during over within across before after when where since until on"
)

#: Words after which the sentence names inputs, not the target.
_FEATURE_MARKERS = _words("based using use from given with by via considering leveraging depending")

_CONJUNCTIONS = _words("and or vs versus plus")

_DETERMINERS = _words("a an the their his her its our my your this that these those")


# Ranks of where in the sentence a column was matched.
FEATURE_ZONE, NEUTRAL, PHRASE, HEAD = 0, 1, 2, 3
# Tiers of how closely a column name matched.
FUZZY, GENERIC, NORMALIZED, EXACT, VERBATIM = 1, 2, 3, 4, 5


@dataclass(frozen=True, slots=True)
class Token:
    """One word of the intent: lowercase, stemmed, and where it is in the text."""

    text: str  # lowercase
    stem: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class NameMatch:
    """Where and how closely the intent spells a column's name."""

    rank: int
    span: int
    tier: int
    phrase: str  # the words as written in the intent
    first: int  # index of the first token of the match
    last: int  # index of the last token

    def key(self) -> tuple[int, int, int]:
        # Where the column was named matters most ("predict X based on Y"), then how
        # much of the phrase it covers ("house price" over "price"), then how exactly.
        return (self.rank, self.span, self.tier)


class Sentence:
    """The intent, read once: its words, the rank of each (input, neutral, part of the
    phrase naming the target, head of that phrase), and an index of its word runs."""

    def __init__(self, intent: str) -> None:
        self.text = intent
        self.tokens = [Token(w.lower(), stem(w), a, b) for w, a, b in word_spans(intent)]
        self.roles, self.has_phrase = _roles(self.tokens)
        # Columns named only where the sentence lists inputs, or outside the phrase
        # that names the target, are not targets.
        self.floor = PHRASE if self.has_phrase else NEUTRAL
        self._windows = _Windows(intent, self.tokens, self.roles, self.floor)

    def in_target_zone(self, index: int) -> bool:
        """Whether the word at `index` may name what to predict."""
        return self.roles[index] >= self.floor

    def name_match(self, column: str) -> NameMatch | None:
        """The best place where the intent spells `column`'s name, if any."""
        if not self.tokens:
            return None
        return self._windows.best_match(column)


def _roles(tokens: list[Token]) -> tuple[list[int], bool]:
    """The rank of each token, and whether a target phrase with content was found."""
    n = len(tokens)
    roles = [NEUTRAL] * n
    # Everything after a feature marker names inputs, up to the next trigger.
    in_features = False
    for i, tok in enumerate(tokens):
        if _is_trigger(tok.text):
            in_features = False
        elif tok.text in _FEATURE_MARKERS:
            in_features = True
        if in_features:
            roles[i] = FEATURE_ZONE

    trigger = next((i for i, t in enumerate(tokens) if _is_trigger(t.text)), None)
    start = 0 if trigger is None else trigger + 1
    phrase = _phrase_after(tokens, start)
    if not _has_content(tokens, phrase) and trigger is not None:
        # "churn prediction based on usage": the noun form follows its object.
        phrase = _phrase_before(tokens, trigger)
    if not _has_content(tokens, phrase):
        return roles, False
    for i in phrase:
        roles[i] = PHRASE
    for head in _heads(tokens, phrase):
        roles[head] = HEAD
    return roles, True


def _ends_phrase(tokens: list[Token], i: int, phrase: list[int], seen_content: bool) -> bool:
    word = tokens[i].text
    if word in _TERMINATORS:
        return True
    if not seen_content:
        return False
    if word == "of":
        return _last_content(tokens, phrase) not in _OF_NOUNS
    # "subscribe to a term deposit": "to" before a determiner starts context, while
    # "going to leave" goes on.
    nxt = tokens[i + 1].text if i + 1 < len(tokens) else ""
    return word == "to" and nxt in _DETERMINERS


def _phrase_after(tokens: list[Token], start: int) -> list[int]:
    phrase: list[int] = []
    seen_content = False
    for i in range(start, len(tokens)):
        word = tokens[i].text
        if _is_trigger(word) or word in _FEATURE_MARKERS:
            break
        if _ends_phrase(tokens, i, phrase, seen_content):
            if seen_content:
                break
            continue  # "predict for each store the weekly sales": skip the lead-in
        phrase.append(i)
        if word not in _FILLERS and word not in _CONJUNCTIONS and word != "of":
            seen_content = True
    return phrase


def _phrase_before(tokens: list[Token], trigger: int) -> list[int]:
    phrase: list[int] = []
    for i in range(trigger - 1, -1, -1):
        word = tokens[i].text
        if word in _TERMINATORS or word in _FEATURE_MARKERS or _is_trigger(word):
            break
        phrase.insert(0, i)
    return phrase


def _has_content(tokens: list[Token], phrase: list[int]) -> bool:
    return any(is_content(tokens[i].text) for i in phrase)


def is_content(word: str) -> bool:
    """Whether a word can name something (not a filler, conjunction or "of")."""
    return word not in _FILLERS and word not in _CONJUNCTIONS and word != "of"


def _bounded(run: list[Token]) -> bool:
    """Whether a run of words starts and ends with words that can name something: a
    fuzzy match may absorb a misspelling, not a neighbouring "for" or "an" (which would
    make "monthly spend for" outrank the exact "monthly spend")."""
    edges = (run[0].text, run[-1].text)
    return all(is_content(w) and w not in _TERMINATORS for w in edges)


def _last_content(tokens: list[Token], phrase: list[int]) -> str:
    for i in reversed(phrase):
        if is_content(tokens[i].text):
            return tokens[i].text
    return ""


def _heads(tokens: list[Token], phrase: list[int]) -> list[int]:
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
        elif is_content(word):
            current = i
    if current is not None:
        heads.append(current)
    return heads


#: Words that end a fronted "how much money" (the subject or its verb follows).
_AFTER_FRONTED = _words(
    "will would does do did can could should is are was were has have "
    "a an the their his her its our my your this that these those"
)


def how_many_object(tokens: list[Token]) -> tuple[int, int] | None:
    """The words after "how much/many" that say what is counted, as [start, end) token
    indices: "How much money will a film make?" asks what the film will make, money;
    "predict how many minutes late a flight departs" counts minutes. None when nothing
    follows before the verb or subject ("how much will a customer pay?")."""
    for p in range(len(tokens) - 2):
        if tokens[p].text == "how" and tokens[p + 1].text in ("much", "many"):
            end = next(
                (i for i in range(p + 2, len(tokens)) if tokens[i].text in _AFTER_FRONTED),
                len(tokens),
            )
            return (p + 2, end) if p + 2 < end < len(tokens) else None
    return None


def unfronted(tokens: list[Token], order: list[int]) -> list[int]:
    """`order` (token indices) with a fronted "how much/many" object put back after its
    verb, so that "how much money will a film make" also reads "... a film make money"."""
    span = how_many_object(tokens)
    if span is None:
        return order
    fronted = [i for i in order if span[0] <= i < span[1]]
    return [i for i in order if not span[0] <= i < span[1]] + fronted


def _is_trigger(word: str) -> bool:
    return word.startswith(_TRIGGER_PREFIXES)


@dataclass(frozen=True, slots=True)
class _Window:
    text: str  # lowercase words joined without separators
    key: str  # stemmed words joined
    rank: int
    span: int
    phrase: str  # the words as written in the intent
    first: int
    initials: str  # the first letter of each word


class _Windows:
    """Every run of up to five intent words, indexed so that matching thousands of
    columns costs a few dictionary lookups each (fuzzy matching only where it can
    decide the target)."""

    _MAX_SPAN = 5

    def __init__(self, intent: str, tokens: list[Token], roles: list[int], floor: int) -> None:
        self.by_text: dict[str, list[_Window]] = {}
        self.by_key: dict[str, list[_Window]] = {}
        # By the first letter of their key: `_ratio` pairs only keys that share it.
        self.fuzzy: dict[str, list[_Window]] = {}
        for size in range(1, min(len(tokens), self._MAX_SPAN) + 1):
            for i in range(len(tokens) - size + 1):
                run = tokens[i : i + size]
                window = _Window(
                    text="".join(t.text for t in run),
                    key="".join(t.stem for t in run),
                    rank=max(roles[i : i + size]),
                    span=size,
                    phrase=intent[run[0].start : run[-1].end],
                    first=i,
                    initials="".join(t.text[0] for t in run),
                )
                self.by_text.setdefault(window.text, []).append(window)
                self.by_key.setdefault(window.key, []).append(window)
                if window.rank >= floor and len(window.key) >= 4 and _bounded(run):
                    self.fuzzy.setdefault(window.key[0], []).append(window)

    def best_match(self, column: str) -> NameMatch | None:
        forms = name_forms(column)
        if not forms.text:
            return None
        normalized = forms.key
        found: list[tuple[_Window, int]] = []
        for window in self.by_text.get(forms.text, ()):
            found.append((window, VERBATIM if window.phrase == column else EXACT))
        found.extend((w, NORMALIZED) for w in self.by_key.get(normalized, ()))
        if forms.generic:
            found.extend((w, GENERIC) for w in self.by_key.get(forms.generic, ()))
        best = max((_match(w, tier) for w, tier in found), key=NameMatch.key) if found else None
        for window in self.fuzzy.get(normalized[:1], ()):
            if best is not None and (window.rank, window.span) <= (best.rank, best.span):
                continue  # a fuzzy match here could not beat what we have
            if _word_for_word(window, forms.initials) and (
                _ratio(window.key, normalized) >= FUZZY_MIN_RATIO
            ):
                fuzzy = _match(window, FUZZY)
                if best is None or fuzzy.key() > best.key():
                    best = fuzzy
        return best


def _match(window: _Window, tier: int) -> NameMatch:
    return NameMatch(
        window.rank, window.span, tier, window.phrase, window.first, window.first + window.span - 1
    )


# ------------------------------------------------------------------------ helpers


def _word_for_word(window: _Window, initials: str) -> bool:
    """Whether a loose match of several words lines up word for word: a misspelling
    keeps each word's first letter, so "montly spnd" may be `monthly_spend`, but a
    subject and its verb are not a name of as many words that merely shares letters
    ("will a customer get" is not `Customer_Age`). Words joined or split ("sale price"
    for `saleprice`) are not compared word by word."""
    return window.span != len(initials) or window.initials == initials


def _ratio(a: str, b: str) -> float:
    # Cheap rejections first: length alone bounds the ratio (2·min / sum), and typos
    # rarely hit the first letter, so requiring it to agree prunes most pairs.
    if a[:1] != b[:1] or 2 * min(len(a), len(b)) < FUZZY_MIN_RATIO * (len(a) + len(b)):
        return 0.0
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    if matcher.quick_ratio() < FUZZY_MIN_RATIO:
        return 0.0
    return matcher.ratio()
