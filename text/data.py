"""Reading sentence files: the TSV readers both text pipelines share.

`read_pairs` reads any `sentence<TAB>sentence[<TAB>...]` file (parallel
text: the manythings.org / TensorFlow export of Tatoeba is
`english<TAB>spanish`), `read_labelled` any `sentence<TAB>label` file
(sentence classification), both through `scan_tsv` (also what `prepare`
reads corpora with, `text.shards`), so a malformed line is one error naming
the file and line (or, with `skip_bad`, one logged count).
`read_lines` reads the one-sentence-per-line inputs of `predict`. The
datasets and their leak-free splits live with their pipelines:
`text.translation.data` (Tatoeba, `split_pairs`) and
`text.classification.data` (UCI sentiment, `split_labelled`).

Example:

>>> import tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "p.tsv")
>>> _ = open(path, "w").write("Hi.\\tHola.\\n\\nGo.\\tVe.\\n")
>>> read_pairs(path, columns=(1, 0))
[('Hola.', 'Hi.'), ('Ve.', 'Go.')]
"""

import logging
import os

from pipelines.config import check
from pipelines.files import utf8_lines

log = logging.getLogger(__name__)


class MalformedLineError(ValueError):
    """A TSV line that is not `sentence<TAB>sentence`."""


def read_lines(path):
    """The lines of a UTF-8 text file (one sentence each, blank lines kept so
    that outputs line up with inputs)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No input file at {path}.")
    return [line for _, line in utf8_lines(path)]


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
    pairs = _read_tsv(path, "parallel-text", pair_parser(columns), skip_bad, max_pairs)
    if not pairs:
        raise ValueError(f"{os.fspath(path)}: no sentence pairs found.")
    return pairs


def pair_parser(columns=(0, 1)):
    """The `parse(fields) -> (row, problem)` of `read_pairs`: the row is
    `(column a, column b)`, stripped; the problem (None for a good line) is
    what a malformed line is reported with."""
    need = max(columns) + 1

    def parse(fields):
        if len(fields) < need:
            return None, f"expected at least {need} tab-separated columns, got {len(fields)}"
        a, b = fields[columns[0]].strip(), fields[columns[1]].strip()
        return (a, b), (None if a and b else "empty sentence")

    return parse


def labelled_parser(labels=None):
    """The `parse(fields) -> (row, problem)` of `read_labelled`: the row is
    `(sentence, label)`; `labels` as in `read_labelled`."""
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

    return parse


def malformed_message(path, number, problem, line):
    """What a malformed TSV line is reported with: the file, the line
    number, the problem and the start of the line (`MalformedLineError`
    says it; `prepare` lists it in the shards' `skipped.jsonl`)."""
    return f"{path}, line {number}: {problem}: {line[:80]!r}"


def scan_tsv(path, parse, limit=None, kind="TSV"):
    """Yields `(line number, line, row, problem)` for each non-blank line of
    a UTF-8 TSV file, `(row, problem)` being `parse(line.split("\\t"))`;
    stops after `limit` good rows (None or 0: all). The one reading rule of
    the in-memory loaders and of `prepare` (`text.shards`), so that both
    see the same rows.

    Raises:
        FileNotFoundError: naming `kind` and the path.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No {kind} file at {path}.")
    good = 0
    for number, line in utf8_lines(path):
        if not line.strip():
            continue
        row, problem = parse(line.split("\t"))
        yield number, line, row, problem
        if not problem:
            good += 1
            if limit and good >= limit:
                return


def malformed_error(path, number, problem, line):
    """The `MalformedLineError` of a bad line when lines are not skipped
    (in memory and in `prepare` alike)."""
    return MalformedLineError(
        f"{malformed_message(path, number, problem, line)}. Pass "
        "skip_bad=True (config data.skip_bad: true) to skip such lines.")


def _read_tsv(path, kind, parse, skip_bad, limit):
    """The rows `parse` makes of a UTF-8 TSV file's non-blank lines.

    `parse(fields)` returns `(row, problem)`; a line with a problem raises a
    `MalformedLineError` naming the file, the line and the problem, or with
    `skip_bad` is skipped and counted in one logged warning. Stops after
    `limit` rows (None or 0: all); a missing file names `kind`.
    """
    path = os.fspath(path)
    rows, bad = [], []
    for number, line, row, problem in scan_tsv(path, parse, limit, kind):
        if problem:
            if not skip_bad:
                raise malformed_error(path, number, problem, line)
            bad.append(number)
            continue
        rows.append(row)
    if bad:
        log.warning("%s: skipped %d malformed lines (first: line %d).", path, len(bad), bad[0])
    return rows


def check_fractions(val_fraction, test_fraction):
    """The held-out shares of a split: each in [0, 1), together below 1."""
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"Argument `{name}` must be in [0, 1); got {name}={value!r}.")
    if val_fraction + test_fraction >= 1.0:
        raise ValueError(
            f"val_fraction + test_fraction must be < 1; got {val_fraction + test_fraction!r}.")


def check_split_fields(data_config):
    """The held-out shares of a `data` config section (`val_fraction`,
    `test_fraction`): a `ConfigError` naming the field unless validation is
    in (0, 1) and the two leave training data."""
    d = data_config
    check(0 < d.val_fraction < 1, "data.val_fraction", d.val_fraction, "must be in (0, 1)")
    check(0 <= d.test_fraction < 1 - d.val_fraction, "data.test_fraction", d.test_fraction,
          "must be in [0, 1 - data.val_fraction)")


def check_sample_sentences(tokenizer_config):
    """`tokenizer.sample_sentences`: more than 100 (SentencePiece refuses a
    smaller `input_sentence_size`)."""
    n = tokenizer_config.sample_sentences
    check(not isinstance(n, bool) and isinstance(n, int) and n > 100,
          "tokenizer.sample_sentences", n,
          "must be an integer above 100 (SentencePiece's smallest sample)")


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
    examples = _read_tsv(path, "labelled-sentence", labelled_parser(labels), skip_bad,
                         max_examples)
    if not examples:
        raise ValueError(f"{os.fspath(path)}: no labelled sentences found.")
    return examples
