"""Pretraining the classifier's encoder as a language model, then
fine-tuning (issue 16): the corpus reader, the bidirectional language model
(no look at the word it predicts), the pretraining folder (finished last,
reused, refused when made otherwise), and a classifier that starts from it,
its new layers first, and learns."""

import json
import os

import numpy as np
import pytest

from pipelines.config import ConfigError
from text.classification import SentenceClassifier
from text.classification import pretrain as pretrain_lib
from text.classification.pretrain import BidirectionalLanguageModel, read_corpus
from text.config import ClassificationConfig

# Unlabeled text where a sentiment word predicts what follows it.
GOOD = ["great", "excellent", "wonderful", "superb"]
BAD = ["awful", "terrible", "horrible", "dreadful"]
THINGS = ["film", "phone", "book", "meal", "show", "screen", "story", "camera", "hotel",
          "battery", "album", "game", "service", "room", "song", "plot", "laptop", "cast"]


def _unlabeled(n, seed):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        good = rng.integers(2)
        word = rng.choice(GOOD if good else BAD)
        after = ("i loved it" if good else "i hated it") if rng.integers(2) else (
            "so happy" if good else "so angry")
        opener = rng.choice(["", "i think ", "honestly ", "well "])
        very = rng.choice(["", "really ", "very ", "quite ", "truly ", "so "])
        out.append(f"{opener}the {rng.choice(THINGS)} was {very}{word} and {after}")
    return out


def _labelled(n, seed, words):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        good = rng.integers(2)
        word = rng.choice(words[0] if good else words[1])
        out.append((f"this {rng.choice(THINGS)} is {word}", "pos" if good else "neg"))
    return out


def _config(tmp_path, **pretrain):
    corpus = tmp_path / "corpus.txt"
    if not corpus.exists():
        corpus.write_text("\n".join(_unlabeled(1500, 0)) + "\n", encoding="utf-8")
    return ClassificationConfig.from_dict({
        "tokenizer": {"vocab_size": 300, "max_tokens": 32},
        "model": {"embedding_dim": 32, "units": 16, "embedding_dropout": 0.0,
                  "dropout": 0.0, "members": 1},
        "train": {"epochs": 4, "batch_size": 16, "learning_rate": 0.01, "weight_decay": 0.0,
                  "patience": 0, "lr_decay": 1.0, "tensorboard": False, "verbose": 0},
        "pretrain": {"corpus": [str(corpus)], "run_dir": str(tmp_path / "lm"), "epochs": 6,
                     "batch_size": 32, "learning_rate": 0.01, "patience": 0, "lr_decay": 1.0,
                     "dropout": 0.0, **pretrain},
    })


def test_corpus_files_folders_and_columns(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.txt").write_text("One.\n\nTwo.\nOne.\n", encoding="utf-8")
    (tmp_path / "p.tsv").write_text("Hi.\tHola.\nBye.\tAdios.\n", encoding="utf-8")
    corpus = [str(tmp_path / "d"), {"path": str(tmp_path / "p.tsv"), "column": 1}]
    assert read_corpus(corpus) == ["One.", "Two.", "Hola.", "Adios."]
    assert len(read_corpus(corpus, max_sentences=2)) == 2
    with pytest.raises(FileNotFoundError, match=r"pretrain.corpus: no file or folder 'nope.txt'"):
        read_corpus(["nope.txt"], data_dir=str(tmp_path))
    with pytest.raises(ValueError) as e:
        read_corpus([{"path": str(tmp_path / "p.tsv"), "column": 2}])
    assert str(e.value) == (f"{tmp_path / 'p.tsv'}, line 1: pretrain.corpus asks for "
                            "column 2, the line has 2 column(s).")
    # A relative path is found in the data directory.
    assert read_corpus(["d/a.txt"], data_dir=str(tmp_path)) == ["One.", "Two."]


def test_config_fields_are_checked():
    with pytest.raises(ConfigError) as e:
        ClassificationConfig.from_dict({"pretrain": {"corpus": [{"path": "a", "col": 1}]}})
    assert "Config field 'pretrain.corpus[0]' must be a path or a mapping" in str(e.value)
    with pytest.raises(ConfigError) as e:
        ClassificationConfig.from_dict({"pretrain": {"corpus": ["a.txt"]},
                                        "model": {"num_layers": 2}})
    assert str(e.value) == ("Config field 'model.num_layers' must be 1 with pretraining "
                            "(pretrain.corpus set); got 2.")
    with pytest.raises(ConfigError, match=r"'pretrain.discriminative' must be >= 1"):
        ClassificationConfig.from_dict({"pretrain": {"discriminative": 0.5}})
    with pytest.raises(ConfigError) as e:
        ClassificationConfig.from_dict({"pretrain": {"embedding_rate": 1.5}})
    assert str(e.value) == ("Config field 'pretrain.embedding_rate' must be in [0, 1]; "
                            "got 1.5.")
    with pytest.raises(ConfigError, match=r"'pretrain.anchor' must be >= 0; got -1"):
        ClassificationConfig.from_dict({"pretrain": {"anchor": -1}})
    with pytest.raises(ConfigError, match=r"'pretrain.lm_weight' must be >= 0; got -0.5"):
        ClassificationConfig.from_dict({"pretrain": {"lm_weight": -0.5}})
    with pytest.raises(ConfigError) as e:
        ClassificationConfig.from_dict({"pretrain": {"corpus": ["a.txt"], "lm_weight": 0.1},
                                        "model": {"pooling": "last"}})
    assert str(e.value) == ("Config field 'model.pooling' must be 'attention' or 'concat' with "
                            "pretrain.lm_weight > 0 (the language-model loss reads every "
                            "step); got 'last'.")
    cfg = ClassificationConfig.from_dict({"pretrain": {"corpus": [{"path": "x.tsv",
                                                                    "column": 0}]}})
    assert ClassificationConfig.from_dict(cfg.to_dict()) == cfg


def test_language_model_never_sees_the_token_it_predicts():
    lm = BidirectionalLanguageModel(40, embedding_dim=8, units=6, cell_type="lstm")
    tokens = np.array([[5, 6, 7, 8, 9, 0]], "int32")
    base = lm(tokens).numpy()
    for t in range(5):
        changed = tokens.copy()
        changed[0, t] = 30
        out = lm(changed).numpy()
        # Forward logits before t, backward logits after t, do not move.
        np.testing.assert_allclose(out[0, :t, 0], base[0, :t, 0], atol=1e-6)
        np.testing.assert_allclose(out[0, t + 1:5, 1], base[0, t + 1:5, 1], atol=1e-6)
        assert not np.allclose(out[0, t, 0], base[0, t, 0])
    # The loss counts every real next and previous token, not the padding.
    lm_config = BidirectionalLanguageModel.from_config(lm.get_config()).get_config()
    assert lm_config == lm.get_config()


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """One tiny pretraining the tests below share: `(config, its folder's
    parent, the PretrainedEncoder)`."""
    tmp_path = tmp_path_factory.mktemp("pretrain")
    cfg = _config(tmp_path)
    return cfg, tmp_path, pretrain_lib.pretrain(cfg, cfg.pretrain.run_dir)


def test_pretrain_writes_a_finished_folder_and_reuses_it(pretrained, caplog):
    cfg, tmp_path, pre = pretrained
    folder = tmp_path / "lm"
    assert {"pretrained.json", "encoder.weights.h5", "tokenizer.model", "lm"} <= set(
        os.listdir(folder))
    info = json.loads((folder / "pretrained.json").read_text())
    assert info["sentences"] == len(set(_unlabeled(1500, 0))) and info["epochs"] == 6
    # It learned the corpus: far below a uniform guess over the vocabulary.
    assert info["val_perplexity"] < 0.25 * pre.tokenizer.vocab_size, info
    stamp = os.path.getmtime(folder / "encoder.weights.h5")
    caplog.set_level("INFO")
    again = pretrain_lib.pretrain(cfg, cfg.pretrain.run_dir)
    assert "Reusing the finished pretraining" in caplog.text
    assert os.path.getmtime(folder / "encoder.weights.h5") == stamp
    assert again.info == pre.info
    other = _config(tmp_path, epochs=3)
    with pytest.raises(ValueError) as e:
        pretrain_lib.pretrain(other, other.pretrain.run_dir)
    assert str(e.value) == (f"pretrain.run_dir={folder} holds a pretraining made with "
                            "pretrain.epochs=6 (this config: 3); set pretrain.run_dir to "
                            "another folder, or remove that one to pretrain again.")


def test_fine_tuned_classifier_learns_and_reads_with_the_pretrained_tokenizer(pretrained,
                                                                               tmp_path):
    cfg = pretrained[0]
    words = (GOOD, BAD)
    train, val, test = _labelled(120, 1, words), _labelled(30, 2, words), _labelled(100, 3, words)
    tuned = SentenceClassifier(cfg).fit(train, val, run_dir=str(tmp_path / "tuned"))
    pre = pretrain_lib.PretrainedEncoder(cfg.pretrain.run_dir)
    assert tuned.tokenizer.model_proto == pre.tokenizer.model_proto
    assert tuned.evaluate(test)["accuracy"] >= 0.9
    # What it was pretrained on travels with it: saved, and in the export.
    assert tuned.pretraining == {
        "corpus": ["corpus.txt"], "sentences": pre.info["sentences"], "epochs": 6,
        "val_perplexity": pre.info["val_perplexity"], "adapted_sentences": None,
        "adapted_val_perplexity": None}
    tuned.save(tmp_path / "saved")
    assert SentenceClassifier.load(tmp_path / "saved").pretraining == tuned.pretraining
    assert tuned._export_metadata()["pretraining"] == tuned.pretraining
    # The run directory holds the classifier; the pretraining its own folder.
    assert os.path.exists(tmp_path / "tuned" / "history.csv")
    assert not os.path.exists(tmp_path / "tuned" / "pretrain")


def test_fine_tuning_starts_from_the_pretrained_encoder_and_unfreezes(pretrained, tmp_path):
    cfg, _, pre = pretrained
    lm = pre.language_model()
    clf = SentenceClassifier(cfg, epochs=1, unfreeze_epochs=1)
    clf.fit(_labelled(64, 1, (GOOD, BAD)), _labelled(16, 2, (GOOD, BAD)),
            run_dir=str(tmp_path / "one"))
    member = clf.model._members[0]
    # One epoch with unfreeze_epochs=1: only the new layers trained.
    for layer, name in ((member[0], "embedding"), (member[2], "encoder")):
        for a, b in zip(layer.get_weights(), lm.get_layer(name).get_weights()):
            np.testing.assert_array_equal(a, b)


def test_embedding_rate_and_anchor_hold_the_pretrained_weights(pretrained, tmp_path):
    cfg, _, pre = pretrained
    lm = pre.language_model()
    train, val = _labelled(64, 1, (GOOD, BAD)), _labelled(16, 2, (GOOD, BAD))

    def moved(clf):
        member = clf.model._members[0]
        return {name: max(np.abs(a - b).max() for a, b in zip(
                    layer.get_weights(), lm.get_layer(name).get_weights()))
                for layer, name in ((member[0], "embedding"), (member[2], "encoder"))}

    free = moved(SentenceClassifier(cfg, epochs=2, unfreeze_epochs=0).fit(
        train, val, run_dir=str(tmp_path / "free")))
    frozen = moved(SentenceClassifier(cfg, epochs=2, unfreeze_epochs=0, embedding_rate=0.0).fit(
        train, val, run_dir=str(tmp_path / "frozen")))
    anchored = moved(SentenceClassifier(cfg, epochs=2, unfreeze_epochs=0, anchor=100.0).fit(
        train, val, run_dir=str(tmp_path / "anchored")))
    assert frozen["embedding"] == 0.0 and frozen["encoder"] > 0.0
    # The pull toward the pretrained weights keeps them far closer than a
    # free fine-tuning moves them.
    for name in ("embedding", "encoder"):
        assert free[name] > 0.0
        assert anchored[name] < 0.5 * free[name], (name, anchored, free)


def test_language_model_loss_stays_on_while_fine_tuning(pretrained, tmp_path):
    cfg, _, pre = pretrained
    lm = pre.language_model()
    train, val = _labelled(64, 1, (GOOD, BAD)), _labelled(16, 2, (GOOD, BAD))
    clf = SentenceClassifier(cfg, epochs=1, unfreeze_epochs=0, lm_weight=0.5)
    clf._pretrained = pre
    clf.tokenizer, clf.labels = pre.tokenizer, ["neg", "pos"]
    clf.model = clf._build_model()
    clf._initialize(clf.model)
    trainer = clf._trained_model()
    # It starts from the pretrained heads, and its training loss is the
    # language model's on the classifier's own encoder, weighted.
    for side in ("forward", "backward"):
        for a, b in zip(trainer.heads[0][0 if side == "forward" else 1].get_weights(),
                        lm.get_layer(f"{side}_head").get_weights()):
            np.testing.assert_array_equal(a, b)
    tokens = clf._encode(_unlabeled(8, 5))[0].to_tensor()
    probs = trainer(tokens, training=True)
    assert len(trainer.losses) == 1
    expected = pretrain_lib.language_model_loss(tokens, lm(tokens))
    np.testing.assert_allclose(float(trainer.losses[0]), 0.5 * float(expected), rtol=1e-4)
    np.testing.assert_allclose(probs.numpy(), clf.model(tokens).numpy(), atol=1e-6)
    trainer(tokens)  # inference: the classifier alone
    assert not trainer.losses
    with pytest.raises(ValueError, match=r"`lm_weight` must be positive; got lm_weight=0"):
        pretrain_lib.ClassifierWithLanguageModel(clf.model, 0)

    # Fine-tuned with it, the encoder stays a better language model of the
    # corpus than fine-tuned without, and the classifier still learns.
    def lm_loss_after(clf):
        member = clf.model._members[0]
        tuned = pre.language_model()
        tuned.get_layer("embedding").set_weights(member[0].get_weights())
        tuned.get_layer("encoder").set_weights(member[2].get_weights())
        return float(pretrain_lib.language_model_loss(tokens, tuned(tokens)))

    kept = SentenceClassifier(cfg, epochs=3, unfreeze_epochs=0, learning_rate=0.03,
                              lm_weight=1.0).fit(train, val, run_dir=str(tmp_path / "kept"))
    free = SentenceClassifier(cfg, epochs=3, unfreeze_epochs=0, learning_rate=0.03).fit(
        train, val, run_dir=str(tmp_path / "free"))
    assert lm_loss_after(kept) < lm_loss_after(free)
    test = _labelled(60, 3, (GOOD, BAD))
    assert kept.evaluate(test)["accuracy"] >= 0.8, free.evaluate(test)["accuracy"]
    assert kept._lm is None  # not kept past fit


def test_adapting_to_the_task_sentences_first(pretrained, tmp_path):
    cfg, _, pre = pretrained
    adapting = SentenceClassifier(cfg, epochs=1, adapt_epochs=2)
    train = _labelled(64, 1, (GOOD, BAD))
    adapting.fit(train, _labelled(16, 2, (GOOD, BAD)), run_dir=str(tmp_path / "a"))
    info = json.loads((tmp_path / "a" / "lm_adapted" / "pretrained.json").read_text())
    assert info["adaptation"]["sentences"] == 64 and info["adapted"]["epochs"] == 2
    adapted = pretrain_lib.PretrainedEncoder(tmp_path / "a" / "lm_adapted")
    assert adapted.tokenizer.model_proto == pre.tokenizer.model_proto
    before = pre.language_model().get_layer("encoder").get_weights()[0]
    after = adapted.language_model().get_layer("encoder").get_weights()[0]
    assert not np.allclose(before, after)
    # Adapted otherwise, the same run directory is one error naming the field.
    with pytest.raises(ValueError) as e:
        SentenceClassifier(cfg, epochs=1, adapt_epochs=3).fit(
            train, _labelled(16, 2, (GOOD, BAD)), run_dir=str(tmp_path / "a"))
    assert str(e.value) == (f"{tmp_path / 'a' / 'lm_adapted'} holds a language model adapted "
                            "with pretrain.adapt_epochs=2 (this config: 3); remove it to adapt "
                            "again.")
    # The shared pretraining is untouched.
    np.testing.assert_array_equal(
        pretrain_lib.PretrainedEncoder(cfg.pretrain.run_dir).language_model()
        .get_layer("encoder").get_weights()[0], before)
