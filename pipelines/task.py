"""`Task`: the CLI contract of a domain, and its one `train / evaluate /
export / predict`.

Each domain's `task.py` subclasses `Task`, names its config class, default
config and pipeline class, and fills in four hooks:

    load_splits(config, data_dir)        -> Splits(train, val, test)
    score(pipeline, splits)              -> {"test": {...}, ...} for metrics.json
    export_sample(pipeline, splits)      -> the inputs an export is verified on
    predict_lines(pipeline, input_path)  -> the output lines of `predict`

`pipelines train|evaluate|export|predict <domain>` (and `python -m
<domain>.train`) call the methods below on the domain's `TASK`, and so can a
notebook: `from forecasting.task import TASK; TASK.train(config, "runs/x")`.

Example:

>>> from pipelines import registry
>>> task = registry.get_task("forecasting")
>>> task.name, task.pipeline_class.__name__
('forecasting', 'Forecaster')
"""

import os

from pipelines import training
from pipelines.data import Splits  # noqa: F401  (what `load_splits` returns)


class Task:
    """The train / evaluate / export / predict of one domain.

    Attributes:
        name: the domain's name on the command line (`pipelines train NAME`).
        config_class: its config (`from_yaml(path, overrides)`).
        default_config: the YAML used when no `--config` is given.
        pipeline_class: the `pipelines.pipeline.Pipeline` subclass it trains.
        predictions_key: the key of `predict`'s summary naming its output.
    """

    name = None
    config_class = None
    default_config = None
    pipeline_class = None
    predictions_key = "predictions"

    # ---------------------------------------------------------------- hooks
    def load_splits(self, config, data_dir=None):
        raise NotImplementedError

    def score(self, pipeline, splits):
        """Metrics of the trained pipeline (`metrics.json`'s sections); by
        default its `evaluate` on the test split."""
        return {"test": pipeline.evaluate(splits.test)} if splits.test else {}

    def export_sample(self, pipeline, splits):
        raise NotImplementedError

    def predict_lines(self, pipeline, input_path):
        raise NotImplementedError

    def fit(self, pipeline, splits, run):
        """Trains `pipeline` on the splits in the run directory."""
        return pipeline.fit(splits.train, splits.val, run_dir=run.path)

    # ------------------------------------------------------------- commands
    def pipeline_for(self, config):
        return self.pipeline_class(config)

    def load(self, run):
        """The pipeline a run directory saved (one clear error if none)."""
        return self.pipeline_class.load(run.trained_model(self.name))

    def train(self, config, run_dir, data_dir=None):
        """Trains, evaluates and exports; returns where everything went and
        the metrics."""
        run = training.RunDir(run_dir)
        splits = self.load_splits(config, data_dir)
        pipeline = self.fit(self.pipeline_for(config), splits, run)
        pipeline.save(run.model)
        metrics = run.write_metrics(self.score(pipeline, splits))
        pipeline.export(run.export, sample=self.export_sample(pipeline, splits))
        summary = {"run_dir": run.path, "config": run.config, "history": run.history,
                   "checkpoints": run.checkpoints, "model": run.model, "export": run.export,
                   "metrics_file": run.metrics}
        summary.update(metrics)
        return summary

    def evaluate(self, config, run_dir, data_dir=None):
        """Scores the run's saved pipeline again; returns (and stores) the
        metrics."""
        run = training.RunDir(run_dir)
        pipeline = self.load(run)
        splits = self.load_splits(pipeline.config, data_dir)
        return run.write_metrics(self.score(pipeline, splits))

    def export(self, config, run_dir, data_dir=None, export_dir=None):
        """Exports the run's saved pipeline (verified on the export sample)."""
        run = training.RunDir(run_dir)
        pipeline = self.load(run)
        splits = self.load_splits(pipeline.config, data_dir)
        path = pipeline.export(export_dir or run.export,
                               sample=self.export_sample(pipeline, splits))
        return {"export": path}

    def predict(self, config, run_dir, data_dir, input_path, output_path=None):
        """Runs the run's saved pipeline on `input_path`; writes the lines to
        `output_path` (UTF-8) and returns `{predictions_key: its path}`, or
        prints them and returns None."""
        run = training.RunDir(run_dir)
        lines = self.predict_lines(self.load(run), input_path)
        if output_path:
            with open(output_path, "w", encoding="utf-8") as f:
                f.write("\n".join(lines) + "\n")
            return {self.predictions_key: os.path.abspath(output_path)}
        print("\n".join(lines))
        return None
