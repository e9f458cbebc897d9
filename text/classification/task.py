"""Sentence classification's train/evaluate/export/predict: what the CLI
(`pipelines train text --config text/configs/sentiment.yaml`, or
`python -m text.train ...`) and notebooks call. `text.task` dispatches here
when the config's `task` is `classification`.
"""

import logging
import os

from pipelines import shards as shards_lib
from text import data as text_data
from text.classification import data, shards as classification_shards
from text.classification.baselines import tfidf_baseline
from text.classification.config import ClassificationConfig
from text.classification.pipeline import SentenceClassifier
from text.task import CONFIGS, SentenceTask

log = logging.getLogger(__name__)

#: The most training (and validation) examples the TF-IDF baseline reads
#: from shards: it fits in memory, on the first this many records.
BASELINE_SAMPLE = 200_000


class ClassificationTask(SentenceTask):
    """`pipelines <command> text` with a classification config: UCI
    sentiment sentences (or any `sentence<TAB>label` TSV) ->
    `SentenceClassifier`, scored beside the TF-IDF baseline; `predict`
    writes `sentence<TAB>label<TAB>probability of that label` lines."""

    config_class = ClassificationConfig
    default_config = os.path.join(CONFIGS, "sentiment.yaml")
    pipeline_class = SentenceClassifier
    shard_source = classification_shards.ClassificationSource

    def examples_of(self, split, limit=None):
        """The records of a shard `Split` as `(sentence, label)` pairs."""
        return classification_shards.examples(split, limit)

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
        test = classifier.evaluate(splits.test)
        train, val, sampled = splits.train, splits.val, False
        if isinstance(train, shards_lib.Split):
            # The baseline holds its data in memory: from shards, at most
            # BASELINE_SAMPLE records of each split (all of a small corpus).
            sampled = train.examples > BASELINE_SAMPLE
            train = self.examples_of(train, limit=BASELINE_SAMPLE)
        if isinstance(val, shards_lib.Split):
            val = self.examples_of(val, limit=BASELINE_SAMPLE)
        baseline = tfidf_baseline(train, splits.test, val, seed=classifier.config.train.seed)
        if sampled:
            log.info("The TF-IDF baseline was fitted on the first %d training records of "
                     "the shards.", len(train))
            baseline["train_examples"] = len(train)
        return {"test": test, "baseline_tfidf": baseline}

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
load_splits, train, evaluate, export, predict, prepare = (
    TASK.load_splits, TASK.train, TASK.evaluate, TASK.export, TASK.predict, TASK.prepare)
