"""Forecasting's train/evaluate/export/predict: what the CLI and notebooks call."""

import os

import numpy as np
import pandas as pd

from forecasting import data
from forecasting.batch import WindowReader
from forecasting.config import ForecastingConfig
from forecasting.pipeline import Forecaster
from pipelines.task import Task


class ForecastingTask(Task):
    """`pipelines <command> forecasting`: ETTh1 (or any CSV) -> `Forecaster`."""

    name = "forecasting"
    config_class = ForecastingConfig
    default_config = os.path.join(os.path.dirname(__file__), "configs", "etth1.yaml")
    pipeline_class = Forecaster
    predictions_key = "forecast"
    batch_reader_class = WindowReader

    def load_splits(self, config, data_dir=None):
        d = config.data
        return data.load_dataset(
            d.dataset, config.model.lookback, data_dir=data_dir, path=d.path,
            columns=d.columns, time_column=d.time_column, missing=d.missing,
            past_covariates=d.past_covariates, future_covariates=d.future_covariates,
        )

    def fit(self, pipeline, splits, run):
        return pipeline.fit(splits.train, splits.val, run_dir=run.path, columns=splits.columns)

    def score(self, forecaster, splits):
        return {
            "val": forecaster.evaluate(splits.val),
            "test": forecaster.evaluate(splits.test),
            "test_baselines": forecaster.evaluate_baselines(splits.train, splits.test),
        }

    def export_sample(self, forecaster, splits, n=8):
        return forecaster.sample_windows(splits.test, n)

    def predict_lines(self, forecaster, input_path, skip_bad=False):
        """Forecasts from the last `lookback` rows of a CSV with the training
        columns: a CSV of `horizon` rows (`step` and the columns, then, for a
        forecaster that serves quantiles, `<column>_q<level>` for each). One
        CSV is one input: `skip_bad` has nothing to skip (a bad CSV is an
        error)."""
        if forecaster.has_covariates:
            # The forecast columns and past covariates from the CSV, the
            # (calendar) future covariates continued from its time column.
            window, future = data.read_window(
                input_path, forecaster.columns, forecaster.lookback, forecaster.horizon,
                forecaster.past_covariates, forecaster.future_covariates)
            read = forecaster.columns + forecaster.past_covariates
            history = np.zeros((len(window), len(forecaster.series_columns)), "float32")
            for j, c in enumerate(read):
                history[:, forecaster.series_columns.index(c)] = window[:, j]
        else:
            series = data.load_csv(input_path, columns=forecaster.columns, missing="raise")
            history, future = series.values, None
        forecast = forecaster.predict(history, future_covariates=future)
        frame = pd.DataFrame(np.asarray(forecast), columns=forecaster.columns)
        if forecaster.quantiles:
            q = forecaster.predict(history, quantiles=forecaster.quantiles,
                                   future_covariates=future)
            for c, column in enumerate(forecaster.columns):
                for j, level in enumerate(forecaster.quantiles):
                    frame[f"{column}_q{level:g}"] = q[:, c, j]
        frame.insert(0, "step", np.arange(1, len(frame) + 1))
        lines = frame.to_csv(index=False).splitlines()
        return (lines, []) if skip_bad else lines


TASK = ForecastingTask()
load_splits, train, evaluate, export, predict = (
    TASK.load_splits, TASK.train, TASK.evaluate, TASK.export, TASK.predict)
