"""Recurrent time-series forecasting: SegRNN-style model, baselines, backtests."""

from forecasting.pipeline import Forecaster  # noqa: F401
