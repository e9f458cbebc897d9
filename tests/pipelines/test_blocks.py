import keras
import numpy as np
import pytest

from pipelines.blocks import Attention, RecurrentEncoder, lengths_to_mask, mask_to_lengths
from tests import harness

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("cell_type", ["lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_encoder_shapes_and_states(cell_type, bidirectional):
    enc = RecurrentEncoder(6, num_layers=2, cell_type=cell_type, bidirectional=bidirectional,
                           residual=True, layer_norm=True, dropout=0.1, return_state=True)
    x = RNG.normal(size=(3, 5, 4)).astype("float32")
    y, states = enc(x)
    width = 12 if bidirectional else 6
    assert y.shape == (3, 5, width)
    assert len(states) == (2 if cell_type == "lstm" else 1)
    assert all(s.shape == (3, width) for s in states)


def test_encoder_keeps_cudnn_eligible_settings():
    enc = RecurrentEncoder(8, num_layers=2, cell_type="gru", bidirectional=True, dropout=0.3)
    enc.build((None, 5, 4))
    for layer in enc.rnn_layers:
        for rnn in (layer.forward_layer, layer.backward_layer):
            cell = rnn.cell
            assert cell.activation is keras.activations.tanh
            assert cell.recurrent_activation is keras.activations.sigmoid
            assert cell.recurrent_dropout == 0 and cell.dropout == 0
            assert cell.reset_after and cell.use_bias and not rnn.unroll
            assert rnn.use_cudnn == "auto"


def test_encoder_residual_adds_input():
    x = RNG.normal(size=(2, 4, 6)).astype("float32")
    plain = RecurrentEncoder(6, cell_type="gru")
    res = RecurrentEncoder(6, cell_type="gru", residual=True)
    plain.build(x.shape)
    res.build(x.shape)
    res.set_weights(plain.get_weights())
    np.testing.assert_allclose(res(x), plain(x) + x, atol=1e-6)


def test_encoder_mask_ignores_padding():
    enc = RecurrentEncoder(5, num_layers=2, cell_type="lstm", bidirectional=True,
                           return_sequences=False)
    x = RNG.normal(size=(1, 4, 3)).astype("float32")
    padded = np.concatenate([x, 100 * np.ones((1, 3, 3), "float32")], axis=1)
    mask = np.array([[True] * 4 + [False] * 3])
    np.testing.assert_allclose(enc(x), enc(padded, mask=mask), atol=1e-5)


def test_encoder_initial_state_is_used():
    enc = RecurrentEncoder(4, cell_type="gru", return_sequences=False)
    x = np.zeros((2, 1, 3), "float32")
    a = enc(x, initial_state=[np.zeros((2, 4), "float32")])
    b = enc(x, initial_state=[np.ones((2, 4), "float32")])
    assert not np.allclose(a, b)


def test_encoder_config_and_keras_roundtrip(tmp_path):
    enc = RecurrentEncoder(4, num_layers=2, cell_type="gru", bidirectional=True,
                           residual=True, layer_norm=True, dropout=0.2, name="enc")
    harness.assert_config_roundtrip(enc)
    inp = keras.Input((None, 3))
    model = keras.Model(inp, keras.layers.Dense(2)(enc(inp)))
    harness.assert_save_reload_equal(model, RNG.normal(size=(2, 7, 3)).astype("float32"), tmp_path)


def test_encoder_fit_step():
    inp = keras.Input((6, 3))
    out = keras.layers.Dense(1)(RecurrentEncoder(4, cell_type="lstm", return_sequences=False)(inp))
    harness.assert_fit_step(keras.Model(inp, out), RNG.normal(size=(8, 6, 3)), RNG.normal(size=(8, 1)))


def test_encoder_argument_errors():
    with pytest.raises(ValueError) as e:
        RecurrentEncoder(4, cell_type="rnn")
    assert str(e.value) == "Argument `cell_type` must be one of ['lstm', 'gru']; got cell_type='rnn'."
    with pytest.raises(ValueError, match=r"`units` must be a positive integer; got units=0"):
        RecurrentEncoder(0)
    with pytest.raises(ValueError, match=r"`dropout` must be in \[0, 1\); got dropout=1.5"):
        RecurrentEncoder(4, dropout=1.5)


@pytest.mark.parametrize("kind", ["additive", "multiplicative"])
def test_attention_masks_and_shapes(kind):
    att = Attention(8, kind=kind)
    q = RNG.normal(size=(2, 5)).astype("float32")
    v = RNG.normal(size=(2, 4, 6)).astype("float32")
    mask = np.array([[1, 1, 0, 0], [1, 1, 1, 1]], bool)
    ctx, w = att(q, v, mask=mask)
    assert ctx.shape == (2, 6) and w.shape == (2, 4)
    w = np.asarray(w)
    np.testing.assert_allclose(w.sum(-1), 1.0, atol=1e-6)
    assert np.all(w[0, 2:] == 0.0)
    # The context is the weighted sum of the values.
    np.testing.assert_allclose(ctx, np.einsum("bt,btd->bd", w, v), atol=1e-5)
    # Values at masked positions do not change the result.
    v2 = v.copy()
    v2[0, 2:] = 1e3
    ctx2, _ = att(q, v2, mask=mask)
    np.testing.assert_allclose(ctx2[0], ctx[0], atol=1e-5)
    # Sequence queries [b, tq, d].
    ctx_seq, w_seq = att(RNG.normal(size=(2, 3, 5)).astype("float32"), v, mask=mask)
    assert ctx_seq.shape == (2, 3, 6) and w_seq.shape == (2, 3, 4)


def test_attention_roundtrip(tmp_path):
    att = Attention(4, kind="multiplicative", scale=False, name="att")
    harness.assert_config_roundtrip(att)
    qi, vi = keras.Input((5,)), keras.Input((None, 6))
    ctx, _ = att(qi, vi)
    model = keras.Model([qi, vi], ctx)
    x = [RNG.normal(size=(2, 5)).astype("float32"), RNG.normal(size=(2, 3, 6)).astype("float32")]
    path = tmp_path / "att.keras"
    model.save(path)
    np.testing.assert_allclose(keras.models.load_model(path)(x), model(x), atol=1e-6)


def test_attention_kind_error():
    with pytest.raises(ValueError) as e:
        Attention(kind="dot")
    assert str(e.value) == (
        "Argument `kind` must be one of ['additive', 'multiplicative']; got kind='dot'."
    )


def test_length_mask_helpers():
    mask = lengths_to_mask(np.array([1, 3]), 4)
    assert np.asarray(mask).tolist() == [[True, False, False, False], [True, True, True, False]]
    assert np.asarray(mask_to_lengths(mask)).tolist() == [1, 3]


def _decoder_inputs(seed=0):
    rng = np.random.default_rng(seed)
    memory = rng.normal(size=(3, 5, 6)).astype("float32")
    mask = np.array([[1, 1, 1, 0, 0], [1] * 5, [1, 1, 0, 0, 0]], bool)
    targets = rng.integers(1, 9, size=(3, 4)).astype("int32")
    return targets, memory, mask


@pytest.mark.parametrize("cell_type,kind", [("lstm", "multiplicative"), ("gru", "additive")])
def test_decoder_teacher_forcing_equals_stepping(cell_type, kind):
    from pipelines.blocks import AttentiveDecoder

    dec = AttentiveDecoder(9, embedding_dim=4, units=8, cell_type=cell_type, attention=kind)
    targets, memory, mask = _decoder_inputs()
    state = [RNG.normal(size=(3, 8)).astype("float32") for _ in range(dec.num_states)]
    forced, weights = dec(targets, memory, memory_mask=mask, initial_state=state,
                          return_attention=True)
    keys = dec.attention_keys(memory)  # precomputed keys change nothing
    steps = []
    for t in range(targets.shape[1]):
        logits, new_state, w = dec.step(targets[:, t], state, memory, memory_mask=mask,
                                        keys=keys)
        again, _, _ = dec.step(targets[:, t], state, memory, memory_mask=mask)
        np.testing.assert_allclose(logits, again, atol=1e-6)
        np.testing.assert_allclose(w, weights[:, t], atol=1e-5)
        steps.append(logits)
        state = new_state
    np.testing.assert_allclose(np.stack(steps, 1), forced, atol=1e-5)
    assert forced.dtype == "float32"
    assert np.all(np.asarray(weights)[0, :, 3:] == 0)


def test_decoder_roundtrip(tmp_path):
    from pipelines.blocks import AttentiveDecoder

    dec = AttentiveDecoder(9, embedding_dim=4, units=8, attention="additive", dropout=0.1,
                           name="dec")
    harness.assert_config_roundtrip(dec)
    targets, memory, _ = _decoder_inputs()
    ti, mi = keras.Input((None,), dtype="int32"), keras.Input((None, 6))
    model = keras.Model([ti, mi], dec(ti, mi))
    path = tmp_path / "dec.keras"
    model.save(path)
    np.testing.assert_allclose(keras.models.load_model(path)([targets, memory]),
                               model([targets, memory]), atol=1e-6)
    with pytest.raises(ValueError, match=r"`attention` must be one of \['additive', 'multiplicative'\]; got attention='dot'"):
        AttentiveDecoder(9, attention="dot")


def test_encoder_decoder_learns_to_reverse():
    """Encoder + attentive decoder learn to reverse 4-token sequences;
    beam search then decodes held-in examples exactly."""
    import tensorflow as tf

    from pipelines import decoding
    from pipelines.blocks import AttentiveDecoder

    keras.utils.set_random_seed(0)
    bos, eos, vocab = 1, 2, 8
    rng = np.random.default_rng(0)
    src = rng.integers(3, vocab, size=(64, 4)).astype("int32")
    tgt = np.concatenate([src[:, ::-1], np.full((64, 1), eos)], 1).astype("int32")
    dec_in = np.concatenate([np.full((64, 1), bos), tgt[:, :-1]], 1).astype("int32")

    embed = keras.layers.Embedding(vocab, 16)
    encoder = RecurrentEncoder(16, cell_type="gru", bidirectional=True, return_state=True)
    bridge = keras.layers.Dense(32, activation="tanh")
    decoder = AttentiveDecoder(vocab, embedding_dim=16, units=32, cell_type="gru")
    si, ti = keras.Input((4,), dtype="int32"), keras.Input((5,), dtype="int32")
    memory, state = encoder(embed(si))
    logits = decoder(ti, memory, initial_state=[bridge(state[0])])
    model = keras.Model([si, ti], logits)
    model.compile(keras.optimizers.Adam(1e-2),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    loss = model.fit([src, dec_in], tgt, epochs=60, batch_size=64, verbose=0).history["loss"]
    assert loss[-1] < 0.05 * loss[0]

    memory, state = encoder(embed(src[:8]))
    width = 3
    tiled = decoding.tile_beams(memory, width)

    def step(tokens, s):
        logits, s, _ = decoder.step(tokens, s, tiled)
        return logits, s

    ids, lengths = decoding.beam_search(step, [decoding.tile_beams(bridge(state[0]), width)],
                                        8, bos, eos, 6, beam_width=width)
    np.testing.assert_array_equal(ids.numpy()[:, :5], tgt[:8])
    assert lengths.numpy().tolist() == [5] * 8
    assert isinstance(ids, tf.Tensor)
