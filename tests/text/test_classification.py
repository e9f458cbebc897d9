"""Sentence classification: labelled-sentence data and its stratified split,
the config, the recurrent classifier model, and the SentenceClassifier
pipeline (learns a small task, predicts in graph ops, saves, reloads and
exports equal; odd inputs behave as documented)."""

import json
import logging
import os

import keras
import numpy as np
import pytest

from pipelines import training
from pipelines.config import ConfigError
from tests import harness
from tests.text.helpers import serve_in_fresh_process
from text import data
from text.classification import data as classification_data
from text.classification import (AttentionPooling, ConcatPooling, RecurrentClassifier,
                                 SentenceClassifier, tfidf_baseline)
from text.config import ClassificationConfig, load_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# --------------------------------------------------------------------- data
def _write(tmp_path, text, name="s.tsv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_read_labelled_any_labels_and_blank_lines(tmp_path):
    path = _write(tmp_path, "Fine phone.\tpositive\n\n  Broke. \t negative \nMeh\tneutral\n")
    assert data.read_labelled(path) == [
        ("Fine phone.", "positive"), ("Broke.", "negative"), ("Meh", "neutral")]
    assert data.read_labelled(path, max_examples=2)[-1] == ("Broke.", "negative")
    assert data.read_labelled(path, labels={"positive": "+", "negative": "-", "neutral": "0"})[
        0] == ("Fine phone.", "+")


def test_read_labelled_unknown_label_and_skip_bad(tmp_path, caplog):
    path = _write(tmp_path, "Good.\t1\nOdd.\t2\nBad.\t0\nx\ty\tz\n")
    with pytest.raises(data.MalformedLineError,
                       match=r"line 2: label '2' is not one of \['0', '1'\]"):
        data.read_labelled(path, labels=classification_data.SENTIMENT_LABELS)
    with caplog.at_level(logging.WARNING):
        got = data.read_labelled(path, labels=classification_data.SENTIMENT_LABELS, skip_bad=True)
    assert got == [("Good.", "positive"), ("Bad.", "negative")]
    assert f"{path}: skipped 2 malformed lines (first: line 2)." in caplog.text
    with pytest.raises(FileNotFoundError, match="No labelled-sentence file at"):
        data.read_labelled(tmp_path / "missing.tsv")
    with pytest.raises(ValueError, match="no labelled sentences found"):
        data.read_labelled(_write(tmp_path, "\n\n", "empty.tsv"))


def test_uci_sentiment_from_the_data_directory(data_dir):
    examples = classification_data.sentiment(["amazon", "imdb"], data_dir=data_dir, skip_bad=True)
    assert len(examples) > 1500
    assert {label for _, label in examples} == {"negative", "positive"}
    assert all(s and s == s.strip() for s, _ in examples)
    only_amazon = classification_data.sentiment("amazon", data_dir=data_dir, skip_bad=True,
                                                max_examples=10)
    assert len(only_amazon) == 10
    with pytest.raises(ValueError, match=r"Unknown sentiment sources \['twitter'\]"):
        classification_data.sentiment(["twitter"], data_dir=data_dir)


def test_sentiment_missing_file_names_the_download(tmp_path):
    (tmp_path / "sentiment").mkdir()
    with pytest.raises(FileNotFoundError, match=r"No yelp_labelled.txt in .*"
                                                r"archive.ics.uci.edu/static/public/331"):
        classification_data.sentiment(["yelp"], data_dir=str(tmp_path))


def test_split_is_stratified_seeded_and_disjoint():
    examples = [(f"pos {i}", "pos") for i in range(60)] + [(f"neg {i}", "neg") for i in range(40)]
    examples += [("pos 3", "pos"), ("both", "pos"), ("both", "neg")]  # a duplicate, a conflict
    split = classification_data.split_labelled(examples, val_fraction=0.1, test_fraction=0.2,
                                               seed=3)
    counts = {k: sorted((lab, sum(1 for _, x in v if x == lab)) for lab in ("neg", "pos"))
              for k, v in split.items()}
    assert counts == {"train": [("neg", 28), ("pos", 42)], "val": [("neg", 4), ("pos", 6)],
                      "test": [("neg", 8), ("pos", 12)]}
    sentences = [s for _, v in split.items() for s, _ in v]
    assert len(sentences) == len(set(sentences)) == 100 and "both" not in sentences
    assert classification_data.split_labelled(examples, 0.1, 0.2, seed=3) == split
    assert classification_data.split_labelled(examples, 0.1, 0.2, seed=4) != split


def test_split_edge_cases():
    with pytest.raises(ValueError) as e:
        classification_data.split_labelled([("a", "x"), ("b", "x")])
    assert str(e.value) == ("A classifier needs at least two labels; the data has only "
                            "'x' (2 sentences).")
    # A rare label keeps a training example.
    split = classification_data.split_labelled([("a", "x"), ("b", "x")] + [
        (f"s{i}", "y") for i in range(20)], val_fraction=0.4, test_fraction=0.5)
    assert len([s for s, lab in split["train"] if lab == "x"]) == 1
    with pytest.raises(ValueError, match="val_fraction \\+ test_fraction must be < 1"):
        classification_data.split_labelled([("a", "x")], 0.5, 0.5)


# ------------------------------------------------------------------- config
def test_configs_load_and_validate(tmp_path):
    cfg = load_config(os.path.join(ROOT, "text", "configs", "sentiment.yaml"))
    assert isinstance(cfg, ClassificationConfig) and cfg.task == "classification"
    assert cfg.model.pooling == "attention" and cfg.data.sources == ["amazon", "imdb"]
    tiny = load_config(os.path.join(ROOT, "text", "configs", "sentiment_tiny.yaml"),
                       ["model.pooling=last"])
    assert tiny.model.pooling == "last" and tiny.name == "sentiment-tiny"
    assert ClassificationConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError) as e:
        ClassificationConfig.from_dict({"model": {"pooling": "max"}})
    assert str(e.value) == ("Config field 'model.pooling' must be 'attention', 'last' or "
                            "'concat'; got 'max'.")
    with pytest.raises(ConfigError, match=r"'data.sources' must be a non-empty list"):
        ClassificationConfig.from_dict({"data": {"sources": ["twitter"]}})
    with pytest.raises(ConfigError, match=r"'data.path' must name a TSV file"):
        ClassificationConfig.from_dict({"data": {"dataset": "tsv"}})
    with pytest.raises(ConfigError, match=r"'task' must be 'classification' here"):
        ClassificationConfig.from_dict({"task": "translation"})
    path = tmp_path / "c.yaml"
    path.write_text("task: classification\nmodel:\n  unit: 3\n")
    with pytest.raises(ConfigError, match=r"Unknown config field 'model.unit'. Did you mean "
                                          r"'model.units'\?"):
        load_config(str(path))


# -------------------------------------------------------------------- model
def _tokens():
    return np.array([[5, 6, 7, 0], [8, 9, 0, 0], [0, 0, 0, 0]], "int32")


@pytest.mark.parametrize("pooling, members", [("attention", 1), ("last", 1), ("concat", 1),
                                              ("attention", 3)])
def test_model_roundtrips_and_trains(pooling, members, tmp_path):
    model = RecurrentClassifier(30, 3, embedding_dim=8, units=4, pooling=pooling,
                                embedding_dropout=0.1, dropout=0.1, members=members)
    probs = keras.ops.convert_to_numpy(model(_tokens()))
    assert probs.shape == (3, 3) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(-1), 1, atol=1e-5)
    clone = harness.assert_config_roundtrip(model)
    assert clone.members == members and clone.pooling == pooling
    harness.assert_save_reload_equal(model, _tokens(), tmp_path)
    y = keras.utils.to_categorical([0, 1, 2], 3)
    harness.assert_fit_step(model, _tokens(), y, loss="categorical_crossentropy", steps=2)


def test_model_padding_and_empty_rows():
    model = RecurrentClassifier(30, 2, embedding_dim=8, units=4, members=2)
    # More padding does not change an answer.
    wide = np.pad(_tokens(), [[0, 0], [0, 5]])
    np.testing.assert_allclose(model(_tokens()).numpy(), model(wide).numpy(), atol=1e-6)
    # An empty row gets the prior: the heads' biases alone.
    heads = [parts[-1] for parts in model._members]
    for head in heads:
        head.bias.assign(np.array([0.3, -0.2], "float32"))
    np.testing.assert_allclose(model(_tokens()).numpy()[2],
                               keras.ops.softmax(np.array([0.3, -0.2])).numpy(), atol=1e-6)
    weights = model.pooling_weights(_tokens()).numpy()
    np.testing.assert_allclose(weights.sum(-1), [1, 1, 0], atol=1e-5)
    assert weights[0, 3] == 0 and weights[1, 2:].sum() == 0
    grads = model.gradient_weights(_tokens(), [0, 1, 0]).numpy()
    np.testing.assert_allclose(grads.sum(-1), [1, 1, 0], atol=1e-5)


def test_model_mixed_precision_keeps_head_float32():
    y = keras.utils.to_categorical([0, 1, 1], 2)
    harness.assert_mixed_precision(
        lambda: RecurrentClassifier(30, 2, embedding_dim=8, units=4), _tokens(), y,
        "mixed_bfloat16", loss="categorical_crossentropy")


def test_attention_pooling_holds_up_on_its_own():
    values = np.random.default_rng(0).normal(size=(2, 5, 6)).astype("float32")
    mask = np.array([[True] * 5, [True, True, False, False, False]])
    pool = harness.run_layer_test(lambda: AttentionPooling(4), [values], {"mask": mask},
                                  expected_shapes=[(2, 6), (2, 5)])
    _, weights = pool(values, mask=mask)
    np.testing.assert_allclose(weights.numpy().sum(-1), 1, atol=1e-5)
    assert np.all(weights.numpy()[1, 2:] == 0)


def test_concat_pooling_reads_the_last_states_max_and_mean():
    values = np.random.default_rng(0).normal(size=(2, 5, 6)).astype("float32")
    mask = np.array([[True] * 5, [True, True, False, False, False]])
    # No weights: nothing to train.
    pool = harness.run_layer_test(ConcatPooling, [values], {"mask": mask},
                                  expected_shapes=[(2, 18)], train=False)
    out = pool(values, mask=mask).numpy()
    row = values[1, :2]  # the real steps of the second sentence
    np.testing.assert_allclose(out[1], np.concatenate(
        [row[1, :3], row[0, 3:], row.max(0), row.mean(0)]), rtol=1e-6)
    np.testing.assert_allclose(out[0, 6:12], values[0].max(0), rtol=1e-6)
    # The padding never counts, whatever it holds.
    noisy = values.copy()
    noisy[1, 2:] = 100.0
    np.testing.assert_allclose(pool(noisy, mask=mask).numpy(), out, rtol=1e-6)


def test_dtype_policy_is_part_of_the_model_config(tmp_path):
    reloaded = harness.assert_reloads_with_its_policy(
        lambda: RecurrentClassifier(30, 3, embedding_dim=8, units=4, members=2), _tokens(),
        tmp_path, ["embedding_1"], ["head_1"])
    assert reloaded(_tokens()).dtype == "float32"


def test_model_argument_errors():
    with pytest.raises(ValueError) as e:
        RecurrentClassifier(30, 1)
    assert str(e.value) == "Argument `num_classes` must be an integer >= 2; got num_classes=1."
    with pytest.raises(ValueError, match=r"`pooling` must be 'attention', 'last' or 'concat'; "
                                         r"got pooling='mean'"):
        RecurrentClassifier(30, 2, pooling="mean")
    with pytest.raises(ValueError, match=r"`members` must be a positive integer; got members=0"):
        RecurrentClassifier(30, 2, members=0)
    with pytest.raises(ValueError, match=r"`units` must be a positive integer"):
        AttentionPooling(0)
    with pytest.raises(ValueError, match="pooling_weights needs pooling='attention'"):
        RecurrentClassifier(30, 2, pooling="last").pooling_weights(_tokens())


# ----------------------------------------------------------------- pipeline
GOOD = ["great", "excellent", "wonderful", "superb"]
BAD = ["awful", "terrible", "horrible", "dreadful"]
MEH = ["average", "ordinary", "mediocre", "passable"]
FILLER = ["the", "phone", "film", "was", "really", "quite", "this", "plot", "battery", "so",
          "and", "it", "screen", "story", "overall"]


def _examples(n, seed):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        label = ["good", "bad", "meh"][rng.integers(3)]
        word = rng.choice({"good": GOOD, "bad": BAD, "meh": MEH}[label])
        words = list(rng.choice(FILLER, rng.integers(2, 7)))
        words.insert(rng.integers(len(words) + 1), word)
        out.append((" ".join(words), label))
    return out


TINY = {
    "tokenizer": {"vocab_size": 300, "max_tokens": 32},
    "model": {"embedding_dim": 16, "units": 8, "embedding_dropout": 0.0, "dropout": 0.0,
              "members": 1},
    "train": {"epochs": 10, "batch_size": 32, "learning_rate": 0.01, "weight_decay": 0.0,
              "patience": 0, "lr_decay": 1.0, "tensorboard": False, "verbose": 0},
}


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    config = ClassificationConfig.from_dict(TINY)
    train, val = _examples(400, 0), _examples(60, 1)
    run = tmp_path_factory.mktemp("run")
    clf = SentenceClassifier(config)
    assert clf.fit(train, val, run_dir=str(run)) is clf
    return clf, train, run


def test_learns_a_small_task(fitted):
    clf, train, run = fitted
    assert clf.labels == ["bad", "good", "meh"]
    assert clf.history[-1]["loss"] < 0.5 * clf.history[0]["loss"]
    scores = clf.evaluate(_examples(90, 7))
    assert scores["accuracy"] >= 0.9 and scores["macro_f1"] >= 0.9, scores
    assert set(scores) == {"accuracy", "macro_f1", "per_label_f1", "confusion_matrix",
                           "labels", "examples"}
    matrix = np.array(scores["confusion_matrix"])
    assert matrix.shape == (3, 3) and matrix.sum() == 90 == scores["examples"]
    assert np.trace(matrix) / 90 == pytest.approx(scores["accuracy"])
    assert os.path.exists(run / "history.csv") and os.path.exists(run / "config.yaml")


def test_predict_labels_and_probabilities(fitted):
    clf, _, _ = fitted
    labels, probs = clf.predict(["the phone was great", "awful plot", "so mediocre"])
    assert labels == ["good", "bad", "meh"]
    assert probs.shape == (3, 3) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(-1), 1, atol=1e-5)
    assert list(probs.argmax(-1)) == [1, 0, 2]
    # Batching and case folding do not change answers.
    together = clf.predict(["GREAT phone", "it was dreadful", "the story"], batch_size=2)
    alone = [clf.predict([s]) for s in ["great phone", "it was dreadful", "the story"]]
    assert together.labels == [p.labels[0] for p in alone]
    np.testing.assert_allclose(together.probabilities,
                               np.concatenate([p.probabilities for p in alone]), atol=1e-5)
    empty = clf.predict([])
    assert empty.labels == [] and empty.probabilities.shape == (0, 3)


def test_odd_inputs_are_answered_as_documented(fitted, caplog):
    clf, _, _ = fitted
    with caplog.at_level(logging.WARNING):
        labels, probs = clf.predict(["", "   ", "猫 😀 Ωμέγα", " ".join(["great"] * 40)])
    # Empty and whitespace-only: the model's prior, identical for both.
    assert labels[0] == labels[1] and np.allclose(probs[0], probs[1])
    assert "2 empty sentence(s) have no tokens; they get the model's prior." in caplog.text
    assert ("1 sentence(s) longer than tokenizer.max_tokens=32 subword tokens were "
            "classified from their first 32 tokens.") in caplog.text
    assert labels[3] == "good"
    with pytest.raises(TypeError, match=r"not one string; wrap it in \[...\]"):
        clf.predict("great")
    with pytest.raises(TypeError, match=r"sentences\[1\] must be a str; got int: 3"):
        clf.predict(["great", 3])


def test_bad_labels_and_data_are_clear_errors(fitted):
    clf, train, _ = fitted
    with pytest.raises(ValueError) as e:
        clf.evaluate([("great", "good"), ("fine", "neutral")])
    assert str(e.value) == ("examples[1]: label 'neutral' was not seen in training; the model "
                            "knows ['bad', 'good', 'meh'].")
    with pytest.raises(ValueError, match=r"examples\[0\]: empty sentence ' '"):
        clf.evaluate([(" ", "good")])
    config = ClassificationConfig.from_dict(TINY, ["train.epochs=1"])
    with pytest.raises(ValueError) as e:
        SentenceClassifier(config).fit([("a b", "x"), ("c d", "x")], [("e", "x")])
    assert str(e.value) == ("A classifier needs at least two labels; the training data has "
                            "only 'x' (2 sentences).")
    with pytest.raises(ValueError, match=r"train\[1\]: empty sentence ''"):
        SentenceClassifier(config).fit([("a b", "x"), ("", "y")] * 5, [("a", "x")])
    with pytest.raises(ValueError, match=r"val\[0\]: label 'z' was not seen in training"):
        SentenceClassifier(config).fit(train[:50], [("great", "z")])
    with pytest.raises(TypeError, match=r"train\[0\] must be a \(sentence, label\) pair"):
        SentenceClassifier(config).fit(["just text"], [("a", "b")])
    with pytest.raises(RuntimeError, match="not fitted yet"):
        SentenceClassifier().predict(["hello"])
    with pytest.raises(TypeError, match="must be a ClassificationConfig"):
        SentenceClassifier({"model": {}})


def test_save_load_and_export_reproduce(fitted, tmp_path):
    clf, _, _ = fitted
    sentences = ["the film was superb", "horrible battery", "", "quite ordinary",
                 "¿qué? 猫"]
    want = clf.predict(sentences)
    # Not fitted, bad inputs, save -> load, export -> reload: the same answers.
    again, outputs = harness.run_pipeline_test(
        clf, sentences, tmp_path, atol=1e-6,
        bad_inputs=[("great", TypeError, r"not one string; wrap it in \[...\]"),
                    (["great", 3], TypeError, r"sentences\[1\] must be a str; got int: 3")])
    assert sorted(os.listdir(tmp_path / "saved")) == [
        "classifier.json", "model.keras", "tokenizer.model"]
    got = again.predict(sentences)
    assert got.labels == want.labels and again.labels == clf.labels
    np.testing.assert_allclose(got.probabilities, want.probabilities, atol=1e-6)
    assert outputs["probabilities"].dtype.name == "float32"
    export_dir = str(tmp_path / "export")
    meta = json.load(open(os.path.join(export_dir, "metadata.json")))
    assert meta["labels"] == ["bad", "good", "meh"]
    assert meta["outputs"]["probabilities"]["shape"] == [None, 3]
    # A fresh process with only tensorflow and tensorflow_text.
    out = serve_in_fresh_process(export_dir, sentences)
    assert out["label"]["values"] == want.labels
    assert out["probabilities"]["dtype"] == "float32"
    np.testing.assert_allclose(out["probabilities"]["values"], want.probabilities, atol=1e-5)


def test_explain_and_plot_point_at_the_keyword(fitted):
    clf, _, _ = fitted
    info = clf.explain("the plot was terrible")
    assert info["label"] == "bad" and info["method"] == "attention"
    words = [w for w, _ in info["words"]]
    assert words == ["the", "plot", "was", "terrible"]
    weights = np.array([w for _, w in info["words"]])
    assert weights.sum() == pytest.approx(1, abs=1e-4)
    # The one word that decides the label is the one the model leaned on.
    assert words[int(weights.argmax())] == "terrible", info["words"]
    gradient = clf.explain("the plot was terrible", method="gradient")
    assert [w for w, _ in gradient["words"]] == words
    assert sum(w for _, w in gradient["words"]) == pytest.approx(1, abs=1e-4)
    assert clf.explain("")["words"] == []
    fig = clf.plot("this plot was wonderful")
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["this", "plot", "was", "wonderful"]
    assert fig.axes[0].get_title().startswith("good (")
    with pytest.raises(ValueError, match="method must be 'attention' or 'gradient'"):
        clf.explain("great", method="shap")


def test_tfidf_baseline_on_the_same_split():
    train, val, test = _examples(300, 0), _examples(60, 1), _examples(60, 2)
    scores = tfidf_baseline(train, test, val)
    assert scores["accuracy"] >= 0.9 and scores["macro_f1"] >= 0.9
    assert scores["C"] in (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
    assert tfidf_baseline(train, test)["val_accuracy"] is None


def test_members_train_separately_and_average(tmp_path):
    config = ClassificationConfig.from_dict(TINY, ["model.members=2", "train.epochs=3",
                                                   "train.seed=5"])
    train, val = _examples(200, 0), _examples(40, 1)
    run = tmp_path / "run"
    clf = SentenceClassifier(config).fit(train, val, run_dir=str(run))
    assert clf.model.members == 2
    assert sorted({row["member"] for row in clf.history}) == [0, 1]
    assert sorted(os.listdir(run / "members")) == ["0", "1"]
    assert os.path.exists(run / "members" / "1" / "checkpoints" / "best.weights.h5")
    assert "member" in (run / "history.csv").read_text().splitlines()[0]
    assert [r["member"] for r in training.RunDir(run).read_history()] == [0, 0, 0, 1, 1, 1]
    # The combined model is the normalised geometric mean of its members.
    tokens = clf._encode(["great plot", "so awful"])[0].to_tensor()
    mask, has_tokens = keras.ops.not_equal(tokens, 0), np.ones((2, 1), "float32")
    from text.classification.model import _member_encode, _member_head
    logs = [_member_head(parts, _member_encode(parts, tokens, mask, training=False), mask,
                         has_tokens, training=False)[0]
            for parts in clf.model._members]
    expected = keras.ops.softmax((logs[0] + logs[1]) / 2).numpy()
    np.testing.assert_allclose(clf.model(tokens).numpy(), expected, atol=1e-5)
    assert clf.evaluate(_examples(60, 3))["accuracy"] >= 0.8

    # Member k is exactly the one-network classifier fitted on its own with
    # seed 5 + k (checked for k = 1, where the seed differs from the
    # ensemble's own): the same epochs and the same weights.
    single = SentenceClassifier(config, members=1, seed=6).fit(train, val)
    assert single.tokenizer.model_proto == clf.tokenizer.model_proto
    assert [{key: v for key, v in row.items() if key != "member"}
            for row in clf.history if row["member"] == 1] == single.history
    for ours, theirs in zip(clf.model._members[1], single.model._members[0]):
        if ours is not None:
            for a, b in zip(ours.get_weights(), theirs.get_weights()):
                np.testing.assert_array_equal(a, b)


def test_keyword_overrides_of_the_config():
    clf = SentenceClassifier(members=1, epochs=2, vocab_size=300, seed=7)
    want = ClassificationConfig.from_dict({}, ["model.members=1", "train.epochs=2",
                                               "tokenizer.vocab_size=300", "train.seed=7"])
    assert clf.config == want and clf.config.data.seed == 0
    config = ClassificationConfig.from_dict(TINY)
    clf = SentenceClassifier(config, units=4, pooling="last")
    assert (clf.config.model.units, clf.config.model.pooling) == (4, "last")
    assert config.model.units == 8 and clf.config.model.embedding_dim == 16
    with pytest.raises(TypeError, match=r"Unknown SentenceClassifier argument\(s\) \['unit'\]"):
        SentenceClassifier(unit=4)
    with pytest.raises(ConfigError, match=r"'model.pooling' must be 'attention', 'last' or "):
        SentenceClassifier(pooling="max")


def test_subword_sampling_in_training_only(tmp_path):
    config = ClassificationConfig.from_dict(TINY, ["tokenizer.sampling_alpha=0.3",
                                                   "train.epochs=2"])
    clf = SentenceClassifier(config).fit(_examples(120, 0), _examples(30, 1),
                                         run_dir=str(tmp_path / "run"))
    assert len(clf.history) == 2 and np.isfinite(clf.history[-1]["loss"])
    # Inference uses the best segmentation: the same answer every time.
    first = clf.predict(["the plot was great"] * 3).probabilities
    np.testing.assert_allclose(first, first[[0, 0, 0]], atol=1e-6)
    with pytest.raises(ConfigError, match=r"'tokenizer.sampling_alpha' must be in \[0, 1\]"):
        ClassificationConfig.from_dict(TINY, ["tokenizer.sampling_alpha=2"])
