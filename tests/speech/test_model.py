import keras
import numpy as np
import pytest

from pipelines import decoding
from speech.model import CTCAcousticModel
from tests import harness

ALPHABET = " abcdefghijklmnopqrstuvwxyz'"


def _model(**kw):
    args = dict(n_mels=16, vocab_size=len(ALPHABET), conv_filters=4, units=16, num_layers=1)
    args.update(kw)
    return CTCAcousticModel(**args)


def _batch(n=4, frames=40, seed=0):
    rng = np.random.default_rng(seed)
    x = {"features": rng.normal(size=(n, frames, 16)).astype("float32"),
         "lengths": np.array([frames, frames - 10, frames - 5, frames - 20][:n], "int32")}
    y = {"labels": rng.integers(0, 28, (n, 5)).astype("int32"),
         "label_lengths": np.array([5, 3, 4, 2][:n], "int32")}
    return x, y


def test_shapes_roundtrip_and_save(tmp_path):
    model = _model(spec_augment={"freq_masks": 1, "time_masks": 1, "seed": 1})
    x, _ = _batch()
    assert model(x).shape == (4, 20, 29)
    clone = harness.assert_config_roundtrip(model)
    assert clone.blank_index == 28
    path = tmp_path / "m.keras"
    model.save(path)
    np.testing.assert_allclose(keras.models.load_model(path)(x), model(x), atol=1e-6)


@pytest.mark.parametrize("extra", [1, 2, 7, 12])
def test_padding_frames_do_not_change_logits(extra):
    """An utterance's logits do not depend on how far its batch is padded
    (odd and even padding: a stride-2 "same" convolution would shift)."""
    model = _model()
    x, _ = _batch(n=1, frames=39)
    # LogMel zeroes frames beyond each utterance.
    padded = {"features": np.concatenate([x["features"], np.zeros((1, extra, 16), "float32")], 1),
              "lengths": x["lengths"]}
    a = model(x).numpy()[0]
    b = model(padded).numpy()[0, :20]
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_learns_a_tiny_task():
    """Overfits four fixed utterances: CTC loss falls and greedy decoding is exact."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    texts = ["one", "two", "six", "ten"]
    feats = np.zeros((4, 24, 16), "float32")
    for i, t in enumerate(texts):  # a distinct frequency pattern per character
        for j, ch in enumerate(t):
            band = ALPHABET.index(ch) % 16
            feats[i, 4 + 6 * j: 8 + 6 * j, band] = 3.0
    feats += rng.normal(scale=0.1, size=feats.shape).astype("float32")
    x = {"features": feats, "lengths": np.full(4, 24, "int32")}
    labels = np.array([[ALPHABET.index(c) for c in t] for t in texts], "int32")
    y = {"labels": labels, "label_lengths": np.full(4, 3, "int32")}
    model = _model(units=32)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    history = model.fit(x, y, epochs=120, batch_size=4, verbose=0).history["loss"]
    assert history[-1] < 0.1 * history[0]
    logits = model(x)
    ids = decoding.ctc_decode(logits, CTCAcousticModel.output_lengths(x["lengths"]), 28)
    assert [t.decode() for t in decoding.ids_to_text(ids, ALPHABET).numpy()] == texts
    beam = decoding.ctc_decode(logits, CTCAcousticModel.output_lengths(x["lengths"]), 28, 4)
    assert [t.decode() for t in decoding.ids_to_text(beam, ALPHABET).numpy()] == texts


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_ctc_in_float32(policy):
    x, y = _batch()
    with __import__("pipelines.precision", fromlist=["x"]).policy_scope(policy):
        model = _model()
    assert model.get_layer("encoder").compute_dtype in ("float16", "bfloat16")
    assert model.get_layer("ctc_head").compute_dtype == "float32"
    assert all(v.dtype == "float32" for v in model.weights)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    assert model(x).dtype == "float32"
    loss = model.fit(x, y, epochs=1, verbose=0).history["loss"][0]
    assert np.isfinite(loss)


def test_lookahead_reads_that_many_future_frames_and_reloads(tmp_path):
    """A causal model with a look-ahead of 3 output frames: cutting the
    input changes no logit more than 3 frames before the cut, and changes
    the one just before it; the model reloads equal."""
    model = _model(causal=True, lookahead=3, num_layers=2)
    x, _ = _batch(n=1, frames=40)
    full = model(x).numpy()[0]
    cut = {"features": x["features"][:, :30], "lengths": np.array([30], "int32")}
    part = model(cut).numpy()[0]          # 15 output frames
    np.testing.assert_allclose(part[:12], full[:12], atol=1e-5)
    assert not np.allclose(part[14], full[14], atol=1e-5)
    clone = harness.assert_config_roundtrip(model)
    assert clone.lookahead == 3
    model.save(tmp_path / "m.keras")
    np.testing.assert_allclose(keras.models.load_model(tmp_path / "m.keras")(x), model(x),
                               atol=1e-6)
    # Padding does not leak into the frames before an utterance's end.
    padded = {"features": np.concatenate([x["features"], np.ones((1, 9, 16), "float32")], 1),
              "lengths": x["lengths"]}
    np.testing.assert_allclose(model(padded).numpy()[0, :20], full, atol=1e-5)


def test_delay_penalty_trains_and_is_in_the_config():
    x, y = _batch()
    model = _model(causal=True, lookahead=2, delay_penalty=0.05)
    assert harness.assert_config_roundtrip(model).delay_penalty == 0.05
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    penalized = model.compute_loss(x, y, model(x))
    model.delay_penalty = 0.0
    plain = model.compute_loss(x, y, model(x))
    assert float(penalized) > float(plain)  # every emission is late by some frames
    model.delay_penalty = 0.05
    assert np.isfinite(model.fit(x, y, epochs=1, verbose=0).history["loss"][0])
    with pytest.raises(ValueError, match="`delay_penalty` must be >= 0"):
        _model(delay_penalty=-0.1)


def test_ids_to_text_collapses_spaces():
    ids = np.array([[0, 15, 14, 5, 0, 0, 20, 23, 15, -1, -1]], "int32")
    assert decoding.ids_to_text(ids, ALPHABET).numpy().tolist() == [b"one two"]


def test_argument_errors():
    with pytest.raises(ValueError) as e:
        _model(n_mels=2)
    assert str(e.value) == "Argument `n_mels` must be an integer >= 4; got n_mels=2."
    with pytest.raises(ValueError, match=r"`vocab_size` must be a positive integer; got "
                                         r"vocab_size=0"):
        _model(vocab_size=0)
    with pytest.raises(ValueError) as e:
        _model(lookahead=2)
    assert str(e.value) == ("Argument `lookahead` needs causal=True (a bidirectional stack "
                            "already reads the future); got lookahead=2.")


def test_dtype_policy_is_part_of_the_model_config(tmp_path):
    x, _ = _batch()
    harness.assert_reloads_with_its_policy(_model, x, tmp_path, ["encoder", "conv_1"],
                                           ["ctc_head"])
    # An explicit dtype needs no policy scope at all.
    assert _model(dtype="mixed_bfloat16").get_layer("encoder").compute_dtype == "bfloat16"
