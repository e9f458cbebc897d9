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
    # Calibration comes after training: a finished run re-calibrates.
    resumable_changes = ("intervals", "intervals.levels", "intervals.rolling", "intervals.every")

    def __init__(self, config=None, **overrides):
        super().__init__(config, **overrides)
        self.mean = None
        self.scale = None
        self.mase_scale = None
        self.columns = None
        #: The conformal offsets of the served quantiles (a
        #: `forecasting.conformal.Calibration`; None: not calibrated).
        self.calibration = None
        #: The calibration series' last rows, for `intervals.rolling`.
        self.calibration_tail = None
        self._fit_val = None
        #: The columns of the series it takes (forecast columns, then the
        #: covariates) and the covariates' names; `columns` are the forecast ones.
        self.series_columns = None
        self.past_covariates = []
        self.future_covariates = []
        #: `{column: [mean, scale]}` of the numeric covariates (training data).
        self.covariate_scaler = {}

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
        names = self.series_columns
        if names is not None and values.shape[1] != len(names):
            raise ValueError(
                f"The {what} has {values.shape[1]} channels; this forecaster was "
                f"fitted on {len(names)} ({names})."
            )
        bad = ~np.isfinite(values)
        if bad.any():
            row, col = np.argwhere(bad)[0]
            where = (f"column {names[col]!r}" if self.has_covariates else f"channel {col}")
            raise ValueError(
                f"The {what} contains NaN or infinite values (first at row {row}, "
                f"{where}); fill or drop them first."
            )
        return values

    @property
    def has_covariates(self):
        return bool(self.past_covariates or self.future_covariates)

    def _at(self, names):
        return [self.series_columns.index(c) for c in names]

    def _scaled(self, values):
        """Standardised forecast columns of a series (or of a batch) of all
        its columns; a forecaster without covariates takes just those."""
        if self.has_covariates:
            values = np.asarray(values)[..., self._at(self.columns)]
        return (values - self.mean) / self.scale

    def _past_features(self, values):
        """Standardised past covariates `[..., P]` of series rows."""
        cols = self.past_covariates
        stats = np.asarray([self.covariate_scaler[c] for c in cols], "float32")
        return ((np.asarray(values)[..., self._at(cols)] - stats[:, 0]) / stats[:, 1]).astype(
            "float32")

    def _future_features(self, raw):
        """Model features `[..., F']` of raw future covariates `[..., F]`
        (their columns in `future_covariates` order): calendar ones as sine
        and cosine of their phase, numeric ones standardised."""
        raw = np.asarray(raw, "float32")
        parts = []
        for j, c in enumerate(self.future_covariates):
            if c in data.CALENDAR:
                parts.append(data.calendar_features(raw[..., j], c))
            else:
                mean, scale = self.covariate_scaler[c]
                parts.append(((raw[..., j] - mean) / scale)[..., None])
        return np.concatenate(parts, axis=-1).astype("float32")

    def _future_width(self, names=None):
        """Model features of future covariates (all, or `names`): a calendar
        one is two (sine, cosine), a numeric one is one."""
        names = self.future_covariates if names is None else names
        return sum(2 if c in data.CALENDAR else 1 for c in names)

    def _series_parts(self, series):
        """`(targets, past, future)` model-space arrays `[time, ...]` of a
        series of all its columns (None for covariates it has not)."""
        past = self._past_features(series) if self.past_covariates else None
        future = (self._future_features(np.asarray(series)[..., self._at(self.future_covariates)])
                  if self.future_covariates else None)
        return self._scaled(series), past, future

    def _unscaled(self, values):
        return values * self.scale + self.mean

    def _cycle_arguments(self):
        """`cycle_length` and `cycle_feature` of the model from `model.cycle`."""
        name = self.config.model.cycle
        if name is None:
            return {}
        at = self.future_covariates.index(name)
        offset = self._future_width(self.future_covariates[:at])
        return {"cycle_length": data.CALENDAR[name], "cycle_feature": offset}

    def _build_model(self):
        m, channels = self.config.model, self.channels
        if m.kind == "segrnn":
            return MODELS["segrnn"](
                lookback=m.lookback, horizon=m.horizon, channels=channels,
                segment_length=m.segment_length, units=m.units,
                cell_type=m.cell_type, num_layers=m.num_layers,
                dropout=m.dropout, normalization=m.normalization, quantiles=m.quantiles,
                past_covariates=len(self.past_covariates),
                future_covariates=self._future_width(),
                shared_decoder=m.shared_decoder, query_stddev=m.query_stddev,
                **self._cycle_arguments(),
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
        rolling = self.config.intervals.rolling
        # What a rolling evaluation calibrates its first windows on: the end
        # of this series (all the windows it needs, and their context).
        self.calibration_tail = (np.asarray(series, "float32")[
            -(rolling + self.lookback + self.horizon - 1):] if rolling else None)
        self._forget_functions()
        return self

    def _rolling_quantiles(self, series):
        """`(point, quantiles)` of every window of `series`, each calibrated
        on the latest `intervals.rolling` windows known at its origin (see
        `conformal.Calibration.apply_rolling`): the calibration series' end
        when `series` continues it (its context rows are that end's last
        rows), then the windows of `series` itself."""
        cfg, tail, lookback = self.config.intervals, self.calibration_tail, self.lookback
        joint, first = series, 0
        if (tail is not None and len(series) >= lookback
                and np.allclose(np.asarray(series[:lookback]), tail[-lookback:])):
            joint = np.concatenate([tail, np.asarray(series[lookback:], "float32")])
            first = len(tail) - lookback
        t, past, future = self._series_parts(joint)
        x, y = data.window_inputs(t, lookback, self.horizon, past, future)
        point, out = self._raw_scaled(x)
        calibration = self.calibration or conformal.Calibration.none(
            self.quantiles, self.horizon, self.channels)
        q = calibration.apply_rolling(y, point, out, self.config.model.quantiles, first,
                                      cfg.rolling, cfg.every)
        return point[first:], q

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
        d = self.config.data
        names = list(columns) if columns else [f"c{i}" for i in range(train.shape[1])]
        covariates = list(d.past_covariates) + list(d.future_covariates)
        if covariates and not columns:
            raise ValueError(
                f"This forecaster takes the covariates {covariates}: pass columns= naming "
                "every column of the series, so that they can be found.")
        missing = [c for c in covariates if c not in names]
        if missing:
            raise ValueError(f"The covariate column(s) {missing} are not among the series' "
                             f"columns {names}.")
        self.series_columns = names
        self.past_covariates = list(d.past_covariates)
        self.future_covariates = list(d.future_covariates)
        self.columns = [c for c in names if c not in covariates]
        # The scalers see the training series only.
        targets = train[:, self._at(self.columns)]
        self.mean = targets.mean(axis=0).astype("float32")
        std = targets.std(axis=0).astype("float32")
        self.scale = np.where(std > 0, std, 1.0).astype("float32")
        self.covariate_scaler = {}
        for c in covariates:
            if c not in data.CALENDAR:
                column = train[:, names.index(c)]
                std = float(column.std())
                self.covariate_scaler[c] = [float(column.mean()), std if std > 0 else 1.0]
        self.mase_scale = seasonal_scale(self._scaled(train), self.config.data.seasonality)
        if self.config.model.cycle is not None:
            self._check_cycle_steps(train)

    def _check_cycle_steps(self, train):
        """The learned cycle advances one phase per row: say so when the
        training rows' calendar values do not (daily rows for hour_of_day)."""
        name = self.config.model.cycle
        period = data.CALENDAR[name]
        values = np.asarray(train)[:, self.series_columns.index(name)]
        steps = np.unique(np.mod(np.diff(values), period)).astype(int)
        if steps.tolist() != [1]:
            raise ValueError(
                f"model.cycle={name!r} needs one row per step of {name} (period {period}): "
                f"the training rows' {name} advances by {steps.tolist()[:5]} per row.")

    def _check_cycle_future(self, future):
        """The learned cycle reads its phase at the first forecast step and
        advances it one per step: say so when the given future calendar
        values do not (a gap, a repeated hour), instead of forecasting the
        wrong hours' cycle."""
        name = self.config.model.cycle
        period = data.CALENDAR[name]
        values = future[..., self.future_covariates.index(name)]
        steps = np.mod(np.round(np.diff(values, axis=1)), period)
        bad = np.argwhere(steps != 1)
        if len(bad):
            window, step = bad[0]
            raise ValueError(
                f"model.cycle={name!r} needs one step of {name} per forecast step: the future "
                f"covariate {name!r} goes from {values[window, step]:g} to "
                f"{values[window, step + 1]:g} at step {step + 1} (window {window}); each "
                f"step must add 1 (mod {period}).")

    def _prepare(self, train, val):
        cfg = self.config
        (t, past, future), (vt, vpast, vfuture) = (self._series_parts(train),
                                                   self._series_parts(val))
        train_ds = data.window_dataset(
            t, self.lookback, self.horizon, cfg.train.batch_size,
            shuffle=True, seed=cfg.train.seed, past=past, future=future,
        )
        val_ds = data.window_dataset(
            vt, self.lookback, self.horizon, cfg.train.batch_size, past=vpast, future=vfuture,
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

    def predict(self, history, quantiles=None, levels=None, future_covariates=None):
        """Forecasts the next `horizon` steps, in original units.

        Args:
            history: `[time, channels]` (the last `lookback` rows are used) or
                a batch `[batch, lookback, channels]`; its channels are the
                series' columns (`series_columns`: with covariates, those too;
                the future covariates' values in it are not used).
            future_covariates: with future covariates, their raw values over
                the horizon, `[horizon, F]` (or `[batch, horizon, F]`), the
                columns in `future_covariates` order (calendar ones as their
                raw values: hour 0-23, day of week 0-6 from Monday, month
                1-12, day of year 1-366).
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
        x = self._batch_inputs(batch, future_covariates, single)
        if indices is None:
            out = self._unscaled(self._predict_scaled(x))
            return out[0] if single else out
        _, q = self._quantiles_scaled(x)
        q = q[..., indices] * self.scale[:, None] + self.mean[:, None]
        q = (q[0] if single else q).astype("float32")
        if levels is None:
            return q
        return {float(level): (q[..., 2 * i], q[..., 2 * i + 1])
                for i, level in enumerate(levels)}

    def _batch_inputs(self, batch, future, single):
        """The model's input for history windows `[b, L, W]` (all columns)
        and raw future covariates."""
        names = self.future_covariates
        if not names:
            if future is not None:
                raise ValueError("This forecaster takes no future covariates; "
                                 "future_covariates must be None.")
            if not self.past_covariates:
                return self._scaled(batch)
            return {"history": self._scaled(batch), "past_covariates": self._past_features(batch)}
        if future is None:
            raise ValueError(f"This forecaster needs future_covariates, their values over the "
                             f"{self.horizon} forecast steps: [horizon, {len(names)}] for "
                             f"{names}.")
        future = np.asarray(future, dtype="float32")
        if single:
            future = future[None] if future.ndim == 2 else future
        if future.ndim != 3 or future.shape[2] != len(names):
            raise ValueError(f"The future covariates must be [horizon, {len(names)}] (or "
                             f"[batch, horizon, {len(names)}]) for {names}; got shape "
                             f"{future.shape}.")
        if future.shape[1] != self.horizon or future.shape[0] != len(batch):
            raise ValueError(f"The future covariates have {future.shape[1]} steps for "
                             f"{future.shape[0]} windows; this forecaster needs "
                             f"{self.horizon} (its horizon) for each of the {len(batch)}.")
        bad = ~np.isfinite(future)
        if bad.any():
            _, step, col = np.argwhere(bad)[0]
            raise ValueError(f"The future covariates contain NaN or infinite values (first "
                             f"at step {step}, column {names[col]!r}).")
        if self.config.model.cycle is not None:
            self._check_cycle_future(future)
        x = {"history": self._scaled(batch), "future_covariates": self._future_features(future)}
        if self.past_covariates:
            x["past_covariates"] = self._past_features(batch)
        return x

    # --------------------------------------------------------------- evaluate
    def windows(self, series):
        """Every (stride 1) window of `series`, standardised: `(x, y)` (`x`
        a dict of the model's inputs when it takes covariates)."""
        data.check_context(series, self.lookback, "evaluation")
        series = self._check_series(series, "evaluation series")
        t, past, future = self._series_parts(series)
        return data.window_inputs(t, self.lookback, self.horizon, past, future)

    def sample_windows(self, series, n=8):
        """`n` windows of `series` spread over it, as `export(sample=...)`
        takes them: history windows `[n, lookback, W]` of all its columns,
        or, with future covariates, `{"history", "future_covariates"}` (raw)."""
        series = self._check_series(series, "sample series")
        x, y = data.window_arrays(series, self.lookback, self.horizon)
        pick = slice(None, None, max(1, len(x) // n))
        if not self.future_covariates:
            return x[pick][:n]
        return {"history": x[pick][:n],
                "future_covariates": y[pick][:n][..., self._at(self.future_covariates)]}

    def evaluate(self, series, baselines_too=False):
        """MSE and MAE (standardised units, as published) and MASE over every
        window of `series`, whose first `lookback` rows are context; for a
        forecaster that serves quantiles, also their `wql` and `crps` and,
        per interval level, `coverage_<level>` and `width_<level>` (e.g.
        `coverage_80`; see `forecasting.metrics.quantile_metrics`), with the
        intervals calibrated as `intervals.rolling` says.

        With `baselines_too`, also returns the baselines' metrics on the same
        windows under keys such as `"last_value/mse"` (the linear baseline needs
        the training windows, so it is computed by `evaluate_baselines`).
        """
        self._require_fitted()
        x, y = self.windows(series)
        if self.quantiles and self.config.intervals.rolling:
            pred, q = self._rolling_quantiles(self._check_series(series, "evaluation series"))
            result = forecast_metrics(y, pred, self.mase_scale)
            result.update(quantile_metrics(y, q, self.quantiles, self.levels))
        elif self.quantiles:
            pred, q = self._quantiles_scaled(x)
            result = forecast_metrics(y, pred, self.mase_scale)
            result.update(quantile_metrics(y, q, self.quantiles, self.levels))
        else:
            pred = self._predict_scaled(x)
            result = forecast_metrics(y, pred, self.mase_scale)
        if baselines_too:
            x = x["history"] if isinstance(x, dict) else x
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
        x, xt = [v["history"] if isinstance(v, dict) else v for v in (x, xt)]
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
        t, past, future = self._series_parts(series)
        x, y = data.window_inputs(t, self.lookback, self.horizon, past, future)
        # The window starting at row i forecasts from origin i + lookback.
        pick = np.asarray(origins) - self.lookback
        x = {k: v[pick] for k, v in x.items()} if isinstance(x, dict) else x[pick]
        y = y[pick]
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
            "calibration_tail": (None if self.calibration_tail is None
                                 else self.calibration_tail.tolist()),
            "series_columns": self.series_columns,
            "past_covariates": self.past_covariates,
            "future_covariates": self.future_covariates,
            "covariate_scaler": self.covariate_scaler,
        }

    def _restore(self, state, path):
        self.mean = np.asarray(state["mean"], dtype="float32")
        self.scale = np.asarray(state["scale"], dtype="float32")
        self.mase_scale = np.asarray(state["mase_scale"])
        self.columns = state["columns"]
        self.series_columns = state.get("series_columns") or list(self.columns)
        self.past_covariates = state.get("past_covariates", [])
        self.future_covariates = state.get("future_covariates", [])
        self.covariate_scaler = state.get("covariate_scaler", {})
        tail = state.get("calibration_tail")
        self.calibration_tail = None if tail is None else np.asarray(tail, "float32")
        cal = state.get("calibration")
        self.calibration = None if cal is None else conformal.Calibration.from_dict(cal)

    # ----------------------------------------------------------------- export
    def serving_fn(self):
        """The graph-only serving function: original units in and out. Each
        input's shape is checked in the graph, so a wrong one gets one line
        naming the expected shape (e.g. `[batch, lookback, channels]`)."""
        self._require_fitted()
        mean = tf.constant(self.mean)
        scale = tf.constant(self.scale)
        model = self.model
        lookback, horizon, channels = self.lookback, self.horizon, self.channels
        mq, served = self.config.model.quantiles, self.quantiles
        half = None if not mq else mq.index(0.5)
        bases_at = [None if q == 0.5 else conformal.base_index(q, mq) for q in served]
        calibration = self.calibration or conformal.Calibration.none(
            served, self.horizon, channels)
        offsets = tf.constant(np.moveaxis(calibration.offsets, 0, -1).astype("float32"))
        past_names, future_names = self.past_covariates, self.future_covariates
        past_stats = np.asarray([self.covariate_scaler[c] for c in past_names],
                                "float32").reshape(-1, 2)
        shapes = {"history": [lookback, channels], "past_covariates": [lookback, len(past_names)],
                  "future_covariates": [horizon, len(future_names)]}

        def checked(name, value, batch):
            shape = tf.shape(value)
            ok = tf.cond(tf.equal(tf.rank(value), 3),
                         lambda: tf.reduce_all(tf.equal(shape, [batch, *shapes[name]])),
                         lambda: tf.constant(False))
            expected = f"{name} must be float32 [batch, {', '.join(map(str, shapes[name]))}]"
            checks = [tf.debugging.Assert(ok, [f"{expected}; got shape", shape])]
            with tf.control_dependencies(checks):
                value = tf.debugging.assert_all_finite(
                    value, f"{name} contains NaN or infinite values")
            # A reshape (not tf.ensure_shape, whose shape Grappler would read
            # back into the check above) gives the model its static shape.
            return tf.reshape(value, [-1, *shapes[name]])

        cycle = self.config.model.cycle

        def consecutive(raw):
            # As `_check_cycle_future`: the cycle's phase must advance by one
            # per forecast step.
            values = raw[..., future_names.index(cycle)]
            steps = tf.math.floormod(tf.round(values[:, 1:] - values[:, :-1]),
                                     float(data.CALENDAR[cycle]))
            check = tf.debugging.Assert(
                tf.reduce_all(tf.equal(steps, 1.0)),
                # No quotes: the Assert's message would print them escaped.
                [f"model.cycle={cycle} needs one step of {cycle} per forecast step: each "
                 f"step of the future covariate {cycle} must add 1 "
                 f"(mod {data.CALENDAR[cycle]}); got", values], summarize=8)
            with tf.control_dependencies([check]):
                return tf.identity(raw)

        def future_features(raw):
            # The same features as `_future_features`, in the graph.
            parts = []
            for j, c in enumerate(future_names):
                if c in data.CALENDAR:
                    phase = 2 * np.pi * raw[..., j] / data.CALENDAR[c]
                    parts += [tf.sin(phase)[..., None], tf.cos(phase)[..., None]]
                else:
                    m, sd = self.covariate_scaler[c]
                    parts.append(((raw[..., j] - m) / sd)[..., None])
            return tf.concat(parts, axis=-1)

        def answer(history, past=None, future=None):
            batch = tf.shape(history)[0]
            history = checked("history", history, batch)
            x = (history - mean) / scale
            if past is not None or future is not None:
                x = {"history": x}
                if past is not None:
                    past = checked("past_covariates", past, batch)
                    x["past_covariates"] = (past - past_stats[:, 0]) / past_stats[:, 1]
                if future is not None:
                    future = checked("future_covariates", future, batch)
                    if cycle is not None:
                        future = consecutive(future)
                    x["future_covariates"] = future_features(future)
            out = tf.cast(model(x, training=False), tf.float32)
            point = out if half is None else out[..., half]
            result = {"forecast": point * scale + mean}
            if served:
                # The same sums as `conformal.Calibration.apply`, in the graph.
                bases = tf.stack([point if i is None else out[..., i] for i in bases_at],
                                 axis=-1)
                q = tf.sort(bases + offsets, axis=-1)
                result["quantiles"] = q * scale[:, None] + mean[:, None]
            return result

        # One signature per set of inputs: the export's callers name them.
        if past_names and future_names:
            def serve(history, past_covariates, future_covariates):
                return answer(history, past_covariates, future_covariates)
        elif past_names:
            def serve(history, past_covariates):
                return answer(history, past=past_covariates)
        elif future_names:
            def serve(history, future_covariates):
                return answer(history, future=future_covariates)
        else:
            def serve(history):
                return answer(history)
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
        names = ["history"] + (["past_covariates"] if self.past_covariates else []) + (
            ["future_covariates"] if self.future_covariates else [])
        signature = [tf.TensorSpec(None, tf.float32, name=n) for n in names]
        return {"serve": (self.serving_fn(), signature)}

    def _export_sample(self, sample):
        """`sample`: history windows `[n, lookback, W]` of all the series'
        columns, or `{"history", "future_covariates"}` (`sample_windows`)."""
        future = None
        if isinstance(sample, dict):
            sample, future = sample["history"], sample.get("future_covariates")
        sample = np.asarray(sample, dtype="float32")
        expected = {"forecast": self.predict(sample, future_covariates=future)}
        if self.quantiles:
            expected["quantiles"] = self.predict(sample, quantiles=self.quantiles,
                                                 future_covariates=future)
        feed = {"history": sample[..., self._at(self.columns)] if self.has_covariates
                else sample}
        if self.past_covariates:
            feed["past_covariates"] = sample[..., self._at(self.past_covariates)]
        if future is not None:
            feed["future_covariates"] = np.asarray(future, dtype="float32")
        return feed, expected

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
        inputs = {"history": {"dtype": "float32",
                              "shape": [None, self.lookback, self.channels],
                              "units": "original units of each column"}}
        if self.past_covariates:
            inputs["past_covariates"] = {
                "dtype": "float32", "shape": [None, self.lookback, len(self.past_covariates)],
                "columns": self.past_covariates, "units": "original units, up to the origin"}
        if self.future_covariates:
            inputs["future_covariates"] = {
                "dtype": "float32", "shape": [None, self.horizon, len(self.future_covariates)],
                "columns": self.future_covariates,
                "units": "original units over the horizon; calendar columns as raw values "
                         "(hour_of_day 0-23, day_of_week 0-6 from Monday, month_of_year "
                         "1-12, day_of_year 1-366)"}
        return {
            "inputs": inputs,
            "outputs": outputs,
            "columns": self.columns,
            "scaler": {"mean": self.mean.tolist(), "scale": self.scale.tolist()},
            **extra,
        }
