"""ETTh1 benchmark: the default forecasting config at horizons 96/192/336/720.

Lookback 96, multivariate (7 channels), standard 12/4/4-month split, test
metrics over every window (stride 1, none dropped), in standardised units,
printed beside the published numbers and our baselines on the same windows.

    PIPELINES_DATA_DIR=../shared/data python bench/forecasting_etth1.py \
        [--horizons 96 192 336 720] [--seeds 1 2 3 4 5] [--set train.epochs=20 ...]

With several `--seeds`, each figure is the mean and standard deviation over
the seeds (one training each). A config that serves quantiles (a quantile
head, or `intervals.levels` on a point model) adds a probabilistic table:
test coverage and width of each interval level, weighted quantile loss and
CRPS (standardised units):

    PIPELINES_DATA_DIR=../shared/data python bench/forecasting_etth1.py \
        --config forecasting/configs/etth1_quantile.yaml --name forecasting_etth1_quantile
    PIPELINES_DATA_DIR=../shared/data python bench/forecasting_etth1.py \
        --set 'intervals.levels=[0.8,0.95]' --name forecasting_etth1_conformal

Writes bench/results/<name>.{json,md} (default name forecasting_etth1).
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from forecasting import data  # noqa: E402
from forecasting.config import ForecastingConfig  # noqa: E402
from forecasting.metrics import level_name  # noqa: E402
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
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="train.seed of each run (default: the config's, one run)")
    parser.add_argument("--name", default="forecasting_etth1",
                        help="results file name under bench/results")
    args = parser.parse_args(argv)

    rows = []
    for horizon in args.horizons:
        runs = []
        for seed in args.seeds or [None]:
            extra = [] if seed is None else [f"train.seed={seed}"]
            cfg = ForecastingConfig.from_yaml(
                args.config, [*args.overrides, *extra, f"model.horizon={horizon}",
                              f"name=etth1-h{horizon}"])
            d = cfg.data
            split = data.load_dataset("etth1", cfg.model.lookback, data_dir=args.data_dir,
                                      columns=d.columns, past_covariates=d.past_covariates,
                                      future_covariates=d.future_covariates)
            run_dir = os.path.join(args.run_root, f"h{horizon}" + ("" if seed is None
                                                                   else f"-s{seed}"))
            start = time.time()
            f = Forecaster(cfg).fit(split.train, split.val, run_dir=run_dir,
                                    columns=split.columns)
            train_s = time.time() - start
            test = f.evaluate(split.test)
            runs.append({"seed": cfg.train.seed, "model": test, "train_seconds": train_s,
                         "epochs": len(f.history)})
            print(f"H={horizon} seed={cfg.train.seed}: {test} in {train_s:.0f}s, "
                  f"{len(f.history)} epochs", flush=True)
        base = f.evaluate_baselines(split.train, split.test)
        n_windows = len(split.test) - cfg.model.lookback - horizon + 1
        rows.append({"horizon": horizon, "runs": runs, "model": _summary(runs),
                     "baselines": base, "levels": f.levels,
                     "train_seconds": float(np.mean([r["train_seconds"] for r in runs])),
                     "epochs": float(np.mean([r["epochs"] for r in runs])),
                     "test_windows": n_windows})
        print(f"H={horizon}: baselines {base}", flush=True)

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
            f"| {h} | **{_mean_std(r['model'], 'mse')}/{_mean_std(r['model'], 'mae')}** | "
            f"{fmt(r['baselines']['linear'])} | "
            f"{fmt(r['baselines']['seasonal_naive'])} | {fmt(r['baselines']['last_value'])} | "
            + " | ".join(pubs) + f" | {r['train_seconds'] / 60:.1f} min ({r['epochs']:g} ep) |"
        )
    seeds = sorted({run["seed"] for r in rows for run in r["runs"]})
    table = "\n".join(lines)
    levels = rows[0]["levels"]
    if levels:
        names = [level_name(v) for v in levels]
        head = (["horizon", "MSE", "MAE"] + [f"coverage {n}%" for n in names]
                + [f"width {n}%" for n in names] + ["wQL", "CRPS"])
        prob = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in rows:
            keys = (["mse", "mae"] + [f"coverage_{n}" for n in names]
                    + [f"width_{n}" for n in names] + ["wql", "crps"])
            prob.append(f"| {r['horizon']} | "
                        + " | ".join(_mean_std(r["model"], k) for k in keys) + " |")
        table += ("\n\nIntervals (standardised units; coverage is the share of test "
                  "values inside):\n\n" + "\n".join(prob))
    print(f"\nETTh1, lookback 96, test MSE/MAE (standardised), every window, seeds {seeds}"
          " (mean ± std when several):\n")
    write_results(args.name, rows, table)


def _summary(runs):
    """`{metric: [mean, std]}` over the runs (std 0 for one run)."""
    keys = runs[0]["model"].keys()
    return {k: [float(np.mean([r["model"][k] for r in runs])),
                float(np.std([r["model"][k] for r in runs]))] for k in keys}


def _mean_std(summary, key):
    mean, std = summary[key]
    # Over seeds the spread is a few 1e-4: four decimals, or it reads 0.000.
    return f"{mean:.4f} ± {std:.4f}" if std else f"{mean:.3f}"


if __name__ == "__main__":
    main()
