"""Sentence classification's train/evaluate/export/predict: what the CLI
(`pipelines train text --config text/configs/sentiment.yaml`, or
`python -m text.train ...`) and notebooks call. `text.task` dispatches here
when the config's `task` is `classification`.
"""

import os

from text import data as text_data
from text.classification import data
from text.classification.baselines import tfidf_baseline
from text.classification.config import ClassificationConfig
from text.classification.pipeline import SentenceClassifier
from text.task import CONFIGS, SentenceTask


class ClassificationTask(SentenceTask):
    """`pipelines <command> text` with a classification config: UCI
    sentiment sentences (or any `sentence<TAB>label` TSV) ->
    `SentenceClassifier`, scored beside the TF-IDF baseline; `predict`
    writes `sentence<TAB>label<TAB>probability of that label` lines."""

    config_class = ClassificationConfig
    default_config = os.path.join(CONFIGS, "sentiment.yaml")
    pipeline_class = SentenceClassifier

    def load_splits(self, config, data_dir=None):
        """`Splits` of `(sentence, label)` lists: the configured data,
        deduplicated, in a seeded split stratified by label."""
        d = config.data
        if d.dataset == "uci_sentiment":
            examples = data.sentiment(d.sources, data_dir=data_dir, skip_bad=d.skip_bad,
                                      max_examples=d.max_examples)
        else:
            examples = text_data.read_labelled(d.path, skip_bad=d.skip_bad,
                                               max_examples=d.max_examples)
        return data.split_labelled(examples, val_fraction=d.val_fraction,
                                   test_fraction=d.test_fraction, seed=d.seed)

    def score(self, classifier, splits):
        """Test metrics of the model (accuracy, macro F1, confusion matrix)
        and of the TF-IDF baseline on the same split."""
        if not splits.test:
            return {}
        return {"test": classifier.evaluate(splits.test),
                "baseline_tfidf": tfidf_baseline(splits.train, splits.test, splits.val,
                                                 seed=classifier.config.train.seed)}

    def export_sample(self, classifier, splits):
        # The empty string checks, in a fresh process, that the export answers it.
        return super().export_sample(classifier, splits) + [""]

    def read_sentences(self, input_path):
        """One sentence per line; of a `.tsv` file, the first column."""
        sentences = text_data.read_lines(input_path)
        if input_path.endswith(".tsv"):
            sentences = [s.split("\t")[0] for s in sentences]
        return sentences

    def answers(self, classifier, sentences):
        labels, probabilities = classifier.predict(sentences)
        columns = [classifier.labels.index(label) for label in labels]
        return [f"{label}\t{probabilities[i, c]:.4f}"
                for i, (label, c) in enumerate(zip(labels, columns))]


TASK = ClassificationTask()
load_splits, train, evaluate, export, predict = (
    TASK.load_splits, TASK.train, TASK.evaluate, TASK.export, TASK.predict)
