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

from forecasting import baselines, conformal, data
from forecasting.config import ForecastingConfig
from forecasting.metrics import (forecast_metrics, interval_ends, level_name,
                                 quantile_metrics, seasonal_scale)
from forecasting.model import MODELS
from pipelines.losses import PinballLoss
from pipelines.pipeline import Pipeline

log = logging.getLogger(__name__)


class Forecaster(Pipeline):
    """Recurrent multi-horizon forecaster with scaling, baselines and export.

    Series are arrays `[time, channels]` in original units. The scaler is
    fitted on the training series only; the model works in standardised
    units; `predict` and the exported SavedModel take and return original
    units. Metrics are reported in standardised units, as published results
    on ETTh1 are.

    Probabilistic forecasts: a quantile head (`model.quantiles`) is trained
    with the pinball loss, and `intervals.levels` calibrates intervals at
    those levels by split conformal prediction on the validation split
    after training (`forecasting.conformal`), for a point model too. The
    forecaster then serves the quantiles `self.quantiles`: `predict(...,
    quantiles=...)` or `levels=...`, `evaluate` adds coverage, width, the
    weighted quantile loss and CRPS, `plot` shades the intervals, and the
    export returns `quantiles` beside `forecast`.

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
    >>> lo, hi = f.calibrate(series[400:], levels=[0.8]).predict(series[-24:], levels=[0.8])[0.8]
    >>> bool((lo <= hi).all()), lo.shape
    (True, (12, 2))
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
        #: The conformal offsets of the served quantiles (a
        #: `forecasting.conformal.Calibration`; None: not calibrated).
        self.calibration = None
        self._fit_val = None

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

    @property
    def quantiles(self):
        """The quantile levels this forecaster serves (increasing; empty for
        a point forecaster without intervals): the model's own, and the ends
        of each calibrated interval level, with the median."""
        return conformal.served_quantiles(self.config.model.quantiles,
                                          self.config.intervals.levels)

    @property
    def levels(self):
        """The central interval levels it serves (pairs of its quantiles)."""
        return conformal.central_levels(self.quantiles)

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
                dropout=m.dropout, normalization=m.normalization, quantiles=m.quantiles,
            )
        return MODELS["linear"](m.lookback, m.horizon, channels, m.normalization,
                                quantiles=m.quantiles)

    def _compile_args(self):
        if self.config.model.quantiles:
            # The pinball loss is what early stopping watches; MSE and MAE of
            # the median are in `evaluate`.
            return {"loss": PinballLoss(self.config.model.quantiles)}
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

        With `intervals.levels`, the served quantiles are then calibrated on
        the validation windows (`calibrate`).
        """
        self.calibration = None
        super().fit(train, val, run_dir=run_dir, columns=columns)
        val, self._fit_val = self._fit_val, None
        if self.config.intervals.levels:
            self.calibrate(val)
        return self

    def calibrate(self, series, levels=None):
        """Calibrates the served quantiles by split conformal prediction on
        every window of `series` (held-out data: its first `lookback` rows
        are context, as in `data.Split`); returns self.

        Args:
            series: the calibration series, original units (`fit` uses its
                validation series).
            levels: central interval levels to serve from now on (they
                replace `intervals.levels`); None keeps the config's.

        Raises:
            ValueError: when the forecaster would serve no quantile (a point
                model with no `levels`), or the series has too few windows.
        """
        self._require_fitted()
        if levels is not None:
            self.config.intervals.levels = [float(v) for v in levels]
            self.config.intervals.validate()
        if not self.quantiles:
            raise ValueError(
                "Nothing to calibrate: this is a point forecaster and no interval level "
                "is asked for; pass levels=[0.8, 0.95] (or set intervals.levels).")
        x, y = self.windows(series)
        point, out = self._raw_scaled(x)
        self.calibration = conformal.Calibration.fit(
            y, point, out, self.quantiles, self.config.model.quantiles)
        self._forget_functions()
        return self

    def _split(self, train, val):
        train, val = self._checked_split(train, val)
        self._fit_val = val  # the calibration windows, after training
        return train, val

    def _checked_split(self, train, val):
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
    def _raw_scaled(self, x, batch_size=512):
        """The model on standardised windows: `(point [n, H, C], quantile
        outputs [n, H, C, Q] or None)`."""
        out = self.model.predict(x, batch_size=batch_size, verbose=0)
        mq = self.config.model.quantiles
        if not mq:
            return out, None
        return out[..., mq.index(0.5)], out

    def _predict_scaled(self, x, batch_size=512):
        return self._raw_scaled(x, batch_size)[0]

    def _quantiles_scaled(self, x):
        """`(point, served quantiles [n, H, C, Q])`, standardised."""
        point, out = self._raw_scaled(x)
        calibration = self.calibration or conformal.Calibration.none(
            self.quantiles, self.horizon, self.channels)
        return point, calibration.apply(point, out, self.config.model.quantiles)

    def _asked_quantiles(self, quantiles, levels):
        """The served indices of `quantiles=` or of `levels=` (their ends)."""
        if quantiles is not None and levels is not None:
            raise ValueError("Pass quantiles= or levels=, not both.")
        served = self.quantiles
        if not served:
            raise ValueError(
                "This forecaster serves point forecasts only: train a quantile head "
                "(model.quantiles) or calibrate intervals (calibrate(series, levels=...) "
                "or intervals.levels).")
        if levels is not None:
            asked = [q for level in levels for q in interval_ends(float(level))]
            what = f"levels={list(levels)}; it serves the interval levels {self.levels}"
        else:
            asked = [round(float(q), 10) for q in quantiles]
            what = f"quantiles={list(quantiles)}; it serves the quantiles {served}"
        if not asked or any(q not in served for q in asked):
            raise ValueError(f"This forecaster cannot give {what} (calibrate(series, "
                             "levels=...) adds interval levels).")
        return [served.index(q) for q in asked]

    def predict(self, history, quantiles=None, levels=None):
        """Forecasts the next `horizon` steps, in original units.

        Args:
            history: `[time, channels]` (the last `lookback` rows are used) or
                a batch `[batch, lookback, channels]`.
            quantiles: levels among `self.quantiles` to return instead of
                the point forecast.
            levels: central interval levels among `self.levels` to return
                instead of the point forecast.

        Returns:
            The point forecast `[horizon, channels]` (or `[batch, horizon,
            channels]`); with `quantiles`, `[..., horizon, channels,
            len(quantiles)]`; with `levels`, `{level: (lower, upper)}`, each
            `[..., horizon, channels]`.
        """
        self._require_fitted()
        indices = (None if quantiles is None and levels is None
                   else self._asked_quantiles(quantiles, levels))
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
        if indices is None:
            out = self._unscaled(self._predict_scaled(self._scaled(batch)))
            return out[0] if single else out
        _, q = self._quantiles_scaled(self._scaled(batch))
        q = q[..., indices] * self.scale[:, None] + self.mean[:, None]
        q = (q[0] if single else q).astype("float32")
        if levels is None:
            return q
        return {float(level): (q[..., 2 * i], q[..., 2 * i + 1])
                for i, level in enumerate(levels)}

    # --------------------------------------------------------------- evaluate
    def windows(self, series):
        """Every (stride 1) window of `series`, standardised: `(x, y)`."""
        data.check_context(series, self.lookback, "evaluation")
        series = self._check_series(series, "evaluation series")
        return data.window_arrays(self._scaled(series), self.lookback, self.horizon)

    def evaluate(self, series, baselines_too=False):
        """MSE and MAE (standardised units, as published) and MASE over every
        window of `series`, whose first `lookback` rows are context; for a
        forecaster that serves quantiles, also their `wql` and `crps` and,
        per interval level, `coverage_<level>` and `width_<level>` (e.g.
        `coverage_80`; see `forecasting.metrics.quantile_metrics`).

        With `baselines_too`, also returns the baselines' metrics on the same
        windows under keys such as `"last_value/mse"` (the linear baseline needs
        the training windows, so it is computed by `evaluate_baselines`).
        """
        self._require_fitted()
        x, y = self.windows(series)
        if self.quantiles:
            pred, q = self._quantiles_scaled(x)
            result = forecast_metrics(y, pred, self.mase_scale)
            result.update(quantile_metrics(y, q, self.quantiles, self.levels))
        else:
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
    def plot(self, history, truth=None, channel=0, ax=None, levels=None):
        """Draws history, truth (if given) and forecast of one channel, with
        the intervals shaded (`levels`: those to draw; None: all that the
        forecaster serves).

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
        levels = self.levels if levels is None else list(levels)
        if levels:
            intervals = self.predict(history, levels=levels)
            # Widest first, lightest: the narrower ones drawn over it stay visible.
            for i, level in enumerate(sorted(levels, reverse=True)):
                lower, upper = intervals[float(level)]
                ax.fill_between(t_future, lower[:, ch], upper[:, ch], color="tab:orange",
                                alpha=0.15 + 0.15 * i, linewidth=0,
                                label=f"{level_name(level)}% interval")
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
            "calibration": None if self.calibration is None else self.calibration.to_dict(),
        }

    def _restore(self, state, path):
        self.mean = np.asarray(state["mean"], dtype="float32")
        self.scale = np.asarray(state["scale"], dtype="float32")
        self.mase_scale = np.asarray(state["mase_scale"])
        self.columns = state["columns"]
        cal = state.get("calibration")
        self.calibration = None if cal is None else conformal.Calibration.from_dict(cal)

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
        mq, served = self.config.model.quantiles, self.quantiles
        half = None if not mq else mq.index(0.5)
        bases_at = [None if q == 0.5 else conformal.base_index(q, mq) for q in served]
        calibration = self.calibration or conformal.Calibration.none(
            served, self.horizon, channels)
        offsets = tf.constant(np.moveaxis(calibration.offsets, 0, -1).astype("float32"))

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
            out = tf.cast(model((history - mean) / scale, training=False), tf.float32)
            point = out if half is None else out[..., half]
            result = {"forecast": point * scale + mean}
            if served:
                # The same sums as `conformal.Calibration.apply`, in the graph.
                bases = tf.stack([point if i is None else out[..., i] for i in bases_at],
                                 axis=-1)
                q = tf.sort(bases + offsets, axis=-1)
                result["quantiles"] = q * scale[:, None] + mean[:, None]
            return result

        return serve

    def export(self, path, sample=None):
        """Writes a SavedModel whose endpoint `serve` maps `history` float32
        `[batch, lookback, channels]` (original units) to `forecast` float32
        `[batch, horizon, channels]` (original units) and, for a forecaster
        that serves quantiles, `quantiles` `[batch, horizon, channels,
        len(self.quantiles)]` (levels in `metadata.json`). Verified in a
        fresh process on `sample` (windows of original-unit history) if
        given."""
        return super().export(path, sample=sample)

    def _endpoints(self):
        # Any shape binds; the graph checks it (one clear line, not TF's
        # "Binding inputs to tf.function failed").
        signature = [tf.TensorSpec(None, tf.float32, name="history")]
        return {"serve": (self.serving_fn(), signature)}

    def _export_sample(self, sample):
        sample = np.asarray(sample, dtype="float32")
        expected = {"forecast": self.predict(sample)}
        if self.quantiles:
            expected["quantiles"] = self.predict(sample, quantiles=self.quantiles)
        return {"history": sample}, expected

    def _export_metadata(self):
        extra = {}
        if self.quantiles:
            cal = self.calibration
            extra = {
                "quantiles": self.quantiles,
                "intervals": {
                    "levels": self.levels,
                    "calibration": ("split conformal on the validation windows"
                                    if cal is not None and cal.windows else
                                    "none: the model's own quantiles"),
                    "calibration_windows": 0 if cal is None else cal.windows,
                },
            }
        outputs = {"forecast": {"dtype": "float32",
                                "shape": [None, self.horizon, self.channels],
                                "units": "original units of each column"}}
        if self.quantiles:
            outputs["quantiles"] = {
                "dtype": "float32",
                "shape": [None, self.horizon, self.channels, len(self.quantiles)],
                "units": "original units of each column; levels in `quantiles`"}
        return {
            "inputs": {"history": {"dtype": "float32",
                                   "shape": [None, self.lookback, self.channels],
                                   "units": "original units of each column"}},
            "outputs": outputs,
            "columns": self.columns,
            "scaler": {"mean": self.mean.tolist(), "scale": self.scale.tolist()},
            **extra,
        }
