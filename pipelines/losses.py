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
