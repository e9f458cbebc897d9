"""Parallel text: Tatoeba sentence pairs and leak-free splits.

`tatoeba` finds the Spanish-English file in the data directory (or
downloads it) and returns `(source, target)` pairs in the direction asked
for (any other `sentence<TAB>sentence` file: `text.data.read_pairs`).
`split_pairs` deduplicates and splits so that **no source sentence and no
target sentence appears in two splits**: Tatoeba lists many translations of
one sentence ("Go." -> "Ve." / "Vete." / "Vaya."), and a random split would
test on sentences seen in training.

Example:

>>> pairs = [("Hola.", "Hello."), ("Hola.", "Hi."), ("Adiós.", "Bye.")]
>>> s = split_pairs(pairs, val_fraction=0.0, test_fraction=0.34, seed=0)
>>> sorted(len(v) for _, v in s.items())
[0, 1, 2]
"""

import collections
import logging

import numpy as np

from pipelines.data import Dataset, Splits, locate_in_archive
from text.data import check_fractions, read_pairs

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

def tatoeba(source="spa", target="eng", pair="spa_eng", data_dir=None, skip_bad=False,
            max_pairs=None):
    """Tatoeba sentence pairs as `(source, target)`, in either direction.

    Args:
        source, target: language codes of the two columns (`"spa"`/`"eng"`).
        pair: the dataset (`"spa_eng"`: `<data dir>/spa_eng/spa.txt`, or
            downloaded from `SPA_ENG.url`).
    """
    path, columns = tatoeba_file(source, target, pair, data_dir)
    return read_pairs(path, columns=columns, skip_bad=skip_bad, max_pairs=max_pairs)


def tatoeba_file(source="spa", target="eng", pair="spa_eng", data_dir=None):
    """`(path, columns)`: the Tatoeba file of `pair` (found or downloaded)
    and the columns of `source` and `target` in it, checked (what `tatoeba`
    reads, and `prepare` too)."""
    if pair not in TATOEBA_COLUMNS:
        raise ValueError(f"Unknown Tatoeba pair {pair!r}; available: {sorted(TATOEBA_COLUMNS)}.")
    langs = TATOEBA_COLUMNS[pair]
    for name, lang in (("source", source), ("target", target)):
        if lang not in langs:
            raise ValueError(f"{name}={lang!r} is not a language of {pair!r} ({langs}).")
    if source == target:
        raise ValueError(f"source and target are the same language ({source!r}).")
    path = locate_in_archive(SPA_ENG, data_dir)
    return path, (langs.index(source), langs.index(target))


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
        `pipelines.data.Splits` of lists of pairs (also read as
        `split["train"]`, `split["val"]`, `split["test"]`).
    """
    check_fractions(val_fraction, test_fraction)
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
    return Splits(**out)

