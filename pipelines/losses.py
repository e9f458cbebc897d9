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
