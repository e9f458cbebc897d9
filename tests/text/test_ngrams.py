"""The bag of word n-grams beside the sentence classifier's network
(`text.classification.ngrams`): scikit-learn's TF-IDF + logistic
regression reproduced in TensorFlow ops, and `model.ngram_weight` mixing it
into the classifier's answer in `predict`, save/load and the export."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from pipelines.config import ConfigError
from tests import harness
from tests.text.test_classification import TINY, _examples
from text.classification import SentenceClassifier
from text.classification.ngrams import NgramModel, hashed_ngrams
from text.config import ClassificationConfig

TRAIN = [("Great phone, great battery!", "pos"), ("The plot was AWFUL.", "neg"),
         ("naïve café, très bien", "pos"), ("I'd say: 10/10 a must", "pos"),
         ("a b c d worst worst worst", "neg"), ("Ωμέγα Ωμέγα works", "pos"),
         ("battery died, awful support", "neg"), ("the film was boring", "neg")]
TEST = ["great GREAT plot", "awful battery, boring film", "café Ωμέγα", "x y z",
        "", "10/10 would buy", "worst phone"]


def test_features_and_probabilities_equal_scikit_learns():
    ngrams = NgramModel.fit(TRAIN, labels=["neg", "pos"])
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    x_train = vectorizer.fit_transform([s for s, _ in TRAIN])
    assert ngrams.features == x_train.shape[1] == len(vectorizer.vocabulary_)
    ours, theirs = ngrams._matrix(TEST), vectorizer.transform(TEST)
    for i, sentence in enumerate(TEST):
        # The same values per sentence (the columns are in another order).
        np.testing.assert_allclose(np.sort(ours[i].data), np.sort(theirs[i].data), atol=1e-6,
                                   err_msg=sentence)
    lr = LogisticRegression(C=1.0, max_iter=5000, random_state=0).fit(
        x_train, [y for _, y in TRAIN])
    np.testing.assert_allclose(ngrams.predict_proba(TEST), lr.predict_proba(theirs),
                               atol=1e-5)
    # Words of one character are not words; n-grams are of the words left.
    grams = hashed_ngrams(tf.constant(["a b c d worst", "x"])).to_list()
    assert len(grams[0]) == 1 and grams[1] == []


def test_character_blocks_equal_scikit_learns_feature_union(tmp_path):
    """`char_wb` n-grams alone and beside word n-grams (each block
    normalised on its own, as a FeatureUnion of vectorizers): the same
    values and probabilities as scikit-learn's, short words (shorter than
    the lowest width, padded) counted once, unicode lowercased; save/load
    keeps the blocks."""
    from sklearn.pipeline import FeatureUnion

    test = TEST + ["a I", "Ωμ  x\ty\u00a0z"]
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True)
    both = FeatureUnion([("w", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)),
                         ("c", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4),
                                               sublinear_tf=True))])
    for blocks, vectorizer in (([("char_wb", 3, 5)], chars),
                               ([("word", 1, 2), ("char_wb", 2, 4)], both)):
        ngrams = NgramModel.fit(TRAIN, labels=["neg", "pos"], blocks=blocks)
        x_train = vectorizer.fit_transform([s for s, _ in TRAIN])
        assert ngrams.features == x_train.shape[1]
        ours, theirs = ngrams._matrix(test), vectorizer.transform(test)
        for i, sentence in enumerate(test):
            np.testing.assert_allclose(np.sort(ours[i].data), np.sort(theirs[i].data),
                                       atol=1e-6, err_msg=f"{blocks}: {sentence!r}")
        lr = LogisticRegression(C=1.0, max_iter=5000, random_state=0).fit(
            x_train, [y for _, y in TRAIN])
        np.testing.assert_allclose(ngrams.predict_proba(test), lr.predict_proba(theirs),
                                   atol=1e-5)
        ngrams.save(tmp_path / "n.npz")
        again = NgramModel.load(tmp_path / "n.npz")
        assert again.blocks == tuple(blocks) and again.summary() == ngrams.summary()
        np.testing.assert_array_equal(again.predict_proba(test), ngrams.predict_proba(test))
    assert ngrams.summary()["features"] == ("TF-IDF word 1-2 grams + character (within words) "
                                            "2-4 grams (sublinear tf), hashed")
    grams = hashed_ngrams(tf.constant(["ab I"]), "char_wb", (3, 4)).to_list()[0]
    # " ab " gives " ab", "ab " and " ab "; " i " (three characters) once.
    assert len(grams) == 4
    with pytest.raises(ValueError, match=r"^NgramModel: feature block \('char', 1, 2\) must "
                                         r"be \(analyzer, low, high\) with analyzer one of "
                                         r"\['word', 'char_wb'\] and 1 <= low <= high.$"):
        NgramModel.fit(TRAIN, blocks=[("char", 1, 2)])


def test_fit_picks_c_on_validation_and_round_trips(tmp_path):
    train, val = _examples(200, 0), _examples(60, 1)
    ngrams = NgramModel.fit(train, val, labels=["bad", "good", "meh"])
    assert ngrams.c in (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0) and ngrams.classes == 3
    test = [s for s, _ in _examples(60, 2)]
    truth = [y for _, y in _examples(60, 2)]
    predicted = np.array(["bad", "good", "meh"])[ngrams.predict_proba(test).argmax(1)]
    assert np.mean(predicted == np.array(truth)) >= 0.9
    ngrams.save(tmp_path / "n.npz")
    again = NgramModel.load(tmp_path / "n.npz")
    assert again.c == ngrams.c and again.summary() == ngrams.summary()
    np.testing.assert_array_equal(again.predict_proba(test), ngrams.predict_proba(test))
    # A file saved before feature blocks (word 1..ngram_max grams) loads.
    np.savez(tmp_path / "old.npz", columns=ngrams.columns[0], idf=ngrams.idf[0],
             kernel=ngrams.kernel, bias=ngrams.bias, ngram_max=2, buckets=ngrams.buckets,
             c=ngrams.c)
    old = NgramModel.load(tmp_path / "old.npz")
    assert old.blocks == (("word", 1, 2),)
    np.testing.assert_array_equal(old.predict_proba(test), ngrams.predict_proba(test))
    # In a traced function too (the export's graph).
    traced = tf.function(ngrams.log_probabilities,
                         input_signature=[tf.TensorSpec([None], tf.string)])
    np.testing.assert_allclose(np.exp(traced(tf.constant(test)).numpy()),
                               ngrams.predict_proba(test), atol=1e-6)
    # An empty batch, and sentences without a known n-gram (the prior).
    assert traced(tf.constant([], tf.string)).shape == (0, 3)
    prior = traced(tf.constant(["", "zz qq"])).numpy()
    np.testing.assert_allclose(prior[0], prior[1])
    np.testing.assert_allclose(prior[0], tf.nn.log_softmax(ngrams.bias).numpy(), atol=1e-6)
    with pytest.raises(ValueError, match=r"^NgramModel.fit: the training sentences have no "
                                         r"word of two or more letters, digits or underscores "
                                         r"to count \(block \('word', 1, 2\)\).$"):
        NgramModel.fit([("a b", "pos"), ("c !", "neg")])
    with pytest.raises(ValueError, match=r"^NgramModel.fit: labels must be the sorted label "
                                         r"names \(at least two, every training label among "
                                         r"them\); got \['good', 'bad'\].$"):
        NgramModel.fit(train, labels=["good", "bad"])


def test_classifier_mixes_the_ngrams_into_its_answer(tmp_path):
    config = ClassificationConfig.from_dict(TINY, ["model.ngram_weight=0.4", "train.epochs=3",
                                                   "model.ngram_chars=[2, 4]"])
    train, val = _examples(200, 0), _examples(40, 1)
    clf = SentenceClassifier(config).fit(train, val)
    assert clf.ngrams is not None and clf.ngrams.classes == 3
    assert clf.ngrams.blocks == (("word", 1, 2), ("char_wb", 2, 4))
    sentences = ["the film was superb", "horrible battery", "", "quite ordinary", "¿qué? 猫"]
    tokens = clf._encode(sentences)[0].to_tensor()
    tokens = tf.pad(tokens, [[0, 0], [0, 1]])  # the empty batch row still runs
    network = clf.model(tokens).numpy()
    ngram = clf.ngrams.log_probabilities(tf.constant(sentences)).numpy()
    expected = tf.nn.softmax(0.6 * np.log(network) + 0.4 * ngram).numpy()
    got = clf.predict(sentences)
    np.testing.assert_allclose(got.probabilities, expected, atol=1e-5)
    assert got.labels == [clf.labels[i] for i in expected.argmax(1)]

    again, _ = harness.run_pipeline_test(clf, sentences, tmp_path, atol=1e-6)
    assert sorted(os.listdir(tmp_path / "saved")) == [
        "classifier.json", "model.keras", "ngrams.npz", "tokenizer.model"]
    assert again.ngrams.summary() == clf.ngrams.summary()
    meta = json.load(open(tmp_path / "export" / "metadata.json"))
    assert meta["ngrams"] == dict(clf.ngrams.summary(), weight=0.4)

    # The share changes without refitting: 0 is the network alone.
    np.testing.assert_allclose(clf.set_ngram_weight(0).predict(sentences).probabilities,
                               network, atol=1e-5)
    np.testing.assert_allclose(clf.set_ngram_weight(0.4).predict(sentences).probabilities,
                               expected, atol=1e-5)
    with pytest.raises(ConfigError, match=r"'model.ngram_weight' must be in \[0, 1\)"):
        clf.set_ngram_weight(1.0)
    with pytest.raises(ValueError, match=r"^set_ngram_weight\(0.5\): this classifier has no "
                                         r"n-gram model; fit it with model.ngram_weight > 0.$"):
        SentenceClassifier(ClassificationConfig.from_dict(TINY)).set_ngram_weight(0.5)
    with pytest.raises(ValueError, match=r"^model.ngram_weight > 0 needs in-memory "):
        SentenceClassifier(config).fit(None)
    with pytest.raises(ConfigError, match=r"'model.ngram_weight' must be 0 with data.shards"):
        ClassificationConfig.from_dict(TINY, ["model.ngram_weight=0.4", "data.shards=x"])
    with pytest.raises(ConfigError, match=r"'model.ngram_weight' must be in \[0, 1\)"):
        ClassificationConfig.from_dict(TINY, ["model.ngram_weight=1.0"])
    with pytest.raises(ConfigError, match=r"'model.ngram_chars' must be \[low, high\] with "
                                          r"1 <= low <= high, or null"):
        ClassificationConfig.from_dict(TINY, ["model.ngram_chars=[3, 2]"])
    with pytest.raises(ConfigError, match=r"'model.ngram_weight'.*needs model.ngram_words or "
                                          r"model.ngram_chars"):
        ClassificationConfig.from_dict(TINY, ["model.ngram_weight=0.5", "model.ngram_words=null"])
    only_chars = ClassificationConfig.from_dict(TINY, ["model.ngram_words=null",
                                                       "model.ngram_chars=[3, 5]"])
    assert only_chars.model.ngram_blocks() == (("char_wb", 3, 5),)
    assert ClassificationConfig.from_dict(only_chars.to_dict()) == only_chars
