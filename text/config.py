"""Text configs. The top-level `task` field chooses the pipeline
(`translation`, or `classification` for sentence classification), so one
training script serves both; `load_config` reads it and builds the right one.
"""

import dataclasses
import os
from typing import Optional

import yaml

from pipelines.config import Config, ConfigError, TrainConfig, check

TASKS = ("translation",)


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

    source_vocab: int = 8000
    target_vocab: int = 8000
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
class TranslationModelConfig:
    """Args: the network (see `text.model.Seq2SeqTranslator`), plus
        label_smoothing of the loss, and the decoding defaults: beam_width
        (1 = greedy) and length_penalty (GNMT alpha).
    """

    embedding_dim: int = 256
    units: int = 256
    encoder_layers: int = 2
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
        check(self.cell_type in ("gru", "lstm"), "model.cell_type", self.cell_type,
              "must be 'gru' or 'lstm'")
        check(self.attention in ("additive", "multiplicative"), "model.attention",
              self.attention, "must be 'additive' or 'multiplicative'")
        check(0 <= self.dropout < 1, "model.dropout", self.dropout, "must be in [0, 1)")
        check(0 <= self.label_smoothing < 1, "model.label_smoothing", self.label_smoothing,
              "must be in [0, 1)")
        check(self.beam_width >= 1, "model.beam_width", self.beam_width, "must be at least 1")
        check(self.length_penalty >= 0, "model.length_penalty", self.length_penalty,
              "must be >= 0")


def _default_train():
    return TrainConfig(epochs=12, batch_size=128, learning_rate=2e-3, patience=3,
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
        check(bool(self.name) and "/" not in self.name, "name", self.name,
              "must be a non-empty name without '/'")


CONFIGS = {"translation": TranslationConfig}


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
