"""Decoding constrained to a lexicon: the best CTC path through the words'
graph (exact on small cases), only lexicon words out, a misspelling the
model half-believes mapped to the word, the same answer alone and in a
padded batch and in a graph; and in the speech pipeline: evaluated beside
greedy and beam, saved with the model, exported and said in metadata.json."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from pipelines.decoding import Lexicon
from pipelines.config import ConfigError
from speech import data
from speech.config import SpeechConfig
from speech.pipeline import SpeechRecognizer
from tests import harness

ALPHABET = data.ALPHABET
BLANK = len(ALPHABET)


def _logits(text_frames, sharp=0.9, second=None):
    """Frame-wise distributions peaked on the given characters ("_" is the
    blank); `second` puts the rest of a frame's mass on another character."""
    classes = len(ALPHABET) + 1
    out = np.full((len(text_frames), classes), (1 - sharp) / classes, "float32")
    for t, c in enumerate(text_frames):
        out[t, BLANK if c == "_" else ALPHABET.index(c)] += sharp
        if second and t in second:
            out[t, ALPHABET.index(second[t])] += 0.45
    return np.log(out / out.sum(1, keepdims=True))


def test_spells_only_lexicon_words_and_maps_a_misspelling():
    lex = Lexicon(data.DIGIT_WORDS, ALPHABET, BLANK)
    # Greedy reads "one tree": "h" is the runner-up at the blank after "t".
    frames = "one t_re_e"
    logits = _logits(frames, second={5: "h"})
    assert lex.decode(logits[None], [len(frames)]).numpy().tolist() == [b"one three"]
    rng = np.random.default_rng(0)
    noise = rng.normal(size=(6, 40, BLANK + 1)).astype("float32") * 3
    for text in lex.decode(noise, [40, 30, 12, 5, 1, 40]).numpy():
        assert set(text.decode().split()) <= set(data.DIGIT_WORDS)


def test_alone_equals_in_a_padded_batch_and_in_a_graph():
    lex = Lexicon(["one", "two", "nine", "none"], ALPHABET, BLANK)
    a, b = _logits("n_one__ two"), _logits("ni_ne")
    batch = np.full((2, len(a), BLANK + 1), -3.0, "float32")
    batch[0], batch[1, :len(b)] = a, b
    alone = [lex.decode(x[None], [len(x)]).numpy()[0] for x in (a, b)]
    assert alone == [b"none two", b"nine"]
    assert lex.decode(batch, [len(a), len(b)]).numpy().tolist() == alone
    graph = tf.function(lex.decode, input_signature=[tf.TensorSpec([None, None, BLANK + 1]),
                                                      tf.TensorSpec([None], tf.int32)])
    assert graph(batch, tf.constant([len(a), len(b)])).numpy().tolist() == alone


def test_the_best_path_is_exact_on_a_small_case():
    # Every CTC path of 6 frames, scored by brute force; the texts the
    # lexicon graph spells are lexicon words with or without a space between
    # them (for the words "ab" and "b", a text splits into them one way at
    # most). The decoder's words are those of the best such path.
    import itertools
    import re

    words = ["ab", "b"]
    alphabet, blank = " ab", 3
    lex = Lexicon(words, alphabet, blank)
    def spelled(path):
        text = "".join(alphabet[k] for k, _ in itertools.groupby(path) if k != blank)
        chunks = text.strip(" ").split(" ")
        if "" in chunks or not all(re.fullmatch(r"(ab|b)+", c) for c in chunks):
            return None
        return " ".join(w for c in chunks for w in re.findall(r"ab|b", c))

    paths = [(p, spelled(p)) for p in itertools.product(range(4), repeat=6)]
    paths = [(np.array(p), key) for p, key in paths if key is not None]
    for seed in range(4):
        logp = np.log(np.random.default_rng(seed).dirichlet(np.ones(4), size=6))
        logp = logp.astype("float32")
        best = {}
        for path, key in paths:
            best[key] = max(best.get(key, -np.inf), logp[np.arange(6), path].sum())
        want = max(best, key=best.get)
        assert lex.decode(logp[None], [6]).numpy()[0].decode() == want, seed


def test_bad_lexicons_are_one_clear_error():
    with pytest.raises(ValueError, match=r"Lexicon word 'über': character 'ü' is not in"):
        Lexicon(["one", "über"], ALPHABET, BLANK)
    with pytest.raises(ValueError, match="The lexicon is empty"):
        Lexicon(["", " "], ALPHABET, BLANK)
    with pytest.raises(ConfigError, match=r"model.decoder.*needs model.lexicon"):
        SpeechConfig.from_dict({}, ["model.decoder=lexicon"])


def test_speech_pipeline_with_a_lexicon(tmp_path, data_dir):
    words = tmp_path / "words.txt"
    words.write_text("\n".join(data.DIGIT_WORDS) + "\n")
    cfg = SpeechConfig.from_yaml(os.path.join(harness.ROOT, "speech", "configs", "tiny.yaml"),
                                 ["train.verbose=0", f"model.lexicon={words}",
                                  "model.decoder=lexicon", "data.train_count=16"])
    splits = data.fsdd_sequences(data_dir, train_count=16, test_count=4, seed=1)
    asr = SpeechRecognizer(cfg).fit(splits.train, run_dir=tmp_path / "run")
    metrics = asr.evaluate(splits.test)
    assert {"wer_greedy", "wer_beam", "wer_lexicon", "cer_lexicon"} <= set(metrics)
    texts = asr.transcribe([u.audio for u in splits.test])
    assert all(set(t.split()) <= set(data.DIGIT_WORDS) for t in texts)
    saved = asr.save(tmp_path / "saved")
    words.unlink()  # the words are saved with the model
    again = SpeechRecognizer.load(saved)
    assert again.transcribe([u.audio for u in splits.test]) == texts
    export = again.export(tmp_path / "export", sample=[u.audio for u in splits.test])
    meta = json.load(open(os.path.join(export, "metadata.json")))
    assert meta["decoder"] == "lexicon" and meta["lexicon"] == data.DIGIT_WORDS
    assert meta["beam_width"] is None
    assert asr.transcribe([u.audio for u in splits.test], beam_width=3) is not None
