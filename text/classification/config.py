"""The sentence-classification config: data (UCI sentiment or any TSV),
tokenizer, network (and ensemble size) and training; `task: classification`.

Example:

>>> ClassificationConfig().model.members, ClassificationConfig().data.sources
(3, ['amazon', 'imdb'])
"""

import dataclasses
from typing import List, Optional

from pipelines.config import Config, TrainConfig, check, check_stream_fields
from text.data import check_sample_sentences, check_split_fields

CLASSIFICATION_DATASETS = ("uci_sentiment", "tsv")
SENTIMENT_SOURCES = ("amazon", "imdb", "yelp")


@dataclasses.dataclass
class ClassificationDataConfig:
    """Args:
        dataset: uci_sentiment (the UCI Sentiment Labelled Sentences in the
            data directory's `sentiment/`, or downloaded; labels
            negative/positive) or tsv (any `sentence<TAB>label` file at
            `path`, any labels).
        sources: for uci_sentiment, which files (amazon, imdb, yelp).
        path: the TSV for `dataset: tsv`.
        val_fraction, test_fraction: held-out shares of every label
            (a seeded, stratified split; duplicates removed first).
        max_examples: read at most this many examples per file (None: all).
        skip_bad: skip (and log) malformed lines instead of failing.
        seed: seed of the split.
        shards: train from shards written by `pipelines prepare text` with
            a classification config (their folder, or a glob of some of their
            files) instead of reading the corpus into memory; the fields
            above are then what `prepare` reads (it makes the same split).
        shuffle_buffer: records held by the bounded shuffle when training
            from shards.
    """

    dataset: str = "uci_sentiment"
    sources: List[str] = dataclasses.field(default_factory=lambda: ["amazon", "imdb"])
    path: Optional[str] = None
    val_fraction: float = 0.1
    test_fraction: float = 0.2
    max_examples: Optional[int] = None
    skip_bad: bool = False
    seed: int = 0
    shards: Optional[str] = None
    shuffle_buffer: int = 10000

    def validate(self):
        check(self.dataset in CLASSIFICATION_DATASETS, "data.dataset", self.dataset,
              f"must be one of {list(CLASSIFICATION_DATASETS)}")
        check(self.dataset != "tsv" or bool(self.path), "data.path", self.path,
              "must name a TSV file when data.dataset is 'tsv'")
        check(self.dataset != "uci_sentiment" or (
            bool(self.sources) and all(s in SENTIMENT_SOURCES for s in self.sources)),
            "data.sources", self.sources,
            f"must be a non-empty list of {list(SENTIMENT_SOURCES)}")
        check_split_fields(self)
        check(self.max_examples is None or self.max_examples >= 2, "data.max_examples",
              self.max_examples, "must be at least 2 (or null for all)")
        check_stream_fields(self)


@dataclasses.dataclass
class ClassificationTokenizerConfig:
    """Args:
        vocab_size: SentencePiece vocabulary size, learned from the training
            split (shrunk, with a warning, when the text is too small).
        lowercase: case-fold the text before tokenising.
        max_tokens: longer sentences are truncated to their first
            `max_tokens` subword tokens (logged by `predict`; silent in the
            export, documented in its metadata).
        sampling_alpha: subword regularisation (Kudo, 2018): in training,
            each epoch sees each sentence cut into a segmentation sampled
            from the unigram model with this smoothing (0 = off, always the
            best segmentation; 0.1-0.3 is typical). Evaluation, `predict`
            and the export always use the best segmentation.
        sample_sentences: the most sentences the tokenizer learns from: a
            seeded uniform sample of the training split, drawn by
            SentencePiece's own reservoir sampling, so that a corpus
            streamed from shards is never held in memory (more than 100,
            SentencePiece's minimum).
    """

    vocab_size: int = 1000
    lowercase: bool = True
    max_tokens: int = 96
    sampling_alpha: float = 0.0
    sample_sentences: int = 1_000_000

    def validate(self):
        check(self.vocab_size >= 260, "tokenizer.vocab_size", self.vocab_size,
              "must be at least 260 (4 special ids + 256 byte pieces)")
        check(self.max_tokens >= 1, "tokenizer.max_tokens", self.max_tokens,
              "must be at least 1")
        check(0 <= self.sampling_alpha <= 1, "tokenizer.sampling_alpha",
              self.sampling_alpha, "must be in [0, 1]")
        check_sample_sentences(self)


@dataclasses.dataclass
class ClassificationModelConfig:
    """Args: the network (see `text.classification.model.RecurrentClassifier`):
        embedding_dim, units (per direction), num_layers, cell_type,
        pooling ("attention": a learned query attends over the encoder's
        outputs; "last": the final states of both directions),
        embedding_dropout (drops whole token vectors in training), dropout
        (between layers and before the head), members (a small ensemble:
        that many networks, trained one after another with seeds
        `train.seed`, `train.seed + 1`, ..., averaged in one graph; it
        steadies results on small data at `members` times the training
        time; 1 = one network), and label_smoothing of the loss.
    """

    embedding_dim: int = 256
    units: int = 128
    num_layers: int = 1
    cell_type: str = "gru"
    pooling: str = "attention"
    embedding_dropout: float = 0.5
    dropout: float = 0.5
    members: int = 3
    label_smoothing: float = 0.0

    def validate(self):
        for field in ("embedding_dim", "units", "num_layers", "members"):
            check(getattr(self, field) >= 1, f"model.{field}", getattr(self, field),
                  "must be positive")
        check(self.cell_type in ("gru", "lstm"), "model.cell_type", self.cell_type,
              "must be 'gru' or 'lstm'")
        check(self.pooling in ("attention", "last"), "model.pooling", self.pooling,
              "must be 'attention' or 'last'")
        for field in ("embedding_dropout", "dropout", "label_smoothing"):
            check(0 <= getattr(self, field) < 1, f"model.{field}", getattr(self, field),
                  "must be in [0, 1)")


def _default_classification_train():
    return TrainConfig(epochs=30, batch_size=32, learning_rate=3e-3, weight_decay=1e-2,
                       patience=5, lr_decay=0.95)


@dataclasses.dataclass
class ClassificationConfig(Config):
    task: str = "classification"
    name: str = "sentiment"
    data: ClassificationDataConfig = dataclasses.field(
        default_factory=ClassificationDataConfig)
    tokenizer: ClassificationTokenizerConfig = dataclasses.field(
        default_factory=ClassificationTokenizerConfig)
    model: ClassificationModelConfig = dataclasses.field(
        default_factory=ClassificationModelConfig)
    train: TrainConfig = dataclasses.field(default_factory=_default_classification_train)

    def validate(self):
        check(self.task == "classification", "task", self.task,
              "must be 'classification' here")
        super().validate()
