"""Translation's train/evaluate/export/predict: what the CLI (`pipelines
train text`, or `python -m text.train`) and notebooks call. `text.task`
dispatches here when the config's `task` is `translation`."""

import os

from text import data as text_data
from text.task import CONFIGS, SentenceTask
from text.translation import data, shards as translation_shards
from text.translation.config import TranslationConfig
from text.translation.pipeline import Translator


class TranslationTask(SentenceTask):
    """`pipelines <command> text` with a translation config: Tatoeba (or any
    TSV of pairs) -> `Translator`, scored with sacreBLEU and chrF (greedy and
    beam); `predict` writes `source<TAB>translation` lines."""

    config_class = TranslationConfig
    default_config = os.path.join(CONFIGS, "spa_eng.yaml")
    pipeline_class = Translator
    predictions_key = "translations"
    shard_source = translation_shards.TranslationSource

    def examples_of(self, split, limit=None):
        """The records of a shard `Split` as `(source, target)` pairs."""
        return translation_shards.pairs(split, limit)

    def load_splits(self, config, data_dir=None):
        """`Splits` of `(source, target)` pairs, deduplicated, with no
        sentence in two splits."""
        d = config.data
        if d.dataset == "tatoeba":
            pairs = data.tatoeba(d.source, d.target, pair=d.pair, data_dir=data_dir,
                                 skip_bad=d.skip_bad, max_pairs=d.max_pairs)
        else:
            pairs = text_data.read_pairs(d.path, columns=(d.source_column, d.target_column),
                                         skip_bad=d.skip_bad, max_pairs=d.max_pairs)
        return data.split_pairs(pairs, val_fraction=d.val_fraction,
                                test_fraction=d.test_fraction, seed=d.seed)

    def answers(self, translator, sentences):
        return translator.translate(sentences)


TASK = TranslationTask()
load_splits, train, evaluate, export, predict, prepare = (
    TASK.load_splits, TASK.train, TASK.evaluate, TASK.export, TASK.predict, TASK.prepare)
