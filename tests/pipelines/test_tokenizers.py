"""The shared subword tokenizer: graph ops, byte fallback, round trips."""

import numpy as np
import pytest
import tensorflow as tf

from pipelines.tokenizers import EOS_ID, PAD_ID, SubwordTokenizer, normalize

CORPUS = ["Tom is here.", "Where is the cat?", "I like green apples.",
          "The cat is not here.", "We like cats and dogs."] * 30


@pytest.fixture(scope="module")
def tok():
    return SubwordTokenizer.train(CORPUS, vocab_size=320, seed=0)


def _text(t):
    return [s.decode("utf-8") for s in t.numpy()]


def test_normalize_nfkc_casefold_whitespace():
    out = normalize(tf.constant(["  Ｔｏｍ\u00a0 IS\there  ", "ÉCOLE"]), lowercase=True)
    assert _text(out) == ["tom is here", "école"]
    assert _text(normalize(tf.constant(["A  B"]))) == ["A B"]


def test_round_trip_and_unknown_scripts(tok):
    texts = ["Where is Tom?", "猫がいます 😀", "Ωμέγα", ""]
    ids = tok.tokenize(tf.constant(texts))
    assert ids.dtype == tf.int32 and ids.shape[0] == 4
    # Byte fallback: no unknown id (3) is ever produced, and unseen
    # characters come back unchanged.
    assert 3 not in ids.flat_values.numpy().tolist()
    assert _text(tok.detokenize(ids)) == texts


def test_detokenize_dense_stops_at_eos_and_drops_pads(tok):
    ids = tok.tokenize(tf.constant(["the cat"])).to_tensor()
    junk = tok.tokenize(tf.constant(["dogs"])).to_tensor()
    row = tf.concat([ids, [[EOS_ID]], junk, [[PAD_ID, PAD_ID]]], axis=1)
    assert _text(tok.detokenize(row)) == ["the cat"]


def test_lowercase_tokenizer_folds_case(tmp_path):
    low = SubwordTokenizer.train(CORPUS, vocab_size=300, lowercase=True)
    a, b = low.tokenize(tf.constant(["THE CAT"])), low.tokenize(tf.constant(["the cat"]))
    assert a.to_list() == b.to_list()
    path = tmp_path / "t.model"
    low.save(path)
    again = SubwordTokenizer.load(path, lowercase=True)
    assert again.tokenize(tf.constant(["THE CAT"])).to_list() == a.to_list()


def test_tokenize_inside_tf_function(tok):
    fn = tf.function(lambda s: tok.detokenize(tok.tokenize(s).to_tensor()),
                     input_signature=[tf.TensorSpec([None], tf.string)])
    assert _text(fn(tf.constant(["Tom likes apples."]))) == ["Tom likes apples."]


def test_vocabulary_shrinks_for_small_text():
    small = SubwordTokenizer.train(["a b c", "a b"], vocab_size=5000)
    assert 260 <= small.vocab_size < 5000
    # To the largest size the text supports (sentencepiece names it), not
    # a blind cut that can fall to letters and bytes only.
    words = [f"the {a} was {b} and {c}" for a in ("film", "phone", "book", "meal")
             for b in ("great", "awful", "wonderful", "dreadful", "fine")
             for c in ("i loved it", "i hated it", "so happy")]
    tok = SubwordTokenizer.train(words, vocab_size=400)
    assert 260 + len(set("".join(words))) < tok.vocab_size < 400
    assert SubwordTokenizer.train(words, vocab_size=tok.vocab_size).vocab_size == tok.vocab_size


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"got vocab_size=100"):
        SubwordTokenizer.train(CORPUS, vocab_size=100)
    with pytest.raises(ValueError, match="every text is empty"):
        SubwordTokenizer.train(["", "  "], vocab_size=300)
    with pytest.raises(ValueError, match="model_proto"):
        SubwordTokenizer(b"")


def test_same_vocabulary_from_same_seed():
    a = SubwordTokenizer.train(CORPUS, vocab_size=300, seed=3)
    b = SubwordTokenizer.train(CORPUS, vocab_size=300, seed=3)
    assert np.array_equal(a.tokenize(tf.constant(CORPUS[:5])).flat_values,
                          b.tokenize(tf.constant(CORPUS[:5])).flat_values)


def test_survives_a_reseed(tok):
    import keras

    before = tok.tokenize(tf.constant(["the cat"])).to_list()
    # Reseeding clears TF's eager kernel cache, which owns the model resource.
    keras.utils.set_random_seed(1)
    assert tok.tokenize(tf.constant(["the cat"])).to_list() == before
    size = tok.vocab_size
    keras.utils.set_random_seed(2)
    assert tok.vocab_size == size


def test_two_tokenizers_in_one_saved_model_stay_apart(tok, tmp_path):
    # Regression: the kernel keeps each model under its node name, so a
    # reloaded SavedModel used to give both tokenizers the first one's model.
    other = SubwordTokenizer.train(["uno dos tres", "cuatro cinco seis"] * 30, vocab_size=280)
    module = tf.Module()
    module.a, module.b = tok.tf_tokenizer, other.tf_tokenizer

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def serve(text):
        return {"a": tok.tokenize(text).to_tensor(), "b": other.tokenize(text).to_tensor()}

    # First use inside the function: the resources must still be eager ones.
    fresh = SubwordTokenizer(other.model_proto)
    inside = tf.function(lambda t: fresh.tokenize(t).to_tensor())(tf.constant(["uno dos"]))
    assert _text(fresh.detokenize(inside)) == ["uno dos"]
    assert _text(fresh.detokenize(fresh.tokenize(tf.constant(["tres"])))) == ["tres"]

    module.serve = serve
    tf.saved_model.save(module, str(tmp_path), signatures={"serve": serve})
    loaded = tf.saved_model.load(str(tmp_path))
    text = tf.constant(["uno dos tres", "the cat"])
    got = loaded.serve(text)
    assert np.array_equal(got["a"].numpy(), tok.tokenize(text).to_tensor().numpy())
    assert np.array_equal(got["b"].numpy(), other.tokenize(text).to_tensor().numpy())
