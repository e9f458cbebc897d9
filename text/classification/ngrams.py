"""A bag of word n-grams beside the recurrent network: TF-IDF (word 1-2
grams, sublinear tf) + logistic regression, fitted with scikit-learn and
computed in TensorFlow ops, so that `predict` and the export run the same
graph.

Why it is there: on a thousand labelled sentences a fine-tuned recurrent
network and a linear model on n-grams are right on different sentences
(they disagree on about a quarter of another domain's reviews), and a
weighted geometric mean of the two is better than either, across domains
most of all (README, "Sentence classification" results). `model.ngram_weight` mixes
them; 0 leaves the network alone.

The features are scikit-learn's `TfidfVectorizer(ngram_range=(1, 2),
sublinear_tf=True)` (lowercased words of two or more letters, digits or
underscores; smoothed idf; each row L2-normalised over the n-grams seen in
training), with the n-grams hashed into `buckets` ids by
`tf.strings.to_hash_bucket_fast`: no vocabulary table, only the sorted ids
of the training n-grams, their idf and their weights.

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


def hashed_ngrams(text, buckets=BUCKETS, ngram_max=2):
    """`text string [batch]` -> ragged int64 `[batch, n-grams]`: the bucket
    ids of each sentence's word 1..`ngram_max`-grams (lowercased words of
    at least two letters, digits or underscores, as scikit-learn's default
    token pattern). Graph-safe."""
    text = tf.strings.lower(tf.convert_to_tensor(text, tf.string), encoding="utf-8")
    words = tf.strings.split(tf.strings.regex_replace(text, r"[^\p{L}\p{N}_]+", " "))
    words = tf.ragged.boolean_mask(words, tf.strings.length(words, unit="UTF8_CHAR") >= 2)
    grams = tf.strings.ngrams(words, list(range(1, ngram_max + 1)), separator=" ")
    return tf.strings.to_hash_bucket_fast(grams, buckets)


class NgramModel:
    """TF-IDF word n-grams + logistic regression over the labels, in the
    graph: `log_probabilities(text)` is graph-safe (constants only).

    Args:
        columns: sorted int64 bucket ids of the training n-grams.
        idf: float32 `[len(columns)]` inverse document frequencies.
        kernel: float32 `[len(columns), classes]` weights.
        bias: float32 `[classes]`.
        ngram_max: the longest n-gram.
        buckets: hash buckets.
        c: the logistic regression's inverse regularisation (what it was
            fitted with; kept for the record).

    Example:

    >>> m = NgramModel([1], [1.0], [[0.0, 2.0]], [0.0, 0.0])
    >>> m.classes, m.features
    (2, 1)
    """

    def __init__(self, columns, idf, kernel, bias, ngram_max=2, buckets=BUCKETS, c=None):
        self.columns = np.asarray(columns, "int64")
        self.idf = np.asarray(idf, "float32")
        self.kernel = np.asarray(kernel, "float32")
        self.bias = np.asarray(bias, "float32")
        self.ngram_max, self.buckets, self.c = int(ngram_max), int(buckets), c
        n = len(self.columns)
        if not n:
            raise ValueError("NgramModel: needs at least one n-gram column.")
        if self.idf.shape != (n,) or self.kernel.ndim != 2 or self.kernel.shape[0] != n:
            raise ValueError(f"NgramModel: idf {self.idf.shape} and kernel {self.kernel.shape} "
                             f"must have one row per column ({n}).")
        if self.bias.shape != (self.kernel.shape[1],):
            raise ValueError(f"NgramModel: bias {self.bias.shape} must have one value per "
                             f"class ({self.kernel.shape[1]}).")
        if not (np.diff(self.columns) > 0).all():
            raise ValueError("NgramModel: columns must be sorted and distinct.")

    @property
    def classes(self):
        return self.kernel.shape[1]

    @property
    def features(self):
        return len(self.columns)

    # ------------------------------------------------------------ features
    def tfidf(self, text):
        """`text string [batch]` -> the TF-IDF rows, a float32 SparseTensor
        `[batch, features]` (columns in `columns` order). Graph-safe."""
        ids = hashed_ngrams(text, self.buckets, self.ngram_max)
        batch = ids.nrows()
        n = self.features
        columns = tf.constant(self.columns)
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
            tf.constant(self.idf), at)
        norms = tf.math.unsorted_segment_sum(values ** 2, rows, batch)
        values = values * tf.math.rsqrt(tf.gather(tf.maximum(norms, 1e-12), rows))
        # Sorted indices, as a SparseTensor's consumers expect.
        order = tf.argsort(keys)
        return tf.SparseTensor(tf.gather(tf.stack([rows, at], axis=1), order),
                               tf.gather(values, order), tf.stack([batch, n]))

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
    def fit(cls, train, val=None, labels=None, c_grid=TFIDF_C_GRID, ngram_max=2,
            buckets=BUCKETS, seed=0):
        """Fits the idf on `train` and a logistic regression per `C` of
        `c_grid`, keeping the one most accurate on `val` (C=1 without it),
        as `baselines.tfidf_baseline` does.

        Args:
            train, val: `(sentence, label)` pairs.
            labels: the label names in column order (default: sorted).
            c_grid, ngram_max, buckets: as the class; seed: the logistic
                regression's `random_state`.

        Returns:
            The fitted `NgramModel`.
        """
        sentences, y = check_examples(list(train), "train")
        labels = list(labels) if labels is not None else sorted(set(y))
        if sorted(labels) != labels or not set(y) <= set(labels) or len(labels) < 2:
            raise ValueError(f"NgramModel.fit: labels must be the sorted label names (at least "
                             f"two, every training label among them); got {labels}.")
        ids = hashed_ngrams(tf.constant(sentences, tf.string), buckets, ngram_max)
        # Document frequency: each (sentence, n-gram) pair counted once.
        pairs = np.unique(np.stack([ids.value_rowids().numpy(), ids.flat_values.numpy()],
                                   axis=1), axis=0)
        columns, df = np.unique(pairs[:, 1], return_counts=True)
        if not len(columns):
            raise ValueError("NgramModel.fit: the training sentences have no word of two or "
                             "more letters, digits or underscores to count.")
        idf = np.log((1.0 + len(sentences)) / (1.0 + df)) + 1.0  # scikit-learn's smooth idf
        blank = cls(columns, idf, np.zeros((len(columns), len(labels))), np.zeros(len(labels)),
                    ngram_max, buckets)
        x = blank._matrix(sentences)
        lr, best_c, _ = fit_logistic(x, y, val, blank._matrix, c_grid, seed)
        at = [labels.index(name) for name in lr.classes_]
        kernel = np.zeros((len(columns), len(labels)), "float32")
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
        return cls(columns, idf, kernel, bias, ngram_max, buckets, c=best_c)

    # ----------------------------------------------------------- persistence
    def save(self, path):
        """Writes the model to `path` (`.npz`)."""
        with open(path, "wb") as f:
            np.savez(f, columns=self.columns, idf=self.idf, kernel=self.kernel, bias=self.bias,
                     ngram_max=self.ngram_max, buckets=self.buckets,
                     c=np.nan if self.c is None else self.c)

    @classmethod
    def load(cls, path):
        with np.load(path) as z:
            c = float(z["c"])
            return cls(z["columns"], z["idf"], z["kernel"], z["bias"], int(z["ngram_max"]),
                       int(z["buckets"]), c=None if np.isnan(c) else c)

    def summary(self):
        """What `metadata.json` and the saved classifier say of it."""
        return {"features": "TF-IDF word 1-%d grams (sublinear tf), hashed" % self.ngram_max,
                "ngrams": self.features, "classes": self.classes, "C": self.c}
