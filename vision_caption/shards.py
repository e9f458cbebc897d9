"""Captioning corpora as shards (`pipelines prepare vision_caption`), and
their records read back in TensorFlow ops.

A record is one image: `image`, its ORIGINAL encoded bytes (the JPEG or
PNG file as it is; a generated scene encoded once as PNG, the bytes the
in-memory captioner makes of its array), `captions`, every reference
caption of it (raw text, a bytes list), and `name`, the image's name (its
file name, or "scene-train-0"). Decoding, resizing to `model.image_size` and
tokenising happen when training, so one set of shards serves any image size,
vocabulary or caption choice (`data.train_captions`,
`data.max_captions_per_image`).

The sources:

- the config's dataset: the generated `scenes` (the very scenes of
  `data.scenes`: their recipes, a few hundred bytes each, are drawn in the
  driver and rendered again, bit-identical, on Beam's workers), COCO-format
  captions (`data.coco_root`, `data.train_splits`, `data.test_splits`) or
  Flickr8k;
- or `--input`: a COCO-format captions JSON, or a Flickr8k captions file
  (`name.jpg#k<TAB>caption` lines); see `input_items` for where the images
  are looked for.

Splits: the in-memory ones. `test` is the config's test split; `val` is the
seeded `data.val_fraction` of the training images that `Captioner.fit`
holds out (`data.holdout`, seeded by `data.seed`), taken from the same list
(images missing on disk left out, as the loaders leave them out), so
training from the shards sees the same images as training in memory. An
image that cannot be used (not an image, corrupt, outside
`data.min_image_side` / `data.max_image_pixels`) is skipped by `prepare`,
counted in the index and listed with the very message the in-memory
captioner logs when it skips it (`data.skip_bad_images`).

The index's `fields` are the config values the records depend on: always
the split rule and the size limits (`CHECKED_FIELDS`), and for the config's
dataset `data.dataset` and the fields that choose its images
(`DATASET_FIELDS`; not for `--input`, whose images do not depend on them).
`Captioner.fit` refuses shards whose fields differ from its config.

Example:

>>> record = example(image=b"...", captions=["a cat", "a cat sitting"], name="cat.jpg")
>>> [c.decode() for c in tf.sparse.to_dense(
...     tf.io.parse_single_example(record, FEATURES)["captions"]).numpy()]
['a cat', 'a cat sitting']
"""

import collections
import logging
import os
import re

import tensorflow as tf

from pipelines.shards import ShardSource, example
from pipelines.tokenizers import BOS_ID, EOS_ID, PAD_ID
from vision_caption import data, preprocess

log = logging.getLogger(__name__)

#: Config fields every set of shards is checked against: the split rule and
#: the size limits (records are the images that passed them).
CHECKED_FIELDS = ("data.val_fraction", "data.seed", "data.min_image_side",
                  "data.max_image_pixels")
#: The config fields that say which images a dataset's shards hold.
DATASET_FIELDS = {
    "scenes": ("data.train_count", "data.test_count", "data.scene_size", "data.max_objects",
               "data.heldout_percent"),
    "coco": ("data.coco_root", "data.train_splits", "data.test_splits"),
    "flickr8k": ("data.train_splits", "data.test_splits"),
}
_MISSING = object()


#: The features of a record.
FEATURES = {"image": tf.io.FixedLenFeature([], tf.string),
            "captions": tf.io.VarLenFeature(tf.string),
            "name": tf.io.FixedLenFeature([], tf.string)}


def config_value(config, key):
    """The value of the dotted config field `key` ("data.seed"), lists as
    lists (as the index's JSON holds them); a sentinel when there is no such
    field."""
    value = config
    for part in key.split("."):
        value = getattr(value, part, _MISSING)
        if value is _MISSING:
            return _MISSING
    return list(value) if isinstance(value, (list, tuple)) else value


def fields_to_check(config, prepared=None):
    """`{field: the config's value}` that shards must have been prepared
    with: `CHECKED_FIELDS`, and every other field the shards' index lists
    (`prepared`: its "fields"; the dataset's fields, absent for shards of an
    `--input`, which do not depend on the config's dataset)."""
    keys = list(CHECKED_FIELDS) + [k for k in (prepared or {}) if k not in CHECKED_FIELDS]
    out = {}
    for key in keys:
        value = config_value(config, key)
        out[key] = None if value is _MISSING else value
    return out


# ---------------------------------------------------------------------------
# Prepare


class CaptionSource(ShardSource):
    """The captioned images of a captioning config (or of `--input`), as
    items that Beam's workers read, check and encode.

    Items are `("scene", SceneRecipe)` or `("file", (path, captions,
    name))`: small and picklable; the images are read on the workers.

    Args:
        config: a `CaptionConfig`.
        data_dir: the data directory (default: `PIPELINES_DATA_DIR`).
        input: a COCO-format captions JSON or a Flickr8k captions file (None:
            the config's dataset).
    """

    domain = "vision_caption"
    length_unit = "words"
    length_bin = 1
    skip_field = "data.skip_bad_images"

    def __init__(self, config, data_dir=None, input=None):
        d = config.data
        # As the captioner in memory: skip (and list) bad images, or stop.
        self.skip_bad = bool(d.skip_bad_images)
        # The check decodes at the model's size: the one training uses (the
        # size does not change whether an image is usable).
        self.image_size = int(config.model.image_size)
        self.min_side, self.max_pixels = int(d.min_image_side), int(d.max_image_pixels)
        splits = self._items(config, data_dir, input)
        if not splits.get("train"):
            what = ", ".join(self.sources) if self.sources else f"data.dataset={d.dataset!r}"
            raise ValueError(f"Nothing to prepare: {what} holds no captioned training image.")
        # The hold-out `Captioner._split` makes, on the same list of images.
        splits["train"], val = data.holdout(splits["train"], d.val_fraction, d.seed)
        if val:
            splits["val"] = val
        self._splits = splits
        self.fields = {key: config_value(config, key) for key in CHECKED_FIELDS}
        if input is None:
            self.fields["data.dataset"] = d.dataset
            self.fields.update({key: config_value(config, key)
                                for key in DATASET_FIELDS[d.dataset]})

    def _items(self, config, data_dir, input):
        d = config.data
        if input is not None:
            self.sources = [os.path.abspath(os.fspath(input))]
            return {"train": input_items(input, skip_missing=d.skip_missing)}
        if d.dataset == "scenes":
            self.sources = [f"generated scenes (data.seed={d.seed})"]
            recipes = data.scene_recipes(
                train_count=d.train_count, test_count=d.test_count, image_size=d.scene_size,
                max_objects=d.max_objects, heldout_percent=d.heldout_percent, seed=d.seed)
            return {split: [("scene", r) for r in recipes[split]] for split in recipes}
        load = data.split_loader(d, data_dir)
        out = {}
        for split, names in (("train", d.train_splits), ("test", d.test_splits)):
            images = [ex for name in names for ex in load(name)]
            out[split] = _file_items(images)
        # The folders the images came from (not every image: the index
        # stays small).
        self.sources = sorted({os.path.dirname(item[1][0])
                               for items in out.values() for item in items})
        return out

    def items(self):
        return self._splits

    def describe(self, item):
        kind, value = item
        return value.source if kind == "scene" else value[0]

    def encode(self, item):
        kind, value = item
        if kind == "scene":
            captions, name = list(value.captions), value.source
            where = name
            encoded = preprocess.array_to_png(data.render_recipe(value))
        else:
            path, captions, name = value
            # Named by its path, as the in-memory loaders name it (`source`).
            where = path
            encoded = preprocess.read_image_file(path, where)
        # Raises the captioner's own ValueError for an image it would skip.
        preprocess.checked_pixels(_decoder(self.image_size, self.min_side, self.max_pixels),
                                  encoded, where)
        return [(example(image=encoded, captions=list(captions), name=name),
                 _longest_caption(captions))]


# Traced decoders, per worker process: `(size, min side, max pixels)` -> fn.
_DECODERS = {}


def _decoder(size, min_side, max_pixels):
    key = (size, min_side, max_pixels)
    if key not in _DECODERS:
        _DECODERS[key] = preprocess.make_decoder(size, min_side, max_pixels)
    return _DECODERS[key]


def _longest_caption(captions):
    """Words of the longest caption once normalised (the tokens the
    vocabulary makes of it)."""
    from vision_caption.vocab import normalize_caption_list

    return max((len(c.split()) for c in normalize_caption_list(captions)), default=0)


def _file_items(images):
    """`("file", (path, captions, name))` items of `CaptionedImage`s whose
    image is a path."""
    return [("file", (ex.image, tuple(ex.captions), os.path.basename(ex.image)))
            for ex in images]


def input_items(input, skip_missing=True):
    """The items of `--input`, a COCO-format captions JSON (`.json`) or a
    Flickr8k captions file (anything else, `Flickr8k.token.txt`).

    The images are where the loaders expect them: for a COCO file
    `<root>/annotations/captions_<split>.json`, in `<root>/<split>/` (the
    COCO layout); otherwise beside the file, in its folder. For a Flickr8k
    file, in `Flicker8k_Dataset/` beside it (the Flickr8k layout) when that
    folder exists, otherwise in the file's folder. Images missing on disk
    are skipped and logged (`skip_missing`), as the in-memory loaders do.

    Raises:
        FileNotFoundError: naming `input` when there is no such file.
        ValueError: for a file that is neither (the loader's message).
    """
    input = os.path.abspath(os.fspath(input))
    if not os.path.isfile(input):
        raise FileNotFoundError(f"--input {input}: no such file (a COCO-format captions "
                                "JSON or a Flickr8k captions file).")
    folder = os.path.dirname(input)
    if input.lower().endswith(".json"):
        images = folder
        found = re.fullmatch(r"captions_(.+)\.json", os.path.basename(input))
        if found and os.path.basename(folder) == "annotations":
            layout = os.path.join(os.path.dirname(folder), found.group(1))
            if os.path.isdir(layout):
                images = layout
        return _file_items(data.read_coco_captions(input, images, skip_missing=skip_missing))
    images = os.path.join(folder, os.path.basename(data.FLICKR8K_IMAGES.path))
    if not os.path.isdir(images):
        images = folder
    return _file_items(data.read_flickr8k_captions(input, images, skip_missing=skip_missing))


# ---------------------------------------------------------------------------
# Read back


def captioned_images(split, limit=None):
    """The records of a `pipelines.shards.Split` as `CaptionedImage`s whose
    image is the stored encoded bytes and whose source is the image's name,
    in the order read (for scoring and export samples: small splits).

    Args:
        split: the `Split`.
        limit: read at most this many records (None: all).
    """
    ds = split.records()
    if limit is not None:
        ds = ds.take(limit)
    spec = FEATURES
    out = []
    for record in ds:
        e = tf.io.parse_single_example(record, spec)
        out.append(data.CaptionedImage(
            e["image"].numpy(),
            [c.decode("utf-8") for c in tf.sparse.to_dense(e["captions"]).numpy()],
            e["name"].numpy().decode("utf-8")))
    return out


def vocabulary(split, min_count=1, max_words=None, max_length=None, first_only=False,
               batch_size=512):
    """The `WordVocabulary` of a training `Split`'s captions: ONE full pass
    over the records that parses only their caption strings (the image
    bytes are read from disk with each record but never decoded or kept),
    counting words batch by batch, so memory is bounded by the distinct
    words, not the corpus. The same vocabulary `WordVocabulary.build`
    learns from the same captions in memory (every caption of every image).

    With `max_length`, the same pass logs how many of the captions trained
    on (`first_only`: each image's first) are longer than `max_length - 1`
    words or empty, and how many images are left without a usable caption:
    the streamed training drops them as the in-memory captioner does (and
    logs).

    Args:
        split: the training `Split`.
        min_count, max_words: as `WordVocabulary.build`.
        max_length: the model's `max_length` (None: no report).
        first_only: only the first caption of each image is trained on.
        batch_size: records parsed together.

    Raises:
        ValueError: no word is frequent enough (naming `min_count`).
    """
    import tensorflow_text as tf_text

    from vision_caption.vocab import WordVocabulary, count_words, normalize_captions

    spec = {"captions": tf.io.VarLenFeature(tf.string)}
    tokenizer = tf_text.WhitespaceTokenizer()
    ds = split.records().batch(batch_size).map(
        lambda r: tf.RaggedTensor.from_sparse(tf.io.parse_example(r, spec)["captions"]),
        num_parallel_calls=tf.data.AUTOTUNE)
    where = f"{split.shards.folder} ({split.name!r} split)"
    counts = collections.Counter()
    too_long = empty = no_caption = images = 0
    for captions in ds:
        count_words(captions.flat_values, counts)
        if max_length is None:
            continue
        words = tokenizer.tokenize(normalize_captions(captions.flat_values)).row_lengths()
        used = captions.with_flat_values(words)
        if first_only:
            used = used[:, :1]
        good = tf.logical_and(used >= 1, used <= max_length - 1)
        too_long += int(tf.reduce_sum(tf.cast(used.flat_values > max_length - 1, tf.int32)))
        empty += int(tf.reduce_sum(tf.cast(used.flat_values < 1, tf.int32)))
        no_caption += int(tf.reduce_sum(tf.cast(
            tf.logical_not(tf.reduce_any(good, axis=1)), tf.int32)))
        images += int(captions.nrows())
    if too_long or empty:
        log.warning("%s: dropped %d captions longer than model.max_length - 1 = %d words "
                    "and %d empty ones.", where, too_long, max_length - 1, empty)
    if no_caption:
        log.warning("%s: skipped %d of %d images left without a usable caption.", where,
                    no_caption, images)
    if not counts:
        raise ValueError(f"{where}: no caption to learn a vocabulary from.")
    return WordVocabulary.from_counts(counts, min_count=min_count, max_words=max_words)


def parse(records, vocab, image_size, min_side=preprocess.DEFAULT_MIN_SIDE,
          max_pixels=preprocess.DEFAULT_MAX_PIXELS, max_length=20, max_captions=5,
          first_only=False, chunk=256):
    """Serialised records -> `{"image": uint8 [s, s, 3], "cin": int32 [c,
    t], "cout": int32 [c, t]}`, in TensorFlow ops (`tf.data` map and filter
    functions): the elements the in-memory captioner makes of its arrays,
    in the order of `records`.

    Each image's captions (its first with `first_only`) are tokenised by
    `vocab`'s lookup table; empty ones and ones longer than `max_length - 1`
    words are dropped, at most `max_captions` kept, and an image left
    without a caption is dropped before its bytes are decoded; `cin` is BOS
    + tokens, `cout` tokens + EOS, padded with PAD. The image is decoded and
    resized to `image_size` as `preprocess.decode_image` does, without its
    checks, which `prepare` made with the same limits
    (`preprocess.decode_validated`).

    The captions are parsed and tokenised `chunk` records at a time: per
    record, the dozens of small ops cost more CPU than the training step
    can spare on a small machine.

    Args:
        records: a dataset of serialised records (`Split.records`).
        vocab: the captioner's `WordVocabulary`.
        image_size: the model's image size.
        min_side, max_pixels: the size limits `prepare` kept images within
            (training checks they are the config's); not checked again.
        max_length: the model's `max_length`.
        max_captions: `data.max_captions_per_image`.
        first_only: `data.train_captions == "first"`.
        chunk: records parsed and tokenised together.
    """
    del min_side, max_pixels  # Checked by `prepare` (see `decode_validated`).
    spec = FEATURES

    def captions_of(batch):
        e = tf.io.parse_example(batch, spec)
        captions = tf.RaggedTensor.from_sparse(e["captions"])      # [b, (c)]
        if first_only:
            captions = captions[:, :1]
        tokens = captions.with_flat_values(vocab.tokenize(captions.flat_values))
        lengths = tokens.row_lengths(axis=2)                       # [b, (c)]
        usable = tf.logical_and(lengths >= 1, lengths <= max_length - 1)
        tokens = tf.ragged.boolean_mask(tokens, usable)[:, :max_captions]
        keep = tokens.row_lengths() > 0
        tokens = tf.ragged.boolean_mask(tokens, keep)              # [b', (c), (t)]
        each = tokens.values                                       # [n, (t)]
        ends = tf.fill(tf.stack([each.nrows(), 1]), BOS_ID)
        bos = tf.RaggedTensor.from_tensor(ends)
        eos = tf.RaggedTensor.from_tensor(tf.fill(tf.shape(ends), EOS_ID))
        return {"image": tf.boolean_mask(e["image"], keep),
                "cin": tokens.with_values(tf.concat([bos, each], axis=1)),
                "cout": tokens.with_values(tf.concat([each, eos], axis=1))}

    def decoded(e):
        return {"image": preprocess.decode_validated(e["image"], image_size),
                "cin": e["cin"].to_tensor(PAD_ID), "cout": e["cout"].to_tensor(PAD_ID)}

    ds = records.batch(chunk).map(captions_of, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.unbatch().map(decoded, num_parallel_calls=tf.data.AUTOTUNE)
