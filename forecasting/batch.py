"""Forecasting many series with an export, on Apache Beam (`pipelines
predict forecasting --engine beam`; see `pipelines.batch`).

Each CSV file is one input, read as `predict` reads it
(`forecasting.data.read_window` with the export's columns and past
covariates; a missing value is refused, naming it): its last `lookback` rows
are the window, and calendar future covariates continue its time column; a
file with fewer rows, or with an infinite value, is refused with the reason. Windows
all have the same shape: no bucketing. Its record is `{"input": path,
"columns": [...], "forecast": [[...] per step]}` in original units, with
`"quantiles": [[[...] per level] per column] per step]` and
`"quantile_levels"` when the export serves quantiles.
"""

import numpy as np

from forecasting import data
from pipelines.batch import BatchReader


class WindowReader(BatchReader):
    """CSV files -> `serve(history)`'s input; forecasts out.

    Args:
        metadata: the forecasting export's metadata (its `columns` and the
            lookback of its `history` input).
    """

    suffixes = (".csv",)

    def __init__(self, metadata):
        super().__init__(metadata)
        self.columns = list(metadata["columns"])
        self.lookback = int(metadata["inputs"]["history"]["shape"][1])
        self.quantiles = list(metadata.get("quantiles") or [])
        inputs = metadata["inputs"]
        self.horizon = int(metadata["outputs"]["forecast"]["shape"][1])
        self.past = list(inputs.get("past_covariates", {}).get("columns", []))
        self.future = list(inputs.get("future_covariates", {}).get("columns", []))

    def read(self, name, raw):
        window, future = data.read_window(raw, self.columns, self.lookback, self.horizon,
                                          self.past, self.future)
        c = len(self.columns)
        feed = {"history": window[:, :c]}
        if self.past:
            feed["past_covariates"] = window[:, c:]
        if future is not None:
            feed["future_covariates"] = future
        return feed

    def answers(self, outputs, examples):
        out = [{"columns": self.columns, "forecast": np.asarray(f).tolist()}
               for f in outputs["forecast"][:len(examples)]]
        if self.quantiles:
            for record, q in zip(out, outputs["quantiles"][:len(examples)]):
                record.update(quantile_levels=self.quantiles, quantiles=np.asarray(q).tolist())
        return out
