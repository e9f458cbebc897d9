"""Text corpora as shards (`pipelines prepare text`), and their records read
back in TensorFlow ops: what translation (`text.translation.shards`) and
sentence classification (`text.classification.shards`) share.

A record holds UTF-8 strings only (`source`/`target`, or `sentence`/
`label`), as the TSV has them once stripped: tokenising is training's work
(the tokenizers are learned from the shards), so one prepared corpus serves
any vocabulary. A record's length, for the index's histogram and the bucket
boundaries, is in characters (`LENGTH_BIN` wide bins).

`TextSource` reads the TSV files in the driver with the in-memory loaders'
rule (`text.data.scan_tsv`) and splits the good rows with the in-memory
split (`split_pairs`, `split_labelled`: the same examples, the same seed),
so training from the shards sees the examples training from memory does.
The items are the lines themselves, `(path, line number, line)`; Beam's
workers parse each again and encode it. A malformed line stops `prepare`
with the in-memory loader's error, as in memory; with `data.skip_bad: true`
it is skipped, counted in the index and listed in `skipped.jsonl` with the
message the in-memory loader gives it (`text.data.malformed_message`).

Reading back: `parse_strings` (a `tf.data` map), `texts` (one feature of a
split as `string [batch]`, what the tokenizers learn from), `rows` (a small
split into memory, for scoring and export samples) and `char_length`.

Example:

>>> import tensorflow as tf
>>> from pipelines.shards import example
>>> ds = parse_strings(tf.data.Dataset.from_tensors(example(source="Hola.", target="Hi.")),
...                    ("source", "target"))
>>> {k: v.numpy() for k, v in next(iter(ds)).items()}
{'source': b'Hola.', 'target': b'Hi.'}
"""

import os

from pipelines.shards import SPLITS, ShardSource, example
from text.data import malformed_error, malformed_message, scan_tsv

#: Width of the length histogram's bins, in characters.
LENGTH_BIN = 4
#: Records parsed together when a split is read for a tokenizer.
TEXT_BATCH = 1024


class TextSource(ShardSource):
    """The lines of a config's TSV files (or of `--input`), split in the
    driver as in memory, encoded by Beam's workers.

    A subclass sets `domain`, `features` (the record's string features, in
    the order of a row) and `kind` (how a missing file is named), and
    implements `_files(config, data_dir, input)` -> `[(path, limit), ...]`,
    `_parser()` -> the `parse(fields)` of its loader, `_split(rows)` -> the
    in-memory `Splits` of the good rows, `_key(row)` (what the split
    deduplicates on) and `_length(row)` (in characters).

    Args:
        config: the task's config.
        data_dir: the data directory (None: the default one).
        input: a TSV to read instead of the config's dataset.
    """

    length_unit = "characters"
    length_bin = LENGTH_BIN
    features = ()
    kind = "TSV"

    def __init__(self, config, data_dir=None, input=None):
        d = config.data
        # The in-memory split's settings; `_configure` adds the task's own.
        self.val_fraction, self.test_fraction, self.seed = d.val_fraction, d.test_fraction, d.seed
        self._configure(config)
        files = self._files(config, data_dir, os.fspath(input) if input is not None else None)
        self.sources = [os.path.abspath(path) for path, _ in files]
        parse = self._parser()
        rows, first, bad = [], {}, []
        for path, limit in files:
            for number, line, row, problem in scan_tsv(path, parse, limit, self.kind):
                item = (path, number, line)
                if problem:
                    if not d.skip_bad:
                        # As in memory: the first bad line stops it, unless
                        # data.skip_bad says to skip (and list) them.
                        raise malformed_error(path, number, problem, line)
                    bad.append(item)
                    continue
                rows.append(row)
                # The split keeps the first of duplicate rows: its line is
                # the one encoded.
                first.setdefault(self._key(row), item)
        if not rows:
            raise ValueError(f"{', '.join(self.sources)}: no usable lines (all "
                             f"{len(bad)} malformed).")
        splits = self._split(rows)
        self._splits = {name: [first[self._key(row)] for row in (splits[name] or [])]
                        for name in SPLITS}
        # The malformed lines are items too, so that `prepare` counts and
        # lists them (with the loader's message) as skipped.
        self._splits["train"] = bad + self._splits["train"]

    def __getstate__(self):
        # Beam pickles the source into every split's encode step: settings
        # only; the items travel as the pipeline's elements.
        state = dict(self.__dict__)
        state.pop("_splits", None)
        return state

    # ------------------------------------------------------------ subclasses
    def _configure(self, config):
        """Keeps the settings `encode` needs (the instance is pickled to
        Beam's workers: settings, never data other than the items)."""

    def _files(self, config, data_dir, input):
        raise NotImplementedError

    def _parser(self):
        raise NotImplementedError

    def _split(self, rows):
        raise NotImplementedError

    def _key(self, row):
        return row

    def _length(self, row):
        return max(len(value) for value in row)

    # ------------------------------------------------------------ ShardSource
    def items(self):
        return self._splits

    def describe(self, item):
        path, number, _ = item
        return f"{path}, line {number}"

    def encode(self, item):
        path, number, line = item
        row, problem = self._parser()(line.split("\t"))
        if problem:
            raise ValueError(malformed_message(path, number, problem, line))
        return [(example(**dict(zip(self.features, row))), self._length(row))]


# ---------------------------------------------------------------------------
# Reading back


def parse_strings(records, names):
    """Serialised records -> `{name: string []}` of the string features
    `names`, in TensorFlow ops (a `tf.data` map)."""
    import tensorflow as tf

    spec = {name: tf.io.FixedLenFeature([], tf.string) for name in names}
    return records.map(lambda record: tf.io.parse_single_example(record, spec),
                       num_parallel_calls=tf.data.AUTOTUNE)


def texts(split, name, batch_size=TEXT_BATCH):
    """The feature `name` of a shard `Split`, as a `tf.data.Dataset` of
    `string [batch]` in file order (what `SubwordTokenizer.train_streamed`
    learns a vocabulary from: read batch by batch, never held whole)."""
    import tensorflow as tf

    spec = {name: tf.io.FixedLenFeature([], tf.string)}
    return (split.records().batch(batch_size)
            .map(lambda batch: tf.io.parse_example(batch, spec)[name],
                 num_parallel_calls=tf.data.AUTOTUNE)
            .prefetch(tf.data.AUTOTUNE))


def rows(split, names, limit=None):
    """The first `limit` records of a shard `Split` (None: all) as tuples of
    str, in file order: small splits (test, export samples) into memory."""
    ds = split.records()
    if limit is not None:
        ds = ds.take(limit)
    return [tuple(e[name].decode("utf-8") for name in names)
            for e in parse_strings(ds, names).as_numpy_iterator()]


def char_length(text):
    """The length of `text` (`string []`) in characters: the unit of the
    index's histogram (Python's `len` of the str `prepare` wrote)."""
    import tensorflow as tf

    return tf.strings.length(text, unit="UTF8_CHAR")
