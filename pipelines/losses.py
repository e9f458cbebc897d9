"""Losses shared by the sequence pipelines (computed in float32)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="pipelines")
class MaskedSparseCrossEntropy(keras.losses.Loss):
    """Token-level cross-entropy from logits that ignores padding.

    The mean is over real (non-`pad_id`) target tokens, so batches with
    different amounts of padding weigh tokens equally. Optional label
    smoothing spreads `label_smoothing` of the target mass uniformly over the
    vocabulary. Always computed in float32, whatever the model's policy.

    Args:
        pad_id: target id that marks padding.
        label_smoothing: in [0, 1).

    Example:

    >>> import numpy as np
    >>> loss = MaskedSparseCrossEntropy(pad_id=0)
    >>> logits = np.log(np.array([[[0.1, 0.9], [0.5, 0.5]]], "float32"))
    >>> round(float(loss(np.array([[1, 0]]), logits)), 4)  # the pad is ignored
    0.1054
    """

    def __init__(self, pad_id=0, label_smoothing=0.0, name="masked_sparse_cross_entropy",
                 **kwargs):
        super().__init__(name=name, **kwargs)
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(
                f"Argument `label_smoothing` must be in [0, 1); got {label_smoothing!r}.")
        self.pad_id = pad_id
        self.label_smoothing = label_smoothing

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "int32")
        logits = ops.cast(y_pred, "float32")
        logp = ops.log_softmax(logits, axis=-1)
        nll = -ops.take_along_axis(logp, ops.expand_dims(y_true, -1), axis=-1)[..., 0]
        if self.label_smoothing:
            smooth = -ops.mean(logp, axis=-1)
            nll = (1.0 - self.label_smoothing) * nll + self.label_smoothing * smooth
        mask = ops.cast(ops.not_equal(y_true, self.pad_id), "float32")
        return ops.sum(nll * mask) / ops.maximum(ops.sum(mask), 1.0)

    def get_config(self):
        config = super().get_config()
        config.update({"pad_id": self.pad_id, "label_smoothing": self.label_smoothing})
        return config


@keras.saving.register_keras_serializable(package="pipelines")
class PinballLoss(keras.losses.Loss):
    """The pinball (quantile) loss of forecasts at several quantile levels.

    `y_pred` has one more axis than `y_true`, the quantiles last, in the
    order of `quantiles`: for level `q` and error `e = y - y_q` the loss is
    `max(q * e, (q - 1) * e)`, whose minimiser is the `q`-quantile of `y`.
    The mean is over every element and quantile; computed in float32.

    Args:
        quantiles: the levels, each in (0, 1).

    Example:

    >>> import numpy as np
    >>> loss = PinballLoss([0.1, 0.5, 0.9])
    >>> y = np.array([[1.0]], "float32")
    >>> pred = np.array([[[0.0, 1.0, 3.0]]], "float32")
    >>> round(float(loss(y, pred)), 4)  # (0.1 * 1 + 0 + 0.1 * 2) / 3
    0.1
    """

    def __init__(self, quantiles, name="pinball", **kwargs):
        super().__init__(name=name, **kwargs)
        quantiles = [float(q) for q in quantiles]
        if not quantiles or not all(0.0 < q < 1.0 for q in quantiles):
            raise ValueError(
                f"Argument `quantiles` must be levels in (0, 1); got quantiles={quantiles}.")
        self.quantiles = quantiles

    def call(self, y_true, y_pred):
        y_pred = ops.cast(y_pred, "float32")
        error = ops.expand_dims(ops.cast(y_true, "float32"), -1) - y_pred
        q = ops.convert_to_tensor(self.quantiles, "float32")
        return ops.mean(ops.maximum(q * error, (q - 1.0) * error))

    def get_config(self):
        config = super().get_config()
        config.update({"quantiles": self.quantiles})
        return config


#: Log-probability of an impossible CTC state (finite: no NaN gradients).
_IMPOSSIBLE = -1e9


def delay_penalized_ctc(labels, logits, label_lengths, logit_lengths, blank, penalty=0.0,
                        deadlines=None):
    """Per-example CTC loss with a penalty on late emissions: every frame
    `t` of a path that emits a label (not the blank) costs `penalty * t`
    nats, so among the alignments the audio allows the model learns the
    earlier ones (delay-penalized CTC, Kang et al., 2023). A label the audio
    barely marks (a word's weak last sound) is then emitted as soon as it
    can be told, not when the next word begins. With `penalty=0` and no
    `deadlines` it is the usual CTC loss (`keras.ops.ctc_loss`, to float
    rounding), computed by the same forward recursion.

    `deadlines` restricts the alignments instead (alignment-restricted CTC,
    as Mahadeokar et al., 2021, do for the transducer): label `u` of an
    example may be emitted only at frames `t <= deadlines[u]`, so only the
    paths that spell each label in time count. A deadline earlier than the
    label can be reached at all (its index, plus one frame per repeat of
    the label before it) is moved to that frame, so every example keeps at
    least one path.

    Args:
        labels: int32 `[batch, max_label]` (padding beyond each length is
            ignored).
        logits: float `[batch, frames, classes]`.
        label_lengths, logit_lengths: int32 `[batch]`.
        blank: the blank's class index.
        penalty: nats per output frame of delay, >= 0.
        deadlines: None, or int32 `[batch, max_label]`: the last frame at
            which each label may be emitted.

    Returns:
        float32 `[batch]`: the negative log-likelihood of each example
        (with the penalty folded into the path scores).

    Example:

    >>> import numpy as np
    >>> logits = np.zeros((1, 4, 3), "float32")
    >>> plain = delay_penalized_ctc(np.array([[0]]), logits, np.array([1]), np.array([4]), 2)
    >>> round(float(plain[0]), 4)  # -log(10 alignments of 4 frames at 1/3 each / 3**4)
    2.0919
    >>> late = delay_penalized_ctc(np.array([[0]]), logits, np.array([1]), np.array([4]), 2,
    ...                            penalty=1.0)
    >>> bool(late[0] > plain[0])
    True
    >>> early = delay_penalized_ctc(np.array([[0]]), logits, np.array([1]), np.array([4]), 2,
    ...                             deadlines=np.array([[0]]))
    >>> round(float(early[0]), 4)  # -log(one alignment: the label at frame 0)
    4.3944
    """
    import tensorflow as tf

    if penalty < 0:
        raise ValueError(f"Argument `penalty` must be >= 0; got penalty={penalty!r}.")
    labels = tf.cast(labels, tf.int32)
    label_lengths = tf.cast(label_lengths, tf.int32)
    logit_lengths = tf.cast(logit_lengths, tf.int32)
    logp = tf.nn.log_softmax(tf.cast(logits, tf.float32), axis=-1)
    batch, frames = tf.shape(logp)[0], tf.shape(logp)[1]
    width = tf.shape(labels)[1]
    states = 2 * width + 1
    # The extended label sequence: blank, l1, blank, l2, ..., blank.
    odd = tf.range(states) % 2 == 1
    position = tf.minimum(tf.range(states) // 2, tf.maximum(width - 1, 0))
    ext = tf.where(odd[None], tf.gather(labels, position, axis=1), blank)
    emit = tf.gather(logp, ext, axis=2, batch_dims=1)             # [batch, frames, states]
    if penalty:
        late = penalty * tf.cast(tf.range(frames), tf.float32)[None, :, None]
        emit = emit - tf.where(odd[None, None], late, 0.0)
    # A label may follow the label two states back unless it repeats it.
    previous = tf.concat([tf.fill([batch, 2], -1), ext[:, :-2]], axis=1)
    skip = odd[None] & (ext != previous)
    if deadlines is not None:
        deadlines = tf.cast(deadlines, tf.int32)
        # The earliest frame label u can take: u, plus a blank between each
        # two equal neighbours before it.
        repeats = tf.concat([tf.zeros([batch, 1], tf.int32),
                             tf.cast(labels[:, 1:] == labels[:, :-1], tf.int32)], axis=1)
        earliest = tf.range(width)[None] + tf.cumsum(repeats, axis=1)
        deadlines = tf.maximum(deadlines, earliest)
        # Per state, the last frame it may be entered at (blanks: any).
        state_deadline = tf.where(odd[None], tf.gather(deadlines, position, axis=1),
                                  tf.int32.max)
        # [batch, frames, states]: which states are open at each frame.
        open_at = tf.range(frames)[None, :, None] <= state_deadline[:, None]
        emit = tf.where(open_at, emit, _IMPOSSIBLE)
    impossible = tf.fill([batch, 1], _IMPOSSIBLE)

    def step(alpha, inputs):
        emit_t, live = inputs
        one = tf.concat([impossible, alpha[:, :-1]], axis=1)
        two = tf.where(skip, tf.concat([impossible, impossible, alpha[:, :-2]], axis=1),
                       _IMPOSSIBLE)
        new = tf.reduce_logsumexp(tf.stack([alpha, one, two]), axis=0) + emit_t
        return tf.where(live[:, None], new, alpha)

    first = tf.where(tf.range(states)[None] < 2, emit[:, 0], _IMPOSSIBLE)
    live = tf.range(frames)[:, None] < logit_lengths[None]           # [frames, batch]
    alpha = tf.foldl(step, (tf.transpose(emit, [1, 0, 2])[1:], live[1:]), initializer=first)
    last = 2 * label_lengths
    ends = tf.stack([tf.gather(alpha, last, axis=1, batch_dims=1),
                     tf.gather(alpha, tf.maximum(last - 1, 0), axis=1, batch_dims=1)])
    ends = tf.where(tf.stack([tf.ones_like(last, tf.bool), last > 0]), ends, _IMPOSSIBLE)
    return -tf.reduce_logsumexp(ends, axis=0)
