"""Split conformal calibration of forecast quantiles and intervals.

A trained forecaster (point or quantile) is turned into calibrated quantiles
at the levels asked for, on windows it was not trained on (the validation
split), as darts' conformal models and conformalised quantile regression
(Romano et al., 2019) do. For each served level `q`, one horizon step `h`
and one channel `c` at a time:

- the *base* forecast is the model's own quantile at `q` if it has one, else
  its nearest quantile on the same side of the median (a point model: the
  point forecast);
- the scores are the errors `y - base` on the `n` calibration windows;
- the calibrated quantile is `base + offset`, the offset being the
  `ceil((n + 1) q)`-th smallest score for `q > 0.5` and the
  `floor((n + 1) q)`-th for `q < 0.5`: then a new window falls above the
  upper (below the lower) end with probability at most `1 - q` (at most `q`),
  so the central interval between `(1 - level) / 2` and `(1 + level) / 2`
  covers it with probability at least `level` (for exchangeable windows;
  overlapping windows of one series are only approximately so, which the
  benchmark's test coverage measures).

The median is not calibrated: the served 0.5 quantile is the point forecast.

When the calibration period is harder or calmer than what follows (on ETTh1
the validation months' errors are about a third larger than the test
months'), fixed offsets over- or under-cover. `rolling_offsets` recalibrates
as the truth arrives instead, as darts' conformal models do with
`cal_length`: each forecast's offsets come from the `window` most recent
windows whose whole horizon is known at its origin (recomputed every
`every` origins), so no forecast uses a future value.

Example:

>>> import numpy as np

from forecasting.metrics import interval_ends
>>> rng = np.random.default_rng(0)
>>> y = rng.normal(size=(999, 1, 1)); point = np.zeros_like(y)
>>> cal = Calibration.fit(y, point, None, served=[0.05, 0.5, 0.95])
>>> [round(float(v), 2) for v in cal.offsets[:, 0, 0]]  # N(0, 1): about -1.64, 0, 1.64
[-1.57, 0.0, 1.52]
"""

import dataclasses
import math

import numpy as np

from forecasting.metrics import interval_ends


def central_levels(quantiles):
    """The central interval levels that pairs `(q, 1 - q)` of `quantiles`
    make: `[0.1, 0.5, 0.9] -> [0.8]`."""
    return sorted(round(1 - 2 * q, 10) for q in quantiles
                  if q < 0.5 and round(1 - q, 10) in quantiles)


def served_quantiles(model_quantiles, levels):
    """The quantile levels a forecaster serves: the model's own (if any),
    the two ends of each interval level, and the median; sorted."""
    qs = set(model_quantiles or [])
    for level in levels or []:
        qs |= set(interval_ends(level))
    return sorted(qs | {0.5}) if qs else []


def base_index(q, model_quantiles):
    """Which model output is the base of served quantile `q`: its index in
    `model_quantiles`, or that of the nearest model quantile on the same side
    of the median; None for a point model (the base is the point forecast)."""
    if not model_quantiles:
        return None
    if q in model_quantiles:
        return model_quantiles.index(q)
    side = [m for m in model_quantiles if (m < 0.5) == (q < 0.5) and m != 0.5]
    nearest = min(side or [0.5], key=lambda m: abs(m - q))
    return model_quantiles.index(nearest)


def base_forecasts(point, model_out, model_quantiles, served):
    """`[..., H, C, len(served)]`: the base of each served quantile (see
    `base_index`); `model_out` is the quantile model's output or None."""
    bases = []
    for q in served:
        i = base_index(q, model_quantiles)
        bases.append(point if i is None or q == 0.5 else model_out[..., i])
    return np.stack(bases, axis=-1)


def _rank(n, q):
    """The 1-based rank of the score that calibrates level `q` from `n`
    (out of 1..n when `n` is too small for `q`)."""
    return math.ceil((n + 1) * q) if q > 0.5 else math.floor((n + 1) * q)


@dataclasses.dataclass
class Calibration:
    """Conformal offsets of the served quantiles.

    Attributes:
        quantiles: the served levels, increasing.
        offsets: `[len(quantiles), horizon, channels]`, added to the bases
            (in standardised units); 0 for the median, and all zeros when
            nothing was calibrated.
        windows: how many calibration windows they came from (0: none).
    """

    quantiles: list
    offsets: np.ndarray
    windows: int = 0

    @classmethod
    def none(cls, served, horizon, channels):
        """No calibration: the served quantiles are the model's own."""
        return cls(list(served), np.zeros((len(served), horizon, channels), "float32"), 0)

    @classmethod
    def fit(cls, y, point, model_out, served, model_quantiles=None):
        """Offsets from calibration windows: truth `y` and `point` forecasts
        `[n, H, C]`, the quantile model's output `[n, H, C, Q]` (or None).

        Raises:
            ValueError: when there are too few windows for a level (the
                extreme levels need `n >= 1 / min(q, 1 - q) - 1`).
        """
        y = np.asarray(y, "float64")
        n = len(y)
        base = base_forecasts(point, model_out, model_quantiles, served)
        offsets = np.zeros((len(served),) + y.shape[1:], "float32")
        for j, q in enumerate(served):
            if q == 0.5:
                continue
            rank = _rank(n, q)
            if not 1 <= rank <= n:
                raise ValueError(
                    f"{n} calibration windows are too few for the quantile {q}: split "
                    f"conformal needs at least {math.ceil(1 / min(q, 1 - q)) - 1}; use a "
                    "longer validation series or a less extreme level.")
            scores = np.sort(y - base[..., j], axis=0)
            offsets[j] = scores[rank - 1]
        return cls(list(served), offsets, n)

    def offsets_at(self, pool):
        """Offsets `[Q, H, C]` from a pool of scores `[n, H, C, Q]` (the
        fixed offsets where the pool is too small for a level's rank)."""
        n = len(pool)
        offsets = self.offsets.copy()
        for j, q in enumerate(self.quantiles):
            rank = _rank(n, q)
            if q != 0.5 and 1 <= rank <= n:
                offsets[j] = np.partition(pool[..., j], rank - 1, axis=0)[rank - 1]
        return offsets

    def apply(self, point, model_out, model_quantiles):
        """Calibrated quantiles `[..., H, C, Q]` (sorted on the last axis,
        so they never cross), in the units of the inputs' scaled space."""
        base = base_forecasts(point, model_out, model_quantiles, self.quantiles)
        return np.sort(base + np.moveaxis(self.offsets, 0, -1), axis=-1)

    def apply_rolling(self, y, point, model_out, model_quantiles, first, window, every):
        """Calibrated quantiles `[n - first, H, C, Q]` of the windows `first:`
        of one continuous series (truth `y`, forecasts `point`, `model_out`
        of all its windows `[n, ...]`, stride 1), each from the scores of the
        `window` latest windows whose horizon ends by its origin
        (recalibrated every `every` windows; the fixed offsets while fewer
        are known)."""
        horizon = y.shape[1]
        base = base_forecasts(point, model_out, model_quantiles, self.quantiles)
        scores = (np.asarray(y, "float32")[..., None] - base).astype("float32")
        out = np.empty(base[first:].shape, "float32")
        for start in range(first, len(y), every):
            # Window k's horizon ends at row k + lookback + horizon: known at
            # the origin of window `start` when k <= start - horizon.
            known = max(0, start - horizon + 1)
            offsets = self.offsets_at(scores[max(0, known - window):known])
            stop = min(start + every, len(y))
            out[start - first:stop - first] = (base[start:stop]
                                               + np.moveaxis(offsets, 0, -1))
        return np.sort(out, axis=-1)

    def to_dict(self):
        return {"quantiles": self.quantiles, "offsets": self.offsets.tolist(),
                "windows": self.windows}

    @classmethod
    def from_dict(cls, state):
        return cls(list(state["quantiles"]), np.asarray(state["offsets"], "float32"),
                   int(state["windows"]))
