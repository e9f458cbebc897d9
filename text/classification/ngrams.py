"""A bag of n-grams beside the recurrent network: TF-IDF (word 1-2 grams,
and optionally character n-grams within words, sublinear tf) + logistic
regression, fitted with scikit-learn and computed in TensorFlow ops, so
that `predict` and the export run the same graph.

Why it is there: on a thousand labelled sentences a fine-tuned recurrent
network and a linear model on n-grams are right on different sentences
(they disagree on about a quarter of another domain's reviews), and a
weighted geometric mean of the two is better than either, across domains
most of all (README, "Sentence classification" results). `model.ngram_weight` mixes
them; 0 leaves the network alone.

The features are blocks, each one scikit-learn's `TfidfVectorizer` with
`sublinear_tf=True` (smoothed idf; each block's row L2-normalised over the
n-grams seen in training, as in a `FeatureUnion` of vectorizers):

- `("word", low, high)`: `ngram_range=(low, high)` of lowercased words of
  two or more letters, digits or underscores (the default token pattern);
- `("char_wb", low, high)`: `analyzer="char_wb"`, character n-grams inside
  each whitespace-separated word padded with a space at each end (a word
  shorter than `low` counts once, whole). They match a word's stem across
  its inflections and misspellings, which another domain's vocabulary
  needs more than the training domain's.

N-grams are hashed into `buckets` ids by `tf.strings.to_hash_bucket_fast`:
no vocabulary table, only the sorted ids of each block's training n-grams,
their idf and their weights.

Example:

>>> train = [("good fun", "pos"), ("great fun", "pos"), ("so bad", "neg"), ("awful", "neg")]
>>> ngrams = NgramModel.fit(train, labels=["neg", "pos"])
>>> ngrams.predict_proba(["good", "bad bad"]).argmax(axis=1).tolist()
[1, 0]
"""

import numpy as np
import tensorflow as tf

from text.classification.baselines import TFIDF_C_GRID, fit_logistic
from text.classification.data import check_examples

#: Hash buckets of the n-grams: an n-gram unseen in training falls into a
#: training n-gram's bucket with a chance of (training n-grams) / 2**40, about
#: 2e-8 for 20,000 of them (with 2**24 buckets, sentences of the UCI test
#: split met such collisions).
BUCKETS = 2 ** 40

#: What a feature block counts (see the module docstring).
ANALYZERS = ("word", "char_wb")

#: The default blocks: word 1-2 grams.
WORD_BLOCKS = (("word", 1, 2),)


def check_blocks(blocks):
    """`blocks` as a tuple of `(analyzer, low, high)` triples, or a
    ValueError naming the one that is wrong."""
    blocks = tuple((str(a), int(lo), int(hi)) for a, lo, hi in blocks)
    if not blocks:
        raise ValueError("NgramModel: needs at least one feature block.")
    for analyzer, low, high in blocks:
        if analyzer not in ANALYZERS or not 1 <= low <= high:
            raise ValueError(f"NgramModel: feature block {(analyzer, low, high)} must be "
                             f"(analyzer, low, high) with analyzer one of {list(ANALYZERS)} "
                             "and 1 <= low <= high.")
    return blocks


def hashed_ngrams(text, analyzer="word", ngram_range=(1, 2), buckets=BUCKETS):
    """`text string [batch]` -> ragged int64 `[batch, n-grams]`: the bucket
    ids of each sentence's n-grams of `analyzer` ("word": lowercased words
    of at least two letters, digits or underscores, as scikit-learn's
    default token pattern; "char_wb": characters within each lowercased,
    space-padded word, as scikit-learn's `char_wb`), of the lengths in
    `ngram_range` (inclusive). Graph-safe."""
    low, high = ngram_range
    text = tf.strings.lower(tf.convert_to_tensor(text, tf.string), encoding="utf-8")
    if analyzer == "word":
        words = tf.strings.split(tf.strings.regex_replace(text, r"[^\p{L}\p{N}_]+", " "))
        words = tf.ragged.boolean_mask(words, tf.strings.length(words, unit="UTF8_CHAR") >= 2)
        grams = tf.strings.ngrams(words, list(range(low, high + 1)), separator=" ")
    elif analyzer == "char_wb":
        # Unicode spaces too, as Python's str.split (scikit-learn's) does.
        words = tf.strings.split(tf.strings.regex_replace(text, r"[\s\p{Z}]+", " "))
        chars = tf.strings.unicode_split(
            tf.ragged.map_flat_values(lambda w: tf.strings.join([" ", w, " "]), words), "UTF-8")
        # Shortest first, with a padded word shorter than it kept whole
        # (once: the longer widths give it nothing).
        grams = tf.concat(
            [tf.strings.ngrams(chars, n, separator="", preserve_short_sequences=n == low)
             for n in range(low, high + 1)], axis=-1).merge_dims(1, 2)
    else:
        raise ValueError(f"hashed_ngrams: analyzer {analyzer!r} must be one of {list(ANALYZERS)}.")
    return tf.strings.to_hash_bucket_fast(grams, buckets)


class NgramModel:
    """TF-IDF n-grams + logistic regression over the labels, in the graph:
    `log_probabilities(text)` is graph-safe (constants only).

    Args:
        columns: per feature block, the sorted int64 bucket ids of its
            training n-grams (one array alone: one block).
        idf: per block, float32 inverse document frequencies, one per
            column (one array alone: one block).
        kernel: float32 `[columns of all blocks, classes]` weights, the
            blocks' rows in `blocks` order.
        bias: float32 `[classes]`.
        blocks: the feature blocks, `(analyzer, low, high)` each (see the
            module docstring).
        buckets: hash buckets.
        c: the logistic regression's inverse regularisation (what it was
            fitted with; kept for the record).

    Example:

    >>> m = NgramModel([1], [1.0], [[0.0, 2.0]], [0.0, 0.0])
    >>> m.classes, m.features
    (2, 1)
    """

    def __init__(self, columns, idf, kernel, bias, blocks=WORD_BLOCKS, buckets=BUCKETS, c=None):
        self.blocks = check_blocks(blocks)
        if len(self.blocks) == 1 and np.ndim(columns) == 1:
            columns, idf = [columns], [idf]
        self.columns = [np.asarray(c_, "int64") for c_ in columns]
        self.idf = [np.asarray(i, "float32") for i in idf]
        self.kernel = np.asarray(kernel, "float32")
        self.bias = np.asarray(bias, "float32")
        self.buckets, self.c = int(buckets), c
        if len(self.columns) != len(self.blocks) or len(self.idf) != len(self.blocks):
            raise ValueError(f"NgramModel: {len(self.columns)} column arrays and "
                             f"{len(self.idf)} idf arrays for {len(self.blocks)} blocks.")
        for block, cols, idf_ in zip(self.blocks, self.columns, self.idf):
            if not len(cols):
                raise ValueError(f"NgramModel: block {block} needs at least one n-gram column.")
            if idf_.shape != cols.shape:
                raise ValueError(f"NgramModel: block {block} has idf {idf_.shape} for "
                                 f"{len(cols)} columns.")
            if not (np.diff(cols) > 0).all():
                raise ValueError(f"NgramModel: block {block}'s columns must be sorted and "
                                 "distinct.")
        n = self.features
        if self.kernel.ndim != 2 or self.kernel.shape[0] != n:
            raise ValueError(f"NgramModel: kernel {self.kernel.shape} must have one row per "
                             f"column ({n}).")
        if self.bias.shape != (self.kernel.shape[1],):
            raise ValueError(f"NgramModel: bias {self.bias.shape} must have one value per "
                             f"class ({self.kernel.shape[1]}).")

    @property
    def classes(self):
        return self.kernel.shape[1]

    @property
    def features(self):
        return sum(len(c_) for c_ in self.columns)

    # ------------------------------------------------------------ features
    def tfidf(self, text):
        """`text string [batch]` -> the TF-IDF rows, a float32 SparseTensor
        `[batch, features]` (each block's columns in `columns` order, the
        blocks side by side, each L2-normalised). Graph-safe."""
        text = tf.convert_to_tensor(text, tf.string)
        batch = tf.shape(text, out_type=tf.int64)[0]
        n, offset, parts = self.features, 0, []
        for (analyzer, low, high), cols, idf in zip(self.blocks, self.columns, self.idf):
            ids = hashed_ngrams(text, analyzer, (low, high), self.buckets)
            rows, at, values = self._block(ids, cols, idf, batch)
            parts.append((rows, at + offset, values))
            offset += len(cols)
        rows, at, values = (tf.concat(p, axis=0) for p in zip(*parts))
        # Sorted indices, as a SparseTensor's consumers expect.
        order = tf.argsort(rows * n + at)
        return tf.SparseTensor(tf.gather(tf.stack([rows, at], axis=1), order),
                               tf.gather(values, order), tf.stack([batch, n]))

    @staticmethod
    def _block(ids, columns, idf, batch):
        """One block's TF-IDF entries: `(rows, columns, values)` of the
        n-gram ids `ids` (ragged `[batch, n-grams]`), L2-normalised per row."""
        n = len(columns)
        columns = tf.constant(columns)
        # Each n-gram's column, those unseen in training dropped, then one
        # count per (sentence, column) pair (no bincount: it refuses an
        # empty batch).
        grams, rows = ids.flat_values, ids.value_rowids()
        at = tf.minimum(tf.searchsorted(columns, grams, out_type=tf.int64), n - 1)
        known = tf.equal(tf.gather(columns, at), grams)
        keys, _, counts = tf.unique_with_counts(
            tf.boolean_mask(rows, known) * n + tf.boolean_mask(at, known), out_idx=tf.int64)
        rows, at = keys // n, keys % n
        values = (1.0 + tf.math.log(tf.cast(counts, tf.float32))) * tf.gather(
            tf.constant(idf), at)
        norms = tf.math.unsorted_segment_sum(values ** 2, rows, batch)
        values = values * tf.math.rsqrt(tf.gather(tf.maximum(norms, 1e-12), rows))
        return rows, at, values

    def log_probabilities(self, text):
        """`text string [batch]` -> float32 `[batch, classes]` log-softmax
        of the logistic regression. Graph-safe."""
        logits = tf.sparse.sparse_dense_matmul(self.tfidf(text), tf.constant(self.kernel))
        return tf.nn.log_softmax(logits + tf.constant(self.bias), axis=-1)

    def predict_proba(self, sentences):
        return np.exp(self.log_probabilities(tf.constant(list(sentences), tf.string)).numpy())

    def _matrix(self, sentences):
        """The TF-IDF rows of `sentences` as a scipy CSR matrix."""
        from scipy import sparse

        x = self.tfidf(tf.constant(list(sentences), tf.string))
        rows, cols = x.indices.numpy().T
        return sparse.csr_matrix((x.values.numpy(), (rows, cols)),
                                 shape=tuple(x.dense_shape.numpy()))

    # --------------------------------------------------------------- fitting
    @classmethod
    def fit(cls, train, val=None, labels=None, c_grid=TFIDF_C_GRID, blocks=WORD_BLOCKS,
            buckets=BUCKETS, seed=0):
        """Fits each block's idf on `train` and a logistic regression per `C`
        of `c_grid`, keeping the one most accurate on `val` (C=1 without
        it), as `baselines.tfidf_baseline` does.

        Args:
            train, val: `(sentence, label)` pairs.
            labels: the label names in column order (default: sorted).
            c_grid, blocks, buckets: as the class; seed: the logistic
                regression's `random_state`.

        Returns:
            The fitted `NgramModel`.
        """
        blocks = check_blocks(blocks)
        sentences, y = check_examples(list(train), "train")
        labels = list(labels) if labels is not None else sorted(set(y))
        if sorted(labels) != labels or not set(y) <= set(labels) or len(labels) < 2:
            raise ValueError(f"NgramModel.fit: labels must be the sorted label names (at least "
                             f"two, every training label among them); got {labels}.")
        text = tf.constant(sentences, tf.string)
        columns, idf = [], []
        for analyzer, low, high in blocks:
            ids = hashed_ngrams(text, analyzer, (low, high), buckets)
            # Document frequency: each (sentence, n-gram) pair counted once.
            pairs = np.unique(np.stack([ids.value_rowids().numpy(), ids.flat_values.numpy()],
                                       axis=1), axis=0)
            cols, df = np.unique(pairs[:, 1], return_counts=True)
            if not len(cols):
                what = ("word of two or more letters, digits or underscores" if analyzer == "word"
                        else "word")
                raise ValueError(f"NgramModel.fit: the training sentences have no {what} to "
                                 f"count (block {(analyzer, low, high)}).")
            columns.append(cols)
            idf.append(np.log((1.0 + len(sentences)) / (1.0 + df)) + 1.0)  # smooth idf
        n = sum(len(c_) for c_ in columns)
        blank = cls(columns, idf, np.zeros((n, len(labels))), np.zeros(len(labels)),
                    blocks, buckets)
        x = blank._matrix(sentences)
        lr, best_c, _ = fit_logistic(x, y, val, blank._matrix, c_grid, seed)
        at = [labels.index(name) for name in lr.classes_]
        kernel = np.zeros((n, len(labels)), "float32")
        bias = np.zeros(len(labels), "float32")
        if len(lr.classes_) == 2:
            # Binary: scikit-learn keeps one weight vector, the second
            # class's logit against a zero first.
            kernel[:, at[1]], bias[at[1]] = lr.coef_[0], lr.intercept_[0]
        else:
            kernel[:, at], bias[at] = lr.coef_.T, lr.intercept_
        if len(lr.classes_) < len(labels):
            # A label with no training example never wins.
            missing = [i for i in range(len(labels)) if i not in at]
            bias[missing] = -1e4
        return cls(columns, idf, kernel, bias, blocks, buckets, c=best_c)

    # ----------------------------------------------------------- persistence
    def save(self, path):
        """Writes the model to `path` (`.npz`): the blocks' columns and idf
        end to end, with each block's size."""
        with open(path, "wb") as f:
            np.savez(f, columns=np.concatenate(self.columns), idf=np.concatenate(self.idf),
                     sizes=np.array([len(c_) for c_ in self.columns], "int64"),
                     analyzers=np.array([b[0] for b in self.blocks]),
                     ranges=np.array([b[1:] for b in self.blocks], "int64"),
                     kernel=self.kernel, bias=self.bias, buckets=self.buckets,
                     c=np.nan if self.c is None else self.c)

    @classmethod
    def load(cls, path):
        with np.load(path) as z:
            c = float(z["c"])
            if "sizes" in z:
                bounds = np.cumsum(z["sizes"])[:-1]
                columns, idf = np.split(z["columns"], bounds), np.split(z["idf"], bounds)
                blocks = [(str(a), int(lo), int(hi))
                          for a, (lo, hi) in zip(z["analyzers"], z["ranges"])]
            else:  # saved before blocks: word 1..ngram_max grams
                columns, idf = [z["columns"]], [z["idf"]]
                blocks = [("word", 1, int(z["ngram_max"]))]
            return cls(columns, idf, z["kernel"], z["bias"], blocks, int(z["buckets"]),
                       c=None if np.isnan(c) else c)

    def summary(self):
        """What `metadata.json` and the saved classifier say of it."""
        names = {"word": "word", "char_wb": "character (within words)"}
        parts = [f"{names[a]} {lo}-{hi} grams" for a, lo, hi in self.blocks]
        return {"features": "TF-IDF " + " + ".join(parts) + " (sublinear tf), hashed",
                "blocks": [list(b) for b in self.blocks],
                "ngrams": self.features, "classes": self.classes, "C": self.c}
