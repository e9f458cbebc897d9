"""Parallel-text data: Tatoeba-style TSV pairs and leak-free splits.

`read_pairs` reads any `sentence<TAB>sentence[<TAB>...]` file (the
manythings.org / TensorFlow export of Tatoeba, `spa-eng/spa.txt`, is
`english<TAB>spanish`); `tatoeba` finds the Spanish-English file in the data
directory (or downloads it) and returns `(source, target)` pairs in the
direction asked for. `split_pairs` deduplicates and splits so that **no
source sentence and no target sentence appears in two splits**: Tatoeba
lists many translations of one sentence ("Go." -> "Ve." / "Vete." / "Vaya."),
and a random split would test on sentences seen in training.

Example:

>>> pairs = [("Hola.", "Hello."), ("Hola.", "Hi."), ("Adiós.", "Bye.")]
>>> s = split_pairs(pairs, val_fraction=0.0, test_fraction=0.34, seed=0)
>>> sorted(len(v) for v in s.values())
[0, 1, 2]
"""

import collections
import logging
import os

import numpy as np

from pipelines.data import Dataset, locate_in_archive

log = logging.getLogger(__name__)

# The TensorFlow-hosted copy of the manythings.org export (2018-05-13) that
# `../shared/data/spa_eng/spa.txt` is: `english<TAB>spanish`, 118,964 lines
# before the shared copy's cleaning.
SPA_ENG = Dataset(
    "spa_eng/spa.txt",
    url="http://storage.googleapis.com/download.tensorflow.org/data/spa-eng.zip",
    archive_member="*/spa.txt",
)
# Column order of the Tatoeba exports: the English side first.
TATOEBA_COLUMNS = {"spa_eng": ("eng", "spa")}


class MalformedLineError(ValueError):
    """A TSV line that is not `sentence<TAB>sentence`."""


def read_lines(path):
    """The lines of a UTF-8 text file (one sentence each, blank lines kept so
    that outputs line up with inputs)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No input file at {path}.")
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\r\n") for line in f]


def read_pairs(path, columns=(0, 1), skip_bad=False, max_pairs=None):
    """Reads `(column a, column b)` sentence pairs from a TSV file.

    Extra columns (the attribution column of newer manythings exports) are
    ignored. A line with fewer than two columns or an empty sentence raises a
    `MalformedLineError` naming the file and line number, or with
    `skip_bad=True` is skipped and counted in one logged warning. Blank lines
    are ignored.

    Args:
        path: the TSV file (UTF-8).
        columns: which two columns to return, in that order.
        skip_bad: skip malformed lines (logged) instead of raising.
        max_pairs: stop after this many pairs.
    """
    need = max(columns) + 1

    def parse(fields):
        if len(fields) < need:
            return None, f"expected at least {need} tab-separated columns, got {len(fields)}"
        a, b = fields[columns[0]].strip(), fields[columns[1]].strip()
        return (a, b), (None if a and b else "empty sentence")

    pairs = _read_tsv(path, "parallel-text", parse, skip_bad, max_pairs)
    if not pairs:
        raise ValueError(f"{os.fspath(path)}: no sentence pairs found.")
    return pairs


def _read_tsv(path, kind, parse, skip_bad, limit):
    """The rows `parse` makes of a UTF-8 TSV file's non-blank lines.

    `parse(fields)` returns `(row, problem)`; a line with a problem raises a
    `MalformedLineError` naming the file, the line and the problem, or with
    `skip_bad` is skipped and counted in one logged warning. Stops after
    `limit` rows (None or 0: all); a missing file names `kind`.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No {kind} file at {path}.")
    rows, bad = [], []
    with open(path, encoding="utf-8", errors="strict") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            row, problem = parse(line.split("\t"))
            if problem:
                if not skip_bad:
                    raise MalformedLineError(
                        f"{path}, line {number}: {problem}: {line[:80]!r}. Pass "
                        "skip_bad=True (config data.skip_bad: true) to skip such lines.")
                bad.append(number)
                continue
            rows.append(row)
            if limit and len(rows) >= limit:
                break
    if bad:
        log.warning("%s: skipped %d malformed lines (first: line %d).", path, len(bad), bad[0])
    return rows


def tatoeba(source="spa", target="eng", pair="spa_eng", data_dir=None, skip_bad=False,
            max_pairs=None):
    """Tatoeba sentence pairs as `(source, target)`, in either direction.

    Args:
        source, target: language codes of the two columns (`"spa"`/`"eng"`).
        pair: the dataset (`"spa_eng"`: `<data dir>/spa_eng/spa.txt`, or
            downloaded from `SPA_ENG.url`).
    """
    if pair not in TATOEBA_COLUMNS:
        raise ValueError(f"Unknown Tatoeba pair {pair!r}; available: {sorted(TATOEBA_COLUMNS)}.")
    langs = TATOEBA_COLUMNS[pair]
    for name, lang in (("source", source), ("target", target)):
        if lang not in langs:
            raise ValueError(f"{name}={lang!r} is not a language of {pair!r} ({langs}).")
    if source == target:
        raise ValueError(f"source and target are the same language ({source!r}).")
    path = locate_in_archive(SPA_ENG, data_dir)
    return read_pairs(path, columns=(langs.index(source), langs.index(target)),
                      skip_bad=skip_bad, max_pairs=max_pairs)


def _groups(pairs):
    """Connected components of the graph whose edges are the pairs and whose
    nodes are source and target sentences (union-find)."""
    parent = {}

    def find(x):
        root = x
        while parent.setdefault(root, root) != root:
            root = parent[root]
        while parent[x] != root:  # path compression
            parent[x], x = root, parent[x]
        return root

    for a, b in pairs:
        ra, rb = find(("s", a)), find(("t", b))
        if ra != rb:
            parent[ra] = rb
    return [find(("s", a)) for a, _ in pairs]


def split_pairs(pairs, val_fraction=0.05, test_fraction=0.05, seed=0):
    """Deduplicates `pairs` and splits them into train/val/test.

    Whole groups of pairs linked by a shared source or target sentence go to
    one split, so no sentence of either side is in two splits; groups are
    assigned in a seeded random order until each held-out split has its share
    of pairs.

    Returns:
        `{"train": [...], "val": [...], "test": [...]}` lists of pairs.
    """
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"Argument `{name}` must be in [0, 1); got {name}={value!r}.")
    if val_fraction + test_fraction >= 1.0:
        raise ValueError(
            f"val_fraction + test_fraction must be < 1; got {val_fraction + test_fraction!r}.")
    unique = list(dict.fromkeys((a.strip(), b.strip()) for a, b in pairs))
    if len(unique) < len(pairs):
        log.info("Dropped %d duplicate pairs.", len(pairs) - len(unique))
    labels = _groups(unique)
    members = collections.defaultdict(list)
    for i, label in enumerate(labels):
        members[label].append(i)
    groups = list(members.values())
    order = np.random.default_rng(seed).permutation(len(groups))
    n = len(unique)
    want = {"test": int(round(n * test_fraction)), "val": int(round(n * val_fraction))}
    out = {"train": [], "val": [], "test": []}
    for g in order:
        group = groups[g]
        for name in ("test", "val"):
            if len(out[name]) < want[name]:
                out[name].extend(unique[i] for i in group)
                break
        else:
            out["train"].extend(unique[i] for i in group)
    return out


# ---------------------------------------------------------------------------
# Labelled sentences (sentence classification)
# ---------------------------------------------------------------------------

# The UCI "Sentiment Labelled Sentences" (Kotzias et al., KDD 2015): a folder
# with `{amazon_cells,imdb,yelp}_labelled.txt`, each `sentence<TAB>0|1`. The
# zip holds it as "sentiment labelled sentences/"; the data directory as
# `sentiment/` (`../shared/data/sentiment/` has the amazon and imdb files).
SENTIMENT = Dataset(
    "sentiment",
    url="https://archive.ics.uci.edu/static/public/331/sentiment+labelled+sentences.zip",
    archive_member="sentiment labelled sentences",
)
SENTIMENT_FILES = {
    "amazon": "amazon_cells_labelled.txt",
    "imdb": "imdb_labelled.txt",
    "yelp": "yelp_labelled.txt",
}
# The UCI files' labels, as the names a classifier reports.
SENTIMENT_LABELS = {"0": "negative", "1": "positive"}


def read_labelled(path, skip_bad=False, max_examples=None, labels=None):
    """Reads `(sentence, label)` examples from a `sentence<TAB>label` file.

    Each non-blank line must have exactly two tab-separated columns: a
    non-empty sentence and a non-empty label (both stripped of surrounding
    whitespace). Labels are kept as strings, so any number of classes and
    any label names work. A line that breaks these rules (or, with `labels`
    given, has a label outside it) raises a `MalformedLineError` naming the
    file, the line number and the problem; with `skip_bad=True` such lines are
    skipped and counted in one logged warning. Blank lines are ignored.

    Args:
        path: the UTF-8 TSV file.
        skip_bad: skip malformed lines (logged) instead of raising.
        max_examples: stop after this many examples (None: all).
        labels: the allowed labels: a collection, or a mapping from the
            label in the file to the name returned (None: any label, as is).

    Returns:
        A list of `(sentence, label)` string pairs, in file order.

    Example:

    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "s.tsv")
    >>> _ = open(path, "w").write("Great phone.\\t1\\nBroke in a day.\\t0\\n")
    >>> read_labelled(path, labels={"0": "negative", "1": "positive"})
    [('Great phone.', 'positive'), ('Broke in a day.', 'negative')]
    """
    mapping = None
    if labels is not None:
        mapping = dict(labels) if isinstance(labels, dict) else {str(x): str(x) for x in labels}

    def parse(fields):
        if len(fields) != 2:
            return None, (f"expected 2 tab-separated columns (sentence, label), "
                          f"got {len(fields)}")
        sentence, label = fields[0].strip(), fields[1].strip()
        if not sentence:
            return None, "empty sentence"
        if not label:
            return None, "empty label"
        if mapping is None:
            return (sentence, label), None
        if label not in mapping:
            return None, f"label {label!r} is not one of {sorted(mapping)}"
        return (sentence, mapping[label]), None

    examples = _read_tsv(path, "labelled-sentence", parse, skip_bad, max_examples)
    if not examples:
        raise ValueError(f"{os.fspath(path)}: no labelled sentences found.")
    return examples


def sentiment(sources=("amazon", "imdb"), data_dir=None, skip_bad=False, max_examples=None):
    """UCI Sentiment Labelled Sentences as `(sentence, "negative"|"positive")`.

    Looks for `sentiment/<source file>` in the data directory; if the folder
    is missing, downloads and extracts the UCI zip (`SENTIMENT.url`). Labels
    other than 0 and 1 are malformed lines (see `read_labelled`).

    Args:
        sources: any of "amazon", "imdb", "yelp" (the shared offline copy has
            the first two), read in this order.
        skip_bad: skip (and log) malformed lines instead of failing.
        max_examples: at most this many examples per source.
    """
    sources = [sources] if isinstance(sources, str) else list(sources)
    unknown = [s for s in sources if s not in SENTIMENT_FILES]
    if not sources or unknown:
        raise ValueError(f"Unknown sentiment sources {unknown or sources!r}; "
                         f"available: {sorted(SENTIMENT_FILES)}.")
    folder = locate_in_archive(SENTIMENT, data_dir)
    examples = []
    for source in sources:
        path = os.path.join(folder, SENTIMENT_FILES[source])
        if not os.path.exists(path):
            raise FileNotFoundError(
                f"No {SENTIMENT_FILES[source]} in {folder} (source {source!r}); the full "
                f"set can be downloaded from {SENTIMENT.url}.")
        examples += read_labelled(path, skip_bad=skip_bad, max_examples=max_examples,
                                  labels=SENTIMENT_LABELS)
    return examples


def split_labelled(examples, val_fraction=0.1, test_fraction=0.2, seed=0):
    """Deduplicates labelled sentences and splits them, stratified by label.

    Duplicate sentences (after stripping) are kept once; a sentence given
    two different labels is dropped altogether (logged), as it cannot be
    scored fairly. Each label's examples are put in a seeded random order and
    its rounded shares go to test and val (every label keeps at least one
    training example); each split is returned in file order. The same
    examples and seed always give the same split.

    Raises:
        ValueError: with fewer than two labels (naming the one found).

    Returns:
        `{"train": [...], "val": [...], "test": [...]}` lists of
        `(sentence, label)`.

    Example:

    >>> ex = [(f"s{i}", "a" if i % 2 else "b") for i in range(20)]
    >>> s = split_labelled(ex, val_fraction=0.1, test_fraction=0.2, seed=0)
    >>> [len(s[k]) for k in ("train", "val", "test")]
    [14, 2, 4]
    >>> sorted(label for _, label in s["test"])
    ['a', 'a', 'b', 'b']
    """
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"Argument `{name}` must be in [0, 1); got {name}={value!r}.")
    if val_fraction + test_fraction >= 1.0:
        raise ValueError(
            f"val_fraction + test_fraction must be < 1; got {val_fraction + test_fraction!r}.")
    by_sentence = {}
    for sentence, label in examples:
        by_sentence.setdefault(str(sentence).strip(), []).append(str(label))
    conflicting = [s for s, labels in by_sentence.items() if len(set(labels)) > 1]
    if conflicting:
        log.warning("Dropped %d sentences that carry different labels (first: %r).",
                    len(conflicting), conflicting[0][:60])
    unique = [(s, labels[0]) for s, labels in by_sentence.items() if len(set(labels)) == 1]
    duplicates = len(examples) - len(unique) - sum(len(by_sentence[s]) for s in conflicting)
    if duplicates:
        log.info("Dropped %d duplicate sentences.", duplicates)
    classes = sorted({label for _, label in unique})
    if len(classes) < 2:
        raise ValueError(
            "A classifier needs at least two labels; the data has only "
            f"{classes[0]!r} ({len(unique)} sentences)." if classes else
            "No labelled sentences to split.")
    rng = np.random.default_rng(seed)
    assign = {}
    for label in classes:
        members = [i for i, (_, lab) in enumerate(unique) if lab == label]
        members = [members[j] for j in rng.permutation(len(members))]
        n_test = int(round(len(members) * test_fraction))
        n_val = int(round(len(members) * val_fraction))
        # Every label keeps at least one training example.
        while n_test + n_val > len(members) - 1:
            if n_val:
                n_val -= 1
            else:
                n_test -= 1
        for k, i in enumerate(members):
            assign[i] = "test" if k < n_test else "val" if k < n_test + n_val else "train"
    out = {"train": [], "val": [], "test": []}
    for i, example in enumerate(unique):
        out[assign[i]].append(example)
    return out
