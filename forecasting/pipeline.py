"""`Forecaster`: the user-facing forecasting pipeline.

Example:

>>> from forecasting import Forecaster, data
>>> split = data.load_dataset("etth1", lookback=96)          # doctest: +SKIP
>>> f = Forecaster(horizon=96).fit(split.train, split.val)   # doctest: +SKIP
>>> f.evaluate(split.test)                                   # doctest: +SKIP
{'mse': ..., 'mae': ..., 'mase': ...}
>>> f.predict(split.test[-96:]).shape                        # doctest: +SKIP
(96, 7)
"""

import logging

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from forecasting import baselines, data
from forecasting.config import ForecastingConfig
from forecasting.metrics import forecast_metrics, seasonal_scale
from forecasting.model import MODELS
from pipelines.pipeline import Pipeline

log = logging.getLogger(__name__)


class Forecaster(Pipeline):
    """Recurrent multi-horizon forecaster with scaling, baselines and export.

    Series are arrays `[time, channels]` in original units. The scaler is
    fitted on the training series only; the model works in standardised
    units; `predict` and the exported SavedModel take and return original
    units. Metrics are reported in standardised units, as published results
    on ETTh1 are.

    Args:
        config: a `ForecastingConfig` (default: ETTh1, lookback and horizon 96).
        **overrides: fields of its sections (`Forecaster(horizon=192,
            epochs=5)`; see `pipelines.pipeline.Pipeline`).

    Example:

    >>> import numpy as np
    >>> t = np.arange(600, dtype="float32")
    >>> series = np.stack([np.sin(t / 4), np.cos(t / 4)], axis=1)
    >>> f = Forecaster(lookback=24, horizon=12, segment_length=12, units=16,
    ...                epochs=2, verbose=0).fit(series[:400], series[400:])
    >>> f.predict(series[-24:]).shape
    (12, 2)
    """

    config_class = ForecastingConfig
    state_file = "forecaster.json"
    export_name = "forecasting"

    def __init__(self, config=None, **overrides):
        super().__init__(config, **overrides)
        self.mean = None
        self.scale = None
        self.mase_scale = None
        self.columns = None

    # ------------------------------------------------------------------ props
    @property
    def lookback(self):
        return self.config.model.lookback

    @property
    def horizon(self):
        return self.config.model.horizon

    @property
    def channels(self):
        return None if self.mean is None else len(self.mean)

    # ---------------------------------------------------------------- scaling
    def _check_series(self, values, what):
        values = np.asarray(values, dtype="float32")
        if values.ndim != 2:
            raise ValueError(
                f"The {what} must be a 2-D array [time, channels]; got shape "
                f"{values.shape}."
            )
        if self.channels is not None and values.shape[1] != self.channels:
            raise ValueError(
                f"The {what} has {values.shape[1]} channels; this forecaster was "
                f"fitted on {self.channels} ({self.columns})."
            )
        bad = ~np.isfinite(values)
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise ValueError(
                f"The {what} contains NaN or infinite values (first at row {row}, "
                f"channel {col}); fill or drop them first."
            )
        return values

    def _scaled(self, values):
        return (values - self.mean) / self.scale

    def _unscaled(self, values):
        return values * self.scale + self.mean

    def _build_model(self):
        m, channels = self.config.model, self.channels
        if m.kind == "segrnn":
            return MODELS["segrnn"](
                lookback=m.lookback, horizon=m.horizon, channels=channels,
                segment_length=m.segment_length, units=m.units,
                cell_type=m.cell_type, num_layers=m.num_layers,
                dropout=m.dropout, normalization=m.normalization,
            )
        return MODELS["linear"](m.lookback, m.horizon, channels, m.normalization)

    def _compile_args(self):
        loss = {"mse": "mse", "mae": "mae", "huber": keras.losses.Huber(delta=1.0)}[
            self.config.model.loss]
        return {"loss": loss, "metrics": ["mse", "mae"]}

    # -------------------------------------------------------------------- fit
    def fit(self, train, val=None, run_dir=None, columns=None):
        """Fits scaler and model; returns self.

        Args:
            train: training series `[time, channels]`, original units.
            val: validation series; its first `lookback` rows are context (as
                in `data.Split`). None holds out the last 10% of `train`.
            run_dir: run directory for checkpoints, history and resume
                (a temporary one if None).
            columns: channel names, for plots and metadata.
        """
        return super().fit(train, val, run_dir=run_dir, columns=columns)

    def _split(self, train, val):
        data.check_context(val, self.lookback, "validation")
        train = self._check_series(train, "training series")
        if val is None:
            cut = int(len(train) * 0.9)
            val = train[cut - self.lookback:]
            train = train[:cut]
        val = self._check_series(val, "validation series")
        data.check_enough_rows(train, self.lookback, self.horizon, "training series")
        data.check_enough_rows(val, self.lookback, self.horizon, "validation series")
        return train, val

    def _learn(self, train, columns=None):
        # The scaler sees the training series only.
        self.columns = list(columns) if columns else [f"c{i}" for i in range(train.shape[1])]
        self.mean = train.mean(axis=0).astype("float32")
        std = train.std(axis=0).astype("float32")
        self.scale = np.where(std > 0, std, 1.0).astype("float32")
        self.mase_scale = seasonal_scale(self._scaled(train), self.config.data.seasonality)

    def _prepare(self, train, val):
        cfg = self.config
        train_ds = data.window_dataset(
            self._scaled(train), self.lookback, self.horizon, cfg.train.batch_size,
            shuffle=True, seed=cfg.train.seed,
        )
        val_ds = data.window_dataset(
            self._scaled(val), self.lookback, self.horizon, cfg.train.batch_size
        )
        return train_ds, val_ds

    # ---------------------------------------------------------------- predict
    def _predict_scaled(self, x, batch_size=512):
        return self.model.predict(x, batch_size=batch_size, verbose=0)

    def predict(self, history):
        """Forecasts the next `horizon` steps, in original units.

        Args:
            history: `[time, channels]` (the last `lookback` rows are used) or
                a batch `[batch, lookback, channels]`.

        Returns:
            `[horizon, channels]` or `[batch, horizon, channels]`.
        """
        self._require_fitted()
        history = np.asarray(history, dtype="float32")
        single = history.ndim == 2
        if single:
            if len(history) < self.lookback:
                raise ValueError(
                    f"The history has {len(history)} rows; the model needs the "
                    f"last {self.lookback} (its lookback)."
                )
            batch = history[None, -self.lookback:]
        elif history.ndim == 3:
            if history.shape[1] != self.lookback:
                raise ValueError(
                    f"Each history window must have {self.lookback} rows (the "
                    f"lookback); got {history.shape[1]}."
                )
            batch = history
        else:
            raise ValueError(
                "The history must be [time, channels] or [batch, lookback, "
                f"channels]; got shape {history.shape}."
            )
        self._check_series(batch.reshape(-1, batch.shape[-1]), "history")
        out = self._unscaled(self._predict_scaled(self._scaled(batch)))
        return out[0] if single else out

    # --------------------------------------------------------------- evaluate
    def windows(self, series):
        """Every (stride 1) window of `series`, standardised: `(x, y)`."""
        data.check_context(series, self.lookback, "evaluation")
        series = self._check_series(series, "evaluation series")
        return data.window_arrays(self._scaled(series), self.lookback, self.horizon)

    def evaluate(self, series, baselines_too=False):
        """MSE and MAE (standardised units, as published) and MASE over every
        window of `series`, whose first `lookback` rows are context.

        With `baselines_too`, also returns the baselines' metrics on the same
        windows under keys such as `"last_value/mse"` (the linear baseline needs
        the training windows, so it is computed by `evaluate_baselines`).
        """
        self._require_fitted()
        x, y = self.windows(series)
        pred = self._predict_scaled(x)
        result = forecast_metrics(y, pred, self.mase_scale)
        if baselines_too:
            for name, fc in (
                ("last_value", baselines.last_value(x, self.horizon)),
                ("seasonal_naive", baselines.seasonal_naive(
                    x, self.horizon, self.config.data.seasonality)),
            ):
                for k, v in forecast_metrics(y, fc, self.mase_scale).items():
                    result[f"{name}/{k}"] = v
        return result

    def evaluate_baselines(self, train, series):
        """Baselines (last value, seasonal naive, linear on lags) on exactly
        the windows `evaluate(series)` uses; the linear map is fitted on the
        training windows."""
        self._require_fitted()
        x, y = self.windows(series)
        xt, yt = self.windows(train)
        forecasts = {
            "last_value": baselines.last_value(x, self.horizon),
            "seasonal_naive": baselines.seasonal_naive(
                x, self.horizon, self.config.data.seasonality),
            "linear": baselines.LinearLags().fit(xt, yt).predict(x),
        }
        return {
            name: forecast_metrics(y, fc, self.mase_scale)
            for name, fc in forecasts.items()
        }

    def backtest(self, series, start=None, stride=None):
        """Rolling-origin evaluation with the fitted model.

        Forecasts from every origin `t = start, start + stride, ...` using the
        `lookback` rows before it, and scores against the next `horizon` rows.

        Returns:
            A DataFrame with one row per origin: `origin, mse, mae`
            (standardised units).
        """
        self._require_fitted()
        series = self._check_series(series, "backtest series")
        start = self.lookback if start is None else start
        stride = self.horizon if stride is None else stride
        if start < self.lookback:
            raise ValueError(f"start={start} leaves fewer than lookback={self.lookback} rows of history.")
        origins = list(range(start, len(series) - self.horizon + 1, stride))
        if not origins:
            raise ValueError(
                f"No origin fits: the series has {len(series)} rows, start={start}, "
                f"horizon={self.horizon}."
            )
        scaled = self._scaled(series)
        x = np.stack([scaled[t - self.lookback:t] for t in origins])
        y = np.stack([scaled[t:t + self.horizon] for t in origins])
        pred = self._predict_scaled(x)
        err = pred - y
        return pd.DataFrame({
            "origin": origins,
            "mse": np.mean(err**2, axis=(1, 2)),
            "mae": np.mean(np.abs(err), axis=(1, 2)),
        })

    # ------------------------------------------------------------------- plot
    def plot(self, history, truth=None, channel=0, ax=None):
        """Draws history, truth (if given) and forecast of one channel.

        Returns the matplotlib Figure.
        """
        self._require_fitted()
        ch = self._channel_index(channel)
        plt = self._pyplot()
        history = np.asarray(history, dtype="float32")
        forecast = self.predict(history)
        name = self.columns[ch]
        own_figure = ax is None
        if own_figure:
            fig, ax = plt.subplots(figsize=(10, 3.5))
        else:
            fig = ax.figure
        past = history[-self.lookback:, ch]
        t_past = np.arange(-len(past), 0)
        t_future = np.arange(self.horizon)
        ax.plot(t_past, past, color="0.3", label="history")
        if truth is not None:
            truth = np.asarray(truth, dtype="float32")[: self.horizon, ch]
            ax.plot(t_future[: len(truth)], truth, color="tab:green", label="truth")
        ax.plot(t_future, forecast[:, ch], color="tab:orange", label="forecast")
        ax.axvline(0, color="0.7", linestyle="--", linewidth=1)
        ax.set_title(f"{name}: {self.horizon}-step forecast")
        ax.set_xlabel("step (0 = first forecast step)")
        ax.set_ylabel(f"{name} (original units)")
        ax.legend(loc="upper left")
        if own_figure:
            fig.tight_layout()  # room for the labels and the title
        return fig

    def _channel_index(self, channel):
        if isinstance(channel, str):
            if channel not in self.columns:
                raise ValueError(f"channel={channel!r} is not a column of this forecaster; "
                                 f"its columns are {self.columns}.")
            return self.columns.index(channel)
        if not -len(self.columns) <= int(channel) < len(self.columns):
            raise ValueError(f"channel={channel!r} is out of range: this forecaster has "
                             f"{len(self.columns)} channels {self.columns}.")
        return int(channel)

    # ------------------------------------------------------------- save/load
    def _state(self):
        return {
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "mase_scale": np.asarray(self.mase_scale).tolist(),
            "columns": self.columns,
        }

    def _restore(self, state, path):
        self.mean = np.asarray(state["mean"], dtype="float32")
        self.scale = np.asarray(state["scale"], dtype="float32")
        self.mase_scale = np.asarray(state["mase_scale"])
        self.columns = state["columns"]

    # ----------------------------------------------------------------- export
    def serving_fn(self):
        """The graph-only serving function: original units in and out. The
        window's shape is checked in the graph, so a wrong one gets one line
        naming the expected `[batch, lookback, channels]`."""
        self._require_fitted()
        mean = tf.constant(self.mean)
        scale = tf.constant(self.scale)
        model = self.model
        lookback, channels = self.lookback, self.channels
        expected = f"history must be float32 [batch, {lookback}, {channels}]"

        def serve(history):
            shape = tf.shape(history)
            ok = tf.cond(tf.equal(tf.rank(history), 3),
                         lambda: tf.reduce_all(tf.equal(shape[1:], [lookback, channels])),
                         lambda: tf.constant(False))
            checks = [tf.debugging.Assert(ok, [f"{expected}; got shape", shape])]
            with tf.control_dependencies(checks):
                history = tf.debugging.assert_all_finite(
                    history, "history contains NaN or infinite values"
                )
            # A reshape (not tf.ensure_shape, whose shape Grappler would read
            # back into the check above) gives the model its static shape.
            history = tf.reshape(history, [-1, lookback, channels])
            forecast = model((history - mean) / scale, training=False)
            return {"forecast": tf.cast(forecast, tf.float32) * scale + mean}

        return serve

    def export(self, path, sample=None):
        """Writes a SavedModel whose endpoint `serve` maps `history` float32
        `[batch, lookback, channels]` (original units) to `forecast` float32
        `[batch, horizon, channels]` (original units). Verified in a fresh
        process on `sample` (windows of original-unit history) if given."""
        return super().export(path, sample=sample)

    def _endpoints(self):
        # Any shape binds; the graph checks it (one clear line, not TF's
        # "Binding inputs to tf.function failed").
        signature = [tf.TensorSpec(None, tf.float32, name="history")]
        return {"serve": (self.serving_fn(), signature)}

    def _export_sample(self, sample):
        sample = np.asarray(sample, dtype="float32")
        return {"history": sample}, {"forecast": self.predict(sample)}

    def _export_metadata(self):
        return {
            "inputs": {"history": {"dtype": "float32",
                                   "shape": [None, self.lookback, self.channels],
                                   "units": "original units of each column"}},
            "outputs": {"forecast": {"dtype": "float32",
                                     "shape": [None, self.horizon, self.channels],
                                     "units": "original units of each column"}},
            "columns": self.columns,
            "scaler": {"mean": self.mean.tolist(), "scale": self.scale.tolist()},
        }
