"""Recurrent time-series forecasting: SegRNN-style model, baselines, backtests."""

from pipelines import lazy_exports

__all__ = ["Forecaster"]
__getattr__ = lazy_exports(__name__, {"Forecaster": "forecasting.pipeline"})
