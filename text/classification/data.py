"""Labelled sentences: the UCI sentiment sentences and a seeded split
stratified by label (any other `sentence<TAB>label` file:
`text.data.read_labelled`).

Example:

>>> ex = [(f"s{i}", "a" if i % 2 else "b") for i in range(10)]
>>> len(split_labelled(ex, val_fraction=0.2, test_fraction=0.2).train)
6
"""

import logging
import os

import numpy as np

from pipelines.data import Dataset, Splits, locate_in_archive
from text.data import check_fractions, read_labelled

log = logging.getLogger(__name__)

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


def check_examples(examples, what):
    """`(sentence, label)` pairs -> `(sentences, labels)` (labels as str), or
    one `TypeError` naming the first item that is not such a pair.

    Example:

    >>> check_examples([("Fine.", 1), ("Bad.", 0)], "train")
    (['Fine.', 'Bad.'], ['1', '0'])
    """
    if isinstance(examples, (str, bytes)):
        raise TypeError(f"`{what}` must be a list of (sentence, label) pairs, not a string.")
    sentences, labels = [], []
    for i, example in enumerate(examples):
        try:
            sentence, label = example
        except (TypeError, ValueError):
            raise TypeError(f"{what}[{i}] must be a (sentence, label) pair; got "
                            f"{example!r}.") from None
        if not isinstance(sentence, str):
            raise TypeError(f"{what}[{i}]: the sentence must be a str; got "
                            f"{type(sentence).__name__}: {sentence!r}.")
        sentences.append(sentence)
        labels.append(str(label))
    return sentences, labels


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
    examples = []
    for path in sentiment_files(sources, data_dir):
        examples += read_labelled(path, skip_bad=skip_bad, max_examples=max_examples,
                                  labels=SENTIMENT_LABELS)
    return examples


def sentiment_files(sources=("amazon", "imdb"), data_dir=None):
    """The files of the UCI sentiment `sources`, in order (found, or the
    zip downloaded): what `sentiment` reads, and `prepare` too.

    Raises:
        ValueError: for an unknown source.
        FileNotFoundError: naming the file a source lacks.
    """
    sources = [sources] if isinstance(sources, str) else list(sources)
    unknown = [s for s in sources if s not in SENTIMENT_FILES]
    if not sources or unknown:
        raise ValueError(f"Unknown sentiment sources {unknown or sources!r}; "
                         f"available: {sorted(SENTIMENT_FILES)}.")
    folder = locate_in_archive(SENTIMENT, data_dir)
    paths = []
    for source in sources:
        path = os.path.join(folder, SENTIMENT_FILES[source])
        if not os.path.exists(path):
            raise FileNotFoundError(
                f"No {SENTIMENT_FILES[source]} in {folder} (source {source!r}); the full "
                f"set can be downloaded from {SENTIMENT.url}.")
        paths.append(path)
    return paths


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
        `pipelines.data.Splits` of lists of `(sentence, label)` (also read
        as `split["train"]`, ...).

    Example:

    >>> ex = [(f"s{i}", "a" if i % 2 else "b") for i in range(20)]
    >>> s = split_labelled(ex, val_fraction=0.1, test_fraction=0.2, seed=0)
    >>> [len(s[k]) for k in ("train", "val", "test")]
    [14, 2, 4]
    >>> sorted(label for _, label in s["test"])
    ['a', 'a', 'b', 'b']
    """
    check_fractions(val_fraction, test_fraction)
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
    return Splits(**out)
