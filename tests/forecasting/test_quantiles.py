"""Probabilistic forecasts: the quantile head, conformal intervals, their
metrics, plot and export."""

import json

import numpy as np
import pytest
import tensorflow as tf

from forecasting.config import ForecastingConfig
from forecasting.pipeline import Forecaster
from pipelines.config import ConfigError
from tests import harness


def _noisy(n=900, seed=0):
    """A 12-step season with noise of a known scale (0.5 on channel a)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n, dtype="float32")
    a = 10 + 3 * np.sin(2 * np.pi * t / 12) + rng.normal(scale=0.5, size=n)
    b = -5 + np.cos(2 * np.pi * t / 12) + rng.normal(scale=0.2, size=n)
    return np.stack([a, b], axis=1).astype("float32")


SMALL = dict(lookback=24, horizon=12, segment_length=12, units=32, dropout=0.0, epochs=8,
             batch_size=32, learning_rate=3e-3, patience=0, verbose=0, tensorboard=False)


@pytest.fixture(scope="module")
def quantile(tmp_path_factory):
    series = _noisy()
    f = Forecaster(quantiles=[0.1, 0.5, 0.9], **SMALL)
    f.config.intervals.levels = [0.8, 0.95]
    f.fit(series[:500], series[500 - 24:700], run_dir=tmp_path_factory.mktemp("q"),
          columns=["a", "b"])
    return f, series


def test_a_quantile_forecaster_learns_calibrated_intervals(quantile):
    f, series = quantile
    assert f.quantiles == [0.025, 0.1, 0.5, 0.9, 0.975] and f.levels == [0.8, 0.95]
    losses = [row["loss"] for row in f.history]
    assert losses[-1] < 0.5 * losses[0]  # the pinball loss
    assert f.calibration.windows == 224 - 24 - 12 + 1  # every validation window
    m = f.evaluate(series[700 - 24:])
    assert set(m) == {"mse", "mae", "mase", "wql", "crps", "coverage_80", "width_80",
                      "coverage_95", "width_95"}
    # Calibrated on other windows of the same process: near nominal.
    assert abs(m["coverage_80"] - 0.8) < 0.1 and abs(m["coverage_95"] - 0.95) < 0.06
    assert 0 < m["width_80"] < m["width_95"]


def test_predict_quantiles_and_levels(quantile):
    f, series = quantile
    history = series[:600]
    point = f.predict(history)
    q = f.predict(history, quantiles=f.quantiles)
    assert q.shape == (12, 2, 5) and q.dtype == np.float32
    assert (np.diff(q, axis=-1) >= 0).all()  # never cross
    np.testing.assert_allclose(q[..., 2], point, atol=1e-5)  # the median is the forecast
    intervals = f.predict(np.stack([history[-24:], history[-48:-24]]), levels=[0.95, 0.8])
    assert sorted(intervals) == [0.8, 0.95]
    lo, hi = intervals[0.8]
    assert lo.shape == (2, 12, 2)
    np.testing.assert_allclose(lo[0], q[..., 1], atol=1e-5)
    np.testing.assert_allclose(intervals[0.95][1][0], q[..., 4], atol=1e-5)
    # Original units: channel a's 80% interval is about 2 * 1.28 * 0.5 wide.
    assert 0.6 < float(np.mean(hi[..., 0] - lo[..., 0])) < 3.0


def test_bad_quantile_requests_name_the_problem(quantile):
    f, series = quantile
    with pytest.raises(ValueError) as e:
        f.predict(series[:600], quantiles=[0.3])
    assert str(e.value) == (
        "This forecaster cannot give quantiles=[0.3]; it serves the quantiles [0.025, 0.1, "
        "0.5, 0.9, 0.975] (calibrate(series, levels=...) adds interval levels).")
    with pytest.raises(ValueError, match=r"cannot give levels=\[0.5\]; it serves the interval "
                                         r"levels \[0.8, 0.95\]"):
        f.predict(series[:600], levels=[0.5])
    with pytest.raises(ValueError, match=r"^Pass quantiles= or levels=, not both\.$"):
        f.predict(series[:600], quantiles=[0.1], levels=[0.8])
    with pytest.raises(ConfigError) as e:
        ForecastingConfig.from_dict({}, ["model.quantiles=[0.1,0.9]"])
    assert str(e.value) == ("Config field 'model.quantiles' must include 0.5 (the point "
                            "forecast); got [0.1, 0.9].")
    with pytest.raises(ConfigError, match="must be in increasing order, each once"):
        ForecastingConfig.from_dict({}, ["model.quantiles=[0.9,0.5]"])
    with pytest.raises(ConfigError, match=r"'intervals.levels' must be levels in \(0, 1\)"):
        ForecastingConfig.from_dict({}, ["intervals.levels=[95]"])


def test_a_point_forecaster_gets_conformal_intervals():
    series = _noisy(seed=1)
    f = Forecaster(**SMALL).fit(series[:500], series[500 - 24:700])
    with pytest.raises(ValueError) as e:
        f.predict(series[:600], levels=[0.8])
    assert str(e.value) == (
        "This forecaster serves point forecasts only: train a quantile head "
        "(model.quantiles) or calibrate intervals (calibrate(series, levels=...) or "
        "intervals.levels).")
    with pytest.raises(ValueError, match="^Nothing to calibrate: this is a point forecaster"):
        f.calibrate(series[500 - 24:700])
    assert f.calibrate(series[500 - 24:700], levels=[0.8]) is f
    assert f.config.intervals.levels == [0.8] and f.quantiles == [0.1, 0.5, 0.9]
    m = f.evaluate(series[700 - 24:])
    assert abs(m["coverage_80"] - 0.8) < 0.1
    with pytest.raises(ValueError, match="too few for the quantile 0.0005"):
        f.calibrate(series[500 - 24:560], levels=[0.999])


def test_save_load_export_and_plot(quantile, tmp_path):
    f, series = quantile
    sample = np.stack([series[576:600], series[300:324]])
    g, outputs = harness.run_pipeline_test(
        f, series[:600], tmp_path, sample=sample,
        predict=lambda p, x: p.predict(x, quantiles=[0.025, 0.5, 0.975]))
    np.testing.assert_array_equal(g.calibration.offsets, f.calibration.offsets)
    assert outputs["quantiles"].shape == (2, 12, 2, 5)
    meta = json.load(open(tmp_path / "export" / "metadata.json"))
    assert meta["quantiles"] == [0.025, 0.1, 0.5, 0.9, 0.975]
    assert meta["intervals"] == {"levels": [0.8, 0.95],
                                 "calibration": "split conformal on the validation windows",
                                 "calibration_windows": f.calibration.windows}
    assert meta["serve"] == ("serve(history: float32 [batch, 24, 2]) -> {forecast: float32 "
                             "[batch, 12, 2], quantiles: float32 [batch, 12, 2, 5]}")
    loaded = tf.saved_model.load(str(tmp_path / "export"))
    q = loaded.serve(history=tf.constant(sample))["quantiles"].numpy()
    np.testing.assert_allclose(q[0], f.predict(sample[0], quantiles=f.quantiles), atol=1e-4)
    fig = f.plot(series[:600], truth=series[600:612])
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["history", "truth", "forecast", "95% interval", "80% interval"]
    assert len(fig.axes[0].collections) == 2


def test_predict_csv_and_batch_records_carry_the_quantiles(quantile, tmp_path):
    import pandas as pd

    from forecasting.batch import WindowReader
    from forecasting.task import TASK

    f, series = quantile
    csv = tmp_path / "window.csv"
    pd.DataFrame(series[:600], columns=["a", "b"]).to_csv(csv, index=False)
    lines = TASK.predict_lines(f, str(csv))
    header = lines[0].split(",")
    assert header[:3] == ["step", "a", "b"]
    assert header[3:8] == ["a_q0.025", "a_q0.1", "a_q0.5", "a_q0.9", "a_q0.975"]
    assert len(header) == 13 and len(lines) == 13
    frame = pd.read_csv(csv.parent / "window.csv").to_numpy("float32")
    q = f.predict(frame, quantiles=f.quantiles)
    np.testing.assert_allclose([float(v) for v in lines[1].split(",")[8:]], q[0, 1], rtol=1e-5)
    path = f.export(tmp_path / "export")
    meta = json.load(open(path + "/metadata.json"))
    sample = np.stack([series[576:600]])
    loaded = tf.saved_model.load(path)
    outputs = {k: v.numpy() for k, v in loaded.serve(history=tf.constant(sample)).items()}
    record = WindowReader(meta).answers(outputs, ["w"])[0]
    assert record["quantile_levels"] == f.quantiles
    np.testing.assert_allclose(record["quantiles"], q, atol=1e-4)


def test_rolling_calibration_follows_a_change_of_regime(tmp_path):
    # Noise 1.0 up to row 700 (training and validation), 0.3 after: fixed
    # offsets from the validation split over-cover the calm test period.
    rng = np.random.default_rng(3)
    t = np.arange(2000, dtype="float32")
    noise = np.where(t < 700, 1.0, 0.3) * rng.normal(size=t.shape)
    series = (10 + 3 * np.sin(2 * np.pi * t / 12) + noise)[:, None].astype("float32")
    f = Forecaster(**SMALL)
    f.config.intervals.levels = [0.8]
    f.fit(series[:500], series[500 - 24:700])
    test = series[700 - 24:]
    fixed = f.evaluate(test)
    f.config.intervals.rolling, f.config.intervals.every = 60, 6
    # Without the calibration series' end (kept by calibrate once rolling is
    # set) the first windows take the fixed offsets until 60 are known.
    alone = f.evaluate(test)
    f.calibrate(series[500 - 24:700])
    assert f.calibration_tail.shape == (60 + 24 + 12 - 1, 1)
    rolling = f.evaluate(test)
    assert fixed["coverage_80"] > 0.9
    assert abs(rolling["coverage_80"] - 0.8) < 0.04 and rolling["width_80"] < fixed["width_80"]
    assert rolling["mse"] == pytest.approx(fixed["mse"])
    assert abs(alone["coverage_80"] - 0.8) < 0.04 and alone["coverage_80"] != rolling["coverage_80"]
    # Saved and reloaded, it evaluates the same.
    g = Forecaster.load(f.save(tmp_path / "saved"))
    assert g.evaluate(test)["coverage_80"] == rolling["coverage_80"]


def test_a_finished_run_recalibrates_without_training(tmp_path):
    series = _noisy(seed=2)
    run = tmp_path / "run"
    f = Forecaster(**{**SMALL, "epochs": 2}).fit(series[:500], series[500 - 24:700], run_dir=run)
    g = Forecaster(**{**SMALL, "epochs": 2})
    g.config.intervals.levels, g.config.intervals.rolling = [0.8], 50
    g.fit(series[:500], series[500 - 24:700], run_dir=run)  # trains nothing more
    assert len(g.history) == 2 and g.levels == [0.8]
    np.testing.assert_allclose(g.predict(series[:600]), f.predict(series[:600]), atol=1e-6)
    with pytest.raises(ValueError, match="trained with a different config"):
        Forecaster(**{**SMALL, "epochs": 2, "units": 8}).fit(
            series[:500], series[500 - 24:700], run_dir=run)
