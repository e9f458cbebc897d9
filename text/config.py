"""Text configs. The top-level `task` field chooses the pipeline
(`translation`, or `classification` for sentence classification), so one
training script serves both; `load_config` reads it and builds the right one.
"""

import dataclasses
import os
from typing import List, Optional

import yaml

from pipelines.config import Config, ConfigError, DecoderConfig, TrainConfig, check

TASKS = ("translation", "classification")


@dataclasses.dataclass
class TranslationDataConfig:
    """Args:
        dataset: tatoeba (the Tatoeba export in the data directory, or
            downloaded) or tsv (any `sentence<TAB>sentence` file at `path`).
        pair: the Tatoeba pair for `dataset: tatoeba` (spa_eng).
        source, target: languages, in the direction to translate (for
            tatoeba, `spa`/`eng` either way); for tsv, `source_column` and
            `target_column` pick the columns.
        path: the TSV for `dataset: tsv`.
        val_fraction, test_fraction: held-out shares; splits never share a
            source or a target sentence.
        max_pairs: read at most this many pairs (None: all).
        skip_bad: skip (and log) malformed TSV lines instead of failing.
        seed: seed of the split.
    """

    dataset: str = "tatoeba"
    pair: str = "spa_eng"
    source: str = "spa"
    target: str = "eng"
    path: Optional[str] = None
    source_column: int = 1
    target_column: int = 0
    val_fraction: float = 0.02
    test_fraction: float = 0.05
    max_pairs: Optional[int] = None
    skip_bad: bool = False
    seed: int = 0

    def validate(self):
        check(self.dataset in ("tatoeba", "tsv"), "data.dataset", self.dataset,
              "must be 'tatoeba' or 'tsv'")
        check(self.dataset != "tsv" or bool(self.path), "data.path", self.path,
              "must name a TSV file when data.dataset is 'tsv'")
        check(self.source != self.target, "data.target", self.target,
              f"must differ from data.source={self.source!r}")
        check(0 < self.val_fraction < 1, "data.val_fraction", self.val_fraction,
              "must be in (0, 1)")
        check(0 <= self.test_fraction < 1 - self.val_fraction, "data.test_fraction",
              self.test_fraction, "must be in [0, 1 - data.val_fraction)")
        check(self.max_pairs is None or self.max_pairs >= 10, "data.max_pairs",
              self.max_pairs, "must be at least 10 (or null for all)")


@dataclasses.dataclass
class TokenizerConfig:
    """Args:
        source_vocab, target_vocab: SentencePiece vocabulary sizes, learned
            from the training split.
        lowercase_source: case-fold the source text (robust to SHOUTING and
            odd casing in inputs); lowercase_target: case-fold the target
            (off: translations keep their case, which cased BLEU rewards).
        max_source_tokens: longer inputs are truncated to this many subword
            tokens (logged by `translate`; silent in the export, documented
            in its metadata); training pairs longer than this on either
            side are dropped (logged).
        max_target_tokens: the longest translation generated (EOS included).
    """

    source_vocab: int = 4000
    target_vocab: int = 4000
    lowercase_source: bool = True
    lowercase_target: bool = False
    max_source_tokens: int = 64
    max_target_tokens: int = 64

    def validate(self):
        for field in ("source_vocab", "target_vocab"):
            check(getattr(self, field) >= 260, f"tokenizer.{field}", getattr(self, field),
                  "must be at least 260 (4 special ids + 256 byte pieces)")
        for field in ("max_source_tokens", "max_target_tokens"):
            check(getattr(self, field) >= 2, f"tokenizer.{field}", getattr(self, field),
                  "must be at least 2")


@dataclasses.dataclass
class TranslationModelConfig(DecoderConfig):
    """Args: the network (see `text.model.Seq2SeqTranslator`), plus
        label_smoothing of the loss, and the decoding defaults: beam_width
        (1 = greedy) and length_penalty (GNMT alpha); the decoder's fields
        are `pipelines.config.DecoderConfig`'s.
    """

    embedding_dim: int = 256
    units: int = 256
    encoder_layers: int = 1
    cell_type: str = "gru"
    attention: str = "multiplicative"
    dropout: float = 0.2
    label_smoothing: float = 0.1
    beam_width: int = 5
    length_penalty: float = 0.6

    def validate(self):
        for field in ("embedding_dim", "units", "encoder_layers"):
            check(getattr(self, field) >= 1, f"model.{field}", getattr(self, field),
                  "must be positive")
        super().validate()


def _default_train():
    # The same as text/configs/spa_eng.yaml, the measured default.
    return TrainConfig(epochs=7, batch_size=128, learning_rate=2e-3, patience=3,
                       lr_decay=0.85)


@dataclasses.dataclass
class TranslationConfig(Config):
    task: str = "translation"
    name: str = "spa-eng"
    data: TranslationDataConfig = dataclasses.field(default_factory=TranslationDataConfig)
    tokenizer: TokenizerConfig = dataclasses.field(default_factory=TokenizerConfig)
    model: TranslationModelConfig = dataclasses.field(default_factory=TranslationModelConfig)
    train: TrainConfig = dataclasses.field(default_factory=_default_train)

    def validate(self):
        check(self.task == "translation", "task", self.task, "must be 'translation' here")
        super().validate()


# --------------------------------------------------------------------------
# Sentence classification (`task: classification`)
# --------------------------------------------------------------------------

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
    """

    dataset: str = "uci_sentiment"
    sources: List[str] = dataclasses.field(default_factory=lambda: ["amazon", "imdb"])
    path: Optional[str] = None
    val_fraction: float = 0.1
    test_fraction: float = 0.2
    max_examples: Optional[int] = None
    skip_bad: bool = False
    seed: int = 0

    def validate(self):
        check(self.dataset in CLASSIFICATION_DATASETS, "data.dataset", self.dataset,
              f"must be one of {list(CLASSIFICATION_DATASETS)}")
        check(self.dataset != "tsv" or bool(self.path), "data.path", self.path,
              "must name a TSV file when data.dataset is 'tsv'")
        check(self.dataset != "uci_sentiment" or (
            bool(self.sources) and all(s in SENTIMENT_SOURCES for s in self.sources)),
            "data.sources", self.sources,
            f"must be a non-empty list of {list(SENTIMENT_SOURCES)}")
        check(0 < self.val_fraction < 1, "data.val_fraction", self.val_fraction,
              "must be in (0, 1)")
        check(0 <= self.test_fraction < 1 - self.val_fraction, "data.test_fraction",
              self.test_fraction, "must be in [0, 1 - data.val_fraction)")
        check(self.max_examples is None or self.max_examples >= 2, "data.max_examples",
              self.max_examples, "must be at least 2 (or null for all)")


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
    """

    vocab_size: int = 1000
    lowercase: bool = True
    max_tokens: int = 96
    sampling_alpha: float = 0.0

    def validate(self):
        check(self.vocab_size >= 260, "tokenizer.vocab_size", self.vocab_size,
              "must be at least 260 (4 special ids + 256 byte pieces)")
        check(self.max_tokens >= 1, "tokenizer.max_tokens", self.max_tokens,
              "must be at least 1")
        check(0 <= self.sampling_alpha <= 1, "tokenizer.sampling_alpha",
              self.sampling_alpha, "must be in [0, 1]")


@dataclasses.dataclass
class ClassificationModelConfig:
    """Args: the network (see `text.classification.RecurrentClassifier`):
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


CONFIGS = {"translation": TranslationConfig, "classification": ClassificationConfig}


def config_class(task):
    if task not in CONFIGS:
        raise ConfigError(f"task: must be one of {sorted(CONFIGS)}; got task={task!r}.")
    return CONFIGS[task]


def load_config(path=None, overrides=()):
    """Reads the YAML's `task` (or a `task=...` override) and builds that
    task's config; without a path, the translation defaults."""
    task = "translation"
    if path is not None and os.path.exists(path):
        with open(path) as f:
            try:
                values = yaml.safe_load(f) or {}
            except yaml.YAMLError:
                values = {}  # from_yaml reports it, naming the file
        if isinstance(values, dict) and "task" in values:
            task = values["task"]
    for item in overrides or ():
        key, _, value = str(item).partition("=")
        if key.strip() == "task":
            task = value.strip()
    return config_class(task).from_yaml(path, overrides)


class TextConfig:
    """What the CLI calls `Config`: `from_yaml` dispatches on `task`."""

    from_yaml = staticmethod(load_config)
