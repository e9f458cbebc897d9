"""The Translator pipeline: learns a small task, translates in graph ops,
saves, reloads and exports equal; odd inputs behave as documented."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
import sacrebleu

from pipelines.config import ConfigError
from tests import harness
from tests.text.helpers import serve_in_fresh_process
from text.config import TranslationConfig, load_config
from text.translation import Translator

SPA = ["cero", "uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve"]
ENG = ["Zero", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine"]


def _pairs(n, seed):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        k = rng.integers(1, 3)
        idx = rng.integers(0, 10, k)
        out.append((" ".join(SPA[i] for i in idx), " ".join(ENG[i] for i in idx) + "."))
    return out


TINY = {
    "tokenizer": {"source_vocab": 300, "target_vocab": 300, "max_source_tokens": 24,
                  "max_target_tokens": 24},
    "model": {"embedding_dim": 32, "units": 64, "encoder_layers": 1, "dropout": 0.0,
              "label_smoothing": 0.0, "beam_width": 3},
    "train": {"epochs": 20, "batch_size": 32, "learning_rate": 0.01, "lr_decay": 0.95,
              "patience": 0, "tensorboard": False, "verbose": 0},
}


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    config = TranslationConfig.from_dict(TINY)
    train = _pairs(900, 0)  # repeats welcome: more steps per epoch
    val = list(dict.fromkeys(_pairs(60, 1)))
    run = tmp_path_factory.mktemp("run")
    return Translator(config).fit(train, val, run_dir=str(run)), train, run


def test_learns_a_small_task(fitted):
    tr, train, run = fitted
    history = tr.history
    assert history[-1]["loss"] < 0.5 * history[0]["loss"]
    # The task: map 1-2 Spanish digit words to English, capitalised, with a
    # full stop; 110 possible sentences, so "solved" means nearly all right.
    test = _pairs(20, 7)
    hyps = tr.translate([s for s, _ in test], beam_width=1)
    correct = sum(h == r for h, (_, r) in zip(hyps, test))
    assert correct >= 15, list(zip(hyps, test))
    scores = tr.evaluate(test)
    # chrF judges these 1-3 token sentences; BLEU is 0 for them whatever the
    # output (no 4-grams), so check it is sacreBLEU's own number instead.
    assert scores["chrf_beam"] > 80 and scores["chrf_greedy"] > 80
    refs = [r for _, r in test]
    beam = tr.translate([s for s, _ in test], beam_width=3)
    assert scores["bleu_beam"] == round(sacrebleu.corpus_bleu(beam, [refs]).score, 2)
    assert set(scores) == {"bleu_greedy", "chrf_greedy", "bleu_beam", "chrf_beam",
                           "beam_width", "sentences"}
    assert os.path.exists(run / "history.csv")


def test_odd_inputs_are_answered_not_crashed(fitted, caplog):
    tr, _, _ = fitted
    odd = ["", "   ", "猫 😀 Ωμέγα", "UNO DOS", " ".join(["uno"] * 60)]
    out = tr.translate(odd)
    assert out[0] == "" and out[1] == ""
    assert all(isinstance(t, str) for t in out)
    # Case folding of the source: shouting translates like lowercase.
    assert out[3] == tr.translate(["uno dos"])[0]
    assert "longer than tokenizer.max_source_tokens=24 subword tokens were truncated" in caplog.text
    assert tr.translate([]) == []
    with pytest.raises(TypeError, match=r"not one string; wrap it in \[...\]"):
        tr.translate("uno")


def test_batching_does_not_change_translations(fitted):
    tr, _, _ = fitted
    sentences = ["uno", "dos tres cuatro", "", "nueve ocho"]
    together = tr.translate(sentences, beam_width=3)
    alone = [tr.translate([s], beam_width=3)[0] for s in sentences]
    assert together == alone


def test_save_load_and_export_reproduce(fitted, tmp_path):
    tr, _, _ = fitted
    sentences = ["uno dos", "siete", "", "ocho ocho ocho", "¿qué? 猫"]
    want = tr.translate(sentences)
    # Not fitted, bad inputs, save -> load, export -> reload: the same answers.
    again, _ = harness.run_pipeline_test(
        tr, sentences, tmp_path,
        bad_inputs=[("uno", TypeError, r"not one string; wrap it in \[...\]"),
                    (["uno", 3], TypeError, r"sentences\[1\] must be a str; got int: 3")])
    assert again.translate(sentences) == want and tr.predict(sentences) == want
    assert sorted(os.listdir(tmp_path / "saved")) == [
        "model.keras", "source.model", "target.model", "translator.json"]
    export_dir = str(tmp_path / "export")
    meta = json.load(open(os.path.join(export_dir, "metadata.json")))
    assert meta["source_language"] == "spa" and meta["beam_width"] == 3
    # A fresh process with only tensorflow and tensorflow_text.
    out = serve_in_fresh_process(export_dir, sentences)
    assert out["translation"]["values"] == want
    # One line for the whole signature; a wrong rank is one line from the graph.
    assert meta["serve"] == "serve(text: string [batch]) -> {translation: string [batch]}"
    loaded = tf.saved_model.load(export_dir)
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"text must be string \[batch\] \(a 1-D tensor of sentences\); "
                             r"got shape"):
        loaded.serve(text=tf.constant("uno dos"))


def test_plot_attention(fitted):
    tr, _, _ = fitted
    fig = tr.plot_attention("uno dos tres")
    image = fig.axes[0].images[0].get_array()
    assert image.shape[1] >= 3 and np.allclose(np.asarray(image).sum(axis=1), 1, atol=1e-3)


def test_unfitted_and_config_errors(tmp_path):
    with pytest.raises(RuntimeError, match="not fitted yet"):
        Translator().translate(["hola"])
    with pytest.raises(ConfigError, match=r"model.attention"):
        TranslationConfig.from_dict({"model": {"attention": "dot"}})
    path = tmp_path / "c.yaml"
    path.write_text("task: translation\nname: x\n")
    assert load_config(str(path), ["model.units=8"]).model.units == 8
    path.write_text("task: poetry\n")
    with pytest.raises(ConfigError, match=r"task: must be one of .*got task='poetry'"):
        load_config(str(path))


def test_keyword_overrides_of_the_config():
    tr = Translator(units=8, beam_width=1, epochs=2, source_vocab=300)
    want = TranslationConfig.from_dict({}, ["model.units=8", "model.beam_width=1",
                                            "train.epochs=2", "tokenizer.source_vocab=300"])
    assert tr.config == want
    # Overrides apply on top of a config object, which is left as it was.
    config = TranslationConfig.from_dict(TINY)
    tr = Translator(config, units=16)
    assert tr.config.model.units == 16 and config.model.units == 64
    assert tr.config.model.embedding_dim == 32
    with pytest.raises(TypeError, match=r"Unknown Translator argument\(s\) \['unit'\]"):
        Translator(unit=8)
    with pytest.raises(ConfigError, match=r"model.attention"):
        Translator(attention="dot")
