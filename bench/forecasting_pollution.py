"""Pollution benchmark: PM2.5 24 hours ahead, with and without covariates.

`forecasting/configs/pollution.yaml` (lookback 96, horizon 24, the weather
as past covariates, hour / weekday / month as future ones) against the same
model and data without any covariate, beside seasonal naive (the same hour
yesterday) on the same test windows (every window, stride 1). MAE and MSE in
standardised units (PM2.5's training mean and deviation) and MAE in µg/m³.

    PIPELINES_DATA_DIR=../shared/data python bench/forecasting_pollution.py \\
        [--seeds 1 2 3] [--set train.epochs=20 ...]

Writes bench/results/forecasting_pollution.{json,md}.
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from forecasting.config import ForecastingConfig  # noqa: E402
from forecasting.pipeline import Forecaster  # noqa: E402
from forecasting.task import TASK  # noqa: E402
from report import write_results  # noqa: E402  (bench/ is on the path)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
VARIANTS = {
    "with covariates": [],
    "without covariates": ["data.past_covariates=[]", "data.future_covariates=[]"],
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=os.path.join(ROOT, "forecasting", "configs",
                                                         "pollution.yaml"))
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--run-root", default=os.path.join(ROOT, "runs", "bench", "pollution"))
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--seeds", type=int, nargs="+", default=None)
    args = parser.parse_args(argv)

    rows, lines = {}, []
    for variant, extra in VARIANTS.items():
        runs = []
        for seed in args.seeds or [None]:
            sets = [*args.overrides, *extra] + ([] if seed is None else [f"train.seed={seed}"])
            cfg = ForecastingConfig.from_yaml(args.config, sets)
            split = TASK.load_splits(cfg, args.data_dir)
            run_dir = os.path.join(args.run_root, variant.split()[0] + f"-s{cfg.train.seed}")
            start = time.time()
            f = Forecaster(cfg).fit(split.train, split.val, run_dir=run_dir,
                                    columns=split.columns)
            seconds = time.time() - start
            test = f.evaluate(split.test)
            test["mae_ug_m3"] = test["mae"] * float(f.scale[0])
            runs.append({"seed": cfg.train.seed, "test": test, "train_seconds": seconds,
                         "epochs": len(f.history)})
            print(variant, runs[-1], flush=True)
        base = f.evaluate_baselines(split.train, split.test)["seasonal_naive"]
        base["mae_ug_m3"] = base["mae"] * float(f.scale[0])
        rows[variant] = {"runs": runs, "seasonal_naive": base,
                         "columns": split.columns, "test_windows": len(f.windows(split.test)[1])}

    def stat(variant, key):
        values = [r["test"][key] for r in rows[variant]["runs"]]
        return np.mean(values), np.std(values)

    lines = ["| model | MAE | MSE | MAE (µg/m³) | train time |", "|---|---|---|---|---|"]
    for variant in VARIANTS:
        cells = []
        for key, fmt in (("mae", "{:.4f}"), ("mse", "{:.4f}"), ("mae_ug_m3", "{:.2f}")):
            mean, std = stat(variant, key)
            cells.append(fmt.format(mean) + (f" ± {fmt.format(std)}" if len(
                rows[variant]["runs"]) > 1 else ""))
        minutes = np.mean([r["train_seconds"] for r in rows[variant]["runs"]]) / 60
        lines.append(f"| SegRNN, {variant} | " + " | ".join(cells) + f" | {minutes:.1f} min |")
    base = rows["with covariates"]["seasonal_naive"]
    lines.append(f"| seasonal naive (24 h) | {base['mae']:.4f} | {base['mse']:.4f} | "
                 f"{base['mae_ug_m3']:.2f} | - |")
    gain = 1 - stat("with covariates", "mae")[0] / stat("without covariates", "mae")[0]
    lines.append(f"\nMAE with covariates {100 * gain:.1f}% lower than without.")
    seeds = sorted({r["seed"] for v in rows.values() for r in v["runs"]})
    print(f"\nPollution PM2.5, lookback 96, horizon 24, test windows, seeds {seeds}:\n")
    write_results("forecasting_pollution", {"variants": rows, "overrides": args.overrides},
                  "\n".join(lines), ensure_ascii=False)


if __name__ == "__main__":
    main()
