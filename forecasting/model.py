"""Recurrent forecasting models built from the shared blocks.

`SegRNN` follows the strongest recurrent forecaster published on ETTh1 (Lin et
al., 2023, "SegRNN: Segment Recurrent Neural Network for Long-Term Time Series
Forecasting"): every channel is forecast independently by one shared network
(channel independence); the window is normalised by its last value; the
lookback is cut into segments, each embedded by a dense layer, so the GRU runs
over `lookback / segment_length` steps instead of `lookback` (that is what
makes it fast and trainable); and the horizon is decoded in parallel, one GRU
step per output segment, from the encoder's final state and a learned
position-plus-channel query (no error accumulation across steps).
"""

import math

import keras
from keras import ops

from pipelines import precision
from pipelines.blocks import FunctionalModel, RecurrentEncoder
from pipelines.precision import HEAD_DTYPE
from pipelines.validation import check_argument as _check

PACKAGE = "forecasting"
NORMALIZATIONS = ("last", "revin", "none")


@keras.saving.register_keras_serializable(package=PACKAGE)
class WindowNormalization(keras.layers.Layer):
    """Normalises each window on its own and undoes it on the forecast.

    `mode="last"` subtracts each channel's last value (SegRNN); `"revin"`
    subtracts the window mean and divides by its standard deviation (RevIN
    without affine weights); `"none"` does nothing. Called with
    `inverse=False` on `[b, L, C]` it returns `(normalised, stats)`; with
    `inverse=True` on `([b, H, C], stats)` (or quantiles `[b, H, C, Q]`) it
    restores the level.
    """

    def __init__(self, mode="last", epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        _check(mode in NORMALIZATIONS, "mode", mode, f"must be one of {list(NORMALIZATIONS)}")
        self.mode = mode
        self.epsilon = epsilon

    def call(self, x, stats=None, inverse=False):
        if inverse:
            shift, scale = stats
            if len(x.shape) == 4:  # quantiles last: the same level for each
                shift, scale = shift[..., None], scale[..., None]
            return x * scale + shift
        if self.mode == "last":
            shift = x[:, -1:, :]
            scale = ops.ones_like(shift)
        elif self.mode == "revin":
            shift = ops.mean(x, axis=1, keepdims=True)
            scale = ops.sqrt(ops.var(x, axis=1, keepdims=True) + self.epsilon)
        else:
            shift = ops.zeros_like(x[:, -1:, :])
            scale = ops.ones_like(shift)
        return (x - shift) / scale, (shift, scale)

    def get_config(self):
        config = super().get_config()
        config.update({"mode": self.mode, "epsilon": self.epsilon})
        return config


@keras.saving.register_keras_serializable(package=PACKAGE)
class SegmentQueries(keras.layers.Layer):
    """Learned decoder queries: output-segment position ++ channel identity.

    Given the encoder state `[b * channels, units]`, returns the queries
    `[b * channels * segments, 1, units]` in the same (batch, channel,
    segment) order as `ops.repeat(state, segments, axis=0)`.
    """

    def __init__(self, segments, channels, units, stddev=0.05, **kwargs):
        super().__init__(**kwargs)
        self.segments = segments
        self.channels = channels
        self.units = units
        # The scale of the queries against the segment embeddings the same
        # GRU reads: Keras' 0.05, or the published SegRNN's 1 (torch.randn).
        self.stddev = stddev

    def build(self, state_shape):
        half = self.units // 2
        self.position = self.add_weight(
            shape=(self.segments, half),
            initializer=keras.initializers.RandomNormal(stddev=self.stddev),
            name="position",
        )
        self.channel = self.add_weight(
            shape=(self.channels, self.units - half),
            initializer=keras.initializers.RandomNormal(stddev=self.stddev),
            name="channel",
        )
        self.built = True

    def call(self, state):
        pos = ops.broadcast_to(
            self.position[None], (self.channels, self.segments, self.units // 2)
        )
        chan = ops.broadcast_to(
            self.channel[:, None],
            (self.channels, self.segments, self.units - self.units // 2),
        )
        queries = ops.concatenate([pos, chan], axis=-1)  # [C, m, d]
        batch = ops.shape(state)[0] // self.channels
        queries = ops.tile(queries[None], (batch, 1, 1, 1))
        queries = ops.reshape(queries, (-1, 1, self.units))
        return ops.cast(queries, state.dtype)

    def compute_output_shape(self, state_shape):
        return (None, 1, self.units)

    def get_config(self):
        config = super().get_config()
        config.update(
            {"segments": self.segments, "channels": self.channels, "units": self.units,
             "stddev": self.stddev}
        )
        return config


@keras.saving.register_keras_serializable(package=PACKAGE)
class LearnedCycle(keras.layers.Layer):
    """A learned periodic pattern per channel (CycleNet's residual cycle
    forecasting, Lin et al., 2024): a table `[length, channels]`, zero at
    first, read at integer phases `[b, T]` (taken modulo `length`) as
    `[b, T, channels]`. The forecaster subtracts it from the lookback and adds
    it to the forecast, so the recurrent network models what the cycle does
    not explain; the table is fitted with the rest of the model, on every
    training window, so it sees far more of the cycle than one window shows.
    """

    def __init__(self, length, channels, **kwargs):
        super().__init__(**kwargs)
        _check(isinstance(length, int) and length > 1, "length", length,
               "must be an integer > 1")
        self.length = length
        self.channels = channels

    def build(self, phase_shape):
        self.table = self.add_weight(shape=(self.length, self.channels),
                                     initializer="zeros", name="table")
        self.built = True

    def call(self, phase):
        return ops.take(self.table, ops.mod(ops.cast(phase, "int32"), self.length), axis=0)

    def compute_output_shape(self, phase_shape):
        return tuple(phase_shape) + (self.channels,)

    def get_config(self):
        config = super().get_config()
        config.update({"length": self.length, "channels": self.channels})
        return config


def _phase_of(features, index, length):
    """Integer phases `[b, T]` of a calendar covariate given as the sine and
    cosine of its phase (`features[..., index: index + 2]`)."""
    angle = ops.arctan2(features[..., index], features[..., index + 1])
    return ops.mod(ops.cast(ops.round(angle * (length / (2 * math.pi))), "int32"), length)


def _check_quantiles(quantiles):
    if quantiles is None:
        return None
    quantiles = [float(q) for q in quantiles]
    _check(len(quantiles) >= 1 and all(0 < q < 1 for q in quantiles), "quantiles",
           quantiles, "must be levels in (0, 1)")
    _check(all(a < b for a, b in zip(quantiles, quantiles[1:])), "quantiles", quantiles,
           "must be in increasing order, each once")
    return quantiles


def _quantile_outputs(y, quantiles):
    """`[..., Q]` head outputs sorted along the quantile axis: quantiles of
    increasing level never cross, whatever the weights (sorting is a
    permutation, so the pinball loss still reaches every output)."""
    return ops.sort(y, axis=-1) if len(quantiles) > 1 else y


@keras.saving.register_keras_serializable(package=PACKAGE)
class SegRNN(FunctionalModel):
    """Segment-recurrent forecaster: `[b, lookback, C]` -> `[b, horizon, C]`.

    Works on standardised series (the `Forecaster` scales around it).

    Args:
        lookback: input window length; a multiple of `segment_length`.
        horizon: forecast length; a multiple of `segment_length`.
        channels: number of series forecast together (channel-independently).
        segment_length: rows per segment for both encoder and decoder.
        units: GRU/LSTM width.
        cell_type: `"gru"` (as published) or `"lstm"`.
        num_layers: encoder depth (the shared `RecurrentEncoder`).
        dropout: dropout before the output projection.
        normalization: `"last"`, `"revin"` or `"none"` (per-window).
        quantiles: levels of a quantile head, increasing: the output is then
            `[b, horizon, C, len(quantiles)]`, sorted on the last axis (train
            it with `pipelines.losses.PinballLoss`). None: point forecasts.
        past_covariates: number of covariate features known over the
            lookback only: each target channel's segment embedding also reads
            the covariates' values in that segment.
        future_covariates: number of covariate features known over the
            horizon too: each output segment's decoder query adds an
            embedding of their values in that segment.
        cycle_length: with future covariates, the length in steps of a
            learned cycle per channel (`LearnedCycle`), whose phase at each
            step is the calendar covariate at `cycle_feature`: subtracted
            from the lookback, added back to the forecast. 0: none.
        cycle_feature: index in the future covariate features of the sine
            (then cosine) of the cycle's phase.
        shared_decoder: decode with the encoder's own recurrent layer (one
            set of GRU weights for both, as the published SegRNN does)
            instead of a separate decoder layer; needs `num_layers=1`.
        query_stddev: standard deviation of the decoder queries' initial
            values (`SegmentQueries`); the published SegRNN draws them from
            a standard normal (1.0).

    With covariates, the input is a dict: `history` `[b, lookback, C]`,
    `past_covariates` `[b, lookback, P]`, `future_covariates` `[b, horizon,
    F]` (the ones configured; standardised or encoded by the caller).

    Example:

    >>> import numpy as np
    >>> m = SegRNN(lookback=48, horizon=24, channels=3, segment_length=12, units=16)
    >>> tuple(m(np.zeros((2, 48, 3), "float32")).shape)
    (2, 24, 3)
    >>> q = SegRNN(lookback=48, horizon=24, channels=3, segment_length=12, units=16,
    ...            quantiles=[0.1, 0.5, 0.9])
    >>> tuple(q(np.zeros((2, 48, 3), "float32")).shape)
    (2, 24, 3, 3)
    """

    def __init__(
        self,
        lookback,
        horizon,
        channels,
        segment_length=48,
        units=512,
        cell_type="gru",
        num_layers=1,
        dropout=0.5,
        normalization="last",
        quantiles=None,
        past_covariates=0,
        future_covariates=0,
        shared_decoder=False,
        cycle_length=0,
        cycle_feature=0,
        query_stddev=0.05,
        dtype=None,
        **kwargs,
    ):
        for name, value in (("past_covariates", past_covariates),
                            ("future_covariates", future_covariates)):
            _check(isinstance(value, int) and value >= 0, name, value,
                   "must be an integer >= 0")
        for name, value in (("lookback", lookback), ("horizon", horizon),
                            ("channels", channels), ("segment_length", segment_length),
                            ("units", units), ("num_layers", num_layers)):
            _check(isinstance(value, int) and value > 0, name, value,
                   "must be a positive integer")
        _check(lookback % segment_length == 0, "lookback", lookback,
               f"must be a multiple of segment_length={segment_length}")
        _check(horizon % segment_length == 0, "horizon", horizon,
               f"must be a multiple of segment_length={segment_length}")
        _check(0.0 <= dropout < 1.0, "dropout", dropout, "must be in [0, 1)")
        _check(isinstance(query_stddev, (int, float)) and query_stddev > 0, "query_stddev",
               query_stddev, "must be a positive number")
        _check(not shared_decoder or num_layers == 1, "shared_decoder", shared_decoder,
               f"needs num_layers=1 (got {num_layers}): the decoder step is one layer")
        _check(isinstance(cycle_length, int) and (cycle_length == 0 or cycle_length > 1),
               "cycle_length", cycle_length, "must be 0 (none) or an integer > 1")
        _check(not cycle_length or 0 <= cycle_feature <= future_covariates - 2,
               "cycle_feature", cycle_feature,
               f"must index the sine and cosine of a phase among the {future_covariates} "
               "future covariate features")
        quantiles = _check_quantiles(quantiles)
        outs = 1 if quantiles is None else len(quantiles)
        in_segments = lookback // segment_length
        out_segments = horizon // segment_length

        # Every layer (and the model) takes the policy `dtype`; it is in
        # get_config, so a reload rebuilds the same policy.
        with precision.dtype_scope(dtype):
            # === Layers ===
            # float32: the statistics and the restored forecast stay full precision.
            norm = WindowNormalization(normalization, dtype=HEAD_DTYPE, name="window_norm")
            embed = keras.layers.Dense(units, activation="relu", name="segment_embedding")
            encoder = RecurrentEncoder(
                units, num_layers=num_layers, cell_type=cell_type,
                return_sequences=False, return_state=True, name="encoder",
            )
            queries = SegmentQueries(out_segments, channels, units, stddev=query_stddev,
                                     name="queries")
            # The published SegRNN decodes with its encoder's GRU: the same
            # weights read the segments and answer the queries.
            decoder = None if shared_decoder else RecurrentEncoder(
                units, cell_type=cell_type, return_sequences=False, name="decoder"
            )
            drop = keras.layers.Dropout(dropout, name="dropout")
            head = keras.layers.Dense(segment_length * outs, dtype=HEAD_DTYPE, name="head")
            future_embed = (keras.layers.Dense(units, name="future_embedding")
                            if future_covariates else None)
            cycle = (LearnedCycle(cycle_length, channels, dtype=HEAD_DTYPE, name="cycle")
                     if cycle_length else None)

            # === Functional model ===
            history = keras.Input((lookback, channels), name="history")
            inputs = {"history": history}
            if past_covariates:
                inputs["past_covariates"] = keras.Input((lookback, past_covariates),
                                                        name="past_covariates")
            if future_covariates:
                inputs["future_covariates"] = keras.Input((horizon, future_covariates),
                                                          name="future_covariates")
            x = history
            if cycle is not None:
                # The phase of the first forecast step fixes every step's:
                # the lookback's are the L before it.
                start = _phase_of(inputs["future_covariates"][:, :1], cycle_feature,
                                  cycle_length)  # [b, 1]
                x = x - cycle(start + ops.arange(-lookback, 0, dtype="int32")[None])
            x, stats = norm(x)
            # [b, L, C] -> [b * C, segments, segment_length]: one sequence per channel.
            x = ops.reshape(ops.transpose(x, (0, 2, 1)), (-1, in_segments, segment_length))
            if past_covariates:
                # Every channel's segment sees the same covariate segment:
                # [b, L, P] -> [b, n, seg * P], repeated per channel.
                past = ops.reshape(ops.cast(inputs["past_covariates"], x.dtype),
                                   (-1, in_segments, segment_length * past_covariates))
                x = ops.concatenate([x, ops.repeat(past, channels, axis=0)], axis=-1)
            x = embed(x)
            last, state = encoder(x)
            # Parallel decoding: every output segment starts from the final state
            # and gets its own query, so all segments are decoded in one GRU step.
            q = queries(last)
            if future_covariates:
                # [b, H, F] -> [b, m, seg * F] -> one embedding per output
                # segment, added to that segment's query of every channel (the
                # queries' order is batch, channel, segment).
                future = ops.reshape(inputs["future_covariates"],
                                     (-1, 1, out_segments, segment_length * future_covariates))
                future = future_embed(future)  # [b, 1, m, units]
                future = ops.tile(future, (1, channels, 1, 1))
                q = q + ops.cast(ops.reshape(future, (-1, 1, units)), q.dtype)
            state = [ops.repeat(s, out_segments, axis=0) for s in state]
            if decoder is None:
                y, _ = encoder(q, initial_state=state)
            else:
                y = decoder(q, initial_state=state)
            y = head(drop(y))  # [b * C * m, segment_length * outs]
            if quantiles is None:
                y = ops.transpose(ops.reshape(y, (-1, channels, horizon)), (0, 2, 1))
            else:
                y = ops.reshape(y, (-1, channels, horizon, outs))
                y = _quantile_outputs(ops.transpose(y, (0, 2, 1, 3)), quantiles)
            outputs = norm(y, stats=stats, inverse=True)
            if cycle is not None:
                ahead = cycle(start + ops.arange(horizon, dtype="int32")[None])
                outputs = outputs + (ahead if quantiles is None else ahead[..., None])
            # Without covariates the input stays a single tensor (as models
            # saved before covariates existed).
            super().__init__(inputs=inputs if len(inputs) > 1 else history,
                             outputs=outputs, **kwargs)

        # === Config ===
        self.past_covariates = past_covariates
        self.future_covariates = future_covariates
        self.lookback = lookback
        self.horizon = horizon
        self.channels = channels
        self.segment_length = segment_length
        self.units = units
        self.cell_type = cell_type
        self.num_layers = num_layers
        self.dropout = dropout
        self.normalization = normalization
        self.quantiles = quantiles
        self.shared_decoder = shared_decoder
        self.cycle_length = cycle_length
        self.cycle_feature = cycle_feature
        self.query_stddev = query_stddev

    def get_config(self):
        return {
            **super().get_config(),
            "lookback": self.lookback,
            "horizon": self.horizon,
            "channels": self.channels,
            "quantiles": self.quantiles,
            "past_covariates": self.past_covariates,
            "future_covariates": self.future_covariates,
            "segment_length": self.segment_length,
            "units": self.units,
            "cell_type": self.cell_type,
            "num_layers": self.num_layers,
            "dropout": self.dropout,
            "normalization": self.normalization,
            "shared_decoder": self.shared_decoder,
            "cycle_length": self.cycle_length,
            "cycle_feature": self.cycle_feature,
            "query_stddev": self.query_stddev,
        }


@keras.saving.register_keras_serializable(package=PACKAGE)
class LinearForecaster(FunctionalModel):
    """The linear baseline as a Keras model: one dense map from the lookback
    to the horizon, shared by all channels, on last-value-normalised windows.

    Example:

    >>> import numpy as np
    >>> tuple(LinearForecaster(24, 12, 2)(np.zeros((1, 24, 2), "float32")).shape)
    (1, 12, 2)
    """

    def __init__(self, lookback, horizon, channels, normalization="last", quantiles=None,
                 dtype=None, **kwargs):
        quantiles = _check_quantiles(quantiles)
        outs = 1 if quantiles is None else len(quantiles)
        # Every layer (and the model) takes the policy `dtype`; it is in
        # get_config, so a reload rebuilds the same policy.
        with precision.dtype_scope(dtype):
            # === Layers ===
            # float32: the statistics and the restored forecast stay full precision.
            norm = WindowNormalization(normalization, dtype=HEAD_DTYPE, name="window_norm")
            dense = keras.layers.Dense(horizon * outs, dtype=HEAD_DTYPE, name="linear")
            # === Functional model ===
            inputs = keras.Input((lookback, channels), name="history")
            x, stats = norm(inputs)
            y = dense(ops.transpose(x, (0, 2, 1)))  # [b, C, horizon * outs]
            if quantiles is None:
                y = ops.transpose(y, (0, 2, 1))
            else:
                y = ops.reshape(y, (-1, channels, horizon, outs))
                y = _quantile_outputs(ops.transpose(y, (0, 2, 1, 3)), quantiles)
            outputs = norm(y, stats=stats, inverse=True)
            super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        # === Config ===
        self.lookback = lookback
        self.horizon = horizon
        self.channels = channels
        self.normalization = normalization
        self.quantiles = quantiles

    def get_config(self):
        return {
            **super().get_config(),
            "lookback": self.lookback,
            "horizon": self.horizon,
            "channels": self.channels,
            "normalization": self.normalization,
            "quantiles": self.quantiles,
        }


MODELS = {"segrnn": SegRNN, "linear": LinearForecaster}
