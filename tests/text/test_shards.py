"""Text from shards: `prepare` of a translation TSV and of a labelled TSV
(one bad line each: skipped, counted, listed with the loader's message),
records equal to the in-memory splits, training from shards equal to
training from memory (a learning rate of ~0: the same tokenizers, the same
initial weights, the same validation data and loss), an ensemble that
learns from shards, tokenizers bounded by their sample, refusals of shards
prepared for another task or direction, and the `text` task's dispatch.

The corpora are synthetic (seeded pseudo-words), a few hundred lines, so
the file runs in well under a minute."""

import json
import math
import os
import random

import numpy as np
import pytest
import tensorflow as tf

from pipelines import shards
from pipelines.config import ConfigError
from pipelines.losses import MaskedSparseCrossEntropy
from tests import harness
from text import data as text_data
from text.classification import SentenceClassifier
from text.classification.task import TASK as CLASSIFICATION
from text.config import load_config
from text.task import TASK
from text.translation import Translator
from text.translation.task import TASK as TRANSLATION

pytest.importorskip("apache_beam")

CONFIGS = os.path.join(harness.ROOT, "text", "configs")
IN_MEMORY = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
#: Positive (validation refuses 0) and small enough that the weights do not
#: move: training from memory and from shards then validate the same model.
NO_LEARNING = "train.learning_rate=0.000000000001"
BAD_PAIR = "a line without a tab"
BAD_LABELLED = "three\tcolumns\there"


def _words(rng, n):
    return ["".join(rng.choice("abcdefghijklmnoprstuvz") for _ in range(rng.randint(3, 8)))
            for _ in range(n)]


def _write_pairs(path):
    """~260 `target<TAB>source` lines of pseudo-words (the Tatoeba column
    order), with duplicates and one bad line (line 40)."""
    rng = random.Random(0)
    src, tgt = _words(rng, 300), _words(rng, 300)
    lines = []
    for _ in range(250):
        idx = [rng.randrange(300) for _ in range(rng.randint(2, 7))]
        lines.append(" ".join(tgt[i] for i in idx).capitalize() + ".\t"
                     + " ".join(src[i] for i in idx).capitalize() + ".")
    lines += lines[:10]  # duplicates: kept once, as in memory
    lines.insert(39, BAD_PAIR)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _write_labelled(path):
    """~260 `sentence<TAB>label` lines (positive/negative: two words of the
    label's own five in each sentence, so that one epoch learns), with
    duplicates, a sentence labelled both ways, and one bad line (line 30)."""
    rng = random.Random(1)
    neutral, good, bad = _words(rng, 200), _words(rng, 5), _words(rng, 5)
    lines = []
    for i in range(250):
        label = "positive" if i % 2 else "negative"
        words = rng.sample(neutral, rng.randint(2, 6)) + rng.sample(good if i % 2 else bad, 2)
        rng.shuffle(words)
        lines.append(" ".join(words) + "\t" + label)
    lines += lines[:6]
    lines.append(lines[7].split("\t")[0] + "\tnegative")  # both labels: dropped
    lines.insert(29, BAD_LABELLED)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _translation_config(tsv, *overrides):
    return load_config(os.path.join(CONFIGS, "tiny.yaml"), [
        "data.dataset=tsv", f"data.path={tsv}", "data.skip_bad=true", "train.verbose=0",
        *overrides])


def _classification_config(tsv, *overrides):
    return load_config(os.path.join(CONFIGS, "sentiment_tiny.yaml"), [
        "data.dataset=tsv", f"data.path={tsv}", "data.skip_bad=true", "train.verbose=0",
        "train.epochs=1", *overrides])


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    """Both TSVs, each prepared (through the `text` task's dispatch) into 2
    shards per split: `{"translation"|"classification": (tsv, folder,
    index)}`."""
    root = tmp_path_factory.mktemp("text_shards")
    out = {}
    for task, write, config in (("translation", _write_pairs, _translation_config),
                                ("classification", _write_labelled, _classification_config)):
        tsv = root / f"{task}.tsv"
        write(tsv)
        folder = root / f"{task}_shards"
        index = TASK.prepare(config(tsv), folder, shards=2, beam_args=IN_MEMORY)
        out[task] = (tsv, folder, index)
    return out


# ------------------------------------------------------------------ prepare
@pytest.mark.parametrize("task,bad_line,bad,problem", [
    ("translation", 40, BAD_PAIR, "expected at least 2 tab-separated columns, got 1"),
    ("classification", 30, BAD_LABELLED,
     "expected 2 tab-separated columns (sentence, label), got 3"),
])
def test_prepare_counts_and_lists_the_bad_line(corpora, task, bad_line, bad, problem):
    tsv, folder, index = corpora[task]
    sub = TRANSLATION if task == "translation" else CLASSIFICATION
    config = (_translation_config if task == "translation" else _classification_config)(tsv)
    memory = sub.load_splits(config)
    splits = index["splits"]
    assert {k: v["examples"] for k, v in splits.items()} == {
        k: len(memory[k]) for k in ("train", "val", "test")}
    assert all(len(v["shards"]) == 2 for v in splits.values())
    # The bad line: skipped in "train", with the in-memory loader's message.
    reason = text_data.malformed_message(str(tsv), bad_line, problem, bad)
    assert (splits["train"]["skipped"], splits["val"]["skipped"]) == (1, 0)
    assert index["skipped_reasons"] == [reason]
    with open(folder / shards.SKIPPED_FILE, encoding="utf-8") as f:
        listed = [json.loads(line) for line in f]
    assert listed == [{"split": "train", "record": f"{tsv}, line {bad_line}",
                       "reason": reason}]
    strict = config.from_dict(config.to_dict(), ["data.skip_bad=false"])
    with pytest.raises(text_data.MalformedLineError, match="Pass skip_bad=True") as raised:
        sub.load_splits(strict)
    assert str(raised.value).startswith(reason)
    # Without data.skip_bad, prepare stops on it too, with the same error,
    # and writes nothing.
    with pytest.raises(text_data.MalformedLineError) as prepared:
        TASK.prepare(strict, folder.parent / f"{task}_strict", shards=2, beam_args=IN_MEMORY)
    assert str(prepared.value) == str(raised.value)
    assert not (folder.parent / f"{task}_strict").exists()
    assert index["length_unit"] == "characters" and index["sources"] == [str(tsv)]
    assert index["domain"] == f"text.{task}"


@pytest.mark.parametrize("task", ["translation", "classification"])
def test_records_are_the_in_memory_splits(corpora, task):
    tsv, folder, index = corpora[task]
    sub = TRANSLATION if task == "translation" else CLASSIFICATION
    config = (_translation_config if task == "translation" else _classification_config)(tsv)
    memory = sub.load_splits(config)
    opened = shards.Shards.open(folder)
    for name in ("train", "val", "test"):
        read = TASK.examples_of(opened.split(name))
        # Read back equal to the TSV's (stripped) strings, the same examples
        # in the same split, none twice.
        assert len(read) == len(set(read))
        assert sorted(read) == sorted(memory[name]), name
    # A length histogram in characters, as the records have them.
    train = sub.examples_of(opened.split("train"))
    longest = [max(len(a), len(b)) if task == "translation" else len(a) for a, b in train]
    assert opened.split("train").histogram == [
        tuple(x) for x in shards.length_histogram(longest, index["length_bin"])]
    if task == "translation":
        assert index["fields"] == {"data.source": "spa", "data.target": "eng"}
    else:
        assert index["fields"] == {"labels": ["negative", "positive"]}


# ---------------------------------------------------------------- training
def _batches_as_rows(translator, split):
    rows = []
    for x, y in translator._dataset(split, False, "val"):
        for source, target in zip(x["source"].numpy(), y.numpy()):
            rows.append((tuple(source[source > 0]), tuple(target[target > 0])))
    return sorted(rows)


def _token_mean_loss(translator, val):
    """The validation loss per target token (not per batch: the batches
    from shards hold other pairs together than the in-memory ones)."""
    loss = MaskedSparseCrossEntropy(pad_id=0,
                                    label_smoothing=translator.config.model.label_smoothing)
    total = tokens = 0.0
    for x, y in translator._dataset(val, False, "val"):
        n = float(tf.reduce_sum(tf.cast(y > 0, tf.float32)))
        total += float(loss(y, translator.model(x, training=False))) * n
        tokens += n
    return total / tokens


def test_translator_from_shards_matches_memory(corpora):
    tsv, folder, _ = corpora["translation"]
    memory_splits = TRANSLATION.load_splits(_translation_config(tsv))
    from_memory = Translator(_translation_config(tsv, NO_LEARNING)).fit(
        memory_splits.train, memory_splits.val)
    # `data.shards` and fit() without data: the shards' train and val.
    from_shards = Translator(_translation_config(tsv, NO_LEARNING,
                                                 f"data.shards={folder}")).fit()
    for side in ("source_tokenizer", "target_tokenizer"):
        assert (getattr(from_shards, side).model_proto
                == getattr(from_memory, side).model_proto), side
    for a, b in zip(from_memory.model.get_weights(), from_shards.model.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-6)
    val = shards.Shards.open(folder).split("val")
    assert _batches_as_rows(from_shards, val) == _batches_as_rows(from_memory,
                                                                  memory_splits.val)
    expected = _token_mean_loss(from_memory, memory_splits.val)
    assert _token_mean_loss(from_shards, val) == pytest.approx(expected, rel=1e-4)
    # Keras weighs batches by their pairs: close, not equal (other batches).
    assert from_shards.history[-1]["val_loss"] == pytest.approx(
        from_memory.history[-1]["val_loss"], rel=1e-2)


def test_pairs_too_long_for_the_tokens_are_counted_each_epoch(corpora, caplog):
    """The stream drops the pairs the tokenizer limits exclude, as memory
    does, and says how many after each epoch: the same count as memory."""
    import logging

    tsv, folder, _ = corpora["translation"]
    limits = ["tokenizer.max_source_tokens=12", "tokenizer.max_target_tokens=12",
              "train.epochs=2", NO_LEARNING]
    with caplog.at_level(logging.WARNING):
        memory_splits = TRANSLATION.load_splits(_translation_config(tsv))
        Translator(_translation_config(tsv, *limits)).fit(memory_splits.train,
                                                          memory_splits.val)
        in_memory = [r.getMessage() for r in caplog.records if "training pairs:" in
                     r.getMessage()]
        caplog.clear()
        Translator(_translation_config(tsv, *limits, f"data.shards={folder}")).fit()
    # "training pairs: dropped N of M pairs that are empty or longer than ..."
    dropped, total = (int(w) for w in in_memory[0].split()[3:6:2])
    assert 0 < dropped < total
    streamed = [r.getMessage() for r in caplog.records if "read from shards" in r.getMessage()]
    reason = "(empty, or longer than tokenizer.max_source_tokens=12 / max_target_tokens=12)"
    for epoch in (1, 2):
        assert (f"epoch {epoch}: dropped {dropped} of {total} training pairs read from "
                f"shards {reason}.") in streamed


@pytest.fixture(scope="module")
def classifiers(corpora):
    """A classifier trained (with a learning rate of ~0) from memory and one
    from the same data's shards (a `Split` passed to fit)."""
    tsv, folder, _ = corpora["classification"]
    memory = CLASSIFICATION.load_splits(_classification_config(tsv))
    from_memory = SentenceClassifier(_classification_config(tsv, NO_LEARNING)).fit(
        memory.train, memory.val)
    from_shards = SentenceClassifier(_classification_config(tsv, NO_LEARNING)).fit(
        shards.Shards.open(folder).split("train"))
    return from_memory, from_shards


def test_classifier_from_shards_matches_memory(classifiers):
    from_memory, from_shards = classifiers
    assert from_shards.labels == from_memory.labels == ["negative", "positive"]
    assert from_shards.tokenizer.model_proto == from_memory.tokenizer.model_proto
    for a, b in zip(from_memory.model.get_weights(), from_shards.model.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-6)
    # The per-example mean over the same validation examples, whatever the
    # batches: equal.
    last_memory, last_shards = from_memory.history[-1], from_shards.history[-1]
    assert last_shards["val_loss"] == pytest.approx(last_memory["val_loss"], rel=1e-4)
    assert last_shards["val_accuracy"] == pytest.approx(last_memory["val_accuracy"], abs=1e-6)


def test_an_ensemble_learns_from_shards(corpora, classifiers):
    tsv, folder, _ = corpora["classification"]
    untrained = classifiers[1].history[-1]["val_loss"]
    assert untrained == pytest.approx(math.log(2), abs=0.05)
    ensemble = SentenceClassifier(_classification_config(
        tsv, f"data.shards={folder}", "model.members=2", "model.embedding_dropout=0.1",
        "model.dropout=0.1", "train.learning_rate=0.03")).fit()
    assert [row["member"] for row in ensemble.history] == [0, 1]
    # One epoch with learning on lowers every member's validation loss.
    assert all(row["val_loss"] < untrained - 0.1 for row in ensemble.history)
    test = CLASSIFICATION.examples_of(shards.Shards.open(folder).split("test"))
    assert ensemble.evaluate(test)["examples"] == len(test)


def test_tokenizers_learn_from_a_bounded_sample(corpora, monkeypatch):
    import sentencepiece as spm

    tsv, folder, _ = corpora["translation"]
    train = shards.Shards.open(folder).split("train")
    seen = []
    real = spm.SentencePieceTrainer.train

    def spy(**kwargs):
        seen.append({k: kwargs[k] for k in ("input_sentence_size", "shuffle_input_sentence")})
        # Streamed, not a list of the corpus.
        assert not isinstance(kwargs["sentence_iterator"], (list, tuple))
        return real(**kwargs)

    monkeypatch.setattr(spm.SentencePieceTrainer, "train", spy)
    sources = tf.constant([s for s, _ in TRANSLATION.examples_of(train)])
    tokens = {}
    for sample in (101, 100_000):
        translator = Translator(_translation_config(tsv, f"tokenizer.sample_sentences={sample}"))
        translator._learn(train)
        assert seen[-1] == {"input_sentence_size": sample, "shuffle_input_sentence": True}
        tokens[sample] = int(tf.size(translator.source_tokenizer.tokenize(sources).flat_values))
    # Learned from 101 of the ~210 training sentences, the vocabulary has
    # not seen the others' words: it cuts the corpus into more pieces.
    assert train.examples > 200 and tokens[101] > 1.05 * tokens[100_000]


# ----------------------------------------------------------------- refusals
def test_shards_of_another_task_or_direction_are_refused(corpora):
    ttsv, tfolder, _ = corpora["translation"]
    ctsv, cfolder, _ = corpora["classification"]
    with pytest.raises(shards.ShardsError,
                       match="prepared for 'text.translation', not 'text.classification'"):
        SentenceClassifier(_classification_config(ctsv, f"data.shards={tfolder}")).fit()
    with pytest.raises(shards.ShardsError,
                       match="prepared for 'text.classification', not 'text.translation'"):
        Translator(_translation_config(ttsv)).fit(shards.Shards.open(cfolder).split("train"))
    # The other direction: the records hold spa -> eng.
    with pytest.raises(shards.ShardsError, match=r"was prepared with data.source='spa', but "
                                                 r"this config has data.source='eng'"):
        Translator(_translation_config(ttsv, "data.source=eng", "data.target=spa",
                                       f"data.shards={tfolder}")).fit()
    # An ensemble checks too, before learning anything.
    with pytest.raises(shards.ShardsError, match="not 'text.classification'"):
        SentenceClassifier(_classification_config(ctsv, "model.members=2")).fit(
            shards.Shards.open(tfolder).split("train"))


def test_config_fields_are_checked(tmp_path):
    with pytest.raises(ConfigError, match="tokenizer.sample_sentences"):
        load_config(os.path.join(CONFIGS, "tiny.yaml"), ["tokenizer.sample_sentences=100"])
    with pytest.raises(ConfigError, match="data.shuffle_buffer"):
        load_config(os.path.join(CONFIGS, "sentiment_tiny.yaml"), ["data.shuffle_buffer=-1"])
    with pytest.raises(shards.ShardsError, match="data.shards="):
        Translator(shards=str(tmp_path / "none")).fit()


# ------------------------------------------------------------------ the task
def test_the_text_task_dispatches_shards(corpora):
    import text

    assert text.prepare == TASK.prepare
    for task, sub in (("translation", TRANSLATION), ("classification", CLASSIFICATION)):
        tsv, folder, _ = corpora[task]
        make = _translation_config if task == "translation" else _classification_config
        config = make(tsv, f"data.shards={folder}")
        splits = TASK.splits_for(config)
        assert isinstance(splits.train, shards.Split) and isinstance(splits.val, shards.Split)
        assert sorted(splits.test) == sorted(sub.load_splits(make(tsv)).test)
        assert isinstance(TASK.shard_source(make(tsv)), sub.shard_source)
        # The export sample of a streamed run: test sentences.
        assert TASK.task_for(config).export_sample(None, splits)[:2] == [
            s for s, _ in splits.test[:2]]
