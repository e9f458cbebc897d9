"""The sentence-classification model, many-to-one: subword ids in, class
probabilities out.

`RecurrentClassifier` embeds subword ids, runs the shared bidirectional
`RecurrentEncoder`, pools the sequence into one vector (`AttentionPooling`,
a learned-query attention over every step; the last states of both
directions; or `ConcatPooling`, those with the max and mean) and ends in a
float32 softmax head; with `members > 1` it is a small ensemble of such
networks averaged in one graph.

Example:

>>> m = RecurrentClassifier(50, 2, embedding_dim=8, units=4, dtype="mixed_bfloat16")
>>> m.get_config()["dtype"]["config"]["name"], m.get_layer("head").compute_dtype
('mixed_bfloat16', 'float32')
"""

import keras
import numpy as np  # noqa: F401  (the docstring examples)
import tensorflow as tf
from keras import ops

from pipelines import precision
from pipelines.blocks import Attention, FunctionalModel, RecurrentEncoder
from pipelines.tokenizers import PAD_ID
from pipelines.validation import check_argument, check_positive_ints
from text.classification.config import POOLINGS


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
        check_positive_ints(units=units)
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


@keras.saving.register_keras_serializable(package="text")
class ConcatPooling(keras.layers.Layer):
    """Pools a bidirectional sequence into one vector as ULMFiT's head does:
    the final state of each direction, the maximum and the mean over the
    real steps, side by side.

    `values [batch, steps, 2 * units]` (forward half first, as
    `RecurrentEncoder` returns it) + boolean `mask [batch, steps]` (at least
    one real step per row) -> `[batch, 6 * units]`: the forward half at the
    last real step, the backward half at step 0 (where the backward pass
    ends), then the max and the mean of the whole width over the real steps.
    Max and mean read every step, so no word is lost to a last state that
    has forgotten it; the last states keep the order the pass read.

    Example:

    >>> pool = ConcatPooling()
    >>> values = np.arange(12, dtype="float32").reshape(1, 3, 4)
    >>> pool(values, mask=np.array([[True, True, False]])).numpy().tolist()
    [[4.0, 5.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 2.0, 3.0, 4.0, 5.0]]
    """

    def call(self, values, mask=None):
        if mask is None:
            mask = ops.ones(ops.shape(values)[:2], dtype="bool")
        half = ops.shape(values)[-1] // 2
        last = ops.maximum(ops.sum(ops.cast(mask, "int32"), axis=1) - 1, 0)
        forward_last = ops.take_along_axis(values, last[:, None, None], axis=1)[:, 0, :half]
        backward_first = values[:, 0, half:]
        real = mask[..., None]
        # A large negative of the values' dtype (float16 too) for the max.
        maximum = ops.max(ops.where(real, values, ops.cast(-1e4, values.dtype)), axis=1)
        weights = ops.cast(real, values.dtype)
        mean = ops.sum(values * weights, axis=1) / ops.maximum(ops.sum(weights, axis=1), 1.0)
        return ops.concatenate([forward_last, backward_first, maximum, mean], axis=-1)

    def compute_output_shape(self, values_shape):
        return (values_shape[0], None if values_shape[-1] is None else 3 * values_shape[-1])

    def compute_mask(self, values, mask=None):
        return None


def _token_masks(tokens, pad_id):
    """`(mask, has_tokens)`: the real steps, with step 0 always counted so no
    row is empty (a zero-length sequence is not valid for the fused cuDNN
    kernel), and a float `[batch, 1]` that is 0 for rows of padding only."""
    real = ops.not_equal(tokens, pad_id)
    first = ops.equal(ops.cumsum(ops.ones_like(tokens), axis=1), 1)
    has_tokens = ops.cast(ops.any(real, axis=1, keepdims=True), "float32")
    return ops.logical_or(real, first), has_tokens


def _member_encode(parts, tokens, mask, embedded=None, training=None):
    """One member's encoder outputs for `tokens` (or for precomputed token
    vectors `embedded`): `[batch, steps, 2 * units]`, or the last states
    `[batch, 2 * units]` when the model pools with "last"."""
    embedding, token_dropout, encoder = parts[:3]
    x = embedding(tokens) if embedded is None else embedded
    x = token_dropout(x, training=training)
    return encoder(x, mask=mask, training=training)


def _member_head(parts, encoded, mask, has_tokens, training=None):
    """One member's pooling and head over its encoder outputs:
    `(log-probabilities [batch, classes], pooling weights [batch, steps] or
    None)`."""
    pooling, dropout, head = parts[3:]
    weights = None
    if isinstance(pooling, AttentionPooling):
        encoded, weights = pooling(encoded, mask=mask)
        weights = weights * has_tokens
    elif pooling is not None:
        encoded = pooling(encoded, mask=mask)
    # A sentence with no tokens pools to zeros: the head answers with its
    # bias alone (the model's prior), the same in every batch.
    pooled = encoded * ops.cast(has_tokens, encoded.dtype)
    logits = head(dropout(pooled, training=training))
    return ops.log_softmax(logits, axis=-1), weights


def _combine(log_probs, weights):
    """The members' log-probabilities averaged (see `_forward`), softmaxed;
    and their pooling weights averaged (or None)."""
    mean = log_probs[0] if len(log_probs) == 1 else ops.mean(ops.stack(log_probs, 1), axis=1)
    probabilities = ops.softmax(mean, axis=-1)
    if weights[0] is None:
        return probabilities, None
    return probabilities, weights[0] if len(weights) == 1 else ops.mean(
        ops.stack(weights, 1), axis=1)


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
        encoded = _member_encode(parts, tokens, mask,
                                 None if embedded is None else embedded[k], training)
        lp, w = _member_head(parts, encoded, mask, has_tokens, training)
        log_probs.append(lp)
        weights.append(w)
    return _combine(log_probs, weights)


@keras.saving.register_keras_serializable(package="text")
class RecurrentClassifier(FunctionalModel):
    """Subword ids in, class probabilities out: embedding, bidirectional
    recurrent encoder, attention, last-state or concat pooling, float32
    softmax head.

    Input: int32 `tokens [batch, steps]`, padded with `pad_id`. Output:
    float32 probabilities `[batch, num_classes]` (float32 under mixed
    precision too). A row of padding only gets the head's prior.

    With `members > 1` the model is a small ensemble in one graph: that many
    copies of the network whose log-probabilities are averaged (see
    `_forward`). `SentenceClassifier.fit` trains them one after another as
    independent networks (own seed, data order, early stopping and best
    epoch) and copies them in (`copy_members`). On small data, where one
    network's test accuracy swings by points with its seed, this steadies
    it.

    Args:
        vocab_size: subword vocabulary size.
        num_classes: number of labels (at least 2).
        embedding_dim: token embedding width.
        units: recurrent width per direction.
        num_layers: stacked bidirectional layers (residual wherever the
            widths match, so also the first when `embedding_dim == 2 * units`).
        cell_type: "gru" or "lstm".
        pooling: "attention" (learned-query attention over all steps),
            "last" (final states of both directions) or "concat" (ULMFiT's:
            the final states, max and mean over the steps, `ConcatPooling`).
        embedding_dropout: in training, drops whole token vectors (word
            dropout), a strong regulariser on small data.
        dropout: between recurrent layers and before the head.
        members: copies of the network averaged (1: a single network).
        pad_id: the padding id.
        dtype: the dtype policy of every layer but the float32 head (None:
            the policy in force); saved in the config, so a reload keeps it.

    Example:

    >>> m = RecurrentClassifier(vocab_size=50, num_classes=3, embedding_dim=8, units=4)
    >>> probs = m(np.array([[5, 6, 0], [0, 0, 0]], "int32"))
    >>> tuple(probs.shape), probs.dtype.name, bool(np.allclose(probs.numpy().sum(-1), 1))
    ((2, 3), 'float32', True)
    """

    def __init__(self, vocab_size, num_classes, embedding_dim=64, units=32, num_layers=1,
                 cell_type="gru", pooling="attention", embedding_dropout=0.0, dropout=0.0,
                 members=1, pad_id=PAD_ID, dtype=None, **kwargs):
        check_positive_ints(vocab_size=vocab_size, embedding_dim=embedding_dim, units=units,
                            num_layers=num_layers, members=members)
        check_argument(isinstance(num_classes, int) and num_classes >= 2, "num_classes",
                       num_classes, "must be an integer >= 2")
        check_argument(pooling in POOLINGS, "pooling", pooling,
                       "must be 'attention', 'last' or 'concat'")
        for name, value in (("embedding_dropout", embedding_dropout), ("dropout", dropout)):
            check_argument(0.0 <= value < 1.0, name, value, "must be in [0, 1)")

        # Every layer (and the model) takes the policy `dtype`; it is in
        # get_config, so a reload rebuilds the same policy.
        with precision.dtype_scope(dtype):
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
                                           return_sequences=pooling != "last",
                                           name=f"encoder{sfx}")
                pooler = None
                if pooling == "attention":
                    pooler = AttentionPooling(2 * units, name=f"attention_pooling{sfx}")
                elif pooling == "concat":
                    pooler = ConcatPooling(name=f"concat_pooling{sfx}")
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

    def copy_members(self, networks):
        """Sets member k's weights to those of `networks[k]`, single
        networks (`members=1`) of the same shape trained on their own."""
        check_argument(len(networks) == self.members, "networks", len(networks),
                       f"must hold {self.members} networks (one per member)")
        for parts, network in zip(self._members, networks):
            for target, source in zip(parts, network._members[0]):
                if target is not None:
                    target.set_weights(source.get_weights())

    def get_config(self):
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size, "num_classes": self.num_classes,
            "embedding_dim": self.embedding_dim, "units": self.units,
            "num_layers": self.num_layers, "cell_type": self.cell_type,
            "pooling": self.pooling, "embedding_dropout": self.embedding_dropout,
            "dropout": self.dropout, "members": self.members, "pad_id": self.pad_id,
        }
