"""ImageCaptioner: shapes, serialisation, one encoding for all captions of
an image, a keras.applications encoder, mixed precision (and its reload),
its layers on their own, and that a tiny model really learns to caption."""

import keras
import numpy as np
import pytest

from pipelines.losses import MaskedSparseCrossEntropy
from pipelines.precision import policy_scope
from tests import harness
from vision_caption.model import (FlattenCaptions, GridPositionEmbedding, ImageCaptioner,
                                  RepeatPerCaption, UnflattenCaptions)

TINY = dict(image_size=32, conv_filters=[4, 8], feature_dim=8, embedding_dim=8, units=16)


def _inputs(n=3, captions=2, steps=5, seed=0, size=32):
    rng = np.random.default_rng(seed)
    return {"image": rng.integers(0, 256, (n, size, size, 3)).astype("uint8"),
            "captions_in": rng.integers(1, 12, (n, captions, steps)).astype("int32")}


def test_shapes_config_and_save(tmp_path):
    model = ImageCaptioner(12, **TINY)
    x = _inputs()
    out = model(x)
    assert tuple(out.shape) == (3, 2, 5, 12) and out.dtype == "float32"
    assert model.grid_shape == (16, 16, 8)
    clone = harness.assert_config_roundtrip(model)
    assert clone.get_config()["conv_filters"] == [4, 8]
    harness.assert_save_reload_equal(model, x, tmp_path)
    ids, lengths = model.generate(x["image"], max_length=7, beam_width=3)
    assert tuple(ids.shape) == (3, 7) and ids.dtype == "int32" and tuple(lengths.shape) == (3,)
    maps = model.attention_maps(x["image"], x["captions_in"][:, 0])
    assert tuple(maps.shape) == (3, 5, 16, 16)
    np.testing.assert_allclose(np.asarray(maps).sum(axis=(2, 3)), 1, atol=1e-5)


def test_one_encoding_serves_every_caption_of_an_image():
    model = ImageCaptioner(12, **TINY)
    x = _inputs(n=2, captions=3)
    together = model(x).numpy()
    for c in range(3):
        alone = model({"image": x["image"], "captions_in": x["captions_in"][:, c:c + 1]})
        np.testing.assert_allclose(together[:, c], alone.numpy()[:, 0], atol=1e-5)


def test_argument_errors():
    with pytest.raises(ValueError) as e:
        ImageCaptioner(3)
    assert str(e.value) == ("Argument `vocab_size` must be an integer > 4 (4 special ids and "
                            "at least one word); got vocab_size=3.")
    with pytest.raises(ValueError) as e:
        ImageCaptioner(10, encoder="resnet")
    assert str(e.value).startswith("Argument `encoder` must be one of ['small_cnn', "
                                   "'mobilenet_v3_small'")
    with pytest.raises(ValueError, match=r"`conv_filters` must be a non-empty list of positive "
                                         r"integers; got conv_filters=\[\]"):
        ImageCaptioner(10, conv_filters=[])
    with pytest.raises(ValueError, match="`dropout` must be in"):
        ImageCaptioner(10, dropout=1.5)


def test_decoder_keeps_cudnn_eligible_settings():
    rnn = ImageCaptioner(12, **TINY).decoder.rnn
    assert rnn.cell.activation is keras.activations.tanh
    assert rnn.cell.recurrent_activation is keras.activations.sigmoid
    assert rnn.cell.recurrent_dropout == 0 and not rnn.unroll and rnn.cell.reset_after
    assert rnn.use_cudnn in ("auto", True)


def test_keras_applications_encoder_frozen_and_cached():
    model = ImageCaptioner(12, image_size=64, encoder="mobilenet_v3_small", weights=None,
                           fine_tune=False, feature_dim=8, embedding_dim=8, units=16)
    assert model.grid_shape[:2] == (2, 2)
    assert not model.backbone.trainable
    assert not any(w.path.startswith("backbone") for w in model.trainable_weights)
    x = _inputs(n=2, captions=1, size=64)
    out = model(x)
    assert tuple(out.shape) == (2, 1, 5, 12)
    # The cached-grid head shares every layer after the backbone.
    head = model.feature_head()
    grid = model.backbone.predict(x["image"].astype("float32"), verbose=0)
    np.testing.assert_allclose(head({"grid": grid, "captions_in": x["captions_in"]}), out,
                               atol=1e-5)
    assert len(head.trainable_weights) == len(model.trainable_weights)
    assert model.get_config()["weights"] is None and model.get_config()["fine_tune"] is False


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_logits_in_float32(policy):
    x = _inputs(n=2, captions=2)
    y = np.roll(x["captions_in"], -1, axis=-1)
    harness.assert_mixed_precision(lambda: ImageCaptioner(12, **TINY), x, y, policy,
                                   loss=MaskedSparseCrossEntropy())
    with policy_scope(policy):
        model = ImageCaptioner(12, **TINY)
    assert model.decoder.rnn.compute_dtype in ("float16", "bfloat16")
    assert model.decoder.head.compute_dtype == "float32"


def test_learns_a_tiny_task():
    """Four plain-colour images, four captions: teacher-forced loss falls and
    greedy and beam decoding both give every caption exactly."""
    keras.utils.set_random_seed(0)
    colours = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0]], "uint8")
    images = np.broadcast_to(colours[:, None, None, :], (4, 32, 32, 3)).copy()
    captions = [[5, 6, 7], [5, 8, 7], [5, 9, 10], [5, 8, 10]]  # shared words on purpose
    cin = np.array([[[1] + c] for c in captions], "int32")
    cout = np.array([[c + [2]] for c in captions], "int32")
    model = ImageCaptioner(11, **TINY)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=MaskedSparseCrossEntropy())
    x = {"image": images, "captions_in": cin}
    history = model.fit(x, cout, epochs=60, batch_size=4, verbose=0).history["loss"]
    assert history[-1] < 0.05 * history[0]
    for width in (1, 3):
        ids, lengths = model.generate(images, max_length=6, beam_width=width)
        assert lengths.numpy().tolist() == [4] * 4
        assert ids.numpy()[:, :4].tolist() == [c + [2] for c in captions]


@pytest.mark.parametrize("encoder", ["small_cnn", "mobilenet_v3_small"])
def test_mixed_precision_model_reloads_with_its_policy(encoder, tmp_path):
    """The policy is in the config, the backbone's layers (a keras.applications
    network too) take it, and `.keras` reloads it with float32 in force."""
    kwargs = dict(TINY) if encoder == "small_cnn" else dict(
        image_size=64, encoder=encoder, fine_tune=False, feature_dim=8, embedding_dim=8,
        units=16)
    model = ImageCaptioner(12, dtype="mixed_float16", **kwargs)
    assert keras.config.dtype_policy().name == "float32"
    assert model.get_config()["dtype"]["config"]["name"] == "mixed_float16"
    convs = [layer for layer in model.backbone._flatten_layers()
             if isinstance(layer, keras.layers.Conv2D)]
    assert convs and all(layer.compute_dtype == "float16" for layer in convs)
    assert all(v.dtype == "float32" for v in model.weights)
    x = _inputs(n=2, captions=2, size=kwargs["image_size"])
    reloaded = harness.assert_save_reload_equal(model, x, tmp_path, atol=1e-3)
    assert reloaded.dtype_policy.name == "mixed_float16"
    assert reloaded.get_config() == model.get_config()
    assert reloaded.backbone.layers[-1].compute_dtype == "float16"
    assert reloaded.decoder.head.compute_dtype == "float32"
    assert reloaded(x).dtype == "float32"
    # The cached-grid head is built under the model's policy, not the one in force.
    head = reloaded.feature_head()
    assert head.dtype_policy.name == "mixed_float16"


def _captions(n=2, c=3, t=5):
    return np.random.default_rng(1).integers(1, 12, (n, c, t)).astype("int32")


def test_grid_position_embedding_layer():
    x = np.random.default_rng(0).normal(size=(2, 9, 4)).astype("float32")
    layer = harness.run_layer_test(lambda: GridPositionEmbedding(), [x],
                                   expected_shapes=[(2, 9, 4)])
    assert tuple(layer.embeddings.shape) == (9, 4)


def test_caption_reshaping_layers():
    captions = _captions()
    harness.run_layer_test(lambda: FlattenCaptions(), [captions], expected_shapes=[(6, 5)])
    memory = np.random.default_rng(0).normal(size=(2, 4, 3)).astype("float32")
    out = harness.run_layer_test(lambda: RepeatPerCaption(), [memory, captions],
                                 expected_shapes=[(6, 4, 3)])
    np.testing.assert_array_equal(out(memory, captions)[3], memory[1])
    logits = np.random.default_rng(0).normal(size=(6, 5, 7)).astype("float32")
    layer = harness.run_layer_test(lambda: UnflattenCaptions(), [logits, captions],
                                   expected_shapes=[(2, 3, 5, 7)])
    np.testing.assert_array_equal(layer(logits, captions)[1, 0], logits[3])

