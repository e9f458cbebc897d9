import keras
import numpy as np
import pytest
import tensorflow as tf

from pipelines.losses import MaskedSparseCrossEntropy
from text.translation.model import Seq2SeqTranslator
from tests import harness

PAD, BOS, EOS = 0, 1, 2


def _reverse_task(n=96, length=5, vocab=10, seed=0):
    """Source: random tokens (variable length, padded); target: reversed."""
    rng = np.random.default_rng(seed)
    src = np.zeros((n, length), "int32")
    tgt = np.zeros((n, length + 1), "int32")
    for i in range(n):
        k = rng.integers(2, length + 1)
        seq = rng.integers(3, vocab, size=k)
        src[i, :k] = seq
        tgt[i, :k] = seq[::-1]
        tgt[i, k] = EOS
    tgt_in = np.concatenate([np.full((n, 1), BOS), tgt[:, :-1]], 1).astype("int32")
    tgt_in[tgt_in == EOS] = PAD  # nothing follows EOS
    return src, tgt_in, tgt


def _model(**kw):
    args = dict(source_vocab=10, target_vocab=10, embedding_dim=16, units=24,
                encoder_layers=1, dropout=0.0)
    args.update(kw)
    return Seq2SeqTranslator(**args)


def test_learns_to_reverse_and_decodes_in_graph():
    keras.utils.set_random_seed(0)
    src, tgt_in, tgt = _reverse_task()
    model = _model()
    model.compile(keras.optimizers.Adam(1e-2), MaskedSparseCrossEntropy(pad_id=PAD))
    loss = model.fit({"source": src, "target_in": tgt_in}, tgt, epochs=80, batch_size=96,
                     verbose=0).history["loss"]
    assert loss[-1] < 0.05 * loss[0]
    generate = tf.function(lambda s: model.generate(s, max_length=6, beam_width=3))
    ids, lengths = generate(tf.constant(src[:16]))
    np.testing.assert_array_equal(ids.numpy(), tgt[:16])
    greedy, _ = model.generate(src[:16], max_length=6, beam_width=1)
    np.testing.assert_array_equal(greedy.numpy(), tgt[:16])
    weights = model.attention_weights(src[:2], tgt_in[:2]).numpy()
    # No attention on source padding.
    pad = src[:2] == PAD
    assert np.all(weights[np.broadcast_to(pad[:, None, :], weights.shape)] == 0)


def test_config_save_and_mixed_precision(tmp_path):
    src, tgt_in, tgt = _reverse_task(n=8)
    model = _model(cell_type="gru", attention="additive", encoder_layers=2)
    harness.assert_config_roundtrip(model)
    x = {"source": src, "target_in": tgt_in}
    reloaded = harness.assert_save_reload_equal(model, x, tmp_path)
    np.testing.assert_array_equal(reloaded.generate(src, 6, 2)[0], model.generate(src, 6, 2)[0])
    for policy in ("mixed_float16", "mixed_bfloat16"):
        harness.assert_mixed_precision(lambda: _model(), x, tgt, policy,
                                       loss=MaskedSparseCrossEntropy())


def test_masked_loss_and_errors():
    logits = np.log(np.array([[[0.2, 0.8], [0.5, 0.5], [0.9, 0.1]]], "float32"))
    loss = MaskedSparseCrossEntropy(pad_id=0)
    assert float(loss(np.array([[1, 0, 0]]), logits)) == pytest.approx(-np.log(0.8), rel=1e-5)
    smooth = MaskedSparseCrossEntropy(pad_id=0, label_smoothing=0.2)
    want = 0.8 * -np.log(0.8) + 0.2 * -(np.log(0.2) + np.log(0.8)) / 2
    assert float(smooth(np.array([[1, 0, 0]]), logits)) == pytest.approx(want, rel=1e-5)
    with pytest.raises(ValueError, match=r"`label_smoothing` must be in \[0, 1\); got 1.5"):
        MaskedSparseCrossEntropy(label_smoothing=1.5)
    with pytest.raises(ValueError, match="`units` must be a positive integer; got units=0"):
        _model(units=0)


def test_dtype_policy_is_part_of_the_model_config(tmp_path):
    from pipelines import precision

    with precision.policy_scope("mixed_bfloat16"):
        model = _model()
    assert model.get_config()["dtype"]["config"]["name"] == "mixed_bfloat16"
    src, tgt_in, _ = _reverse_task(n=4)
    x = {"source": src, "target_in": tgt_in}
    model(x)
    path = tmp_path / "m.keras"
    model.save(path)
    # The global policy is float32 here: the reload keeps the model's own.
    reloaded = keras.models.load_model(path)
    assert reloaded.dtype_policy.name == "mixed_bfloat16"
    assert reloaded.get_layer("source_embedding").compute_dtype == "bfloat16"
    assert reloaded(x).dtype == "float32"  # the logits head stays float32
    np.testing.assert_array_equal(reloaded.generate(src, 6, 2)[0], model.generate(src, 6, 2)[0])
