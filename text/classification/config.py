"""The sentence-classification config: data (UCI sentiment or any TSV),
tokenizer, network (and ensemble size) and training; `task: classification`.

Example:

>>> ClassificationConfig().model.members, ClassificationConfig().data.sources
(3, ['amazon', 'imdb'])
"""

import dataclasses
from typing import Any, List, Optional

from pipelines.config import Config, TrainConfig, check, check_stream_fields
from text.data import check_sample_sentences, check_split_fields

CLASSIFICATION_DATASETS = ("uci_sentiment", "tsv")
SENTIMENT_SOURCES = ("amazon", "imdb", "yelp")
#: How the classifier pools its encoder outputs into one sentence vector.
POOLINGS = ("attention", "last", "concat")


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
        outputs; "last": the final states of both directions; "concat":
        ULMFiT's final states, max and mean over the steps),
        embedding_dropout (drops whole token vectors in training), dropout
        (between layers and before the head), members (a small ensemble:
        that many networks, trained one after another with seeds
        `train.seed`, `train.seed + 1`, ..., averaged in one graph; it
        steadies results on small data at `members` times the training
        time; 1 = one network), label_smoothing of the loss, and
        ngram_weight: the share of a bag of n-grams in the answer
        (TF-IDF n-grams + logistic regression fitted on the training
        split, C chosen on the validation split, computed in the graph:
        `text.classification.ngrams.NgramModel`): the log-probabilities
        are `(1 - w) * network + w * n-grams`, renormalised; 0: the network
        alone. What the n-gram part counts: ngram_words, the `[low, high]`
        lengths of its word n-grams (null: none), and ngram_chars, those
        of its character n-grams within words (scikit-learn's `char_wb`;
        null: none), each a TF-IDF block of its own.
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
    ngram_weight: float = 0.0
    ngram_words: Optional[List[int]] = dataclasses.field(default_factory=lambda: [1, 2])
    ngram_chars: Optional[List[int]] = None

    def ngram_blocks(self):
        """The `NgramModel` feature blocks of `ngram_words` and `ngram_chars`."""
        return tuple((analyzer, *span) for analyzer, span in
                     (("word", self.ngram_words), ("char_wb", self.ngram_chars)) if span)

    def validate(self):
        for field in ("embedding_dim", "units", "num_layers", "members"):
            check(getattr(self, field) >= 1, f"model.{field}", getattr(self, field),
                  "must be positive")
        check(self.cell_type in ("gru", "lstm"), "model.cell_type", self.cell_type,
              "must be 'gru' or 'lstm'")
        check(self.pooling in POOLINGS, "model.pooling", self.pooling,
              "must be 'attention', 'last' or 'concat'")
        for field in ("embedding_dropout", "dropout", "label_smoothing", "ngram_weight"):
            check(0 <= getattr(self, field) < 1, f"model.{field}", getattr(self, field),
                  "must be in [0, 1)")
        for field in ("ngram_words", "ngram_chars"):
            span = getattr(self, field)
            check(span is None or (len(span) == 2 and 1 <= span[0] <= span[1]),
                  f"model.{field}", span, "must be [low, high] with 1 <= low <= high, or null")
        check(not self.ngram_weight or bool(self.ngram_words or self.ngram_chars),
              "model.ngram_weight", self.ngram_weight,
              "needs model.ngram_words or model.ngram_chars (something to count)")


@dataclasses.dataclass
class ClassificationPretrainConfig:
    """Language-model pretraining of the encoder, then fine-tuning (ULMFiT;
    see `text.classification.pretrain`). Off while `corpus` is empty.

    Args:
        corpus: unlabeled text: a list of paths (a text file, one sentence
            per line, or a folder of `.txt` files) or `{path: ..., column: N}`
            for one column of a TSV file; relative paths are looked up in the
            data directory, then in the working directory. The tokenizer is
            learned there (the `tokenizer` section's settings), not on the
            labelled sentences.
        run_dir: the pretraining's own folder: made if missing, reused when
            finished with the same settings (by any label set); None: a
            `pretrain/` folder inside the classifier's run directory.
        max_sentences: a seeded sample of at most this many distinct
            sentences (None: all).
        dropout: dropout of the language model (token vectors in, encoder
            outputs out).
        epochs, batch_size, learning_rate, patience, lr_decay, val_fraction:
            the language model's training (its validation perplexity picks
            the best epoch).
        adapt_epochs: ULMFiT's second step: before the labels are used, the
            pretrained language model trains this many more epochs on the
            classifier's own training sentences (in its run directory,
            `lm_adapted/`), at `adapt_learning_rate` (0: off).
        discriminative: fine-tuning trains the new layers (pooling, head)
            at `train.learning_rate`, the encoder at that / `discriminative`,
            the embedding at that / `discriminative`**2 (1 = one rate).
        unfreeze_epochs: gradual unfreezing: the new layers train alone for
            this many epochs, then the encoder joins, and as many epochs
            later the embedding (0: all train from the start).
        embedding_rate: a fixed share of its scheduled rate for the
            embedding (0 keeps the pretrained embedding frozen).
        anchor: L2-SP (Li et al., 2018): `anchor * sum((w - w0)**2)` over the
            embedding and encoder weights `w` pulls them toward the pretrained
            `w0` rather than toward zero (0: off). On the UCI sentiment
            sentences both hurt across domains (README, the pretrained
            classifier's study), so both are off by default.
        lm_weight: SiATL (Chronopoulou et al., 2019): fine-tuning also
            minimises this weight times the pretrained language model's loss
            on the training batches, read from the classifier's own encoder
            by the pretrained heads (0: off; needs `model.pooling`
            "attention" or "concat", which read every step).
    """

    corpus: List[Any] = dataclasses.field(default_factory=list)
    run_dir: Optional[str] = None
    max_sentences: Optional[int] = None
    dropout: float = 0.1
    epochs: int = 4
    batch_size: int = 128
    learning_rate: float = 3e-3
    patience: int = 2
    lr_decay: float = 0.8
    val_fraction: float = 0.02
    adapt_epochs: int = 0
    adapt_learning_rate: float = 1e-3
    discriminative: float = 2.6
    unfreeze_epochs: int = 1
    embedding_rate: float = 1.0
    anchor: float = 0.0
    lm_weight: float = 0.0

    def validate(self):
        from text.classification.pretrain import corpus_entries

        corpus_entries(self.corpus)
        for field in ("epochs", "batch_size"):
            check(getattr(self, field) >= 1, f"pretrain.{field}", getattr(self, field),
                  "must be at least 1")
        check(self.max_sentences is None or self.max_sentences >= 100,
              "pretrain.max_sentences", self.max_sentences,
              "must be at least 100 (or null for all)")
        check(0 <= self.dropout < 1, "pretrain.dropout", self.dropout, "must be in [0, 1)")
        check(self.learning_rate > 0, "pretrain.learning_rate", self.learning_rate,
              "must be positive")
        check(self.patience >= 0, "pretrain.patience", self.patience, "must be >= 0")
        check(0 < self.lr_decay <= 1, "pretrain.lr_decay", self.lr_decay, "must be in (0, 1]")
        check(0 < self.val_fraction < 0.5, "pretrain.val_fraction", self.val_fraction,
              "must be in (0, 0.5)")
        check(self.adapt_epochs >= 0, "pretrain.adapt_epochs", self.adapt_epochs,
              "must be >= 0")
        check(self.adapt_learning_rate > 0, "pretrain.adapt_learning_rate",
              self.adapt_learning_rate, "must be positive")
        check(self.discriminative >= 1, "pretrain.discriminative", self.discriminative,
              "must be >= 1")
        check(self.unfreeze_epochs >= 0, "pretrain.unfreeze_epochs", self.unfreeze_epochs,
              "must be >= 0")
        check(0 <= self.embedding_rate <= 1, "pretrain.embedding_rate", self.embedding_rate,
              "must be in [0, 1]")
        check(self.anchor >= 0, "pretrain.anchor", self.anchor, "must be >= 0")
        check(self.lm_weight >= 0, "pretrain.lm_weight", self.lm_weight, "must be >= 0")


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
    pretrain: ClassificationPretrainConfig = dataclasses.field(
        default_factory=ClassificationPretrainConfig)

    def validate(self):
        check(self.task == "classification", "task", self.task,
              "must be 'classification' here")
        super().validate()
        check(not (self.model.ngram_weight and self.data.shards), "model.ngram_weight",
              self.model.ngram_weight, "must be 0 with data.shards (the n-gram model is "
              "fitted on in-memory examples)")
        if self.pretrain.corpus:
            # Stacked bidirectional layers would let the language model see
            # the word it predicts (see text.classification.pretrain).
            check(self.model.num_layers == 1, "model.num_layers", self.model.num_layers,
                  "must be 1 with pretraining (pretrain.corpus set)")
            check(not self.pretrain.lm_weight or self.model.pooling != "last",
                  "model.pooling", self.model.pooling,
                  "must be 'attention' or 'concat' with pretrain.lm_weight > 0 (the "
                  "language-model loss reads every step)")
            check(not self.data.shards, "data.shards", self.data.shards,
                  "cannot be combined with pretrain.corpus yet (pretrain, then fine-tune "
                  "in memory)")
