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
