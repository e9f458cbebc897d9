"""Forecasting data: CSV loading, the ETTh1 split, pollution with gaps, windows.

Series are `float32` arrays `[time, channels]`. A split is three such arrays
in which `val` and `test` begin with the `lookback` rows before their first
target (taken from the previous part), so that *every* window of each array
is a valid evaluation window and none is dropped: the protocol of the
published ETTh1 results.
"""

import dataclasses
import logging
import os
import warnings
from typing import List, Optional

import numpy as np
import pandas as pd
import tensorflow as tf

from pipelines.data import Dataset, Splits, locate

log = logging.getLogger(__name__)

# Public homes of the datasets; the local data directory is searched first.
ETTH1 = Dataset(
    "ett/ETTh1.csv",
    url="https://raw.githubusercontent.com/zhouhaoyi/ETDataset/main/ETT-small/ETTh1.csv",
    sha256="f18de3ad269cef59bb07b5438d79bb3042d3be49bdeecf01c1cd6d29695ee066",
)
POLLUTION = Dataset(
    "timeseries/pollution.csv",
    url="https://archive.ics.uci.edu/ml/machine-learning-databases/00381/"
    "PRSA_data_2010.1.1-2014.12.31.csv",
    sha256="892e9559205d16d32623135c127a3951c12e46ea1e0b3093e107ce89a9fd60e2",
)
AIRLINE = Dataset(
    "timeseries/airline-passengers.csv",
    url="https://raw.githubusercontent.com/jbrownlee/Datasets/master/airline-passengers.csv",
    sha256="8cb51be753a718d9be5d76d7e238cc224792754676adc21faa59e954b0201621",
)

# ETTh1's standard borders: 12 / 4 / 4 months of hourly rows.
ETT_BORDERS = (12 * 30 * 24, 16 * 30 * 24, 20 * 30 * 24)

MISSING_POLICIES = ("raise", "interpolate", "drop")

#: Future covariates computed from the time column (known ahead for any
#: date): their raw values and periods. The model sees each as the sine and
#: cosine of its phase, so hour 23 lies next to hour 0.
CALENDAR = {
    "hour_of_day": 24,    # 0..23
    "day_of_week": 7,     # 0 = Monday .. 6
    "month_of_year": 12,  # 1..12
    "day_of_year": 366,   # 1..366
}


def calendar_values(index, name):
    """The raw calendar feature `name` (see `CALENDAR`) of datetime64 stamps."""
    stamps = pd.DatetimeIndex(index)
    values = {"hour_of_day": stamps.hour, "day_of_week": stamps.dayofweek,
              "month_of_year": stamps.month, "day_of_year": stamps.dayofyear}[name]
    return np.asarray(values, dtype="float32")


def calendar_features(values, name):
    """`[..., 2]`: sine and cosine of the phase of raw calendar values."""
    phase = 2 * np.pi * np.asarray(values, dtype="float32") / CALENDAR[name]
    return np.stack([np.sin(phase), np.cos(phase)], axis=-1).astype("float32")


@dataclasses.dataclass
class Series:
    """A multivariate series with its column names and time stamps."""

    values: np.ndarray  # float32 [time, channels]
    columns: List[str]
    index: Optional[np.ndarray] = None  # datetime64 [time]


class ContextSeries(np.ndarray):
    """A split's validation or test series, whose first `context` rows are
    the end of the previous split (context for the first window, never
    scored). A forecaster with another lookback warns when it gets one: its
    windows would score rows of the previous split, or skip rows of this one.
    Slices and results of arithmetic are plain arrays (no `context`).
    """

    def __new__(cls, values, context):
        obj = np.asarray(values).view(cls)
        obj.context = int(context)
        return obj

    def __array_finalize__(self, obj):
        self.context = None


def check_context(series, lookback, what):
    """Warns when `series` was cut with `context` rows for another lookback."""
    context = getattr(series, "context", None)
    if context is None or context == lookback:
        return
    effect = (f"its first {lookback - context} rows are never scored" if context < lookback
              else f"{context - lookback} rows of the previous split are scored as {what}")
    warnings.warn(
        f"The {what} series starts with {context} context rows (load_dataset(lookback="
        f"{context})) but the forecaster's lookback is {lookback}: {effect}. Load the "
        f"split with lookback={lookback}.", UserWarning, stacklevel=3)


@dataclasses.dataclass
class Split(Splits):
    """Train/val/test arrays (`pipelines.task.Splits`); val and test start
    with `lookback` context rows."""

    columns: List[str] = None
    lookback: int = 0


def load_csv(path, time_column=None, columns=None, missing="raise", max_gap=None):
    """Loads any CSV with a time column and numeric columns.

    Args:
        path: the CSV file.
        time_column: name of the time column (`None`: the first column if it
            parses as dates, else no time index). The tuple-like spec
            `"year,month,day,hour"` assembles the time from several columns.
        columns: the numeric columns to keep (`None`: every numeric column
            but the time column(s)). `"name=value"` is the indicator of one
            value of a categorical column (1.0 where `name` reads `value`,
            0.0 elsewhere, missing where it is empty), e.g. `"cbwd=NW"`
            for one wind direction of `pollution.csv`.
        missing: what to do with missing values (empty cells, `NA`):
            `"raise"` names the first one; `"interpolate"` fills gaps linearly
            in time (and drops leading/trailing rows that cannot be filled);
            `"drop"` removes rows with any missing value (this breaks the
            regular time step, so windows may straddle gaps).
        max_gap: with `"interpolate"`, the longest run of missing rows that may
            be filled; a longer gap raises an error naming it.

    Returns:
        A `Series`.
    """
    path = os.fspath(path)
    if missing not in MISSING_POLICIES:
        raise ValueError(
            f"Unknown missing-value policy {missing!r}; expected one of "
            f"{list(MISSING_POLICIES)}."
        )
    if not os.path.exists(path):
        raise FileNotFoundError(f"CSV file not found: {path}")
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path}: the CSV file is empty (no header and no rows).") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not a readable CSV file ({e}).") from None
    frame.columns = [str(c).strip() for c in frame.columns]

    index = None
    time_columns = []
    if time_column is not None:
        time_columns = [c.strip() for c in time_column.split(",")]
        for c in time_columns:
            if c not in frame.columns:
                raise ValueError(
                    f"{path}: time column {c!r} not found; columns are "
                    f"{list(frame.columns)}."
                )
        if len(time_columns) == 1:
            index = pd.to_datetime(frame[time_columns[0]], errors="coerce")
        else:
            parts = frame[time_columns].rename(columns=str.lower)
            index = pd.to_datetime(parts, errors="coerce")
        if index.isna().any():
            row = int(np.flatnonzero(index.isna().to_numpy())[0])
            raise ValueError(
                f"{path}: time column {time_column!r} does not parse as a date "
                f"at data row {row + 1}."
            )
    elif frame.shape[1] and not pd.api.types.is_numeric_dtype(frame[frame.columns[0]]):
        parsed = pd.to_datetime(frame[frame.columns[0]], errors="coerce")
        if parsed.notna().all():
            index, time_columns = parsed, [frame.columns[0]]

    if columns is None:
        columns = [
            c
            for c in frame.columns
            if c not in time_columns and pd.api.types.is_numeric_dtype(frame[c])
        ]
        if not columns:
            raise ValueError(f"{path}: no numeric columns found.")
    else:
        columns = list(columns)
        for c in columns:
            if c not in frame.columns and "=" in c:
                frame[c] = _indicator(frame, c, path)
            if c not in frame.columns:
                raise ValueError(
                    f"{path}: column {c!r} not found; columns are "
                    f"{list(frame.columns)}."
                )
            if not pd.api.types.is_numeric_dtype(frame[c]):
                bad = pd.to_numeric(frame[c], errors="coerce")
                bad_rows = np.flatnonzero(bad.isna() & frame[c].notna())
                if len(bad_rows):
                    row = int(bad_rows[0])
                    raise ValueError(
                        f"{path}: column {c!r} is not numeric (value "
                        f"{frame[c].iloc[row]!r} at data row {row + 1})."
                    )
                frame[c] = bad
    data = frame[columns].astype("float64")

    nan_rows = data.isna().any(axis=1).to_numpy()
    if nan_rows.any():
        if missing == "raise":
            row = int(np.flatnonzero(nan_rows)[0])
            col = [c for c in columns if pd.isna(data[c].iloc[row])][0]
            raise ValueError(
                f"{path}: missing value in column {col!r} at data row {row + 1} "
                f"({int(nan_rows.sum())} rows have gaps); choose "
                "missing='interpolate' or 'drop'."
            )
        if missing == "drop":
            keep = ~nan_rows
            log.info("%s: dropped %d rows with missing values", path, (~keep).sum())
        else:
            if max_gap is not None:
                for c in columns:
                    runs = _longest_run(data[c].isna().to_numpy())
                    if runs > max_gap:
                        raise ValueError(
                            f"{path}: column {c!r} has a gap of {runs} rows, "
                            f"longer than max_gap={max_gap}."
                        )
            data = data.interpolate(method="linear", limit_area="inside")
            keep = data.notna().all(axis=1).to_numpy()
            log.info(
                "%s: interpolated %d rows with gaps; dropped %d leading/trailing rows",
                path, int(nan_rows.sum()), int((~keep).sum()),
            )
        data = data[keep]
        if index is not None:
            index = index[keep]
    values = data.to_numpy(dtype="float32")
    return Series(
        values=values,
        columns=columns,
        index=None if index is None else index.to_numpy(),
    )


def _indicator(frame, spec, path):
    """The `"name=value"` indicator column of `load_csv`."""
    name, value = (part.strip() for part in spec.split("=", 1))
    if name not in frame.columns:
        raise ValueError(f"{path}: column {name!r} (of the indicator {spec!r}) not found; "
                         f"columns are {list(frame.columns)}.")
    source = frame[name]
    text = source.astype(str).str.strip()
    return (text == value).astype("float64").where(source.notna())


def check_indicators(series, path):
    """Every `"name=value"` column of a loaded training series must be 1
    somewhere: a value that never occurs is a typo, not a feature."""
    for i, c in enumerate(series.columns):
        if "=" in c and not np.any(series.values[:, i] == 1):
            raise ValueError(f"{path}: no row has the value of the indicator {c!r} "
                             f"(column {c.split('=', 1)[0].strip()!r}).")


def _longest_run(flags):
    best = run = 0
    for f in flags:
        run = run + 1 if f else 0
        best = max(best, run)
    return best


def split_by_borders(values, borders, lookback, columns):
    """Cuts `values` at `borders = (train_end, val_end, test_end)`; val and
    test reach back `lookback` rows into the previous part."""
    train_end, val_end, test_end = borders
    if len(values) < test_end:
        raise ValueError(
            f"The series has {len(values)} rows, fewer than the split needs "
            f"({test_end})."
        )
    return Split(
        train=values[:train_end],
        val=ContextSeries(values[train_end - lookback:val_end], lookback),
        test=ContextSeries(values[val_end - lookback:test_end], lookback),
        columns=list(columns),
        lookback=lookback,
    )


def split_by_fraction(values, lookback, columns, fractions=(0.7, 0.1, 0.2)):
    n = len(values)
    train_end = int(n * fractions[0])
    val_end = train_end + int(n * fractions[1])
    return split_by_borders(values, (train_end, val_end, n), lookback, columns)


def with_covariates(series, path, columns, past_covariates=(), future_covariates=()):
    """`series` (loaded with `columns + past + numeric future columns`) with
    the calendar future covariates appended as columns of raw values, in the
    order `columns, past_covariates, future_covariates`."""
    extra = [c for c in future_covariates if c in CALENDAR]
    if extra and series.index is None:
        raise ValueError(f"{path}: the future covariates {extra} are computed from the time "
                         "column, and this CSV has none (set data.time_column).")
    values = [series.values] + [calendar_values(series.index, c)[:, None] for c in extra]
    order = list(columns) + list(past_covariates) + list(future_covariates)
    loaded = series.columns + extra
    table = np.concatenate(values, axis=1)
    return Series(values=table[:, [loaded.index(c) for c in order]].astype("float32"),
                  columns=order, index=series.index)


def read_window(path, columns, lookback, horizon, past_covariates=(), future_covariates=()):
    """The forecast inputs of one CSV (the CLI's and the batch job's):
    its last `lookback` rows of `columns` and of the past covariates, and
    the future covariates of the `horizon` steps after it, which must be
    calendar ones: they are computed from the time column, continued at its
    last step. Missing values are refused, naming the column.

    Returns:
        `(window, future)`: raw `[lookback, C + P]` (`columns`, then the past
        covariates) and raw `[horizon, F]` (None without future covariates).
    """
    past, future = list(past_covariates), list(future_covariates)
    numeric = [c for c in future if c not in CALENDAR]
    if numeric:
        raise ValueError(
            f"{path}: the future covariates {numeric} are not calendar features, so a CSV "
            "of the past cannot give them; pass their values over the horizon to "
            "Forecaster.predict(future_covariates=...) or to the export's "
            "future_covariates input.")
    series = load_csv(path, columns=list(columns) + past, missing="raise")
    values = np.asarray(series.values, dtype="float32")
    if len(values) < lookback:
        raise ValueError(f"{path}: {len(values)} rows; the model needs the last "
                         f"{lookback} (its lookback).")
    window = values[-lookback:]
    if not np.isfinite(window).all():
        row = int(np.argwhere(~np.isfinite(window))[0][0]) + len(values) - lookback
        raise ValueError(f"{path}: an infinite value in row {row + 1} of the window.")
    if not future:
        return window, None
    if series.index is None or len(series.index) < 2:
        raise ValueError(f"{path}: the future covariates {future} are computed from the time "
                         "column, and this CSV has none (a first column of dates).")
    stamps = pd.DatetimeIndex(series.index)
    step = stamps[-1] - stamps[-2]
    ahead = stamps[-1] + step * np.arange(1, horizon + 1)
    return window, np.stack([calendar_values(ahead, c) for c in future], axis=1)


def load_dataset(name, lookback, data_dir=None, path=None, columns=None,
                 time_column=None, missing="interpolate", past_covariates=(),
                 future_covariates=()):
    """Loads a named dataset as a `Split` in original units.

    Args:
        name: `"etth1"` (standard 12/4/4-month split), `"pollution"` (UCI
            Beijing PM2.5, gaps interpolated, 70/10/20 split), `"airline"`,
            or `"csv"` (any CSV at `path`, 70/10/20 split).
        past_covariates, future_covariates: columns loaded beside the
            forecast `columns` (they must be given then): past ones are
            known up to the forecast origin, future ones ahead of it; a
            future covariate named in `CALENDAR` is computed from the time
            column. The split's arrays hold `columns`, then the past, then
            the future covariates (raw values), and `Split.columns` names
            them.
    """
    past, future = list(past_covariates or ()), list(future_covariates or ())
    if past or future:
        if not columns:
            raise ValueError("Covariates need data.columns, the columns to forecast.")
        numeric = [c for c in future if c not in CALENDAR]
        loaded = list(columns) + past + numeric
        series = _load_named(name, data_dir, path, loaded, time_column, missing)
        where = path if name == "csv" else name
        check_indicators(series, where)
        series = with_covariates(series, where, columns, past, future)
        return _split_named(name, series, lookback)
    series = _load_named(name, data_dir, path, columns, time_column, missing)
    return _split_named(name, series, lookback)


def _split_named(name, series, lookback):
    if name == "etth1":
        return split_by_borders(series.values, ETT_BORDERS, lookback, series.columns)
    return split_by_fraction(series.values, lookback, series.columns)


def _load_named(name, data_dir, path, columns, time_column, missing):
    if name == "etth1":
        return load_csv(locate(ETTH1, data_dir), time_column="date", columns=columns)
    if name == "pollution":
        series = load_csv(
            locate(POLLUTION, data_dir),
            time_column="year,month,day,hour",
            columns=columns or ["pm2.5", "DEWP", "TEMP", "PRES", "Iws", "Is", "Ir"],
            missing=missing,
        )
    elif name == "airline":
        series = load_csv(locate(AIRLINE, data_dir), time_column="Month", columns=columns)
    elif name == "csv":
        if not path:
            raise ValueError("Dataset 'csv' needs data.path, the CSV file to load.")
        series = load_csv(path, time_column=time_column, columns=columns, missing=missing)
    else:
        raise ValueError(
            f"Unknown dataset {name!r}; expected one of "
            "['etth1', 'pollution', 'airline', 'csv']."
        )
    return series


def check_enough_rows(values, lookback, horizon, what="series"):
    if len(values) < lookback + horizon:
        raise ValueError(
            f"The {what} has {len(values)} rows, too few for one window of "
            f"lookback {lookback} + horizon {horizon} = {lookback + horizon} rows."
        )


def window_arrays(values, lookback, horizon, stride=1):
    """All windows of `values` as numpy arrays `x [n, L, C]`, `y [n, H, C]`."""
    check_enough_rows(values, lookback, horizon)
    total = lookback + horizon
    n = (len(values) - total) // stride + 1
    view = np.lib.stride_tricks.sliding_window_view(values, total, axis=0)
    view = view[::stride][:n].transpose(0, 2, 1)  # [n, total, C]
    return view[:, :lookback], view[:, lookback:]


def window_inputs(values, lookback, horizon, past=None, future=None):
    """Every window (stride 1) of a target series and its covariates: `(x,
    y [n, H, C])`, `x` the history `[n, L, C]` alone, or, with covariates,
    `{"history", "past_covariates" [n, L, P], "future_covariates" [n, H,
    F]}` (`past` and `future` are `[time, ...]` arrays beside `values`)."""
    x, y = window_arrays(values, lookback, horizon)
    if past is None and future is None:
        return x, y
    inputs = {"history": x}
    if past is not None:
        inputs["past_covariates"] = window_arrays(past, lookback, horizon)[0]
    if future is not None:
        inputs["future_covariates"] = window_arrays(future, lookback, horizon)[1]
    return inputs, y


def window_dataset(values, lookback, horizon, batch_size, shuffle=False, seed=None,
                   past=None, future=None):
    """A `tf.data.Dataset` of `(x [b, L, C], y [b, H, C])` windows, stride 1
    (with covariates, `x` is the dict of `window_inputs`).

    Windows are cut on the fly from one copy of the series, so memory stays
    `O(time)` whatever the lookback and horizon.
    """
    check_enough_rows(values, lookback, horizon)
    values = tf.constant(np.asarray(values, dtype="float32"))
    past = None if past is None else tf.constant(np.asarray(past, dtype="float32"))
    future = None if future is None else tf.constant(np.asarray(future, dtype="float32"))
    n = int(values.shape[0]) - lookback - horizon + 1
    ds = tf.data.Dataset.range(n)
    if shuffle:
        ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)

    def cut(start):
        window = values[start:start + lookback + horizon]
        if past is None and future is None:
            return window[:lookback], window[lookback:]
        x = {"history": window[:lookback]}
        if past is not None:
            x["past_covariates"] = past[start:start + lookback]
        if future is not None:
            x["future_covariates"] = future[start + lookback:start + lookback + horizon]
        return x, window[lookback:]

    ds = ds.map(cut, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
