"""Captioning from shards: `prepare` of a COCO-format `--input` (original
JPEG bytes, every caption, a corrupt image skipped with the captioner's own
message) and of the generated scenes (the in-memory train/val/test images,
bit-identical), the same batches streamed as made in memory, one epoch from
shards scoring what one epoch in memory scores (frozen encoder: features in
the stream, not cached), learning from `data.shards`, the vocabulary from the
captions only, and the fields checked at training time."""

import json
import os
import shutil

import numpy as np
import pytest

from pipelines import shards
from vision_caption import data, preprocess
from vision_caption import shards as caption_shards
from vision_caption.config import CaptionConfig
from vision_caption.pipeline import Captioner
from vision_caption.task import TASK
from vision_caption.vocab import WordVocabulary
from tests import harness

pytest.importorskip("apache_beam")

TINY = os.path.join(harness.ROOT, "vision_caption", "configs", "tiny.yaml")
IN_MEMORY = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
# 20 scenes: 5 held out for validation, 15 trained on, in one batch of 32
# (so the batch order cannot change a loss); no dropout.
SCENES = ["data.train_count=20", "data.test_count=4", "data.val_fraction=0.25",
          "train.batch_size=32", "model.dropout=0.0"]
COCO_IMAGES = 5


def _config(*overrides):
    return CaptionConfig.from_yaml(TINY, ["train.verbose=0", *overrides])


def _all_records(folder):
    opened = shards.Shards.open(folder)
    return {name: TASK.examples_of(opened.split(name, required=False))
            for name in opened.index["splits"]}


@pytest.fixture(scope="module")
def coco(tmp_path_factory):
    """A COCO-format corpus in the COCO layout (`annotations/captions_mini.json`,
    `mini/`): five coco_mini photos and one truncated JPEG, in 2 shards."""
    source = os.path.join(os.environ["PIPELINES_DATA_DIR"], "coco_mini")
    if not os.path.isdir(source):
        pytest.skip("coco_mini not in the data directory")
    root = tmp_path_factory.mktemp("coco")
    (root / "annotations").mkdir()
    (root / "mini").mkdir()
    with open(os.path.join(source, "annotations", "captions_train2017.json")) as f:
        content = json.load(f)
    images = content["images"][:COCO_IMAGES]
    ids = {im["id"] for im in images}
    annotations = [a for a in content["annotations"] if a["image_id"] in ids]
    for im in images:
        shutil.copy(os.path.join(source, "train2017", im["file_name"]), root / "mini")
    first = (root / "mini" / images[0]["file_name"]).read_bytes()
    (root / "mini" / "broken.jpg").write_bytes(first[:len(first) // 2])
    images.append({"id": 1, "file_name": "broken.jpg"})
    annotations.append({"image_id": 1, "id": 1, "caption": "A cut short photo."})
    annotation_file = root / "annotations" / "captions_mini.json"
    annotation_file.write_text(json.dumps({"images": images, "annotations": annotations}))
    out = root / "shards"
    config = _config("data.val_fraction=0.2")
    index = TASK.prepare(config, out, input=str(annotation_file), shards=2,
                         beam_args=IN_MEMORY)
    return config, annotation_file, root / "mini", out, index


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    """The config's own dataset: 20 + 4 generated scenes, in 2 shards."""
    out = tmp_path_factory.mktemp("scenes") / "shards"
    index = TASK.prepare(_config(*SCENES), out, shards=2, beam_args=IN_MEMORY)
    return out, index


def test_prepare_keeps_original_bytes_and_captions(coco):
    config, annotation_file, images, out, index = coco
    splits = index["splits"]
    # 6 images; the captioner's hold-out of 0.2: max(1, int(6 * 0.2)) = 1.
    assert splits["train"]["items"] + splits["val"]["items"] == 6
    assert splits["val"]["items"] == 1 and "test" not in splits
    assert sum(s["examples"] for s in splits.values()) == COCO_IMAGES
    assert index["sources"] == [str(annotation_file)]
    # An --input does not depend on the config's dataset: only the split
    # rule and the size limits are recorded.
    assert index["fields"] == {"data.val_fraction": 0.2, "data.seed": 0,
                               "data.min_image_side": 16, "data.max_image_pixels": 40_000_000}
    assert index["length_unit"] == "words"
    assert sum(c for s in splits.values() for _, c in s["lengths"]) == COCO_IMAGES
    listed = data.read_coco_captions(annotation_file, images)
    memory = {os.path.basename(ex.image): ex for ex in listed}
    read = _all_records(out)
    # The images the in-memory captioner trains and validates on.
    broken = str(images / "broken.jpg")
    for name, examples in zip(("train", "val"), Captioner(config)._split(listed, None)):
        assert sorted(ex.source for ex in read[name]) == sorted(
            os.path.basename(ex.image) for ex in examples if ex.image != broken)
    read = [ex for split in read.values() for ex in split]
    assert sorted(ex.source for ex in read) == sorted(n for n in memory if n != "broken.jpg")
    for ex in read:
        with open(memory[ex.source].image, "rb") as f:
            assert ex.image == f.read()
        assert ex.captions == memory[ex.source].captions and len(ex.captions) >= 5


def test_a_corrupt_image_is_skipped_with_the_captioners_message(coco):
    config, _, images, out, index = coco
    broken = str(images / "broken.jpg")
    with pytest.raises(ValueError) as raised:
        # What `Captioner._pixels_of` runs (and logs) for the same image.
        Captioner(config).pixels(broken, broken)
    message = str(raised.value)
    assert message == (f"{broken}: the JPEG data is truncated (no end-of-image marker); the "
                       "file is incomplete or corrupt.")
    assert sum(s["skipped"] for s in index["splits"].values()) == 1
    assert index["skipped_reasons"] == [message]
    with open(out / shards.SKIPPED_FILE) as f:
        skipped = [json.loads(line) for line in f]
    assert [(s["record"], s["reason"]) for s in skipped] == [(broken, message)]
    # With data.skip_bad_images: false, prepare stops on it, as the
    # captioner in memory would, and writes nothing.
    strict = out.parent / "strict"
    with pytest.raises(ValueError) as stopped:
        TASK.prepare(config.from_dict(config.to_dict(), ["data.skip_bad_images=false"]),
                     strict, input=str(out.parent / "annotations" / "captions_mini.json"),
                     shards=2, beam_args=IN_MEMORY)
    assert str(stopped.value) == (f"{message} (1 item(s) of the vision_caption source cannot "
                                  "be used; data.skip_bad_images: true skips them, listed in "
                                  "skipped.jsonl.)")
    assert not strict.exists()


def test_streamed_batches_equal_the_in_memory_ones(coco):
    config, annotation_file, images, out, _ = coco
    cap = Captioner(config)
    train, _ = cap._split(data.read_coco_captions(annotation_file, images), None)
    train = [ex for ex in train if not ex.image.endswith("broken.jpg")]
    cap.vocab = WordVocabulary.build([c for ex in train for c in ex.captions])
    # The vocabulary learned from the records' captions is the same.
    split = shards.Shards.open(out).split("train")
    assert caption_shards.vocabulary(split).words == cap.vocab.words
    (x_mem, y_mem), = cap._dataset(*cap._arrays(train, "training images"), False)
    (x_st, y_st), = cap._stream_dataset(split, False)
    assert x_st["image"].shape == x_mem["image"].shape == (len(x_mem["image"]), 32, 32, 3)
    assert y_st.shape == y_mem.shape and x_st["captions_in"].shape == x_mem["captions_in"].shape
    # The rows come in another order: matched by their pixels.
    pixels = [p.tobytes() for p in x_st["image"].numpy()]
    for i, p in enumerate(x_mem["image"].numpy()):
        j = pixels.index(p.tobytes())
        np.testing.assert_array_equal(x_st["captions_in"][j], x_mem["captions_in"][i])
        np.testing.assert_array_equal(y_st[j], y_mem[i])


def test_scene_shards_hold_the_in_memory_splits(scenes):
    out, index = scenes
    config = _config(*SCENES)
    assert {k: v["examples"] for k, v in index["splits"].items()} == {
        "train": 15, "val": 5, "test": 4}
    assert index["fields"]["data.dataset"] == "scenes"
    assert index["fields"]["data.train_count"] == 20
    memory = TASK.load_splits(config)
    train, val = Captioner(config)._split(memory.train, None)
    read = _all_records(out)
    for name, examples in (("train", train), ("val", val), ("test", memory.test)):
        by_name = {ex.source: ex for ex in examples}
        assert sorted(ex.source for ex in read[name]) == sorted(by_name)
        for ex in read[name]:
            # The PNG the in-memory captioner makes of the array, bit for bit.
            assert ex.image == preprocess.array_to_png(by_name[ex.source].image)
            assert ex.captions == by_name[ex.source].captions


@pytest.mark.parametrize("fine_tune", [False, True])
def test_one_epoch_from_shards_scores_as_in_memory(scenes, fine_tune):
    out, _ = scenes
    # A learning rate of ~0: the weights stay as initialised (the same seed
    # on both paths); with a frozen encoder the in-memory captioner trains on
    # cached grids, the streamed one runs the backbone in each step.
    config = _config(*SCENES, "train.learning_rate=0.000000001", f"model.fine_tune={fine_tune}")
    memory = Captioner(config)
    memory.fit(TASK.load_splits(config).train)
    streamed = Captioner(config)
    streamed.fit(shards.Shards.open(out).split("train"))
    assert memory._uses_cache is (not fine_tune) and not streamed._uses_cache
    assert streamed.vocab.words == memory.vocab.words
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(streamed.history[0][key], memory.history[0][key],
                                   rtol=1e-4)


def test_fit_from_data_shards_learns_and_scores_the_test_split(scenes):
    out, _ = scenes
    config = _config(*SCENES, f"data.shards={out}", "train.epochs=3",
                     "train.learning_rate=0.01", "data.evaluate_train=true")
    cap = Captioner(config).fit()
    losses = [row["loss"] for row in cap.history]
    assert len(losses) == 3 and losses[-1] < losses[0]
    assert all(np.isfinite(row["val_loss"]) for row in cap.history)
    splits = TASK.splits_for(config)
    assert isinstance(splits.train, shards.Split) and splits.val.examples == 5
    assert len(splits.test) == 4 and isinstance(splits.test[0].image, bytes)
    metrics = TASK.score(cap, splits)
    assert metrics["test"]["images"] == 4 and metrics["train"]["images"] == 15


def test_fields_are_checked_at_training_time(scenes, coco):
    out, _ = scenes
    with pytest.raises(shards.ShardsError, match=(
            "was prepared with data.train_count=20, but this config has "
            "data.train_count=21")):
        Captioner(_config(*SCENES, "data.train_count=21", f"data.shards={out}")).fit()
    with pytest.raises(shards.ShardsError, match="data.min_image_side=16, but this config "
                                                 "has data.min_image_side=20"):
        Captioner(_config(*SCENES, "data.min_image_side=20")).fit(
            shards.Shards.open(out).split("train"))
    # Shards of an --input take any dataset's config with the same split
    # rule and size limits.
    coco_out = coco[3]
    fields = Captioner(_config("data.val_fraction=0.2", "data.dataset=coco"))
    fields._shards = shards.Shards.open(coco_out)
    assert fields._shard_fields() == coco[4]["fields"]


def test_input_items_find_the_images(tmp_path):
    png = preprocess.array_to_png(np.zeros((20, 20, 3), "uint8"))
    # COCO JSON with the images beside it.
    (tmp_path / "a.png").write_bytes(png)
    coco_file = tmp_path / "caps.json"
    coco_file.write_text(json.dumps({
        "images": [{"id": 7, "file_name": "a.png"}, {"id": 8, "file_name": "gone.png"}],
        "annotations": [{"image_id": 7, "caption": "a dark square"},
                        {"image_id": 8, "caption": "nothing"}]}))
    assert caption_shards.input_items(coco_file) == [
        ("file", (str(tmp_path / "a.png"), ("a dark square",), "a.png"))]
    # Flickr8k: the images in Flicker8k_Dataset/ beside the caption file.
    (tmp_path / "Flicker8k_Dataset").mkdir()
    (tmp_path / "Flicker8k_Dataset" / "b.jpg").write_bytes(png)
    token = tmp_path / "Flickr8k.token.txt"
    token.write_text("b.jpg#0\tA black picture .\nb.jpg#1\tdarkness\n")
    assert caption_shards.input_items(token) == [
        ("file", (str(tmp_path / "Flicker8k_Dataset" / "b.jpg"),
                  ("A black picture .", "darkness"), "b.jpg"))]
    with pytest.raises(FileNotFoundError, match="--input .*missing.json: no such file"):
        caption_shards.input_items(tmp_path / "missing.json")


def test_parse_keeps_order_and_drops_images_without_a_usable_caption():
    import tensorflow as tf

    from pipelines.tokenizers import BOS_ID, EOS_ID, PAD_ID

    vocab = WordVocabulary.build(["a red square", "a blue circle left of it"])
    rng = np.random.default_rng(0)
    pixels = [rng.integers(0, 256, (8, 8, 3)).astype("uint8") for _ in range(5)]
    captions = [["a red square", "a circle"],
                ["a blue circle left of it a red square"],    # too long: dropped image
                ["", "red"],                                  # the empty one dropped
                [],                                           # no caption: dropped
                ["a circle", "a square", "a red circle"]]     # at most 2 kept
    records = tf.data.Dataset.from_tensor_slices([
        caption_shards.example(image=preprocess.array_to_png(p), captions=c, name=f"im{i}")
        for i, (p, c) in enumerate(zip(pixels, captions))])

    def parsed(chunk):
        return list(caption_shards.parse(records, vocab, 8, max_length=6, max_captions=2,
                                         chunk=chunk).as_numpy_iterator())

    whole = parsed(256)
    assert [e["image"].tobytes() for e in whole] == [pixels[i].tobytes() for i in (0, 2, 4)]
    ids = vocab.tokenize(tf.constant(["a red square", "red", "a circle"])).to_list()
    np.testing.assert_array_equal(whole[1]["cin"], [[BOS_ID] + ids[1]])
    np.testing.assert_array_equal(whole[1]["cout"], [ids[1] + [EOS_ID]])
    np.testing.assert_array_equal(whole[0]["cin"][0], [BOS_ID] + ids[0])
    assert whole[0]["cin"].shape == (2, 4) and whole[0]["cout"][1, -1] == PAD_ID
    assert whole[2]["cin"].shape[0] == 2
    np.testing.assert_array_equal(whole[2]["cout"][0], ids[2] + [EOS_ID])
    # Chunks of any size give the same elements, in the same order.
    for chunk in (1, 2):
        for a, b in zip(parsed(chunk), whole, strict=True):
            for key in a:
                np.testing.assert_array_equal(a[key], b[key])
