"""Baselines evaluated exactly as the neural model: same windows, same units.

All take standardised windows `x [n, lookback, C]` and return `[n, horizon, C]`.
"""

import numpy as np
from sklearn.linear_model import Ridge


def last_value(x, horizon):
    """Repeats the last observed value."""
    return np.repeat(x[:, -1:, :], horizon, axis=1)


def seasonal_naive(x, horizon, period):
    """Repeats the last full season: y[t+h] = y[t+h-period*k] (k >= 1)."""
    if x.shape[1] < period:
        raise ValueError(
            f"Seasonal naive needs a lookback of at least one season "
            f"({period}); got {x.shape[1]}."
        )
    season = x[:, -period:, :]
    reps = -(-horizon // period)
    return np.tile(season, (1, reps, 1))[:, :horizon]


class LinearLags:
    """A linear map from the lookback to the horizon (ridge regression),
    shared by all channels and fitted on last-value-normalised windows: the
    "plain linear map" that long-horizon papers (DLinear, NLinear) showed to
    beat many deep forecasters.

    Example:

    >>> x = np.random.rand(50, 8, 2); y = np.random.rand(50, 4, 2)
    >>> LinearLags().fit(x, y).predict(x).shape
    (50, 4, 2)
    """

    def __init__(self, alpha=1.0):
        self.alpha = alpha
        self.model = Ridge(alpha=alpha)

    @staticmethod
    def _rows(x):
        # [n, L, C] -> [n * C, L]
        return np.transpose(x, (0, 2, 1)).reshape(-1, x.shape[1])

    def fit(self, x, y):
        last = x[:, -1:, :]
        self.model.fit(self._rows(x - last), self._rows(y - last))
        return self

    def predict(self, x):
        n, _, c = x.shape
        last = x[:, -1:, :]
        out = self.model.predict(self._rows(x - last))
        return np.transpose(out.reshape(n, c, -1), (0, 2, 1)) + last
