"""Text's train/evaluate/export/predict: what the CLI and notebooks call.

The config's `task` chooses the pipeline: `translation`
(`text.translation.task`) or `classification` (sentence classification,
`text.classification.task`), so `pipelines train text --config ...` and
`python -m text.train --config ...` serve both. `SentenceTask` is what the
two tasks share (sentences in: the export sample, `predict` on a text file).

`TASK.prepare(config, output)` (`pipelines prepare text`) writes the
config's corpus as shards (`text.shards`); `data.shards` trains from them.

Example:

>>> from text.config import load_config
>>> TASK.task_for(load_config()).pipeline_class.__name__
'Translator'
"""

import importlib
import os

from pipelines import shards as shards_lib
from pipelines.task import Task
from text import data
from text.batch import SentenceReader
from text.config import TextConfig

CONFIGS = os.path.join(os.path.dirname(__file__), "configs")


class SentenceTask(Task):
    """Base of the two text tasks: sentences in, one output line per input
    line.

    Subclasses give `answers(pipeline, sentences)` (the text after each
    sentence in `predict`'s lines) and may read the input differently
    (`read_sentences`).
    """

    name = "text"
    batch_reader_class = SentenceReader

    def export_sample(self, pipeline, splits, n=8):
        """The first `n` sentences of the test split (or of val, or of
        train; a streamed split is read for them)."""
        part = splits.test or splits.val or splits.train
        rows = self.examples_of(part, limit=n) if isinstance(part, shards_lib.Split) else part[:n]
        return [s for s, _ in rows]

    def read_sentences(self, input_path):
        """The sentences of `predict`'s input file: one per line."""
        return data.read_lines(input_path)

    def answers(self, pipeline, sentences):
        raise NotImplementedError

    def predict_lines(self, pipeline, input_path, skip_bad=False):
        """`sentence<TAB>answer` for every line of the input file. Every
        line is a sentence the pipeline answers (an empty one too), so
        `skip_bad` never has anything to skip."""
        sentences = self.read_sentences(input_path)
        lines = [f"{s}\t{a}" for s, a in zip(sentences, self.answers(pipeline, sentences))]
        return (lines, []) if skip_bad else lines


class TextTask(Task):
    """`pipelines <command> text`: every method is the one of the task the
    config (or the pipeline's config) names in its `task` field."""

    name = "text"
    config_class = TextConfig
    default_config = os.path.join(CONFIGS, "spa_eng.yaml")
    #: The modules of the text tasks (their `TASK`), by the config's `task`;
    #: imported when first asked for.
    tasks = {"translation": "text.translation.task",
             "classification": "text.classification.task"}

    def task_for(self, config):
        """The `Task` of `config.task`."""
        return self._task(config.task)

    # Commands and hooks that take the config.
    def load_splits(self, config, data_dir=None):
        return self.task_for(config).load_splits(config, data_dir)

    def splits_for(self, config, data_dir=None):
        return self.task_for(config).splits_for(config, data_dir)

    def shard_source(self, config, data_dir=None, input=None):
        """The `pipelines.shards.ShardSource` of `config`'s task."""
        return self.task_for(config).shard_source(config, data_dir, input)

    def prepare(self, config=None, output=None, input=None, shards=8, data_dir=None,
                beam_args=(), overwrite=False):
        """`prepare` of the task of `config` (default: the default config's,
        translation); see `pipelines.task.Task.prepare`."""
        config = config or self.config_class.from_yaml(self.default_config)
        return self.task_for(config).prepare(config, output, input=input, shards=shards,
                                             data_dir=data_dir, beam_args=beam_args,
                                             overwrite=overwrite)

    def pipeline_for(self, config):
        return self.task_for(config).pipeline_for(config)

    def train(self, config, *args, **kwargs):
        return self.task_for(config).train(config, *args, **kwargs)

    def evaluate(self, config, *args, **kwargs):
        return self.task_for(config).evaluate(config, *args, **kwargs)

    def export(self, config, *args, **kwargs):
        return self.task_for(config).export(config, *args, **kwargs)

    def predict(self, config, *args, **kwargs):
        return self.task_for(config).predict(config, *args, **kwargs)

    # Batch prediction: either task's exports take sentences.
    batch_reader_class = SentenceReader

    def export_names(self):
        return tuple(self._task(name).pipeline_class.export_name for name in self.tasks)

    # Hooks that take a shard split: the task it was prepared for.
    def examples_of(self, split, limit=None):
        tasks = {task.shard_source.domain: task for task in map(self._task, self.tasks)}
        domain = split.shards.domain
        if domain not in tasks:
            raise shards_lib.ShardsError(
                f"data.shards={split.shards.folder}: prepared for {domain!r}, not for a "
                f"text task ({sorted(tasks)}).")
        return tasks[domain].examples_of(split, limit)

    def _task(self, name):
        return importlib.import_module(self.tasks[name]).TASK

    # Hooks that take a pipeline: the task of its config.
    def fit(self, pipeline, *args, **kwargs):
        return self.task_for(pipeline.config).fit(pipeline, *args, **kwargs)

    def score(self, pipeline, *args, **kwargs):
        return self.task_for(pipeline.config).score(pipeline, *args, **kwargs)

    def export_sample(self, pipeline, *args, **kwargs):
        return self.task_for(pipeline.config).export_sample(pipeline, *args, **kwargs)

    def predict_lines(self, pipeline, *args, **kwargs):
        return self.task_for(pipeline.config).predict_lines(pipeline, *args, **kwargs)


TASK = TextTask()
load_splits, train, evaluate, export, predict, prepare = (
    TASK.load_splits, TASK.train, TASK.evaluate, TASK.export, TASK.predict, TASK.prepare)
