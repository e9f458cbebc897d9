"""Sentence classification's train/evaluate/export/predict: what the CLI
(`pipelines train text --config text/configs/sentiment.yaml`, or
`python -m text.train ...`) and notebooks call. `text.task` dispatches here
when the config's `task` is `classification`.
"""

import logging

from pipelines import training
from text import data
from text.classification import SentenceClassifier, tfidf_baseline

log = logging.getLogger(__name__)


def load_splits(config, data_dir=None):
    """Returns {"train", "val", "test"} `(sentence, label)` lists: the
    configured data, deduplicated, in a seeded split stratified by label."""
    d = config.data
    if d.dataset == "uci_sentiment":
        examples = data.sentiment(d.sources, data_dir=data_dir, skip_bad=d.skip_bad,
                                  max_examples=d.max_examples)
    else:
        examples = data.read_labelled(d.path, skip_bad=d.skip_bad, max_examples=d.max_examples)
    return data.split_labelled(examples, val_fraction=d.val_fraction,
                               test_fraction=d.test_fraction, seed=d.seed)


def _export(classifier, split, path):
    # The empty string checks, in a fresh process, that the export answers it.
    sample = [s for s, _ in (split["test"] or split["val"])[:8]] + [""]
    return classifier.export(path, sample=sample)


def _load(run):
    return SentenceClassifier.load(run.trained_model("text"))


def _scores(classifier, split):
    """Test metrics of the model and of the TF-IDF baseline on the same split."""
    if not split["test"]:
        return {}
    return {"test": classifier.evaluate(split["test"]),
            "baseline_tfidf": tfidf_baseline(split["train"], split["test"], split["val"],
                                             seed=classifier.config.train.seed)}


def train(config, run_dir, data_dir=None):
    """Trains, evaluates (accuracy, macro F1, confusion matrix, beside the
    TF-IDF + logistic-regression baseline) and exports."""
    run = training.RunDir(run_dir)
    split = load_splits(config, data_dir)
    classifier = SentenceClassifier(config).fit(split["train"], split["val"], run_dir=run.path)
    classifier.save(run.model)
    metrics = run.write_metrics(_scores(classifier, split))
    _export(classifier, split, run.export)
    return {"run_dir": run.path, "model": run.model, "export": run.export,
            "history": run.history, "metrics_file": run.metrics,
            "test": metrics.get("test"), "baseline_tfidf": metrics.get("baseline_tfidf")}


def evaluate(config, run_dir, data_dir=None):
    run = training.RunDir(run_dir)
    classifier = _load(run)
    return run.write_metrics(_scores(classifier, load_splits(classifier.config, data_dir)))


def export(config, run_dir, data_dir=None, export_dir=None):
    run = training.RunDir(run_dir)
    classifier = _load(run)
    split = load_splits(classifier.config, data_dir)
    return {"export": _export(classifier, split, export_dir or run.export)}


def predict(config, run_dir, data_dir, input_path, output_path=None):
    """Classifies every line of a text file (one sentence per line; with a
    `.tsv` file, the first column). Writes `sentence<TAB>label<TAB>probability
    of that label` lines."""
    run = training.RunDir(run_dir)
    classifier = _load(run)
    sentences = data.read_lines(input_path)
    if input_path.endswith(".tsv"):
        sentences = [s.split("\t")[0] for s in sentences]
    labels, probabilities = classifier.predict(sentences)
    columns = {name: i for i, name in enumerate(classifier.labels)}
    lines = [f"{s}\t{label}\t{probabilities[i, columns[label]]:.4f}"
             for i, (s, label) in enumerate(zip(sentences, labels))]
    return training.write_predictions(lines, output_path, "predictions")
