"""Forecast metrics (scikit-learn) and MASE, on `[n, horizon, channels]`."""

import numpy as np
from sklearn.metrics import mean_absolute_error, mean_squared_error


def seasonal_scale(train, seasonality):
    """Per-channel in-sample MAE of the seasonal naive forecast: MASE's scale."""
    train = np.asarray(train, dtype="float64")
    m = seasonality if len(train) > seasonality else 1
    scale = np.mean(np.abs(train[m:] - train[:-m]), axis=0)
    return np.where(scale > 0, scale, 1.0)


def forecast_metrics(y_true, y_pred, scale=None):
    """MSE and MAE over every window, step and channel (the published way),
    plus MASE when `scale` (from `seasonal_scale`) is given."""
    y_true = np.asarray(y_true, dtype="float64")
    y_pred = np.asarray(y_pred, dtype="float64")
    if y_true.shape != y_pred.shape:
        raise ValueError(f"Shapes differ: truth {y_true.shape}, forecast {y_pred.shape}.")
    flat_t = y_true.reshape(-1, y_true.shape[-1])
    flat_p = y_pred.reshape(-1, y_pred.shape[-1])
    out = {
        "mse": float(mean_squared_error(flat_t, flat_p)),
        "mae": float(mean_absolute_error(flat_t, flat_p)),
    }
    if scale is not None:
        per_channel = mean_absolute_error(flat_t, flat_p, multioutput="raw_values")
        out["mase"] = float(np.mean(per_channel / np.asarray(scale)))
    return out


def interval_ends(level):
    """The lower and upper quantile levels of a central interval level."""
    return round((1 - level) / 2, 10), round((1 + level) / 2, 10)


def level_name(level):
    """`0.8 -> "80"`, `0.975 -> "97.5"`: how metric keys name a level."""
    return f"{100 * level:.10g}"


def quantile_metrics(y_true, pred, quantiles, levels=()):
    """Probabilistic scores of quantile forecasts `pred` `[n, H, C, Q]`, at
    the levels `quantiles` (in the order of the last axis), against the
    truth `[n, H, C]`:

    - `wql`: the mean weighted quantile loss over the levels (GluonTS's
      `mean_wQuantileLoss`: `2 * sum(pinball_q) / sum(|y|)`, averaged over q);
    - `crps`: the CRPS approximated by the quantiles (twice the mean pinball
      loss over the levels; exact in the limit of a dense level grid);
    - for each central interval level `L` in `levels` (its two ends must be
      among the quantiles): `coverage_<L>`, the share of the truth inside
      the interval, and `width_<L>`, its mean width.

    Example:

    >>> y = np.array([0.5, 2.0]).reshape(1, 2, 1)
    >>> pred = np.array([-1.0, 0.0, 1.0]) * np.ones((1, 2, 1, 3))
    >>> quantile_metrics(y, pred, [0.1, 0.5, 0.9], levels=[0.8])["coverage_80"]
    0.5
    """
    y = np.asarray(y_true, dtype="float64")
    pred = np.asarray(pred, dtype="float64")
    qs = [float(q) for q in quantiles]
    if pred.shape != y.shape + (len(qs),):
        raise ValueError(f"Shapes differ: truth {y.shape}, quantiles {pred.shape} "
                         f"({len(qs)} levels).")
    err = y[..., None] - pred
    level_q = np.asarray(qs)
    pinball = np.maximum(level_q * err, (level_q - 1) * err)  # [n, H, C, Q]
    denominator = max(float(np.sum(np.abs(y))), 1e-12)
    out = {
        "wql": float(np.mean(2 * pinball.reshape(-1, len(qs)).sum(axis=0) / denominator)),
        "crps": float(2 * np.mean(pinball)),
    }
    for level in levels:
        lo, hi = interval_ends(level)
        if lo not in qs or hi not in qs:
            raise ValueError(f"The interval level {level} needs the quantiles {lo} and "
                             f"{hi}; these forecasts have {qs}.")
        lower, upper = pred[..., qs.index(lo)], pred[..., qs.index(hi)]
        name = level_name(level)
        out[f"coverage_{name}"] = float(np.mean((y >= lower) & (y <= upper)))
        out[f"width_{name}"] = float(np.mean(upper - lower))
    return out
