"""Forecasting's train/evaluate/export/predict: what the CLI and notebooks call."""

import logging
import os

import numpy as np
import pandas as pd

from forecasting import data
from forecasting.config import ForecastingConfig
from forecasting.pipeline import Forecaster
from pipelines import training

NAME = "forecasting"
Config = ForecastingConfig
DEFAULT_CONFIG = os.path.join(os.path.dirname(__file__), "configs", "etth1.yaml")

log = logging.getLogger(__name__)


def load_split(config, data_dir=None):
    d = config.data
    return data.load_dataset(
        d.dataset, config.model.lookback, data_dir=data_dir, path=d.path,
        columns=d.columns, time_column=d.time_column, missing=d.missing,
    )


def _export_sample(forecaster, split, n=8):
    x, _ = data.window_arrays(split.test, forecaster.lookback, forecaster.horizon)
    return x[:: max(1, len(x) // n)][:n]


def _evaluate(forecaster, split, run):
    metrics = {
        "val": forecaster.evaluate(split.val),
        "test": forecaster.evaluate(split.test),
        "test_baselines": forecaster.evaluate_baselines(split.train, split.test),
    }
    return run.write_metrics(metrics)


def train(config, run_dir, data_dir=None):
    """Trains, evaluates and exports; returns where everything went."""
    run = training.RunDir(run_dir)
    split = load_split(config, data_dir)
    forecaster = Forecaster(config).fit(split.train, split.val, run_dir=run.path,
                                        columns=split.columns)
    forecaster.save(run.model)
    metrics = _evaluate(forecaster, split, run)
    forecaster.export(run.export, sample=_export_sample(forecaster, split))
    return {
        "run_dir": run.path,
        "config": run.config,
        "history": run.history,
        "checkpoints": run.checkpoints,
        "model": run.model,
        "export": run.export,
        "metrics_file": run.metrics,
        "test": metrics["test"],
        "test_baselines": metrics["test_baselines"],
    }


def _load(run):
    return Forecaster.load(run.trained_model("forecasting"))


def evaluate(config, run_dir, data_dir=None):
    run = training.RunDir(run_dir)
    forecaster = _load(run)
    split = load_split(forecaster.config, data_dir)
    return _evaluate(forecaster, split, run)


def export(config, run_dir, data_dir=None, export_dir=None):
    run = training.RunDir(run_dir)
    forecaster = _load(run)
    split = load_split(forecaster.config, data_dir)
    path = forecaster.export(export_dir or run.export, sample=_export_sample(forecaster, split))
    return {"export": path}


def predict(config, run_dir, data_dir, input_path, output_path=None):
    """Forecasts from the last `lookback` rows of a CSV with the training
    columns; writes a CSV of `horizon` rows (stdout if no output path)."""
    run = training.RunDir(run_dir)
    forecaster = _load(run)
    series = data.load_csv(input_path, columns=forecaster.columns, missing="raise")
    forecast = forecaster.predict(series.values)
    frame = pd.DataFrame(np.asarray(forecast), columns=forecaster.columns)
    frame.insert(0, "step", np.arange(1, len(frame) + 1))
    if output_path:
        frame.to_csv(output_path, index=False)
        return {"forecast": os.path.abspath(output_path)}
    print(frame.to_csv(index=False), end="")
    return None
