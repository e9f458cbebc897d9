"""Recurrent time-series forecasting: SegRNN-style model, baselines, backtests.

`from forecasting import Forecaster` works as usual; the import is lazy, so
that `python -m forecasting.train` can quiet TensorFlow's native logs before
TensorFlow loads.
"""


def __getattr__(name):
    if name == "Forecaster":
        from forecasting.pipeline import Forecaster

        return Forecaster
    raise AttributeError(f"module 'forecasting' has no attribute {name!r}")


__all__ = ["Forecaster"]
