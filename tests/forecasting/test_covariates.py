"""Covariates: past ones (known up to the origin) and future ones (known
ahead: columns, or calendar features from the time column), in fit,
predict, evaluate, the export, the CLI's CSV and the batch reader."""

import json

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from forecasting import data
from forecasting.batch import WindowReader
from forecasting.config import ForecastingConfig
from forecasting.pipeline import Forecaster
from forecasting.task import TASK
from pipelines.config import ConfigError
from tests import harness

COLUMNS = ["y", "temp", "plan", "hour_of_day"]
SMALL = dict(lookback=24, horizon=12, segment_length=12, units=32, dropout=0.0, epochs=12,
             batch_size=32, learning_rate=3e-3, patience=0, verbose=0, tensorboard=False)


def _driven(n=900, seed=0):
    """`y` follows a `plan` known ahead (an AR(1) signal: not predictable
    from the past alone) plus a daily cycle; `temp` is a past covariate."""
    rng = np.random.default_rng(seed)
    plan = np.zeros(n)
    for t in range(1, n):
        plan[t] = 0.7 * plan[t - 1] + rng.normal()
    hour = np.arange(n) % 24
    y = 5 + 2 * plan + np.sin(2 * np.pi * hour / 24) + rng.normal(scale=0.1, size=n)
    temp = 20 + np.roll(plan, 1) + rng.normal(scale=0.1, size=n)
    return np.stack([y, temp, plan, hour], axis=1).astype("float32")


def _forecaster(**kw):
    f = Forecaster(**SMALL, **kw)
    f.config.data.columns = ["y"]
    f.config.data.past_covariates = ["temp"]
    f.config.data.future_covariates = ["plan", "hour_of_day"]
    return f


@pytest.fixture(scope="module")
def fitted():
    series = _driven()
    f = _forecaster().fit(series[:600], series[600 - 24:750], columns=COLUMNS)
    return f, series


def _future(series, start, horizon=12):
    return series[start:start + horizon, 2:4]


def test_future_covariates_are_learned(fitted):
    f, series = fitted
    assert f.columns == ["y"] and f.series_columns == COLUMNS
    assert f.model.future_covariates == 3  # plan, then hour as sine and cosine
    test = series[750 - 24:]
    with_cov = f.evaluate(test)
    plain = Forecaster(**SMALL).fit(series[:600, :1], series[600 - 24:750, :1])
    without = plain.evaluate(test[:, :1])
    # The plan drives y: knowing it ahead must cut the error by far.
    assert with_cov["mae"] < 0.5 * without["mae"], (with_cov, without)
    bt = f.backtest(test, stride=12)
    x, y = f.windows(test)
    assert set(x) == {"history", "past_covariates", "future_covariates"}
    np.testing.assert_allclose(
        bt["mse"].iloc[0],
        np.mean((f._predict_scaled({k: v[:1] for k, v in x.items()}) - y[:1]) ** 2), rtol=1e-4)


def test_predict_with_covariates(fitted):
    f, series = fitted
    one = f.predict(series[:600], future_covariates=_future(series, 600))
    assert one.shape == (12, 1) and one.dtype == np.float32
    batch = f.predict(np.stack([series[576:600], series[552:576]]),
                      future_covariates=np.stack([_future(series, 600), _future(series, 576)]))
    np.testing.assert_allclose(batch[0], one, atol=1e-5)
    # The same windows through evaluate's path.
    x, _ = f.windows(series[576:612])
    np.testing.assert_allclose(f._unscaled(f._predict_scaled(x))[0], one, atol=1e-4)


def test_bad_covariates_name_the_problem(fitted):
    f, series = fitted
    with pytest.raises(ValueError) as e:
        f.predict(series[:600])
    assert str(e.value) == ("This forecaster needs future_covariates, their values over the "
                            "12 forecast steps: [horizon, 2] for ['plan', 'hour_of_day'].")
    with pytest.raises(ValueError) as e:
        f.predict(series[:600], future_covariates=series[600:610, 2:4])
    assert str(e.value) == ("The future covariates have 10 steps for 1 windows; this "
                            "forecaster needs 12 (its horizon) for each of the 1.")
    with pytest.raises(ValueError, match=r"must be \[horizon, 2\] \(or \[batch, horizon, 2\]\) "
                                         r"for \['plan', 'hour_of_day'\]; got shape \(1, 12, 3\)"):
        f.predict(series[:600], future_covariates=series[600:612, 1:4])
    bad = _future(series, 600).copy()
    bad[4, 0] = np.nan
    with pytest.raises(ValueError) as e:
        f.predict(series[:600], future_covariates=bad)
    assert str(e.value) == ("The future covariates contain NaN or infinite values (first at "
                            "step 4, column 'plan').")
    history = series[:600].copy()
    history[590, 1] = np.inf
    with pytest.raises(ValueError, match=r"first at row 14, column 'temp'"):
        f.predict(history[-24:], future_covariates=_future(series, 600))
    with pytest.raises(ValueError) as e:
        _forecaster().fit(series[:600])
    assert str(e.value) == (
        "This forecaster takes the covariates ['temp', 'plan', 'hour_of_day']: pass columns= "
        "naming every column of the series, so that they can be found.")
    with pytest.raises(ValueError, match=r"The covariate column\(s\) \['temp'\] are not among "
                                         r"the series' columns \['y', 'TEMP', 'plan', "
                                         r"'hour_of_day'\]"):
        _forecaster().fit(series[:600], columns=["y", "TEMP", "plan", "hour_of_day"])
    with pytest.raises(ConfigError, match="'data.columns' must name the columns to forecast "
                                          "when covariates are given"):
        ForecastingConfig.from_dict({}, ["data.past_covariates=[temp]"])
    with pytest.raises(ConfigError, match="'model.kind' must be 'segrnn' to take covariates"):
        ForecastingConfig.from_dict({}, ["data.columns=[y]", "data.past_covariates=[t]",
                                         "model.kind=linear"])


def test_save_load_and_export(fitted, tmp_path):
    f, series = fitted
    sample = f.sample_windows(series[600 - 24:750], n=3)
    assert sample["history"].shape == (3, 24, 4) and sample["future_covariates"].shape == (3, 12, 2)
    g, outputs = harness.run_pipeline_test(
        f, (series[:600], _future(series, 600)), tmp_path, sample=sample,
        predict=lambda p, x: p.predict(x[0], future_covariates=x[1]))
    assert g.covariate_scaler == f.covariate_scaler and g.series_columns == COLUMNS
    meta = json.load(open(tmp_path / "export" / "metadata.json"))
    assert meta["inputs"]["past_covariates"]["columns"] == ["temp"]
    assert meta["inputs"]["future_covariates"]["columns"] == ["plan", "hour_of_day"]
    assert meta["serve"] == (
        "serve(history: float32 [batch, 24, 1], past_covariates: float32 [batch, 24, 1], "
        "future_covariates: float32 [batch, 12, 2]) -> {forecast: float32 [batch, 12, 1]}")
    loaded = tf.saved_model.load(str(tmp_path / "export"))
    feed = {"history": tf.constant(sample["history"][..., :1]),
            "past_covariates": tf.constant(sample["history"][..., 1:2])}
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"future_covariates must be float32 \[batch, 12, 2\]; got shape"):
        loaded.serve(**feed, future_covariates=tf.zeros((3, 10, 2)))
    future = sample["future_covariates"].copy()
    future[0, 0, 1] = np.nan
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match="future_covariates contains NaN or infinite values"):
        loaded.serve(**feed, future_covariates=tf.constant(future))


def test_calendar_covariates_from_csv_files(tmp_path):
    series = _driven(400)
    stamps = pd.date_range("2024-03-01", periods=len(series), freq="h")
    assert (stamps.hour == series[:, 3]).all()
    frame = pd.DataFrame({"time": stamps, "y": series[:, 0], "temp": series[:, 1]})
    csv = tmp_path / "all.csv"
    frame.to_csv(csv, index=False)
    split = data.load_dataset("csv", 24, path=str(csv), columns=["y"],
                              past_covariates=["temp"], future_covariates=["hour_of_day",
                                                                           "day_of_week"])
    assert split.columns == ["y", "temp", "hour_of_day", "day_of_week"]
    np.testing.assert_array_equal(split.train[:30, 2], stamps.hour[:30])
    assert split.train[0, 3] == 4  # 2024-03-01 is a Friday
    f = Forecaster(**{**SMALL, "epochs": 1})
    f.config.data.columns = ["y"]
    f.config.data.past_covariates = ["temp"]
    f.config.data.future_covariates = ["hour_of_day", "day_of_week"]
    f.fit(split.train, split.val, columns=split.columns)
    # The CLI's CSV: the calendar continues the file's time column.
    window = tmp_path / "window.csv"
    frame.iloc[:100].to_csv(window, index=False)
    lines = TASK.predict_lines(f, str(window))
    ahead = pd.date_range(stamps[99], periods=13, freq="h")[1:]
    future = np.stack([ahead.hour, ahead.dayofweek], axis=1)
    history = np.concatenate([series[76:100, :2], np.zeros((24, 2))], axis=1)
    want = f.predict(history, future_covariates=future)
    got = [float(line.split(",")[1]) for line in lines[1:]]
    np.testing.assert_allclose(got, want[:, 0], rtol=1e-5)
    # The batch reader builds the export's inputs from the same file.
    path = f.export(tmp_path / "export")
    reader = WindowReader(json.load(open(path + "/metadata.json")))
    feed = reader.read("window", str(window))
    np.testing.assert_array_equal(feed["future_covariates"], future)
    np.testing.assert_allclose(feed["past_covariates"][:, 0], series[76:100, 1], rtol=1e-6)
    with pytest.raises(ValueError, match=r"window.csv: column 'temp' not found"):
        frame[["time", "y"]].to_csv(window, index=False)
        reader.read("window", str(window))


def test_indicator_covariates_of_a_categorical_column(tmp_path):
    """`"name=value"` is the 0/1 indicator of one value of a text column,
    in training data and in the CLI's window alike; a value that never
    occurs, or a missing column, is one error naming it."""
    rng = np.random.default_rng(0)
    stamps = pd.date_range("2024-03-01", periods=200, freq="h")
    wind = rng.choice(["NW", "SE", "cv"], size=200)
    frame = pd.DataFrame({"time": stamps, "y": rng.normal(size=200), "wind": wind})
    csv = tmp_path / "all.csv"
    frame.to_csv(csv, index=False)
    split = data.load_dataset("csv", 24, path=str(csv), columns=["y"],
                              past_covariates=["wind=NW", "wind= cv"])
    assert split.columns == ["y", "wind=NW", "wind= cv"]
    n = len(split.train)
    np.testing.assert_array_equal(split.train[:, 1], (wind[:n] == "NW").astype("float32"))
    np.testing.assert_array_equal(split.train[:, 2], (wind[:n] == "cv").astype("float32"))
    window, _ = data.read_window(str(csv), ["y"], 24, 12, past_covariates=["wind=SE"])
    np.testing.assert_array_equal(window[:, 1], (wind[-24:] == "SE").astype("float32"))
    with pytest.raises(ValueError) as e:
        data.load_dataset("csv", 24, path=str(csv), columns=["y"], past_covariates=["wind=N"])
    assert str(e.value) == (f"{csv}: no row has the value of the indicator 'wind=N' "
                            "(column 'wind').")
    with pytest.raises(ValueError, match=r"column 'gust' \(of the indicator 'gust=NW'\) not "
                                         r"found; columns are \['time', 'y', 'wind'\]"):
        data.load_dataset("csv", 24, path=str(csv), columns=["y"], past_covariates=["gust=NW"])


def test_learned_cycle_learns_the_daily_shape(tmp_path):
    # A daily shape with a sharp morning peak, seen through windows of 12
    # hours: no window shows a whole day, the learned table does.
    rng = np.random.default_rng(1)
    n = 1200
    hour = np.arange(n) % 24
    shape = np.where((hour >= 7) & (hour < 10), 3.0, 0.0) + 0.05 * hour
    y = shape + np.cumsum(rng.normal(scale=0.02, size=n)) + rng.normal(scale=0.1, size=n)
    series = np.stack([y, hour], axis=1).astype("float32")
    small = dict(SMALL, lookback=12, horizon=12, epochs=8)

    def fitted(**kw):
        f = Forecaster(**small, **kw, columns=["y"], future_covariates=["hour_of_day"])
        return f.fit(series[:900], series[900 - 12:1000], columns=["y", "hour_of_day"])

    f = fitted(cycle="hour_of_day")
    assert (f.model.cycle_length, f.model.cycle_feature) == (24, 0)
    table = np.asarray(f.model.get_layer("cycle").table)[:, 0] * f.scale[0]
    # The table is the shape up to a constant (the window's last value
    # absorbs any shift).
    assert np.corrcoef(table, shape[:24])[0, 1] > 0.7
    test = series[1000 - 12:]
    with_cycle, without = f.evaluate(test)["mae"], fitted().evaluate(test)["mae"]
    assert with_cycle < 0.7 * without, (with_cycle, without)
    harness.run_pipeline_test(
        f, (series[:900], series[900:912, 1:]), tmp_path, sample=f.sample_windows(test, n=2),
        predict=lambda p, x: p.predict(x[0], future_covariates=x[1]))
    # The cycle's phase is read at the first forecast step and advanced one
    # per step: future hours with a gap are refused, in Python and in the
    # export, instead of forecasting the wrong hours' cycle (midnight wraps).
    history, hours = series[1000 - 12:1000], series[1000:1012, 1:].copy()
    assert hours[0, 0] == 16 and hours[-1, 0] == 3
    gap = hours.copy()
    gap[5:] += 1  # 21 -> 23
    with pytest.raises(ValueError, match=r"^model.cycle='hour_of_day' needs one step of "
                                         r"hour_of_day per forecast step: the future covariate "
                                         r"'hour_of_day' goes from 20 to 22 at step 5 \(window "
                                         r"0\); each step must add 1 \(mod 24\).$"):
        f.predict(history, future_covariates=gap)
    loaded = tf.saved_model.load(str(tmp_path / "export"))  # kept: serve needs its variables
    serve = loaded.serve
    np.testing.assert_allclose(serve(history=history[None, :, :1], future_covariates=hours[None])[
        "forecast"].numpy()[0], f.predict(history, future_covariates=hours), atol=1e-4)
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"model.cycle=hour_of_day needs one step of hour_of_day per "
                             r"forecast step: each step of the future covariate hour_of_day "
                             r"must add 1 \(mod 24\); got\] \[\[16 17 18 19 20 22 23 24"):
        serve(history=history[None, :, :1], future_covariates=gap[None])

    daily = series.copy()
    daily[:, 1] = 0  # one row per day, each at midnight
    with pytest.raises(ValueError, match=r"model.cycle='hour_of_day' needs one row per step "
                                         r"of hour_of_day \(period 24\): the training rows' "
                                         r"hour_of_day advances by \[0\] per row."):
        Forecaster(**small, cycle="hour_of_day", columns=["y"],
                   future_covariates=["hour_of_day"]).fit(daily, columns=["y", "hour_of_day"])
    with pytest.raises(ConfigError, match=r"'model.cycle' must be a calendar covariate listed "
                                          r"in data.future_covariates"):
        ForecastingConfig.from_dict({}, ["data.columns=[y]", "model.cycle=hour_of_day"])
