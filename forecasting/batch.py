"""Forecasting many series with an export, on Apache Beam (`pipelines
predict forecasting --engine beam`; see `pipelines.batch`).

Each CSV file is one input, read as `predict` reads it
(`forecasting.data.load_csv` with the export's columns; a missing value is
refused, naming it): its last `lookback` rows are the window; a file with
fewer rows, or with an infinite value, is refused with the reason. Windows
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

    def read(self, name, raw):
        series = data.load_csv(raw, columns=self.columns, missing="raise")
        values = np.asarray(series.values, dtype="float32")
        if len(values) < self.lookback:
            raise ValueError(f"{raw}: {len(values)} rows; the model needs the last "
                             f"{self.lookback} (its lookback).")
        window = values[-self.lookback:]
        if not np.isfinite(window).all():
            row = int(np.argwhere(~np.isfinite(window))[0][0]) + len(values) - self.lookback
            raise ValueError(f"{raw}: an infinite value in row {row + 1} of the window.")
        return {"history": window}

    def answers(self, outputs, examples):
        out = [{"columns": self.columns, "forecast": np.asarray(f).tolist()}
               for f in outputs["forecast"][:len(examples)]]
        if self.quantiles:
            for record, q in zip(out, outputs["quantiles"][:len(examples)]):
                record.update(quantile_levels=self.quantiles, quantiles=np.asarray(q).tolist())
        return out
