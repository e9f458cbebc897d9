"""ETTh1 benchmark: the default forecasting config at horizons 96/192/336/720.

Lookback 96, multivariate (7 channels), standard 12/4/4-month split, test
metrics over every window (stride 1, none dropped), in standardised units,
printed beside the published numbers and our baselines on the same windows.

    PIPELINES_DATA_DIR=../shared/data python bench/forecasting_etth1.py \
        [--horizons 96 192 336 720] [--set train.epochs=20 ...]

Writes bench/results/forecasting_etth1.{json,md}.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from forecasting import data  # noqa: E402
from forecasting.config import ForecastingConfig  # noqa: E402
from forecasting.pipeline import Forecaster  # noqa: E402
from report import write_results  # noqa: E402  (bench/ is on the path)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# ../shared/data/README.md: MSE/MAE, lookback 96 (SegRNN repository table;
# the others from the iTransformer paper).
PUBLISHED = {
    96: {"SegRNN": (0.368, 0.395), "iTransformer": (0.386, 0.405),
         "PatchTST": (0.414, 0.419), "DLinear": (0.386, 0.400)},
    192: {"SegRNN": (0.408, 0.419), "iTransformer": (0.441, 0.436),
          "PatchTST": (0.460, 0.445), "DLinear": (0.437, 0.432)},
    336: {"SegRNN": (0.444, 0.440), "iTransformer": (0.487, 0.458),
          "PatchTST": (0.501, 0.466), "DLinear": (0.481, 0.459)},
    720: {"SegRNN": (0.446, 0.457), "iTransformer": (0.503, 0.491),
          "PatchTST": (0.500, 0.488), "DLinear": (0.519, 0.516)},
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=os.path.join(ROOT, "forecasting", "configs", "etth1.yaml"))
    parser.add_argument("--horizons", type=int, nargs="+", default=[96, 192, 336, 720])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--run-root", default=os.path.join(ROOT, "runs", "bench", "etth1"))
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args(argv)

    rows = []
    for horizon in args.horizons:
        cfg = ForecastingConfig.from_yaml(
            args.config, [*args.overrides, f"model.horizon={horizon}", f"name=etth1-h{horizon}"]
        )
        split = data.load_dataset("etth1", cfg.model.lookback, data_dir=args.data_dir)
        run_dir = os.path.join(args.run_root, f"h{horizon}")
        start = time.time()
        f = Forecaster(cfg).fit(split.train, split.val, run_dir=run_dir, columns=split.columns)
        train_s = time.time() - start
        test = f.evaluate(split.test)
        base = f.evaluate_baselines(split.train, split.test)
        n_windows = len(split.test) - cfg.model.lookback - horizon + 1
        rows.append({"horizon": horizon, "model": test, "baselines": base,
                     "train_seconds": train_s, "epochs": len(f.history),
                     "test_windows": n_windows})
        print(f"H={horizon}: {test} in {train_s:.0f}s, {len(f.history)} epochs; baselines {base}",
              flush=True)

    lines = [
        "| horizon | ours (SegRNN-style GRU) | linear (ours) | seasonal naive | last value | SegRNN | iTransformer | PatchTST | DLinear | train time |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        h = r["horizon"]
        fmt = lambda m: f"{m['mse']:.3f}/{m['mae']:.3f}"  # noqa: E731
        pub = PUBLISHED.get(h, {})
        pubs = [f"{pub[k][0]:.3f}/{pub[k][1]:.3f}" if k in pub else "-"
                for k in ("SegRNN", "iTransformer", "PatchTST", "DLinear")]
        lines.append(
            f"| {h} | **{fmt(r['model'])}** | {fmt(r['baselines']['linear'])} | "
            f"{fmt(r['baselines']['seasonal_naive'])} | {fmt(r['baselines']['last_value'])} | "
            + " | ".join(pubs) + f" | {r['train_seconds'] / 60:.1f} min ({r['epochs']} ep) |"
        )
    table = "\n".join(lines)
    print("\nETTh1, lookback 96, test MSE/MAE (standardised), every window:\n")
    write_results("forecasting_etth1", rows, table)


if __name__ == "__main__":
    main()
