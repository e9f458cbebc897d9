"""The CLI and `python -m forecasting.train`, end to end on ETTh1 (tiny)."""

import json
import os

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from tests import harness
from tests.harness import run_module as run

ROOT = harness.ROOT
TINY = os.path.join(ROOT, "forecasting", "configs", "tiny.yaml")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, ):
    data_dir = os.environ["PIPELINES_DATA_DIR"]
    if not os.path.isdir(data_dir):
        pytest.skip("no data directory")
    run_dir = tmp_path_factory.mktemp("cli") / "run"
    result = run(["-m", "forecasting.train", "--config", TINY, "--data-dir", data_dir,
                  "--run-dir", str(run_dir), "--set", "train.epochs=2"])
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir, json.loads(result.stdout[result.stdout.index("{"):]), data_dir


def test_train_writes_the_run_directory(trained):
    run_dir, summary, _ = trained
    for name in ("config.yaml", "checkpoints", "logs", "history.csv", "metrics.json",
                 "model", "export"):
        assert os.path.exists(run_dir / name), name
    history = pd.read_csv(run_dir / "history.csv")
    assert history["epoch"].tolist() == [1, 2]  # as Keras prints them
    metrics = json.load(open(run_dir / "metrics.json"))
    assert set(metrics["test"]) == {"mse", "mae", "mase"}
    assert summary["export"] == str(run_dir / "export")
    # Even a 2-epoch tiny model beats repeating the last value on ETTh1.
    assert metrics["test"]["mse"] < metrics["test_baselines"]["last_value"]["mse"]
    assert "train:\n  epochs: 2" in open(run_dir / "config.yaml").read()


def test_export_serves_original_units(trained):
    run_dir, _, data_dir = trained
    frame = pd.read_csv(os.path.join(data_dir, "ett", "ETTh1.csv"))
    history = frame.iloc[-48:, 1:].to_numpy("float32")[None]
    loaded = tf.saved_model.load(str(run_dir / "export"))
    forecast = loaded.serve(history=tf.constant(history))["forecast"].numpy()
    assert forecast.shape == (1, 24, 7)
    # Original units: the oil temperature (OT) stays near its recent level.
    assert abs(forecast[0, :, 6].mean() - history[0, -24:, 6].mean()) < 10


def test_umbrella_cli_evaluate_predict_export(trained, tmp_path):
    run_dir, _, data_dir = trained
    common = ["--config", TINY, "--data-dir", data_dir, "--run-dir", str(run_dir)]
    result = run(["-m", "pipelines.cli", "evaluate", "forecasting", *common])
    assert result.returncode == 0, result.stderr[-3000:]
    assert "test_baselines" in result.stdout

    frame = pd.read_csv(os.path.join(data_dir, "ett", "ETTh1.csv")).iloc[-100:]
    frame.to_csv(tmp_path / "recent.csv", index=False)
    out = tmp_path / "forecast.csv"
    result = run(["-m", "pipelines.cli", "predict", "forecasting", *common,
                  "--input", str(tmp_path / "recent.csv"), "--output", str(out)])
    assert result.returncode == 0, result.stderr[-3000:]
    forecast = pd.read_csv(out)
    assert list(forecast.columns) == ["step", "HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"]
    assert len(forecast) == 24 and np.isfinite(forecast.to_numpy()).all()

    result = run(["-m", "pipelines.cli", "export", "forecasting", *common,
                  "--export-dir", str(tmp_path / "exp")])
    assert result.returncode == 0, result.stderr[-3000:]
    assert os.path.exists(tmp_path / "exp" / "saved_model.pb")


def test_cli_config_errors_are_one_line(tmp_path):
    result = run(["-m", "forecasting.train", "--config", TINY, "--run-dir", str(tmp_path / "r"),
                  "--set", "model.horizn=3"])
    assert result.returncode == 2
    # A typo in --set is reported against the override, not the YAML file,
    # and it is the only line on stderr (no native TensorFlow log lines).
    assert result.stderr.strip().splitlines() == [
        "error: --set model.horizn=3: Unknown config field 'model.horizn'. Did you mean "
        "'model.horizon'? Known fields here: cell_type, cycle, dropout, horizon, kind, "
        "lookback, loss, normalization, num_layers, quantiles, query_stddev, segment_length, "
        "shared_decoder, units."
    ]
    bad = tmp_path / "bad.yaml"
    bad.write_text(open(TINY).read().replace("horizon:", "horizn:"))
    result = run(["-m", "forecasting.train", "--config", str(bad), "--run-dir", str(tmp_path / "r")])
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(
        f"error: {bad}: Unknown config field 'model.horizn'.")
    result = run(["-m", "pipelines.cli", "train", "speeech"])
    assert result.returncode == 2
    assert "Unknown domain 'speeech'; available: ['forecasting', 'speech', 'text', 'vision_caption']." in result.stderr


def test_later_commands_use_what_the_run_recorded(trained, tmp_path):
    run_dir, _, data_dir = trained
    assert json.load(open(run_dir / "run.json")) == {"data_dir": os.path.abspath(data_dir)}
    assert os.path.exists(run_dir / "export_sample.npz")
    # No --data-dir and no PIPELINES_DATA_DIR: the run's own data directory.
    env = {k: v for k, v in os.environ.items() if k != "PIPELINES_DATA_DIR"}
    result = run(["-m", "pipelines.cli", "evaluate", "forecasting", "--run-dir", str(run_dir)],
                 env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "INFO pipelines.task: Evaluating the Forecaster of" in result.stderr
    # The export needs no data at all: the run stored its verification sample.
    nowhere = tmp_path / "nowhere"
    result = run(["-m", "pipelines.cli", "export", "forecasting", "--run-dir", str(run_dir),
                  "--data-dir", str(nowhere), "--export-dir", str(tmp_path / "exp")], env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert not nowhere.exists()
    assert "and checking the export in a fresh process" in result.stderr
    assert f"INFO pipelines.task: Export verified: {tmp_path / 'exp'}" in result.stderr


def test_evaluate_honours_data_overrides_and_refuses_model_changes(trained, tmp_path):
    run_dir, _, data_dir = trained
    before = json.load(open(run_dir / "metrics.json"))["test"]
    result = run(["-m", "pipelines.cli", "evaluate", "forecasting", "--run-dir", str(run_dir),
                  "--set", "model.units=8"])
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: `evaluate` on a trained run can change only data.* fields (the model is the "
        "one trained); refused: model.units: 32 -> 8. Train a new run to change them."]
    # Another CSV (here ETTh1's last year, by the csv loader's 70/10/20
    # split): evaluated, and the metrics say so.
    frame = pd.read_csv(os.path.join(data_dir, "ett", "ETTh1.csv")).iloc[-8760:]
    frame.to_csv(tmp_path / "last_year.csv", index=False)
    result = run(["-m", "pipelines.cli", "evaluate", "forecasting", "--run-dir", str(run_dir),
                  "--set", "data.dataset=csv", "--set", f"data.path={tmp_path / 'last_year.csv'}"])
    assert result.returncode == 0, result.stderr[-3000:]
    after = json.load(open(run_dir / "metrics.json"))["test"]
    assert after["mse"] != before["mse"]
