"""Sentence-classification corpora as shards (`pipelines prepare text` with
a classification config), and their records read back in TensorFlow ops.

A record is one labelled sentence, `sentence` and `label` (UTF-8 strings;
the UCI files' 0/1 already named negative/positive); its length is the
sentence's, in characters. The sources: the config's UCI sentiment files
(`data.dataset: uci_sentiment`, `data.sources`) or TSV (`data.dataset: tsv`,
`data.path`), or `--input`, a `sentence<TAB>label` TSV (any labels);
`data.max_examples` applies per file. The sentences are deduplicated and
split as in memory (`text.classification.data.split_labelled`, stratified,
`data.val_fraction`, `data.test_fraction`, `data.seed`), so the shards'
train/val/test are the in-memory ones.

The index's `fields` carry `labels`, the training split's label set (the
classifier's output columns, known without a pass over the records; no
config field, so training does not compare it).

Example:

>>> import tensorflow as tf
>>> from pipelines.shards import example
>>> records = tf.data.Dataset.from_tensors(example(sentence="Fine.", label="positive"))
>>> rows = list(parse_strings(records, FEATURES).as_numpy_iterator())
>>> rows[0]["label"]
b'positive'
"""

from pipelines.shards import filter_counted
from text import shards as text_shards
from text.classification import data
from text.data import labelled_parser
from text.shards import TextSource, char_length, parse_strings

DOMAIN = "text.classification"
#: The record's string features, in the order of an example.
FEATURES = ("sentence", "label")
#: The index field that lists the training split's labels.
LABELS_FIELD = "labels"


class ClassificationSource(TextSource):
    """The labelled sentences of a classification config (or of `--input`,
    a TSV), split as `text.classification.task.load_splits` splits them.

    Args:
        config: a `ClassificationConfig`.
        data_dir: the data directory (where the UCI files are found).
        input: a `sentence<TAB>label` TSV to read instead of the config's
            dataset.
    """

    domain = DOMAIN
    features = FEATURES
    kind = "labelled-sentence"

    def _configure(self, config):
        d = config.data
        self.max_examples = d.max_examples

    def _files(self, config, data_dir, input):
        d = config.data
        if input is None and d.dataset == "uci_sentiment":
            self.label_map = data.SENTIMENT_LABELS
            paths = data.sentiment_files(d.sources, data_dir)
        else:
            self.label_map = None
            paths = [input or d.path]
        return [(path, self.max_examples) for path in paths]

    def _parser(self):
        return labelled_parser(self.label_map)

    def _split(self, rows):
        splits = data.split_labelled(rows, val_fraction=self.val_fraction,
                                     test_fraction=self.test_fraction, seed=self.seed)
        # What the classifier's `_learn` would take from the in-memory
        # training split.
        self.fields = {LABELS_FIELD: sorted({label for _, label in splits.train})}
        return splits

    def _key(self, row):
        # `split_labelled` deduplicates on the sentence alone.
        return row[0]

    def _length(self, row):
        return len(row[0])


def labels(split, limit=100_000):
    """The label set of a shard `Split`, sorted: the index's (`prepare`
    lists the training split's), or else the labels of its first `limit`
    records (a bounded pass)."""
    listed = split.shards.index.get("fields", {}).get(LABELS_FIELD)
    if listed:
        return sorted(str(label) for label in listed)
    return sorted({label for _, label in text_shards.rows(split, FEATURES, limit)})


def parse(records, tokenizer, label_names, max_tokens, sampling_alpha=0.0, drops=None):
    """Serialised records -> the elements the in-memory classifier makes,
    `{"tokens": int32 [<= max_tokens], "label": float32 [classes] (one-hot),
    "length": int32 []}` (the sentence's length in characters, what the
    buckets use), in TensorFlow ops (a `tf.data` map: the tokenizer runs
    inside it).

    Sentences with no tokens are dropped (in memory they are an error; a
    stream cannot stop on one) and counted in `drops` (a
    `pipelines.shards.Drops`, reported after each epoch). A label outside
    `label_names` fails the read with a message naming it.

    Args:
        records: a dataset of serialised records.
        tokenizer: the `SubwordTokenizer`.
        label_names: the classifier's labels (the one-hot columns' order).
        max_tokens: `tokenizer.max_tokens` (longer sentences are truncated).
        sampling_alpha: subword regularisation (`tokenizer.sampling_alpha`;
            0: the best segmentation).
        drops: the counter of the dropped sentences (None: not counted).
    """
    import tensorflow as tf
    import tensorflow_text as tf_text

    from pipelines.tokenizers import normalize

    names = tf.constant(list(label_names), tf.string)
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(names, tf.range(len(label_names), dtype=tf.int32)),
        default_value=-1)
    if sampling_alpha:
        # As in memory: a segmentation sampled from the same unigram model.
        sampler = tf_text.SentencepieceTokenizer(
            model=tokenizer.model_proto, out_type=tf.int32, nbest_size=-1,
            alpha=sampling_alpha)

        def tokens_of(text):
            return sampler.tokenize(normalize(text, tokenizer.lowercase))
    else:
        tokens_of = tokenizer.tokenize

    def encode(e):
        label = table.lookup(e["label"])
        known = tf.debugging.Assert(label >= 0, [
            "a record's label is not one of the classifier's labels", label_names,
            "; got", e["label"]])
        with tf.control_dependencies([known]):
            one_hot = tf.one_hot(label, len(label_names))
        return {"tokens": tokens_of(e["sentence"])[:max_tokens], "label": one_hot,
                "length": char_length(e["sentence"])}

    ds = parse_strings(records, FEATURES).map(encode, num_parallel_calls=tf.data.AUTOTUNE)

    def usable(e):
        return tf.size(e["tokens"]) > 0

    return filter_counted(ds, usable, drops)


def examples(split, limit=None):
    """The records of a shard `Split` as `(sentence, label)` pairs, in file
    order (for scoring and export samples: small splits)."""
    return text_shards.rows(split, FEATURES, limit)
