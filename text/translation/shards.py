"""Translation corpora as shards (`pipelines prepare text` with a
translation config), and their records read back in TensorFlow ops.

A record is one sentence pair, `source` and `target` (UTF-8 strings, in the
config's direction); its length is the longer side's, in characters. The
sources: the config's Tatoeba pair (`data.dataset: tatoeba`) or TSV
(`data.dataset: tsv`, `data.path`), or `--input`, a TSV read with the
config's `data.source_column` / `data.target_column`; `data.max_pairs`
applies. The pairs are deduplicated and split as in memory
(`text.translation.data.split_pairs`, `data.val_fraction`,
`data.test_fraction`, `data.seed`: no sentence in two splits), so the
shards' train/val/test are the in-memory ones. The index's `fields` hold
the direction (`data.source`, `data.target`): a translator of the other
direction refuses the shards.

Example:

>>> import tensorflow as tf
>>> from pipelines.shards import example
>>> records = tf.data.Dataset.from_tensors(example(source="Hola.", target="Hi."))
>>> rows = list(parse_strings(records, FEATURES).as_numpy_iterator())
>>> rows[0]["source"], rows[0]["target"]
(b'Hola.', b'Hi.')
"""

from pipelines.shards import filter_counted
from text import shards as text_shards
from text.data import pair_parser
from text.shards import TextSource, char_length, parse_strings
from text.translation import data

DOMAIN = "text.translation"
#: The record's string features, in the order of a pair.
FEATURES = ("source", "target")


class TranslationSource(TextSource):
    """The sentence pairs of a translation config (or of `--input`, a TSV),
    split as `text.translation.task.load_splits` splits them.

    Args:
        config: a `TranslationConfig`.
        data_dir: the data directory (where Tatoeba is found).
        input: a TSV to read instead of the config's dataset (columns
            `data.source_column`, `data.target_column`).
    """

    domain = DOMAIN
    features = FEATURES
    kind = "parallel-text"

    def _configure(self, config):
        d = config.data
        self.max_pairs = d.max_pairs
        self.fields = {"data.source": d.source, "data.target": d.target}

    def _files(self, config, data_dir, input):
        d = config.data
        if input is None and d.dataset == "tatoeba":
            path, self.columns = data.tatoeba_file(d.source, d.target, pair=d.pair,
                                                   data_dir=data_dir)
        else:
            path, self.columns = input or d.path, (d.source_column, d.target_column)
        return [(path, self.max_pairs)]

    def _parser(self):
        return pair_parser(self.columns)

    def _split(self, rows):
        return data.split_pairs(rows, val_fraction=self.val_fraction,
                                test_fraction=self.test_fraction, seed=self.seed)


def parse(records, source_tokenizer, target_tokenizer, max_source_tokens, max_target_tokens,
          drops=None):
    """Serialised records -> the elements the in-memory translator makes,
    `{"source", "target_in", "target_out": int32 [tokens], "length": int32
    []}` (the pair's length in characters, what the buckets use), in
    TensorFlow ops (a `tf.data` map: the tokenizers run inside it).

    Pairs empty or longer than `max_source_tokens` / `max_target_tokens - 1`
    subword tokens (EOS takes one) are dropped, as in memory, and counted in
    `drops` (a `pipelines.shards.Drops`, reported after each epoch).

    Args:
        records: a dataset of serialised records.
        source_tokenizer, target_tokenizer: `SubwordTokenizer`s.
        max_source_tokens, max_target_tokens: the config's `tokenizer`
            limits.
        drops: the counter of the dropped pairs (None: not counted).
    """
    import tensorflow as tf

    from pipelines.tokenizers import BOS_ID, EOS_ID

    def encode(e):
        return {"source": source_tokenizer.tokenize(e["source"]),
                "target": target_tokenizer.tokenize(e["target"]),
                "length": tf.maximum(char_length(e["source"]), char_length(e["target"]))}

    def usable(e):
        src, tgt = tf.size(e["source"]), tf.size(e["target"])
        return ((src >= 1) & (src <= max_source_tokens)
                & (tgt >= 1) & (tgt <= max_target_tokens - 1))

    def to_example(e):
        bos = tf.constant([BOS_ID], tf.int32)
        eos = tf.constant([EOS_ID], tf.int32)
        return {"source": e["source"], "target_in": tf.concat([bos, e["target"]], 0),
                "target_out": tf.concat([e["target"], eos], 0), "length": e["length"]}

    ds = parse_strings(records, FEATURES).map(encode, num_parallel_calls=tf.data.AUTOTUNE)
    ds = filter_counted(ds, usable, drops)
    return ds.map(to_example, num_parallel_calls=tf.data.AUTOTUNE)


def pairs(split, limit=None):
    """The records of a shard `Split` as `(source, target)` pairs, in file
    order (for scoring and export samples: small splits)."""
    return text_shards.rows(split, FEATURES, limit)
