"""Sentence classification, many-to-one: sentence in, label out.

`RecurrentClassifier` (the Keras model) embeds subword ids, runs the shared
bidirectional `RecurrentEncoder`, pools the sequence into one vector (a
learned-query attention over every step, or the last states of both
directions) and ends in a float32 softmax head. `SentenceClassifier` is the
user-facing pipeline around it: a SentencePiece tokenizer learned on the
training split and run by tensorflow-text in the graph, `fit`, `evaluate`
(accuracy, macro F1 and the confusion matrix, from scikit-learn), `predict`,
`explain`/`plot` (which words the model leaned on), `save`/`load` and
`export` (a SavedModel: `serve(text) -> {label, probabilities}`).
`tfidf_baseline` scores scikit-learn's TF-IDF + logistic regression on the
same split, the classical baseline the recurrent model is judged beside.

Example:

>>> from text import data                                         # doctest: +SKIP
>>> from text.classification import SentenceClassifier           # doctest: +SKIP
>>> split = data.split_labelled(data.sentiment(skip_bad=True))   # doctest: +SKIP
>>> clf = SentenceClassifier().fit(split["train"], split["val"])  # doctest: +SKIP
>>> clf.evaluate(split["test"])["accuracy"]                       # doctest: +SKIP
0.82
>>> clf.predict(["Great phone, works perfectly."]).labels         # doctest: +SKIP
['positive']
"""

import collections
import logging
import os
import shutil
import tempfile

import keras
import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text
from keras import ops

from pipelines import distribute, export as export_lib, precision, training
from pipelines.blocks import Attention, RecurrentEncoder
from pipelines.data import padded_batches
from pipelines.tokenizers import PAD_ID, SubwordTokenizer, normalize
from text.config import ClassificationConfig

log = logging.getLogger(__name__)

STATE_FILE = "classifier.json"
TOKENIZER_FILE = "tokenizer.model"
# SentencePiece marks the start of a word with this character.
WORD_START = "\u2581"


def _check(condition, name, value, requirement):
    if not condition:
        raise ValueError(f"Argument `{name}` {requirement}; got {name}={value!r}.")


# ---------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="text")
class AttentionPooling(keras.layers.Layer):
    """Pools a sequence into one vector: a learned query attends over it.

    `values [batch, steps, width]` (+ boolean `mask [batch, steps]`) ->
    `(pooled [batch, width], weights [batch, steps])`. The scoring is the
    shared additive `pipelines.blocks.Attention` (masked, softmax in float32)
    with a trained query vector, so the weights say how much each step
    contributed to the sentence vector: the plot of what the model read.

    Args:
        units: width of the attention space (and of the query).

    Example:

    >>> pool = AttentionPooling(4)
    >>> pooled, w = pool(np.ones((2, 3, 6), "float32"),
    ...                  mask=np.array([[True, True, False]] * 2))
    >>> tuple(pooled.shape), np.round(w.numpy()[0], 2).tolist()
    ((2, 6), [0.5, 0.5, 0.0])
    """

    def __init__(self, units=64, **kwargs):
        super().__init__(**kwargs)
        _check(isinstance(units, int) and units > 0, "units", units,
               "must be a positive integer")
        self.units = units
        self.attention = Attention(units, kind="additive", dtype=self.dtype_policy,
                                   name="attention")

    def build(self, values_shape):
        self.query = self.add_weight(shape=(self.units,), name="query",
                                     initializer=keras.initializers.RandomNormal(stddev=0.1))
        self.attention.build((values_shape[0], self.units), values_shape)
        self.built = True

    def call(self, values, mask=None):
        batch = ops.shape(values)[0]
        query = ops.broadcast_to(ops.cast(self.query, values.dtype)[None, :],
                                 (batch, self.units))
        return self.attention(query, values, mask=mask)

    def compute_output_shape(self, values_shape):
        return (values_shape[0], values_shape[-1]), (values_shape[0], values_shape[1])

    def compute_mask(self, values, mask=None):
        return None

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units})
        return config


def _token_masks(tokens, pad_id):
    """`(mask, has_tokens)`: the real steps, with step 0 always counted so no
    row is empty (a zero-length sequence is not valid for the fused cuDNN
    kernel), and a float `[batch, 1]` that is 0 for rows of padding only."""
    real = ops.not_equal(tokens, pad_id)
    first = ops.equal(ops.cumsum(ops.ones_like(tokens), axis=1), 1)
    has_tokens = ops.cast(ops.any(real, axis=1, keepdims=True), "float32")
    return ops.logical_or(real, first), has_tokens


def _member_forward(parts, tokens, mask, has_tokens, embedded=None, training=None):
    """One member: tokens -> `(log-probabilities [batch, classes], pooling
    weights [batch, steps] or None)`."""
    embedding, token_dropout, encoder, pooling, dropout, head = parts
    x = embedding(tokens) if embedded is None else embedded
    x = token_dropout(x, training=training)
    encoded = encoder(x, mask=mask, training=training)
    weights = None
    if pooling is not None:
        encoded, weights = pooling(encoded, mask=mask)
        weights = weights * has_tokens
    # A sentence with no tokens pools to zeros: the head answers with its
    # bias alone (the model's prior), the same in every batch.
    pooled = encoded * ops.cast(has_tokens, encoded.dtype)
    logits = head(dropout(pooled, training=training))
    return ops.log_softmax(logits, axis=-1), weights


def _forward(members, tokens, pad_id, embedded=None, training=None):
    """tokens `[batch, steps]` -> `(probabilities [batch, classes], pooling
    weights [batch, steps] (averaged over members) or None)`. Used to build
    the functional model and, with precomputed `embedded` token vectors (one
    per member), to take gradients for `SentenceClassifier.explain`.

    Members are combined by averaging their log-probabilities (a normalised
    geometric mean). Its cross-entropy is the mean of the members' own
    cross-entropies plus a term <= 0 that rewards disagreement, so members
    train as independent models would, rather than as one mixture whose
    best member takes all the gradient."""
    mask, has_tokens = _token_masks(tokens, pad_id)
    log_probs, weights = [], []
    for k, parts in enumerate(members):
        lp, w = _member_forward(parts, tokens, mask, has_tokens,
                                None if embedded is None else embedded[k], training)
        log_probs.append(lp)
        weights.append(w)
    mean = log_probs[0] if len(members) == 1 else ops.mean(ops.stack(log_probs, 1), axis=1)
    probabilities = ops.softmax(mean, axis=-1)
    if weights[0] is None:
        return probabilities, None
    return probabilities, weights[0] if len(members) == 1 else ops.mean(
        ops.stack(weights, 1), axis=1)


@keras.saving.register_keras_serializable(package="text")
class RecurrentClassifier(keras.Model):
    """Subword ids in, class probabilities out: embedding, bidirectional
    recurrent encoder, attention or last-state pooling, float32 softmax head.

    Input: int32 `tokens [batch, steps]`, padded with `pad_id`. Output:
    float32 probabilities `[batch, num_classes]` (float32 under mixed
    precision too). A row of padding only gets the head's prior.

    With `members > 1` the model is a small ensemble in one graph: that many
    copies of the network whose log-probabilities are averaged (see
    `_forward`). `SentenceClassifier.fit` trains them one after another as
    independent networks (own seed, data order, early stopping and best
    epoch) and copies them in. On small data, where one network's test
    accuracy swings by points with its seed, this steadies it.

    Args:
        vocab_size: subword vocabulary size.
        num_classes: number of labels (at least 2).
        embedding_dim: token embedding width.
        units: recurrent width per direction.
        num_layers: stacked bidirectional layers (residual wherever the
            widths match, so also the first when `embedding_dim == 2 * units`).
        cell_type: "gru" or "lstm".
        pooling: "attention" (learned-query attention over all steps) or
            "last" (final states of both directions).
        embedding_dropout: in training, drops whole token vectors (word
            dropout), a strong regulariser on small data.
        dropout: between recurrent layers and before the head.
        members: copies of the network averaged (1: a single network).
        pad_id: the padding id.

    Example:

    >>> m = RecurrentClassifier(vocab_size=50, num_classes=3, embedding_dim=8, units=4)
    >>> probs = m(np.array([[5, 6, 0], [0, 0, 0]], "int32"))
    >>> tuple(probs.shape), probs.dtype.name, bool(np.allclose(probs.numpy().sum(-1), 1))
    ((2, 3), 'float32', True)
    """

    def __init__(self, vocab_size, num_classes, embedding_dim=64, units=32, num_layers=1,
                 cell_type="gru", pooling="attention", embedding_dropout=0.0, dropout=0.0,
                 members=1, pad_id=PAD_ID, **kwargs):
        for name, value in (("vocab_size", vocab_size), ("embedding_dim", embedding_dim),
                            ("units", units), ("num_layers", num_layers),
                            ("members", members)):
            _check(isinstance(value, int) and value > 0, name, value,
                   "must be a positive integer")
        _check(isinstance(num_classes, int) and num_classes >= 2, "num_classes", num_classes,
               "must be an integer >= 2")
        _check(pooling in ("attention", "last"), "pooling", pooling,
               "must be 'attention' or 'last'")
        for name, value in (("embedding_dropout", embedding_dropout), ("dropout", dropout)):
            _check(0.0 <= value < 1.0, name, value, "must be in [0, 1)")

        # === Layers ===
        member_parts = []
        for k in range(members):
            sfx = "" if members == 1 else f"_{k}"
            embedding = keras.layers.Embedding(vocab_size, embedding_dim,
                                               name=f"embedding{sfx}")
            # noise_shape (batch, steps, 1): a dropped token loses its whole vector.
            token_dropout = keras.layers.Dropout(
                embedding_dropout, noise_shape=(None, None, 1), name=f"token_dropout{sfx}")
            encoder = RecurrentEncoder(units, num_layers=num_layers, cell_type=cell_type,
                                       bidirectional=True, residual=True, dropout=dropout,
                                       return_sequences=pooling == "attention",
                                       name=f"encoder{sfx}")
            pooler = (AttentionPooling(2 * units, name=f"attention_pooling{sfx}")
                      if pooling == "attention" else None)
            head_dropout = keras.layers.Dropout(dropout, name=f"head_dropout{sfx}")
            # Logits and the softmax over them in float32 under mixed precision.
            head = keras.layers.Dense(num_classes, dtype=precision.HEAD_DTYPE,
                                      name=f"head{sfx}")
            member_parts.append(
                (embedding, token_dropout, encoder, pooler, head_dropout, head))

        # === Functional model ===
        tokens = keras.Input((None,), dtype="int32", name="tokens")
        probabilities, _ = _forward(member_parts, tokens, pad_id)
        super().__init__(inputs=tokens, outputs=probabilities, **kwargs)

        # === Config ===
        self.vocab_size = vocab_size
        self.num_classes = num_classes
        self.embedding_dim = embedding_dim
        self.units = units
        self.num_layers = num_layers
        self.cell_type = cell_type
        self.pooling = pooling
        self.embedding_dropout = embedding_dropout
        self.dropout = dropout
        self.members = members
        self.pad_id = pad_id
        self._members = member_parts

    def pooling_weights(self, tokens):
        """Attention-pooling weights `[batch, steps]` (rows sum to 1; 0 on
        padding; averaged over members). Only for `pooling="attention"`."""
        if self.pooling != "attention":
            raise ValueError("pooling_weights needs pooling='attention'; this model pools "
                             f"with pooling={self.pooling!r} (use gradients instead).")
        tokens = tf.convert_to_tensor(tokens, tf.int32)
        return _forward(self._members, tokens, self.pad_id, training=False)[1]

    def gradient_weights(self, tokens, class_index):
        """|gradient x input| of the probability of `class_index [batch]`
        with respect to each token's embeddings (summed over the embedding
        and the members), normalised per row: `[batch, steps]` (0 on
        padding)."""
        tokens = tf.convert_to_tensor(tokens, tf.int32)
        embedded = [parts[0](tokens) for parts in self._members]
        with tf.GradientTape() as tape:
            tape.watch(embedded)
            probs, _ = _forward(self._members, tokens, self.pad_id, embedded=embedded,
                                training=False)
            chosen = tf.gather(probs, tf.cast(class_index, tf.int32), batch_dims=1)
        grads = tape.gradient(chosen, embedded)
        scores = tf.add_n([tf.abs(tf.reduce_sum(tf.cast(g * e, tf.float32), -1))
                           for g, e in zip(grads, embedded)])
        scores *= tf.cast(tf.not_equal(tokens, self.pad_id), tf.float32)
        total = tf.reduce_sum(scores, -1, keepdims=True)
        return tf.math.divide_no_nan(scores, total)

    def get_config(self):
        return {
            "name": self.name, "trainable": self.trainable,
            "vocab_size": self.vocab_size, "num_classes": self.num_classes,
            "embedding_dim": self.embedding_dim, "units": self.units,
            "num_layers": self.num_layers, "cell_type": self.cell_type,
            "pooling": self.pooling, "embedding_dropout": self.embedding_dropout,
            "dropout": self.dropout, "members": self.members, "pad_id": self.pad_id,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


# ---------------------------------------------------------------------------
# The pipeline
# ---------------------------------------------------------------------------

def _write_history(run, rows):
    """The members' epochs, one table, in the run's history.csv."""
    import csv
    import io

    keys = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=keys, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    training.atomic_write_text(run.history, out.getvalue())


Predictions = collections.namedtuple("Predictions", ["labels", "probabilities"])
Predictions.__doc__ = """What `SentenceClassifier.predict` returns: `labels` (a list
of str) and `probabilities` (float32 `[n, classes]`, columns in the order of
`SentenceClassifier.labels`). Unpacks as `labels, probabilities = ...`."""


def _check_sentences(sentences, what="sentences"):
    if isinstance(sentences, (str, bytes)):
        raise TypeError(f"`{what}` must be a list of strings, not one string; wrap it in [...].")
    sentences = list(sentences)
    for i, s in enumerate(sentences):
        if not isinstance(s, str):
            raise TypeError(f"{what}[{i}] must be a str; got {type(s).__name__}: {s!r}.")
    return sentences


def _check_examples(examples, what):
    """`(sentence, label)` pairs -> (sentences, labels), or one clear error."""
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


class SentenceClassifier:
    """Sentence in, label out: a SentencePiece subword tokenizer + a
    bidirectional recurrent encoder with attention (or last-state) pooling
    and a softmax over the labels seen in training.

    Labels are strings (any names, any number of classes, at least two);
    `labels` lists them in sorted order, the order of the probability
    columns.

    Behaviour on odd inputs (the same in `predict` and in the export): an
    empty or whitespace-only sentence has no tokens and gets the model's
    prior (the head's answer to an all-zero sentence vector; `predict` logs a
    warning); characters the vocabulary lacks (any script, emoji) are
    tokenised as UTF-8 bytes, never unknown; a sentence longer than
    `tokenizer.max_tokens` subword tokens is classified from its first
    `max_tokens` tokens (`predict` logs a warning). In training and
    evaluation, empty sentences and (in `evaluate`) labels not seen in
    training are errors naming the example.

    Args:
        config: a `ClassificationConfig` (defaults: UCI sentiment sentences,
            amazon + imdb).

    Example:

    >>> SentenceClassifier().config.model.pooling
    'attention'
    """

    def __init__(self, config=None):
        if config is not None and not isinstance(config, ClassificationConfig):
            raise TypeError("Argument `config` must be a ClassificationConfig; got "
                            f"config={type(config).__name__}.")
        self.config = config or ClassificationConfig()
        self.tokenizer = None
        self.labels = None
        self.model = None
        self.history = []
        self._infer = None

    # ------------------------------------------------------------------ data
    def _encode(self, sentences):
        """Sentences -> (ragged ids truncated to `max_tokens`, token counts
        before truncation, how many were truncated)."""
        ids = self.tokenizer.tokenize(tf.constant(sentences, tf.string))
        lengths = ids.row_lengths().numpy()
        max_tokens = self.config.tokenizer.max_tokens
        return ids[:, :max_tokens], lengths, int((lengths > max_tokens).sum())

    def _label_ids(self, labels, what):
        index = {name: i for i, name in enumerate(self.labels)}
        for i, label in enumerate(labels):
            if label not in index:
                raise ValueError(
                    f"{what}[{i}]: label {label!r} was not seen in training; the model "
                    f"knows {self.labels}.")
        return np.array([index[label] for label in labels], "int32")

    def _dataset(self, sentences, label_ids, training_mode, what, seed=None):
        cfg = self.config
        ids, lengths, truncated = self._encode(sentences)
        empty = np.flatnonzero(lengths == 0)
        if len(empty):
            raise ValueError(f"{what}[{empty[0]}]: empty sentence {sentences[empty[0]]!r} "
                             f"({len(empty)} empty in all); remove it from the data.")
        if truncated:
            log.info("%s: %d sentences longer than tokenizer.max_tokens=%d were truncated.",
                     what, truncated, cfg.tokenizer.max_tokens)
        n_classes = len(self.labels)
        alpha = cfg.tokenizer.sampling_alpha if training_mode else 0.0
        ds = tf.data.Dataset.from_tensor_slices({
            "tokens": ids, "text": tf.constant(sentences, tf.string),
            "label": tf.one_hot(label_ids, n_classes)})
        if training_mode:
            ds = ds.shuffle(len(sentences), seed=cfg.train.seed if seed is None else seed,
                            reshuffle_each_iteration=True)
        clipped = np.minimum(lengths, cfg.tokenizer.max_tokens)
        boundaries = sorted(set(int(b) + 1 for b in np.quantile(clipped, [0.25, 0.5, 0.75])))
        if alpha:
            # Subword regularisation: a fresh segmentation of the same text,
            # sampled from the same unigram model, every epoch.
            sampler = tf_text.SentencepieceTokenizer(
                model=self.tokenizer.model_proto, out_type=tf.int32, nbest_size=-1,
                alpha=alpha)
            lowercase, max_tokens = self.tokenizer.lowercase, cfg.tokenizer.max_tokens

            def tokens_of(e):
                return sampler.tokenize(normalize(e["text"], lowercase))[:max_tokens]
        else:
            # Rows of a ragged tensor come out ragged; padded batching wants dense.
            def tokens_of(e):
                return tf.reshape(e["tokens"], [-1])

        ds = ds.map(lambda e: {"tokens": tokens_of(e), "label": e["label"]})
        ds = padded_batches(ds, cfg.train.batch_size, lambda e: tf.shape(e["tokens"])[0],
                            boundaries)
        return ds.map(lambda b: (b["tokens"], b["label"])).prefetch(tf.data.AUTOTUNE)

    def _build_model(self, members=None):
        m = self.config.model
        return RecurrentClassifier(
            self.tokenizer.vocab_size, len(self.labels), embedding_dim=m.embedding_dim,
            units=m.units, num_layers=m.num_layers, cell_type=m.cell_type, pooling=m.pooling,
            embedding_dropout=m.embedding_dropout, dropout=m.dropout,
            members=members or m.members, pad_id=PAD_ID,
        )

    # ------------------------------------------------------------------- fit
    def fit(self, train, val=None, run_dir=None):
        """Learns the label set and the tokenizer on `train`, and trains.

        With `model.members > 1`, trains that many networks one after another
        (seeds `train.seed + k`; run directories `<run_dir>/members/<k>/`,
        each resumable) and averages them in one model; `history` rows then
        carry a `member` column.

        Args:
            train: `(sentence, label)` pairs; at least two distinct labels.
            val: validation pairs, for early stopping and the best epoch
                (default: a seeded, stratified `data.val_fraction` of `train`).
            run_dir: run directory (checkpoints, history, resume); a
                temporary one if None.

        Returns:
            self.
        """
        from text.data import split_labelled

        cfg = self.config
        train = list(train)
        if val is None:
            parts = split_labelled(train, val_fraction=cfg.data.val_fraction,
                                   test_fraction=0.0, seed=cfg.data.seed)
            train, val = parts["train"], parts["val"]
        sentences, labels = _check_examples(train, "train")
        val_sentences, val_labels = _check_examples(list(val), "val")
        if not sentences or not val_sentences:
            raise ValueError("fit needs non-empty training and validation examples; got "
                             f"{len(sentences)} and {len(val_sentences)}.")
        classes = sorted(set(labels))
        if len(classes) < 2:
            raise ValueError("A classifier needs at least two labels; the training data "
                             f"has only {classes[0]!r} ({len(labels)} sentences).")
        training.seed_everything(cfg.train.seed)
        self.labels = classes
        self.tokenizer = SubwordTokenizer.train(
            sentences, cfg.tokenizer.vocab_size, lowercase=cfg.tokenizer.lowercase,
            seed=cfg.train.seed)
        train_ids = self._label_ids(labels, "train")
        val_ds = self._dataset(val_sentences, self._label_ids(val_labels, "val"), False, "val")
        strategy = distribute.get_strategy(cfg.train.strategy)
        if cfg.train.strategy != "default":
            val_ds = distribute.shard_options(val_ds)
        temp = None
        if run_dir is None:
            run_dir = temp = tempfile.mkdtemp(prefix="classification-")
        run = training.RunDir(run_dir)
        run.prepare(cfg.to_dict())
        members, history = [], []
        try:
            for k in range(cfg.model.members):
                # Members are independent networks: their own initialisation,
                # dropout and data order (seed + k), their own run directory
                # (so a killed run resumes inside the member it was training),
                # their own early stopping and best epoch.
                seed = cfg.train.seed + k
                member_run = run if cfg.model.members == 1 else training.RunDir(
                    os.path.join(run.path, "members", str(k)))
                member_run.prepare(cfg.to_dict())
                training.seed_everything(seed)
                train_ds = self._dataset(sentences, train_ids, True, "train", seed=seed)
                if cfg.train.strategy != "default":
                    train_ds = distribute.shard_options(train_ds)
                with strategy.scope(), precision.policy_scope(cfg.train.precision):
                    model = self._build_model(members=1)
                    model.compile(
                        optimizer=training.make_optimizer(cfg.train),
                        loss=keras.losses.CategoricalCrossentropy(
                            label_smoothing=cfg.model.label_smoothing),
                        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
                    )
                    model.optimizer.build(model.trainable_variables)
                rows = training.fit(model, train_ds, val_ds, cfg.train, member_run)
                history += [dict(row, member=k) if cfg.model.members > 1 else row
                            for row in rows]
                members.append(model)
        finally:
            if temp:
                shutil.rmtree(temp, ignore_errors=True)
        self.model = members[0] if len(members) == 1 else self._combine(members, strategy)
        self.history = history
        if len(members) > 1 and not temp:
            _write_history(run, history)
        self._infer = None
        return self

    def _combine(self, members, strategy):
        """One `RecurrentClassifier(members=K)` holding the weights of K
        separately trained single networks."""
        with strategy.scope(), precision.policy_scope(self.config.train.precision):
            model = self._build_model()
        for parts, member in zip(model._members, members):
            for target, source in zip(parts, member._members[0]):
                if target is not None:
                    target.set_weights(source.get_weights())
        return model

    def _require_fitted(self):
        if self.model is None:
            raise RuntimeError("This SentenceClassifier is not fitted yet: call fit() or load().")

    # ------------------------------------------------------------- inference
    def _graph(self):
        """The graph-only path `text [batch] -> (label [batch], probabilities
        [batch, classes], token counts before truncation)`, shared by
        `predict` and the export so both give the same answers."""
        tokenizer, model = self.tokenizer, self.model
        max_tokens = self.config.tokenizer.max_tokens
        names = tf.constant(self.labels, tf.string)

        def infer(text):
            ids = tokenizer.tokenize(text)
            full_lengths = tf.cast(ids.row_lengths(), tf.int32)
            tokens = ids[:, :max_tokens].to_tensor(default_value=PAD_ID)
            # At least one column, so a batch of empty strings still runs.
            tokens = tf.pad(tokens, [[0, 0], [0, tf.maximum(0, 1 - tf.shape(tokens)[1])]])
            probabilities = tf.cast(model(tokens, training=False), tf.float32)
            label = tf.gather(names, tf.argmax(probabilities, axis=-1, output_type=tf.int32))
            return label, probabilities, full_lengths

        return infer

    def _infer_fn(self):
        if self._infer is None:
            # Create the tokenizer's resource eagerly: one first made while
            # tracing would belong to that graph, and eager tokenising (in
            # `explain`) could no longer use it.
            self.tokenizer.tf_tokenizer  # noqa: B018
            self._infer = tf.function(self._graph(),
                                      input_signature=[tf.TensorSpec([None], tf.string)])
        return self._infer

    def predict(self, sentences, batch_size=64):
        """Classifies a list of sentences.

        Args:
            sentences: a list of str.
            batch_size: sentences classified together.

        Returns:
            `Predictions(labels, probabilities)`: a list of label names and a
            float32 array `[n, len(self.labels)]`.
        """
        self._require_fitted()
        sentences = _check_sentences(sentences)
        labels, probabilities = [], []
        truncated = empty = 0
        max_tokens = self.config.tokenizer.max_tokens
        for start in range(0, len(sentences), batch_size):
            batch = tf.constant(sentences[start:start + batch_size], tf.string)
            try:
                label, probs, lengths = self._infer_fn()(batch)
            except tf.errors.NotFoundError:
                # The traced graph captured a tokenizer resource that
                # `tf.random.set_seed` deleted (see SubwordTokenizer.reset).
                self.tokenizer.reset()
                self._infer = None
                label, probs, lengths = self._infer_fn()(batch)
            labels.extend(s.decode("utf-8") for s in label.numpy())
            probabilities.append(probs.numpy())
            lengths = lengths.numpy()
            truncated += int((lengths > max_tokens).sum())
            empty += int((lengths == 0).sum())
        if truncated:
            log.warning("%d sentence(s) longer than tokenizer.max_tokens=%d subword tokens "
                        "were classified from their first %d tokens.", truncated, max_tokens,
                        max_tokens)
        if empty:
            log.warning("%d empty sentence(s) have no tokens; they get the model's prior.",
                        empty)
        probabilities = (np.concatenate(probabilities) if probabilities
                         else np.zeros((0, len(self.labels)), "float32"))
        return Predictions(labels, probabilities)

    def evaluate(self, examples, batch_size=64):
        """Scores `(sentence, label)` pairs with scikit-learn.

        Returns:
            A dict: `accuracy`, `macro_f1`, `per_label_f1` (by label),
            `confusion_matrix` (rows: true label, columns: predicted, both in
            the order of `labels`), `labels` and `examples`.

        Raises:
            ValueError: for a label not seen in training or an empty sentence
                (naming the example).
        """
        from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

        self._require_fitted()
        sentences, truth = _check_examples(list(examples), "examples")
        if not sentences:
            raise ValueError("evaluate needs at least one (sentence, label) example.")
        self._label_ids(truth, "examples")
        for i, s in enumerate(sentences):
            if not s.strip():
                raise ValueError(f"examples[{i}]: empty sentence {s!r}; remove it from the "
                                 "evaluation data.")
        predicted = self.predict(sentences, batch_size=batch_size).labels
        f1 = f1_score(truth, predicted, labels=self.labels, average=None, zero_division=0)
        return {
            "accuracy": float(accuracy_score(truth, predicted)),
            "macro_f1": float(f1_score(truth, predicted, labels=self.labels,
                                       average="macro", zero_division=0)),
            "per_label_f1": {name: float(v) for name, v in zip(self.labels, f1)},
            "confusion_matrix": confusion_matrix(truth, predicted,
                                                 labels=self.labels).tolist(),
            "labels": list(self.labels),
            "examples": len(sentences),
        }

    # --------------------------------------------------------- explanations
    def explain(self, sentence, method=None):
        """Which words the model leaned on for `sentence`.

        Args:
            sentence: a str.
            method: "attention" (the attention-pooling weights; needs
                `model.pooling: attention`) or "gradient" (|gradient x input|
                of the predicted class's probability per token). Default:
                attention when the model has it, else gradient.

        Returns:
            A dict: `label`, `probability`, `method`, and `words`, a list of
            `(word, weight)` in sentence order, the weights of a word's
            subword pieces summed (they sum to 1; empty for an empty
            sentence). Only the words the model read are listed: the first
            `tokenizer.max_tokens` subword tokens.
        """
        self._require_fitted()
        if not isinstance(sentence, str):
            raise TypeError(f"`sentence` must be a str; got {type(sentence).__name__}.")
        method = method or ("attention" if self.model.pooling == "attention" else "gradient")
        if method not in ("attention", "gradient"):
            raise ValueError(f"method must be 'attention' or 'gradient'; got {method!r}.")
        prediction = self.predict([sentence])
        label = prediction.labels[0]
        ids, _, _ = self._encode([sentence])
        tokens = ids.to_tensor(default_value=PAD_ID)
        words = []
        if tokens.shape[1]:
            if method == "attention":
                weights = self.model.pooling_weights(tokens)
            else:
                weights = self.model.gradient_weights(tokens, [self.labels.index(label)])
            weights = weights.numpy()[0]
            ids = tokens.numpy()[0]
            pieces = [p.decode("utf-8") for p in self.tokenizer.id_to_piece(ids).numpy()]
            groups = []
            for piece, token, weight in zip(pieces, ids, weights):
                if piece.startswith(WORD_START) or not groups:
                    groups.append(([], 0.0))
                groups[-1][0].append(int(token))
                groups[-1] = (groups[-1][0], groups[-1][1] + float(weight))
            texts = self.tokenizer.detokenize(
                tf.ragged.constant([g for g, _ in groups], tf.int32)).numpy()
            words = [(t.decode("utf-8").strip() or "·", w) for t, (_, w) in zip(texts, groups)]
        return {"label": label,
                "probability": float(prediction.probabilities[0, self.labels.index(label)]),
                "method": method, "words": words}

    def plot(self, sentence, method=None, max_chars_per_line=60):
        """Draws `sentence` with each word's background shaded by how much
        the model leaned on it (see `explain`), titled with the prediction.

        Returns:
            The matplotlib Figure.
        """
        import matplotlib

        if not os.environ.get("DISPLAY"):
            matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        info = self.explain(sentence, method)
        words = info["words"]
        top = max([w for _, w in words] or [1.0]) or 1.0
        cmap = plt.get_cmap("Reds")
        # Lay the words out on lines of `max_chars_per_line` characters.
        lines, x = [[]], 0
        for word, weight in words:
            if x and x + len(word) > max_chars_per_line:
                lines.append([])
                x = 0
            lines[-1].append((x, word, weight))
            x += len(word) + 1
        fig, ax = plt.subplots(figsize=(0.13 * max_chars_per_line + 1, 0.45 * len(lines) + 1))
        for row, line in enumerate(lines):
            for x, word, weight in line:
                shade = 0.85 * weight / top
                ax.text(x, -row, word, family="monospace", fontsize=11, va="center",
                        color="white" if shade > 0.6 else "black",
                        bbox={"facecolor": cmap(shade), "edgecolor": "none",
                              "boxstyle": "round,pad=0.2"})
        ax.set_xlim(-1, max_chars_per_line + 1)
        ax.set_ylim(-len(lines) + 0.4, 0.6)
        ax.axis("off")
        ax.set_title(f"{info['label']} ({info['probability']:.2f}); shading: "
                     f"{info['method']} weight", fontsize=10)
        fig.tight_layout()
        return fig

    # ------------------------------------------------------------- save/load
    def save(self, path):
        """Saves model, tokenizer, labels and config to the directory `path`
        (atomically)."""
        self._require_fitted()
        return export_lib.save_pipeline(
            path, self.model, STATE_FILE,
            {"config": self.config.to_dict(), "labels": self.labels},
            files={TOKENIZER_FILE: self.tokenizer.save})

    @classmethod
    def load(cls, path):
        """Loads a classifier written by `save`."""
        path = os.fspath(path)
        state = export_lib.read_state(path, STATE_FILE, "SentenceClassifier")
        self = cls(ClassificationConfig.from_dict(state["config"]))
        self.labels = list(state["labels"])
        self.tokenizer = SubwordTokenizer.load(os.path.join(path, TOKENIZER_FILE),
                                               lowercase=self.config.tokenizer.lowercase)
        self.model = export_lib.load_pipeline_model(path, self.config.train.precision)
        return self

    # ---------------------------------------------------------------- export
    def export(self, path, sample=None):
        """Writes a SavedModel whose `serve(text string [batch])` returns
        `{"label": string [batch], "probabilities": float32 [batch, classes]}`
        (columns in the order of `metadata.json`'s `labels`): normalisation,
        tokenisation, the network and the label lookup all in the graph (it
        needs only `tensorflow` and `tensorflow_text`). `sample` (a list of
        sentences) is classified in memory and by the reloaded export in a
        fresh process; both must agree."""
        self._require_fitted()
        self.tokenizer.tf_tokenizer  # noqa: B018 - created eagerly, as in `_infer_fn`
        infer = self._graph()

        def serve(text):
            label, probabilities, _ = infer(text)
            return {"label": label, "probabilities": probabilities}

        expected = inputs = None
        if sample is not None:
            sample = _check_sentences(sample, "sample")
            # Unicode arrays: they travel to the fresh process through .npz.
            inputs = {"text": np.array(sample, dtype=str)}
            prediction = self.predict(sample, batch_size=max(1, len(sample)))
            expected = {"label": np.array(prediction.labels, dtype=str),
                        "probabilities": prediction.probabilities}
        t = self.config.tokenizer
        metadata = {
            "pipeline": "classification",
            "labels": list(self.labels),
            "config": self.config.to_dict(),
            "inputs": {"text": {"dtype": "string", "shape": [None],
                                "notes": f"UTF-8 sentences; only the first {t.max_tokens} "
                                         "subword tokens are read; an empty sentence gets "
                                         "the model's prior"}},
            "outputs": {"label": {"dtype": "string", "shape": [None]},
                        "probabilities": {"dtype": "float32",
                                          "shape": [None, len(self.labels)],
                                          "columns": list(self.labels)}},
            "requires": ["tensorflow", "tensorflow_text"],
        }
        return export_lib.export_saved_model(
            path,
            endpoints={"serve": (serve, [tf.TensorSpec([None], tf.string, name="text")])},
            track=[self.model, self.tokenizer.tf_tokenizer],
            metadata=metadata,
            sample=inputs,
            expected=expected,
            imports=("tensorflow_text",),
        )


# ---------------------------------------------------------------------------
# The classical baseline
# ---------------------------------------------------------------------------

TFIDF_C_GRID = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)


def tfidf_baseline(train, test, val=None, c_grid=TFIDF_C_GRID, seed=0):
    """scikit-learn's TF-IDF (word 1-2 grams, sublinear tf) + logistic
    regression, the baseline a practitioner tries first, on the same split.

    The inverse regularisation `C` is chosen on `val` (the same validation
    split the recurrent model stops on) from `c_grid`; without `val`, C=1.

    Returns:
        A dict: `accuracy`, `macro_f1` on `test`, the chosen `C` and its
        validation accuracy (`val_accuracy`, None without `val`).

    Example:

    >>> train = [("good", "pos"), ("great fun", "pos"), ("bad", "neg"), ("awful", "neg")]
    >>> tfidf_baseline(train, [("good fun", "pos"), ("so bad", "neg")])["accuracy"]
    1.0
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score

    x_train, y_train = _check_examples(list(train), "train")
    x_test, y_test = _check_examples(list(test), "test")
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, lowercase=True)
    features = vectorizer.fit_transform(x_train)

    def fit(c):
        return LogisticRegression(C=c, max_iter=5000, random_state=seed).fit(features, y_train)

    best_c, best_val = 1.0, None
    if val:
        x_val, y_val = _check_examples(list(val), "val")
        val_features = vectorizer.transform(x_val)
        for c in c_grid:
            score = accuracy_score(y_val, fit(c).predict(val_features))
            if best_val is None or score > best_val:
                best_c, best_val = c, score
    predicted = fit(best_c).predict(vectorizer.transform(x_test))
    return {"accuracy": float(accuracy_score(y_test, predicted)),
            "macro_f1": float(f1_score(y_test, predicted, average="macro")),
            "C": best_c, "val_accuracy": None if best_val is None else float(best_val)}
