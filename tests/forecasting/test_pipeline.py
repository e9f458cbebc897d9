import json
import os

import numpy as np
import pytest
import tensorflow as tf

from forecasting import baselines, data
from forecasting.config import ForecastingConfig
from forecasting.metrics import forecast_metrics, seasonal_scale
from forecasting.pipeline import Forecaster
from pipelines.config import ConfigError
from tests import harness


def _series(n=700, channels=2, seed=0):
    """Two noisy seasonal channels (period 12) at different levels and scales."""
    rng = np.random.default_rng(seed)
    t = np.arange(n, dtype="float32")
    a = 10 + 3 * np.sin(2 * np.pi * t / 12)
    b = -5 + 0.5 * np.cos(2 * np.pi * t / 12) + 0.01 * t
    s = np.stack([a, b][:channels], axis=1) + rng.normal(scale=0.05, size=(n, channels))
    return s.astype("float32")


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    series = _series()
    f = Forecaster(
        lookback=24, horizon=12, segment_length=12, units=32, dropout=0.0,
        epochs=8, batch_size=32, learning_rate=3e-3, patience=0, verbose=0,
        tensorboard=False,
    )
    f.config.data.seasonality = 12
    run_dir = tmp_path_factory.mktemp("run")
    assert f.fit(series[:500], series[500 - 24:600], run_dir=run_dir, columns=["a", "b"]) is f
    return f, series, run_dir


def test_learns_a_seasonal_series(fitted):
    f, series, run_dir = fitted
    losses = [row["loss"] for row in f.history]
    assert len(losses) == 8 and losses[-1] < 0.5 * losses[0]
    test = series[600 - 24:]
    result = f.evaluate(test, baselines_too=True)
    assert set(result) >= {"mse", "mae", "mase", "last_value/mse", "seasonal_naive/mse"}
    # A 12-step season: the model must beat repeating the last value by far.
    assert result["mse"] < 0.3 * result["last_value/mse"]
    assert result["mase"] < 1.0
    base = f.evaluate_baselines(series[:500], test)
    assert set(base) == {"last_value", "seasonal_naive", "linear"}
    assert os.path.exists(os.path.join(run_dir, "history.csv"))


def test_predict_shapes_and_units(fitted):
    f, series, _ = fitted
    one = f.predict(series[:600])
    assert one.shape == (12, 2) and one.dtype == np.float32
    # Original units: channel a lives around 10, b around -5+.
    assert 5 < one[:, 0].mean() < 15 and -6 < one[:, 1].mean() < 2
    batch = f.predict(np.stack([series[576:600], series[552:576]]))
    assert batch.shape == (2, 12, 2)
    np.testing.assert_allclose(batch[0], one, atol=1e-5)


def test_bad_inputs_name_the_problem(fitted):
    f, series, _ = fitted
    bad = series[:24].copy()
    bad[5, 1] = np.nan
    with pytest.raises(ValueError) as e:
        f.predict(bad)
    assert str(e.value) == (
        "The history contains NaN or infinite values (first at row 5, channel 1); "
        "fill or drop them first."
    )
    with pytest.raises(ValueError) as e:
        f.predict(np.zeros((24, 3), "float32"))
    assert str(e.value) == "The history has 3 channels; this forecaster was fitted on 2 (['a', 'b'])."
    with pytest.raises(ValueError, match="The history has 10 rows; the model needs the last 24"):
        f.predict(series[:10])
    with pytest.raises(ValueError, match="too few for one window"):
        f.evaluate(series[:30])


def test_backtest_and_plot(fitted):
    f, series, _ = fitted
    bt = f.backtest(series[500:], stride=12)
    assert list(bt.columns) == ["origin", "mse", "mae"]
    assert bt["origin"].tolist() == list(range(24, 200 - 12 + 1, 12))
    x, y = f.windows(series[500:])
    np.testing.assert_allclose(bt["mse"].iloc[0], np.mean((f._predict_scaled(x[:1]) - y[:1]) ** 2), rtol=1e-5)
    fig = f.plot(series[:600], truth=series[600:612], channel="b")
    assert fig.axes[0].get_title() == "b: 12-step forecast"
    assert len(fig.axes[0].lines) == 4


def test_save_load_and_export(fitted, tmp_path):
    f, series, _ = fitted
    sample = np.stack([series[576:600], series[300:324]])
    bad = sample.copy()
    bad[0, 3, 0] = np.nan
    g, outputs = harness.run_pipeline_test(
        f, series[:600], tmp_path, sample=sample,
        bad_inputs=[(bad, ValueError, r"The history contains NaN or infinite values \(first at "
                                      r"row 3, channel 0\)")])
    assert g.columns == ["a", "b"]
    assert outputs["forecast"].dtype == tf.float32
    loaded = tf.saved_model.load(str(tmp_path / "export"))
    with pytest.raises(tf.errors.InvalidArgumentError, match="history contains NaN or infinite values"):
        loaded.serve(history=tf.constant(bad))
    # A wrong shape is one line naming the expected one (checked in the graph).
    for shape in ((1, 24, 3), (24, 2)):
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=r"history must be float32 \[batch, 24, 2\]; got shape"):
            loaded.serve(history=tf.zeros(shape))
    meta = json.load(open(tmp_path / "export" / "metadata.json"))
    assert meta["serve"] == ("serve(history: float32 [batch, 24, 2]) -> "
                             "{forecast: float32 [batch, 12, 2]}")


def test_baselines_on_known_inputs():
    x = np.arange(24, dtype="float32").reshape(1, 24, 1) % 6
    assert baselines.last_value(x, 4)[0, :, 0].tolist() == [5, 5, 5, 5]
    assert baselines.seasonal_naive(x, 8, 6)[0, :, 0].tolist() == [0, 1, 2, 3, 4, 5, 0, 1]
    t = np.arange(40, dtype="float32")
    xs = np.stack([t[i:i + 8] for i in range(28)])[..., None]
    ys = np.stack([t[i + 8:i + 12] for i in range(28)])[..., None]
    np.testing.assert_allclose(baselines.LinearLags(alpha=1e-6).fit(xs, ys).predict(xs), ys, atol=1e-3)


def test_metrics_on_known_inputs():
    y = np.zeros((2, 3, 2))
    p = np.ones((2, 3, 2))
    p[:, :, 1] = 3
    m = forecast_metrics(y, p, scale=np.array([1.0, 3.0]))
    assert m == {"mse": 5.0, "mae": 2.0, "mase": 1.0}
    np.testing.assert_allclose(seasonal_scale(np.arange(10.0)[:, None], 2), [2.0])


def test_config_errors():
    with pytest.raises(ConfigError) as e:
        ForecastingConfig.from_dict({}, ["model.horizon=100"])
    assert str(e.value) == (
        "Config field 'model.horizon' must be a multiple of model.segment_length=48; got 100."
    )
    with pytest.raises(ConfigError) as e:
        ForecastingConfig.from_dict({}, ["model.shared_decoder=true", "model.num_layers=2"])
    assert str(e.value) == (
        "Config field 'model.shared_decoder' needs model.num_layers 1 (got 2); got True."
    )
    with pytest.raises(ConfigError) as e:
        ForecastingConfig.from_dict({}, ["model.query_stddev=-1"])
    assert str(e.value) == "Config field 'model.query_stddev' must be positive; got -1.0."
    with pytest.raises(TypeError, match=r"Unknown Forecaster argument\(s\) \['horizn'\]"):
        Forecaster(horizn=3)


def test_first_hour_errors_name_the_problem(fitted, tmp_path):
    f, series, _ = fitted
    with pytest.raises(ValueError) as e:
        f.plot(series[:600], channel="Temp")
    assert str(e.value) == ("channel='Temp' is not a column of this forecaster; its columns "
                            "are ['a', 'b'].")
    with pytest.raises(ValueError, match=r"channel=5 is out of range: this forecaster has 2"):
        f.plot(series[:600], channel=5)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError) as e:
        data.load_csv(str(empty))
    assert str(e.value) == f"{empty}: the CSV file is empty (no header and no rows)."


def test_plot_labels_fit_in_the_figure(fitted):
    f, series, _ = fitted
    fig = f.plot(series[:600], truth=series[600:612], channel="a")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    box = fig.bbox
    for text in (fig.axes[0].title, fig.axes[0].xaxis.label, fig.axes[0].yaxis.label):
        extent = text.get_window_extent(renderer)
        assert box.x0 <= extent.x0 and extent.x1 <= box.x1
        assert box.y0 <= extent.y0 and extent.y1 <= box.y1


def test_a_split_for_another_lookback_warns():
    values = _series(400)
    split = data.split_by_fraction(values, 48, ["a", "b"])
    f = Forecaster(lookback=24, horizon=12, segment_length=12, units=8, epochs=1, verbose=0,
                   tensorboard=False, patience=0)
    with pytest.warns(UserWarning, match=r"starts with 48 context rows \(load_dataset\(lookback"
                                         r"=48\)\) but the forecaster's lookback is 24: 24 rows "
                                         r"of the previous split are scored as validation"):
        f.fit(split.train, split.val)
    with pytest.warns(UserWarning, match="scored as evaluation"):
        f.evaluate(split.test)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f.evaluate(split.test[48 - 24:])  # a slice is a plain array: no warning
