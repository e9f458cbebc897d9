"""Text's train/evaluate/export/predict: what the CLI and notebooks call.

The config's `task` chooses the pipeline: `translation` (here) or
`classification` (sentence classification, `text.classification_task`), so
`python -m text.train --config ...` serves both.
"""

import logging
import os

from pipelines import training
from text import data
from text.config import TextConfig

NAME = "text"
Config = TextConfig
DEFAULT_CONFIG = os.path.join(os.path.dirname(__file__), "configs", "spa_eng.yaml")

log = logging.getLogger(__name__)


def _other(config):
    """The task module for non-translation configs."""
    if config.task == "classification":
        from text import classification_task

        return classification_task
    return None


def load_splits(config, data_dir=None):
    """Returns {"train", "val", "test"} `(source, target)` pairs, deduplicated,
    with no sentence in two splits."""
    d = config.data
    if d.dataset == "tatoeba":
        pairs = data.tatoeba(d.source, d.target, pair=d.pair, data_dir=data_dir,
                             skip_bad=d.skip_bad, max_pairs=d.max_pairs)
    else:
        pairs = data.read_pairs(d.path, columns=(d.source_column, d.target_column),
                                skip_bad=d.skip_bad, max_pairs=d.max_pairs)
    return data.split_pairs(pairs, val_fraction=d.val_fraction,
                            test_fraction=d.test_fraction, seed=d.seed)


def _export(translator, split, path):
    sample = [s for s, _ in (split["test"] or split["val"])[:8]]
    return translator.export(path, sample=sample)


def _load(run):
    from text.translation import Translator

    return Translator.load(run.trained_model("text"))


def train(config, run_dir, data_dir=None):
    """Trains, evaluates (BLEU/chrF, greedy and beam) and exports."""
    other = _other(config)
    if other:
        return other.train(config, run_dir, data_dir)
    from text.translation import Translator

    run = training.RunDir(run_dir)
    split = load_splits(config, data_dir)
    translator = Translator(config).fit(split["train"], split["val"], run_dir=run.path)
    translator.save(run.model)
    metrics = run.write_metrics(
        {"test": translator.evaluate(split["test"])} if split["test"] else {})
    _export(translator, split, run.export)
    return {"run_dir": run.path, "model": run.model, "export": run.export,
            "history": run.history, "metrics_file": run.metrics,
            "test": metrics.get("test")}


def evaluate(config, run_dir, data_dir=None):
    other = _other(config)
    if other:
        return other.evaluate(config, run_dir, data_dir)
    run = training.RunDir(run_dir)
    translator = _load(run)
    split = load_splits(translator.config, data_dir)
    return run.write_metrics({"test": translator.evaluate(split["test"])})


def export(config, run_dir, data_dir=None, export_dir=None):
    other = _other(config)
    if other:
        return other.export(config, run_dir, data_dir, export_dir)
    run = training.RunDir(run_dir)
    translator = _load(run)
    split = load_splits(translator.config, data_dir)
    return {"export": _export(translator, split, export_dir or run.export)}


def predict(config, run_dir, data_dir, input_path, output_path=None):
    """Translates every line of a text file (one sentence per line)."""
    other = _other(config)
    if other:
        return other.predict(config, run_dir, data_dir, input_path, output_path)
    run = training.RunDir(run_dir)
    translator = _load(run)
    sentences = data.read_lines(input_path)
    translations = translator.translate(sentences)
    lines = [f"{s}\t{t}" for s, t in zip(sentences, translations)]
    return training.write_predictions(lines, output_path, "translations")
