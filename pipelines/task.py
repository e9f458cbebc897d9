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

import logging
import os

from pipelines import data as data_lib, files, shards as shards_lib, training
from pipelines.data import Splits

log = logging.getLogger(__name__)


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
        """The inputs an export is verified on: an array, or a list of str,
        bytes or arrays (stored in the run as `export_sample.npz`)."""
        raise NotImplementedError

    def stream(self, config, run_dir, data_dir, input_path, chunk_ms=100.0):
        """`pipelines predict DOMAIN --stream`: the run's pipeline fed
        `input_path` chunk by chunk (domains that stream override it)."""
        raise ValueError(f"`--stream` is for speech recognition; the {self.name} pipeline "
                         "does not stream.")

    def predict_lines(self, pipeline, input_path, skip_bad=False):
        """The output lines for `input_path`; with `skip_bad`, `(lines,
        skipped)` where `skipped` lists `(input name, reason)` of the inputs
        that could not be used."""
        raise NotImplementedError

    @staticmethod
    def load_each(items, load, skip_bad=False):
        """`load(item)` for each item: `(kept items, their loaded values,
        skipped)`. An item whose `load` raises ValueError fails the whole
        call, or with `skip_bad` is skipped and listed in `skipped` as
        `(item, reason)`: nothing is dropped without a word."""
        kept, values, skipped = [], [], []
        for item in items:
            try:
                values.append(load(item))
                kept.append(item)
            except ValueError as e:
                if not skip_bad:
                    raise
                skipped.append((str(item), str(e)))
        return kept, values, skipped

    # --------------------------------------------------------------- shards
    #: The domain's `pipelines.shards.ShardSource` class, `(config,
    #: data_dir, input)` -> source (None: the domain trains from memory only).
    shard_source = None

    def examples_of(self, split, limit=None):
        """The records of a shard `Split` as the in-memory examples
        `evaluate` and `export_sample` take (small splits: test, samples)."""
        raise NotImplementedError

    def prepare(self, config=None, output=None, input=None, shards=8, data_dir=None,
                beam_args=(), overwrite=False):
        """Writes the config's corpus (or `input`) as TFRecord shards with an
        index into the folder `output`, on Apache Beam (see
        `pipelines.shards.prepare`); returns the index."""
        if self.shard_source is None:
            raise ValueError(f"The {self.name} domain trains from memory; it has no "
                             "`prepare` (its data is small).")
        if not output:
            raise ValueError("prepare needs an output folder (--output DIR).")
        config = config or self.config_class.from_yaml(self.default_config)
        source = self.shard_source(config, data_dir, input)
        return shards_lib.prepare(source, output, shards=shards, beam_args=beam_args,
                                  overwrite=overwrite)

    # ---------------------------------------------------------------- batch
    #: The domain's `pipelines.batch.BatchReader` class, made from an
    #: export's metadata (None: no batch prediction).
    batch_reader_class = None

    def export_names(self):
        """The `pipeline` names in the metadata of this domain's exports."""
        return (self.pipeline_class.export_name,)

    def batch_reader(self, metadata, where="the export"):
        """The `BatchReader` for an export of this domain (`metadata`, its
        `metadata.json`).

        Raises:
            ValueError: the export is another domain's (naming `where`).
        """
        found, names = metadata.get("pipeline"), self.export_names()
        if found not in names or self.batch_reader_class is None:
            raise ValueError(f"{where} is an export of {found!r}, not of the {self.name} "
                             f"domain ({' or '.join(repr(n) for n in names)}).")
        return self.batch_reader_class(metadata)

    def batch_predict(self, export_dir, input, output, batch_size=32, bucketing=True,
                      beam_args=()):
        """Runs the export on every input of `input` with Apache Beam
        RunInference, results to the JSON lines file `output`, errors beside
        it; returns the summary (see `pipelines.batch.predict`)."""
        from pipelines import batch, export as export_lib

        metadata = export_lib.read_metadata(export_dir)
        reader = self.batch_reader(metadata, where=os.path.abspath(os.fspath(export_dir)))
        return batch.predict(export_dir, input, output, reader=reader, batch_size=batch_size,
                             bucketing=bucketing, beam_args=beam_args)

    def splits_for(self, config, data_dir=None):
        """`load_splits`, or with `data.shards` set, the shards' `Split`s
        for training and their test split read into memory for scoring."""
        spec = getattr(getattr(config, "data", None), "shards", None)
        if not spec:
            return self.load_splits(config, data_dir)
        shards = shards_lib.Shards.open(spec)
        test = shards.split("test", required=False)
        return Splits(train=shards.split("train"),
                      val=shards.split("val", required=False) or None,
                      test=self.examples_of(test) if test else [])

    def _sample_splits(self, splits):
        """`splits` with a few training examples in memory where the
        training split is streamed (what `export_sample` may fall back to)."""
        if not isinstance(splits.train, shards_lib.Split):
            return splits
        return Splits(train=self.examples_of(splits.train, limit=16), val=None,
                      test=splits.test)

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
        splits = self.splits_for(config, data_dir)
        pipeline = self.fit(self.pipeline_for(config), splits, run)
        # Later commands on this run find the data where training did.
        run.record(data_dir=data_lib.data_dir(data_dir))
        pipeline.save(run.model)
        log.info("Saved the trained %s to %s; evaluating.", type(pipeline).__name__, run.model)
        metrics = run.write_metrics(self.score(pipeline, splits))
        # Stored, so that a later `export` needs neither the data nor a
        # data directory to verify the SavedModel.
        sample = self.export_sample(pipeline, self._sample_splits(splits))
        files.save_sample(run.sample, sample)
        self._export(pipeline, sample, run.export)
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
        # The data to evaluate on is the caller's choice (`data.*` of
        # `config`); the model is the run's.
        splits = self.splits_for(config, data_dir)
        log.info("Evaluating the %s of %s.", type(pipeline).__name__, run.path)
        return run.write_metrics(self.score(pipeline, splits))

    def export(self, config, run_dir, data_dir=None, export_dir=None):
        """Exports the run's saved pipeline (verified on the export sample)."""
        run = training.RunDir(run_dir)
        pipeline = self.load(run)
        if os.path.exists(run.sample):
            # The verification sample the run stored: no data needed.
            sample = files.load_sample(run.sample)
        else:
            sample = self.export_sample(
                pipeline, self._sample_splits(self.splits_for(config, data_dir)))
        return {"export": self._export(pipeline, sample, export_dir or run.export)}

    def _export(self, pipeline, sample, path):
        log.info("Exporting to %s and checking the export in a fresh process "
                 "(about a minute).", path)
        path = pipeline.export(path, sample=sample)
        log.info("Export verified: %s", path)
        return path

    def predict(self, config, run_dir, data_dir, input_path, output_path=None,
                skip_bad=False):
        """Runs the run's saved pipeline on `input_path`; writes the lines to
        `output_path` (UTF-8) and returns `{predictions_key: its path}`, or
        prints them (returning None). With `skip_bad`, inputs that cannot be
        used are skipped, logged with their names and reasons, and listed
        under `"skipped"` in the returned summary.

        Raises:
            ValueError: when the input holds nothing to predict.
        """
        run = training.RunDir(run_dir)
        pipeline = self.load(run)
        skipped = []
        if skip_bad:
            lines, skipped = self.predict_lines(pipeline, input_path, skip_bad=True)
        else:
            lines = self.predict_lines(pipeline, input_path)
        if skipped:
            names = ", ".join(f"{name} ({reason})" for name, reason in skipped[:5])
            log.warning("Skipped %d input(s) that could not be used: %s%s", len(skipped),
                        names, ", ..." if len(skipped) > 5 else "")
        if not lines and not skipped:
            raise ValueError(f"{input_path}: nothing to predict (no input in the file).")
        summary = {"skipped": [{"input": n, "reason": r} for n, r in skipped]} if skipped else {}
        if output_path:
            with open(output_path, "w", encoding="utf-8") as f:
                f.write("".join(line + "\n" for line in lines))
            return {self.predictions_key: os.path.abspath(output_path), **summary}
        if lines:
            print("\n".join(lines))
        return summary or None
