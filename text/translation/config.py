"""The translation config: data (Tatoeba or any TSV), tokenizers, network,
decoding and training; `task: translation`.

Example:

>>> TranslationConfig().data.source, TranslationConfig().model.beam_width
('spa', 5)
"""

import dataclasses
from typing import Optional

from pipelines.config import (Config, DecoderConfig, TrainConfig, check,
                              check_stream_fields)
from text.data import check_sample_sentences, check_split_fields


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
        shards: train from shards written by `pipelines prepare text` with
            a translation config (their folder, or a glob of some of their
            files) instead of reading the corpus into memory; the fields
            above are then what `prepare` reads (it makes the same split).
        shuffle_buffer: records held by the bounded shuffle when training
            from shards.
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
    shards: Optional[str] = None
    shuffle_buffer: int = 10000

    def validate(self):
        check(self.dataset in ("tatoeba", "tsv"), "data.dataset", self.dataset,
              "must be 'tatoeba' or 'tsv'")
        check(self.dataset != "tsv" or bool(self.path), "data.path", self.path,
              "must name a TSV file when data.dataset is 'tsv'")
        check(self.source != self.target, "data.target", self.target,
              f"must differ from data.source={self.source!r}")
        check_split_fields(self)
        check(self.max_pairs is None or self.max_pairs >= 10, "data.max_pairs",
              self.max_pairs, "must be at least 10 (or null for all)")
        check_stream_fields(self)


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
        sample_sentences: the most sentences each tokenizer learns from: a
            seeded uniform sample of the training split, drawn by
            SentencePiece's own reservoir sampling, so that a corpus
            streamed from shards is never held in memory (more than 100,
            SentencePiece's minimum).
    """

    source_vocab: int = 4000
    target_vocab: int = 4000
    lowercase_source: bool = True
    lowercase_target: bool = False
    max_source_tokens: int = 64
    max_target_tokens: int = 64
    sample_sentences: int = 1_000_000

    def validate(self):
        for field in ("source_vocab", "target_vocab"):
            check(getattr(self, field) >= 260, f"tokenizer.{field}", getattr(self, field),
                  "must be at least 260 (4 special ids + 256 byte pieces)")
        for field in ("max_source_tokens", "max_target_tokens"):
            check(getattr(self, field) >= 2, f"tokenizer.{field}", getattr(self, field),
                  "must be at least 2")
        check_sample_sentences(self)


@dataclasses.dataclass
class TranslationModelConfig(DecoderConfig):
    """Args: the network (see `text.translation.model.Seq2SeqTranslator`), plus
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
