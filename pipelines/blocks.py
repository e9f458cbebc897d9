"""Recurrent building blocks shared by every pipeline.

All blocks are Keras layers registered under the `pipelines` package, so a
model built from them saves to `.keras` and reloads without custom objects.
"""

import keras
from keras import ops

from pipelines.validation import check_argument as _check

PACKAGE = "pipelines"

CELL_TYPES = ("lstm", "gru")
ATTENTION_KINDS = ("additive", "multiplicative")


class FunctionalModel(keras.Model):
    """Base of the pipelines' Keras models (as keras-hub's `Backbone`): a
    functional model built from named parts in `__init__`, whose config holds
    every constructor argument plus `name`, `trainable` and `dtype`.

    A subclass builds all its layers and calls `super().__init__(inputs=...,
    outputs=...)` inside `precision.dtype_scope(dtype)`, and extends
    `get_config` with its own arguments; `from_config` is `cls(**config)`.
    So a model saved under mixed precision reloads under mixed precision,
    with no policy set around `keras.models.load_model`.

    Example:

    >>> from pipelines import precision
    >>> class Doubler(FunctionalModel):
    ...     def __init__(self, width, dtype=None, **kwargs):
    ...         with precision.dtype_scope(dtype):
    ...             x = keras.Input((width,))
    ...             super().__init__(inputs=x, outputs=keras.layers.Dense(width)(x),
    ...                              **kwargs)
    ...         self.width = width
    ...     def get_config(self):
    ...         return {**super().get_config(), "width": self.width}
    >>> m = Doubler(3, dtype="mixed_bfloat16")
    >>> Doubler.from_config(m.get_config()).layers[-1].compute_dtype
    'bfloat16'
    """

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable,
                "dtype": keras.dtype_policies.serialize(self.dtype_policy)}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras.saving.register_keras_serializable(package=PACKAGE)
class RecurrentEncoder(keras.layers.Layer):
    """A stack of LSTM or GRU layers, uni- or bidirectional.

    Each layer keeps the settings that let Keras use the fused cuDNN kernel on
    a GPU (tanh/sigmoid activations, no recurrent dropout, no unrolling, GRU
    `reset_after=True`); dropout is applied *between* layers instead. Residual
    connections add a layer's input to its output when the widths match, and
    optional layer normalisation follows each layer. Masks (from an
    `Embedding(mask_zero=True)` or passed explicitly) are honoured.

    Args:
        units: hidden size of each direction of each layer.
        num_layers: number of stacked recurrent layers.
        cell_type: `"lstm"` or `"gru"`.
        bidirectional: run each layer in both directions and concatenate.
        residual: add each layer's input to its output (layers 2 and up, or
            any layer whose input width equals its output width).
        layer_norm: apply `LayerNormalization` after each layer.
        dropout: dropout rate between layers (and after the last one).
        return_sequences: return the whole output sequence; otherwise the
            output at the last (unmasked) step.
        return_state: also return the final state of the last layer: a list
            `[h]` for GRU or `[h, c]` for LSTM, with both directions
            concatenated when bidirectional.

    Example:

    >>> import numpy as np
    >>> enc = RecurrentEncoder(8, num_layers=2, cell_type="gru", residual=True)
    >>> tuple(enc(np.zeros((2, 5, 3), "float32")).shape)
    (2, 5, 8)
    """

    def __init__(
        self,
        units,
        num_layers=1,
        cell_type="lstm",
        bidirectional=False,
        residual=False,
        layer_norm=False,
        dropout=0.0,
        return_sequences=True,
        return_state=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        _check(isinstance(units, int) and units > 0, "units", units,
               "must be a positive integer")
        _check(isinstance(num_layers, int) and num_layers > 0, "num_layers",
               num_layers, "must be a positive integer")
        _check(cell_type in CELL_TYPES, "cell_type", cell_type,
               f"must be one of {list(CELL_TYPES)}")
        _check(0.0 <= dropout < 1.0, "dropout", dropout, "must be in [0, 1)")
        self.units = units
        self.num_layers = num_layers
        self.cell_type = cell_type
        self.bidirectional = bidirectional
        self.residual = residual
        self.layer_norm = layer_norm
        self.dropout = dropout
        self.return_sequences = return_sequences
        self.return_state = return_state
        self.supports_masking = True

        # === Layers ===
        rnn_class = keras.layers.LSTM if cell_type == "lstm" else keras.layers.GRU
        self.rnn_layers = []
        self.norm_layers = []
        for i in range(num_layers):
            last = i == num_layers - 1
            rnn = rnn_class(
                units,
                return_sequences=return_sequences or not last,
                return_state=True,
                dtype=self.dtype_policy,
                name=f"{cell_type}_{i}",
            )
            if bidirectional:
                rnn = keras.layers.Bidirectional(
                    rnn, dtype=self.dtype_policy, name=f"bidirectional_{i}"
                )
            self.rnn_layers.append(rnn)
            if layer_norm:
                self.norm_layers.append(
                    keras.layers.LayerNormalization(
                        dtype=self.dtype_policy, name=f"layer_norm_{i}"
                    )
                )
        self.dropout_layer = keras.layers.Dropout(
            dropout, dtype=self.dtype_policy, name="dropout"
        )

    @property
    def output_width(self):
        return self.units * (2 if self.bidirectional else 1)

    def build(self, input_shape):
        shape = tuple(input_shape)
        for i, rnn in enumerate(self.rnn_layers):
            rnn.build(shape)
            width = self.output_width
            if self.layer_norm:
                self.norm_layers[i].build(shape[:-1] + (width,))
            shape = shape[:-1] + (width,)
        self.built = True

    def _split_state(self, outputs):
        """Splits an RNN's outputs into (sequence, [h] or [h, c])."""
        seq, states = outputs[0], list(outputs[1:])
        if self.bidirectional:
            half = len(states) // 2
            fw, bw = states[:half], states[half:]
            states = [ops.concatenate([f, b], axis=-1) for f, b in zip(fw, bw)]
        return seq, states

    def call(self, inputs, mask=None, initial_state=None, training=None):
        x = inputs
        states = None
        for i, rnn in enumerate(self.rnn_layers):
            kwargs = {"mask": mask, "training": training}
            if i == 0 and initial_state is not None:
                kwargs["initial_state"] = initial_state
            y, states = self._split_state(rnn(x, **kwargs))
            # Residual only where shapes agree: a sequence feeding a sequence
            # of the same width.
            if (
                self.residual
                and len(y.shape) == len(x.shape)
                and x.shape[-1] == y.shape[-1]
            ):
                y = y + x
            if self.layer_norm:
                y = self.norm_layers[i](y)
            y = self.dropout_layer(y, training=training)
            x = y
        if self.return_state:
            return x, states
        return x

    def compute_mask(self, inputs, mask=None):
        return mask if self.return_sequences else None

    def compute_output_shape(self, input_shape):
        batch, steps = input_shape[0], input_shape[1]
        out = (
            (batch, steps, self.output_width)
            if self.return_sequences
            else (batch, self.output_width)
        )
        if not self.return_state:
            return out
        n = 2 if self.cell_type == "lstm" else 1
        return out, [(batch, self.output_width)] * n

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "num_layers": self.num_layers,
                "cell_type": self.cell_type,
                "bidirectional": self.bidirectional,
                "residual": self.residual,
                "layer_norm": self.layer_norm,
                "dropout": self.dropout,
                "return_sequences": self.return_sequences,
                "return_state": self.return_state,
            }
        )
        return config


@keras.saving.register_keras_serializable(package=PACKAGE)
class Attention(keras.layers.Layer):
    """Additive (Bahdanau) or multiplicative (Luong "general") attention.

    Called as `attention(query, values, mask=values_mask)` and returns
    `(context, weights)`. `query` is `[batch, dq]` (one step) or
    `[batch, tq, dq]`; `values` is `[batch, tv, dv]`; `mask` is a boolean
    `[batch, tv]` marking real (not padded) value positions. Scores and the
    softmax are computed in float32 so that masked positions get exactly zero
    weight under mixed precision too.

    Args:
        units: width of the attention space (the additive `W1 q + W2 k`, or
            the projection of the query for multiplicative attention).
            Defaults to the width of the values.
        kind: `"additive"` or `"multiplicative"`.
        scale: multiplicative only: divide scores by sqrt(units).

    Example:

    >>> import numpy as np
    >>> att = Attention(4, kind="additive")
    >>> ctx, w = att(np.ones((2, 3), "float32"), np.ones((2, 5, 6), "float32"))
    >>> tuple(ctx.shape), tuple(w.shape)
    ((2, 6), (2, 5))
    """

    def __init__(self, units=None, kind="additive", scale=True, **kwargs):
        super().__init__(**kwargs)
        _check(kind in ATTENTION_KINDS, "kind", kind,
               f"must be one of {list(ATTENTION_KINDS)}")
        _check(units is None or (isinstance(units, int) and units > 0),
               "units", units, "must be a positive integer or None")
        self.units = units
        self.kind = kind
        self.scale = scale
        self.supports_masking = True

    def build(self, query_shape, values_shape=None):
        if values_shape is None:
            raise ValueError("Attention needs both `query` and `values`.")
        units = self.units or values_shape[-1]
        self._units = units
        self.query_dense = keras.layers.Dense(
            units, use_bias=False, dtype=self.dtype_policy, name="query"
        )
        self.query_dense.build(query_shape)
        if self.kind == "additive":
            self.key_dense = keras.layers.Dense(
                units, use_bias=False, dtype=self.dtype_policy, name="key"
            )
            self.key_dense.build(values_shape)
            self.score_dense = keras.layers.Dense(
                1, use_bias=False, dtype=self.dtype_policy, name="score"
            )
            self.score_dense.build(tuple(values_shape[:-1]) + (units,))
        else:
            self.key_dense = keras.layers.Dense(
                units, use_bias=False, dtype=self.dtype_policy, name="key"
            )
            self.key_dense.build(values_shape)
        self.built = True

    def keys(self, values):
        """The projected keys of `values` `[b, tv, u]`: pass them to `call`
        as `keys=` when attending over the same values many times (each step
        of a decoding loop), so they are projected once."""
        return self.key_dense(values)

    def call(self, query, values, mask=None, keys=None):
        single = len(query.shape) == 2
        if single:
            query = ops.expand_dims(query, 1)
        q = self.query_dense(query)  # [b, tq, u]
        k = self.key_dense(values) if keys is None else keys  # [b, tv, u]
        if self.kind == "additive":
            hidden = ops.tanh(ops.expand_dims(q, 2) + ops.expand_dims(k, 1))
            scores = ops.squeeze(self.score_dense(hidden), -1)  # [b, tq, tv]
        else:
            scores = ops.matmul(q, ops.transpose(k, (0, 2, 1)))
            if self.scale:
                scores = scores / ops.sqrt(ops.cast(self._units, scores.dtype))
        scores = ops.cast(scores, "float32")
        if mask is not None:
            mask = ops.expand_dims(ops.cast(mask, "bool"), 1)
            scores = ops.where(mask, scores, ops.full_like(scores, -1e9))
        weights = ops.softmax(scores, axis=-1)
        if mask is not None:
            # Rows whose values are all masked get zero weight, not uniform.
            weights = weights * ops.cast(mask, weights.dtype)
        context = ops.matmul(ops.cast(weights, values.dtype), values)
        if single:
            context = ops.squeeze(context, 1)
            weights = ops.squeeze(weights, 1)
        return context, weights

    def compute_mask(self, query, values=None, mask=None):
        return None

    def compute_output_shape(self, query_shape, values_shape=None):
        if len(query_shape) == 2:
            return (query_shape[0], values_shape[-1]), (
                query_shape[0], values_shape[1])
        return (query_shape[0], query_shape[1], values_shape[-1]), (
            query_shape[0], query_shape[1], values_shape[1])

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units, "kind": self.kind, "scale": self.scale})
        return config


def lengths_to_mask(lengths, maxlen=None):
    """`[batch]` int lengths -> boolean `[batch, maxlen]` mask of real steps."""
    lengths = ops.convert_to_tensor(lengths)
    if maxlen is None:
        maxlen = ops.max(lengths)
    steps = ops.arange(maxlen)
    return ops.expand_dims(steps, 0) < ops.expand_dims(ops.cast(lengths, steps.dtype), 1)


def mask_to_lengths(mask):
    """Boolean `[batch, steps]` mask -> int32 `[batch]` lengths."""
    return ops.sum(ops.cast(mask, "int32"), axis=-1)


@keras.saving.register_keras_serializable(package=PACKAGE)
class SequenceMask(keras.layers.Layer):
    """`(sequences [b, t, ...], lengths [b])` -> boolean mask `[b, t]`.

    Lets a functional model turn per-example lengths into the mask recurrent
    layers and attention take, when the time dimension is only known at run
    time.

    Example:

    >>> import numpy as np
    >>> SequenceMask()(np.zeros((2, 3, 1)), np.array([1, 3])).numpy().tolist()
    [[True, False, False], [True, True, True]]
    """

    def call(self, sequences, lengths):
        steps = ops.shape(sequences)[1]
        return ops.arange(steps)[None, :] < ops.cast(lengths, "int32")[:, None]

    def compute_output_shape(self, sequences_shape, lengths_shape=None):
        return tuple(sequences_shape[:2])

    def compute_output_spec(self, sequences, lengths):
        return keras.KerasTensor(tuple(sequences.shape[:2]), dtype="bool")


@keras.saving.register_keras_serializable(package=PACKAGE)
class AttentiveDecoder(keras.layers.Layer):
    """A recurrent decoder with attention over an encoder's memory.

    Luong-style: the recurrent layer reads the previous tokens, its output
    attends over the memory (additive or multiplicative `Attention`, masked),
    and `tanh(W [output; context])` feeds a float32 softmax head. Because the
    attention comes after the recurrence, teacher-forced training runs the
    whole target sequence through one (cuDNN-eligible) recurrent call; `step`
    runs the same weights one token at a time for greedy or beam search
    (`pipelines.decoding.beam_search`), so training and decoding cannot drift.

    Args:
        vocab_size: output vocabulary (logits per step).
        embedding_dim: width of the token embedding.
        units: recurrent width; initial states must have this width.
        cell_type: `"lstm"` (state `[h, c]`) or `"gru"` (state `[h]`).
        attention: `"additive"` or `"multiplicative"`.
        dropout: dropout before the output head.

    Example:

    >>> import numpy as np
    >>> dec = AttentiveDecoder(vocab_size=7, embedding_dim=4, units=8)
    >>> memory = np.zeros((2, 5, 6), "float32")
    >>> tuple(dec(np.ones((2, 3), "int32"), memory).shape)
    (2, 3, 7)
    >>> logits, state, weights = dec.step(np.ones(2, "int32"), dec.zero_state(2), memory)
    >>> tuple(logits.shape), len(state), tuple(weights.shape)
    ((2, 7), 2, (2, 5))
    """

    def __init__(self, vocab_size, embedding_dim=128, units=256, cell_type="lstm",
                 attention="multiplicative", dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        _check(isinstance(vocab_size, int) and vocab_size > 1, "vocab_size", vocab_size,
               "must be an integer > 1")
        _check(cell_type in CELL_TYPES, "cell_type", cell_type,
               f"must be one of {list(CELL_TYPES)}")
        _check(attention in ATTENTION_KINDS, "attention", attention,
               f"must be one of {list(ATTENTION_KINDS)}")
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.units = units
        self.cell_type = cell_type
        self.attention = attention
        self.dropout = dropout

        # === Layers ===
        self.embedding = keras.layers.Embedding(
            vocab_size, embedding_dim, dtype=self.dtype_policy, name="embedding")
        rnn_class = keras.layers.LSTM if cell_type == "lstm" else keras.layers.GRU
        self.rnn = rnn_class(units, return_sequences=True, return_state=True,
                             dtype=self.dtype_policy, name=cell_type)
        self.attention_layer = Attention(units, kind=attention, dtype=self.dtype_policy,
                                         name="attention")
        self.combine = keras.layers.Dense(units, activation="tanh", dtype=self.dtype_policy,
                                          name="combine")
        self.dropout_layer = keras.layers.Dropout(dropout, dtype=self.dtype_policy,
                                                  name="dropout")
        self.head = keras.layers.Dense(vocab_size, dtype="float32", name="head")

    @property
    def num_states(self):
        return 2 if self.cell_type == "lstm" else 1

    def zero_state(self, batch_size):
        return [ops.zeros((batch_size, self.units), self.compute_dtype)
                for _ in range(self.num_states)]

    def build(self, targets_shape, memory_shape=None):
        batch, steps = targets_shape[0], targets_shape[1]
        self.embedding.build(targets_shape)
        self.rnn.build((batch, steps, self.embedding_dim))
        self.attention_layer.build((batch, steps, self.units), memory_shape)
        self.combine.build((batch, steps, self.units + memory_shape[-1]))
        self.head.build((batch, steps, self.units))
        self.built = True

    def _output(self, rnn_out, memory, memory_mask, training=None, keys=None):
        context, weights = self.attention_layer(rnn_out, memory, mask=memory_mask, keys=keys)
        hidden = self.combine(ops.concatenate([rnn_out, ops.cast(context, rnn_out.dtype)], -1))
        return self.head(self.dropout_layer(hidden, training=training)), weights

    def call(self, targets, memory, memory_mask=None, initial_state=None, training=None,
             return_attention=False):
        """Teacher forcing: `targets [b, t]` (the previous tokens, BOS first)
        -> logits `[b, t, vocab]` (and attention `[b, t, s]` if asked)."""
        x = self.embedding(targets)
        out = self.rnn(x, initial_state=initial_state, training=training)
        logits, weights = self._output(out[0], memory, memory_mask, training)
        return (logits, weights) if return_attention else logits

    def attention_keys(self, memory):
        """The attention keys of `memory`, computed once before a decoding
        loop and passed to every `step` as `keys=`."""
        return self.attention_layer.keys(memory)

    def step(self, tokens, state, memory, memory_mask=None, keys=None):
        """One decoding step: `tokens [n]` -> `(logits [n, vocab], state, attention [n, s])`.
        `keys`: `attention_keys(memory)`, to skip re-projecting the memory."""
        x = self.embedding(ops.expand_dims(tokens, 1))
        out = self.rnn(x, initial_state=list(state))
        logits, weights = self._output(out[0], memory, memory_mask, keys=keys)
        return logits[:, 0], list(out[1:]), weights[:, 0]

    def compute_output_shape(self, targets_shape, memory_shape=None):
        return tuple(targets_shape[:2]) + (self.vocab_size,)

    def get_config(self):
        config = super().get_config()
        config.update({
            "vocab_size": self.vocab_size, "embedding_dim": self.embedding_dim,
            "units": self.units, "cell_type": self.cell_type,
            "attention": self.attention, "dropout": self.dropout,
        })
        return config
