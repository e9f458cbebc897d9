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
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No parallel-text file at {path}.")
    pairs, bad = [], []
    need = max(columns) + 1
    with open(path, encoding="utf-8", errors="strict") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            fields = line.split("\t")
            problem = None
            if len(fields) < need:
                problem = f"expected at least {need} tab-separated columns, got {len(fields)}"
            else:
                a, b = fields[columns[0]].strip(), fields[columns[1]].strip()
                if not a or not b:
                    problem = "empty sentence"
            if problem:
                if not skip_bad:
                    raise MalformedLineError(
                        f"{path}, line {number}: {problem}: {line[:80]!r}. Pass "
                        "skip_bad=True (config data.skip_bad: true) to skip such lines.")
                bad.append(number)
                continue
            pairs.append((a, b))
            if max_pairs and len(pairs) >= max_pairs:
                break
    if bad:
        log.warning("%s: skipped %d malformed lines (first: line %d).", path, len(bad), bad[0])
    if not pairs:
        raise ValueError(f"{path}: no sentence pairs found.")
    return pairs


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
