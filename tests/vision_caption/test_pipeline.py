"""The Captioner pipeline: fits, captions paths/bytes/arrays alike, refuses
bad images with one clear error, saves, reloads and exports equal (the
export decodes PNG and JPEG bytes itself), plots attention, takes keyword
overrides, and reloads a mixed-precision model mixed."""

import json
import logging
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from pipelines import export as export_lib
from pipelines.config import ConfigError
from tests import harness
from vision_caption import Captioner, data
from vision_caption.config import CaptionConfig
from vision_caption.data import CaptionedImage

TINY = ["data.scene_size=32", "data.max_objects=2", "model.image_size=32",
        "model.conv_filters=[8, 16, 16]", "model.feature_dim=16", "model.embedding_dim=16",
        "model.units=32", "model.beam_width=3", "model.dropout=0.0", "train.epochs=3",
        "train.batch_size=32", "train.learning_rate=0.005", "train.patience=0",
        "train.tensorboard=false", "train.verbose=0"]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    split = data.scenes(train_count=240, test_count=12, image_size=32, max_objects=2, seed=1)
    config = CaptionConfig.from_dict({}, TINY)
    run = tmp_path_factory.mktemp("caption") / "run"
    cap = Captioner(config)
    assert cap.fit(split["train"], run_dir=run) is cap
    return cap, split, run


def _png(array):
    return tf.io.encode_png(array).numpy()


def test_fit_history_vocab_and_evaluate(fitted):
    cap, split, run = fitted
    assert [row["epoch"] for row in cap.history] == [1, 2, 3]
    assert cap.history[-1]["loss"] < cap.history[0]["loss"]
    assert os.path.exists(run / "history.csv") and os.path.exists(run / "config.yaml")
    assert {"a", "left", "of", "circle", "red"} <= set(cap.vocab.words)
    metrics = cap.evaluate(split["test"])
    assert set(metrics) == {f"{k}_{d}" for k in ("bleu1", "bleu2", "bleu3", "bleu4", "cider",
                                                 "exact_match") for d in ("greedy", "beam")} \
        | {"beam_width", "images"}
    assert metrics["images"] == 12 and metrics["beam_width"] == 3
    assert all(0 <= metrics[k] <= 1 for k in metrics if k.startswith(("bleu", "exact")))


def test_paths_bytes_and_arrays_caption_alike(fitted, tmp_path):
    cap, split, _ = fitted
    arrays = [ex.image for ex in split["test"][:4]]
    want = cap.caption(arrays)
    assert all(isinstance(c, str) and c for c in want)
    pngs = [_png(a) for a in arrays]
    paths = []
    for i, png in enumerate(pngs):
        paths.append(tmp_path / f"{i}.png")
        paths[-1].write_bytes(png)
    assert cap.caption(pngs) == want
    assert cap.caption([str(p) for p in paths]) == want
    assert cap.caption(np.stack(arrays)) == want          # a 4-D batch
    assert cap.caption(arrays[0]) == want[0]              # a single image
    assert cap.caption(str(paths[1]), beam_width=1) == cap.caption([pngs[1]], beam_width=1)[0]
    assert cap.caption([]) == []
    # Gray, RGBA and 16-bit versions are accepted.
    gray = arrays[0].mean(-1).astype("uint8")
    rgba = np.concatenate([arrays[0], np.full((32, 32, 1), 255, "uint8")], -1)
    out = cap.caption([gray, _png(rgba), _png(arrays[0].astype("uint16") * 257)])
    assert out[1] == want[0] and out[2] == want[0]
    # The batch an image is captioned in does not change its caption.
    assert [cap.caption([a])[0] for a in arrays] == want


def test_bad_images_get_one_clear_error(fitted, tmp_path):
    cap, split, _ = fitted
    good = _png(split["test"][0].image)
    with pytest.raises(ValueError) as e:
        cap.caption([good, b"definitely not an image"])
    assert str(e.value) == ("input 1: the bytes are not a JPEG, PNG, GIF, BMP or WebP image "
                            "(unrecognised signature).")
    missing = tmp_path / "missing.jpg"
    with pytest.raises(ValueError) as e:
        cap.caption([str(missing)])
    assert str(e.value) == f"input 0 ({missing}): no such image file."
    with pytest.raises(ValueError) as e:
        cap.caption([np.zeros((8, 40, 3), "uint8")])
    assert str(e.value) == ("input 0: the image is 40x8 pixels (width x height); both sides "
                            "must be at least 16 pixels.")
    jpeg = tf.io.encode_jpeg(split["test"][0].image).numpy()
    with pytest.raises(ValueError) as e:
        cap.caption([jpeg[:100]])
    assert str(e.value) == ("input 0: the JPEG data is truncated (no end-of-image marker); "
                            "the file is incomplete or corrupt.")
    # Damage libjpeg finds: its reason, not "Graph execution error:".
    broken = jpeg[:100] + b"\xff\xff" * 200 + jpeg[500:]
    with pytest.raises(ValueError) as e:
        cap.caption([broken])
    assert str(e.value).startswith("input 0: cannot decode the image (")
    assert "Graph execution error" not in str(e.value) and "JPEG" in str(e.value)
    with pytest.raises(ValueError) as e:
        cap.caption([np.zeros((32, 32), "int32")])
    assert str(e.value) == ("input 0: an image array must be uint8, uint16 or float in "
                            "[0, 1]; got dtype int32.")
    with pytest.raises(ValueError, match="input 0: expected a file path, encoded image bytes "
                                         "or a numpy array; got int"):
        cap.caption([3])


def test_bad_training_images_are_skipped_and_logged(fitted, caplog):
    cap, split, _ = fitted
    examples = list(split["test"][:6]) + [CaptionedImage(b"junk", ["a red circle"], "junk.jpg")]
    with caplog.at_level(logging.WARNING):
        metrics = cap.evaluate(examples)
    assert metrics["images"] == 6
    assert "evaluation images: skipped 1 of 7 images that cannot be used (first: junk.jpg: " \
           "the bytes are not a JPEG" in caplog.text
    strict = Captioner(CaptionConfig.from_dict({}, TINY + ["data.skip_bad_images=false"]))
    strict.vocab, strict.model = cap.vocab, cap.model
    with pytest.raises(ValueError, match="^junk.jpg: the bytes are not a JPEG"):
        strict.evaluate(examples)


def test_save_load_and_export_reproduce(fitted, tmp_path):
    cap, split, _ = fitted
    arrays = [ex.image for ex in split["test"][:6]]
    want = cap.caption(arrays)
    path = cap.save(tmp_path / "saved")
    assert sorted(os.listdir(path)) == ["captioner.json", "model.keras"]
    again = Captioner.load(path)
    assert again.vocab.words == cap.vocab.words
    assert again.caption(arrays) == want
    # Verified in a fresh process inside export(); check PNG and JPEG here.
    export_dir = cap.export(tmp_path / "export", sample=arrays)
    meta = export_lib.read_metadata(export_dir)
    assert meta["pipeline"] == "vision_caption" and meta["beam_width"] == 3
    assert meta["outputs"]["caption"]["dtype"] == "string"
    jpegs = [tf.io.encode_jpeg(a, quality=95).numpy() for a in arrays[:3]]
    images = [_png(a) for a in arrays] + jpegs
    code = (
        "import sys, tensorflow as tf\n"
        "m = tf.saved_model.load(sys.argv[1])\n"
        "data = [open(p, 'rb').read() for p in sys.argv[2:]]\n"
        "out = m.serve(image_bytes=tf.constant(data))['caption']\n"
        "print('\\n'.join(s.decode('utf-8') for s in out.numpy()))\n"
    )
    files = []
    for i, blob in enumerate(images):
        files.append(str(tmp_path / f"img{i}"))
        open(files[-1], "wb").write(blob)
    result = subprocess.run([sys.executable, "-c", code, export_dir, *files],
                            capture_output=True, text=True,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines() == cap.caption(images)
    assert result.stdout.strip().splitlines()[:6] == want
    # Bad bytes fail the call with a message naming the element.
    loaded = tf.saved_model.load(export_dir)
    with pytest.raises(tf.errors.InvalidArgumentError) as e:
        loaded.serve(image_bytes=tf.constant([images[0], b"not an image"]))
    assert "image_bytes[1]: the bytes are not a JPEG, PNG, GIF, BMP or WebP image" in \
        e.value.message
    with pytest.raises(tf.errors.InvalidArgumentError) as e:
        loaded.serve(image_bytes=tf.constant([_png(np.zeros((4, 4, 3), "uint8"))]))
    assert "image_bytes[0]: the image is 4x4 pixels" in e.value.message
    truncated = tf.io.encode_jpeg(split["test"][0].image).numpy()[:300]
    with pytest.raises(tf.errors.InvalidArgumentError) as e:
        loaded.serve(image_bytes=tf.constant([images[0], truncated]))
    assert "image_bytes[1]: the JPEG data is truncated" in e.value.message
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"image_bytes must be string \[batch\] \(a 1-D tensor of "
                             r"encoded images\); got shape"):
        loaded.serve(image_bytes=tf.constant(images[0]))
    meta = json.load(open(os.path.join(export_dir, "metadata.json")))
    assert meta["serve"] == "serve(image_bytes: string [batch]) -> {caption: string [batch]}"
    assert loaded.serve(image_bytes=tf.constant([], tf.string))["caption"].shape == (0,)


def test_plot_attention(fitted):
    cap, split, _ = fitted
    image = split["test"][0].image
    fig = cap.plot_attention(image)
    words = cap.caption(image).split() + ["</s>"]
    titled = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in titled] == words
    overlay = np.asarray(titled[0].images[1].get_array())
    assert overlay.shape == cap.model.grid_shape[:2] == (8, 8)
    assert abs(overlay.sum() - 1) < 1e-3


def test_frozen_encoder_trains_on_cached_features(tmp_path):
    split = data.scenes(train_count=40, test_count=2, image_size=32, max_objects=1, seed=2)
    config = CaptionConfig.from_dict({}, TINY + [
        "model.encoder=mobilenet_v3_small", "model.image_size=64", "model.fine_tune=false",
        "train.epochs=1"])
    cap = Captioner(config)
    cap.fit(split["train"], run_dir=tmp_path / "run")
    assert len(cap.history) == 1
    assert isinstance(cap.caption(split["test"][0].image), str)
    # The backbone (batch-norm statistics included) is exactly as built.
    from pipelines import training

    training.seed_everything(config.train.seed)
    fresh = cap._build_model()
    for a, b in zip(cap.model.backbone.weights, fresh.backbone.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    trained = [w for w in cap.model.decoder.weights if w.trainable]
    fresh_decoder = [w for w in fresh.decoder.weights if w.trainable]
    assert any((a.numpy() != b.numpy()).any() for a, b in zip(trained, fresh_decoder))


def test_unfitted_and_config_errors():
    with pytest.raises(RuntimeError, match="not fitted yet"):
        Captioner().caption([np.zeros((32, 32, 3), "uint8")])
    with pytest.raises(ConfigError) as e:
        CaptionConfig.from_dict({}, ["data.dataset=imagenet"])
    assert str(e.value) == ("Config field 'data.dataset' must be one of ['scenes', 'coco', "
                            "'flickr8k']; got 'imagenet'.")
    with pytest.raises(ConfigError) as e:
        CaptionConfig.from_dict({}, ["model.weights=imagenet"])
    assert str(e.value) == ("Config field 'model.weights' must be null for the small_cnn "
                            "encoder (it has no pretrained weights); got 'imagenet'.")
    with pytest.raises(ConfigError, match="Unknown config field 'model.unit'"):
        CaptionConfig.from_dict({"model": {"unit": 3}})
    config = CaptionConfig.from_dict({}, TINY)
    assert CaptionConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_pipeline_role(fitted, tmp_path):
    """The shared pipeline checks: `predict` (= `caption`) answers, refuses
    bad images, and the reloaded pipeline and the export give the same
    captions."""
    cap, split, _ = fitted
    arrays = [ex.image for ex in split["test"][:4]]
    assert cap.predict(arrays) == cap.caption(arrays)
    assert cap.predict(arrays, beam_width=1) == cap.caption(arrays, beam_width=1)
    reloaded, outputs = harness.run_pipeline_test(
        cap, arrays, tmp_path,
        bad_inputs=[([b"junk"], ValueError, "^input 0: the bytes are not a JPEG"),
                    ([arrays[0], 3], ValueError, "^input 1: expected a file path")])
    assert reloaded.vocab.words == cap.vocab.words
    assert [c.decode("utf-8") for c in outputs["caption"].numpy()] == cap.predict(arrays)


def test_keyword_overrides():
    cap = Captioner(units=32, epochs=1)
    assert cap.config.model.units == 32 and cap.config.train.epochs == 1
    assert cap.config.model.feature_dim == CaptionConfig().model.feature_dim
    config = CaptionConfig.from_dict({}, TINY)
    cap = Captioner(config, beam_width=1, val_fraction=0.0, min_count=2)
    assert (cap.config.model.beam_width, cap.config.data.val_fraction,
            cap.config.vocab.min_count) == (1, 0.0, 2)
    assert config.model.beam_width == 3          # the given config is left as it was
    with pytest.raises(TypeError, match=r"Unknown Captioner argument\(s\) \['unitz'\]"):
        Captioner(unitz=3)
    with pytest.raises(ConfigError, match="model.units"):
        Captioner(units=0)


def test_mixed_precision_pipeline_reloads_mixed(tmp_path):
    split = data.scenes(train_count=24, test_count=2, image_size=32, max_objects=1, seed=3)
    cap = Captioner(CaptionConfig.from_dict({}, TINY), precision="mixed_bfloat16",
                    epochs=1).fit(split["train"])
    assert len(cap.history) == 1
    assert cap.model.get_config()["dtype"]["config"]["name"] == "mixed_bfloat16"
    image = split["test"][0].image
    want = cap.caption(image)
    again = Captioner.load(cap.save(tmp_path / "saved"))
    assert again.model.get_config()["dtype"] == cap.model.get_config()["dtype"]
    assert again.model.decoder.rnn.compute_dtype == "bfloat16"
    assert again.model.decoder.head.compute_dtype == "float32"
    assert again.caption(image) == want
