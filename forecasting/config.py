"""The forecasting config: `data`, `model` and `train` sections."""

import dataclasses
from typing import List, Optional

from pipelines.config import Config, TrainConfig, check

DATASETS = ("etth1", "pollution", "airline", "csv")
MODEL_KINDS = ("segrnn", "linear")
LOSSES = ("mse", "mae", "huber")


@dataclasses.dataclass
class DataConfig:
    """Args:
        dataset: etth1, pollution, airline or csv (any CSV at `path`).
        path: the CSV file for `dataset: csv`.
        columns: numeric columns to forecast (None: all numeric columns).
        time_column: time column of a CSV (None: first column if it is dates).
        missing: raise, interpolate or drop (missing values in the CSV).
        seasonality: season length in steps, for seasonal naive and MASE.
        past_covariates: columns known up to the forecast origin only (the
            weather of `pollution.csv`): inputs over the lookback, never
            forecast. Needs `columns`. `"name=value"` is the 0/1 indicator
            of one value of a categorical column (`"cbwd=NW"`).
        future_covariates: inputs known over the horizon too: columns of the
            CSV (a forecast the user has), or calendar features computed
            from the time column: hour_of_day, day_of_week, month_of_year,
            day_of_year. Needs `columns`.
    """

    dataset: str = "etth1"
    path: Optional[str] = None
    columns: Optional[List[str]] = None
    time_column: Optional[str] = None
    missing: str = "interpolate"
    seasonality: int = 24
    past_covariates: List[str] = dataclasses.field(default_factory=list)
    future_covariates: List[str] = dataclasses.field(default_factory=list)

    def validate(self):
        check(self.dataset in DATASETS, "data.dataset", self.dataset,
              f"must be one of {list(DATASETS)}")
        check(self.dataset != "csv" or bool(self.path), "data.path", self.path,
              "must name a CSV file when data.dataset is 'csv'")
        check(self.missing in ("raise", "interpolate", "drop"), "data.missing",
              self.missing, "must be one of ['raise', 'interpolate', 'drop']")
        check(self.seasonality >= 1, "data.seasonality", self.seasonality,
              "must be at least 1")
        covariates = list(self.past_covariates) + list(self.future_covariates)
        if covariates:
            check(bool(self.columns), "data.columns", self.columns,
                  "must name the columns to forecast when covariates are given")
            named = list(self.columns) + covariates
            twice = sorted({c for c in named if named.count(c) > 1})
            check(not twice, "data.past_covariates", self.past_covariates,
                  f"and data.future_covariates must not repeat a column ({twice})")


@dataclasses.dataclass
class ModelConfig:
    """Args:
        kind: segrnn (the recurrent model) or linear (a dense map).
        lookback, horizon: window lengths in steps.
        segment_length: SegRNN's segment length; divides lookback and horizon.
        units, cell_type, num_layers, dropout: the recurrent network.
        normalization: per-window normalisation: last, revin or none.
        loss: training loss of a point model: mse, mae or huber.
        quantiles: levels of a quantile head (e.g. `[0.1, 0.5, 0.9]`; it
            must include 0.5, the point forecast), trained with the pinball
            loss instead of `loss`; the quantiles never cross (they are
            sorted). None: a point model.
        cycle: a calendar covariate of `data.future_covariates` (e.g.
            hour_of_day for hourly rows) whose phase indexes a learned cycle
            per channel, one value per phase (24 for hour_of_day):
            CycleNet's residual cycle, subtracted from the lookback and
            added to the forecast. One row must be one step of it. None:
            no cycle.
        shared_decoder: SegRNN decodes with its encoder's GRU (one set of
            weights, as published) instead of a separate decoder layer;
            needs num_layers 1.
        query_stddev: initial spread of SegRNN's decoder queries (segment
            position and channel embeddings): 0.05 (Keras' normal) or 1.0
            (the published code's `torch.randn`).
    """

    kind: str = "segrnn"
    lookback: int = 96
    horizon: int = 96
    segment_length: int = 48
    units: int = 256
    cell_type: str = "gru"
    num_layers: int = 1
    dropout: float = 0.5
    normalization: str = "last"
    loss: str = "mae"
    quantiles: Optional[List[float]] = None
    shared_decoder: bool = False
    cycle: Optional[str] = None
    query_stddev: float = 0.05

    def validate(self):
        check(self.kind in MODEL_KINDS, "model.kind", self.kind,
              f"must be one of {list(MODEL_KINDS)}")
        check(self.lookback >= 1, "model.lookback", self.lookback, "must be at least 1")
        check(self.horizon >= 1, "model.horizon", self.horizon, "must be at least 1")
        if self.kind == "segrnn":
            check(self.segment_length >= 1 and self.lookback % self.segment_length == 0,
                  "model.lookback", self.lookback,
                  f"must be a multiple of model.segment_length={self.segment_length}")
            check(self.horizon % self.segment_length == 0, "model.horizon",
                  self.horizon,
                  f"must be a multiple of model.segment_length={self.segment_length}")
        check(self.units >= 2, "model.units", self.units, "must be at least 2")
        check(self.cell_type in ("gru", "lstm"), "model.cell_type", self.cell_type,
              "must be 'gru' or 'lstm'")
        check(self.num_layers >= 1, "model.num_layers", self.num_layers,
              "must be at least 1")
        check(0 <= self.dropout < 1, "model.dropout", self.dropout, "must be in [0, 1)")
        check(self.normalization in ("last", "revin", "none"), "model.normalization",
              self.normalization, "must be one of ['last', 'revin', 'none']")
        check(self.loss in LOSSES, "model.loss", self.loss, f"must be one of {list(LOSSES)}")
        check(self.query_stddev > 0, "model.query_stddev", self.query_stddev,
              "must be positive")
        check(not self.shared_decoder or self.num_layers == 1, "model.shared_decoder",
              self.shared_decoder, f"needs model.num_layers 1 (got {self.num_layers})")
        if self.quantiles is not None:
            q = self.quantiles
            check(len(q) >= 1 and all(0 < v < 1 for v in q), "model.quantiles", q,
                  "must be levels in (0, 1)")
            check(all(a < b for a, b in zip(q, q[1:])), "model.quantiles", q,
                  "must be in increasing order, each once")
            check(0.5 in q, "model.quantiles", q, "must include 0.5 (the point forecast)")


@dataclasses.dataclass
class IntervalConfig:
    """Prediction intervals, calibrated by split conformal prediction on the
    validation split after training (`forecasting.conformal`), for a point
    model and a quantile model alike.

    Args:
        levels: central interval levels to calibrate, e.g. `[0.8, 0.95]`
            (each adds the quantiles `(1 - level) / 2` and `(1 + level) / 2`
            to what the forecaster serves); empty: no calibration (a
            quantile model then serves its own quantiles as trained).
        rolling: how `evaluate` calibrates: 0, with the fixed offsets of the
            validation split; N > 0, each test window with the N most recent
            windows whose truth is known at its origin (the calibration
            series' end, then the evaluated series itself), recalibrated
            every `every` windows: how a deployment that recalibrates as the
            truth arrives performs. The export keeps the offsets of the last
            `calibrate` (the validation split after `fit`).
        every: windows between two recalibrations when `rolling` > 0.
    """

    levels: List[float] = dataclasses.field(default_factory=list)
    rolling: int = 0
    every: int = 24

    def validate(self):
        check(all(0 < v < 1 for v in self.levels), "intervals.levels", self.levels,
              "must be levels in (0, 1)")
        check(len(set(self.levels)) == len(self.levels), "intervals.levels", self.levels,
              "must not repeat a level")
        check(self.rolling >= 0, "intervals.rolling", self.rolling, "must be at least 0")
        check(self.every >= 1, "intervals.every", self.every, "must be at least 1")


def _default_train():
    return TrainConfig(epochs=30, batch_size=256, learning_rate=1e-3, patience=5,
                       lr_decay=0.9)


@dataclasses.dataclass
class ForecastingConfig(Config):
    """The whole forecasting run; see each section's fields."""

    name: str = "etth1"
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    intervals: IntervalConfig = dataclasses.field(default_factory=IntervalConfig)
    train: TrainConfig = dataclasses.field(default_factory=_default_train)

    def validate(self):
        super().validate()
        d = self.data
        check(self.model.kind == "segrnn" or not (d.past_covariates or d.future_covariates),
              "model.kind", self.model.kind, "must be 'segrnn' to take covariates")
        if self.model.cycle is not None:
            from forecasting.data import CALENDAR

            check(self.model.cycle in CALENDAR and self.model.cycle in d.future_covariates,
                  "model.cycle", self.model.cycle,
                  "must be a calendar covariate listed in data.future_covariates "
                  f"(one of {list(CALENDAR)})")
