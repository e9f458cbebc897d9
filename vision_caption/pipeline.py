"""`Captioner`: the user-facing image-captioning pipeline, image in, caption out.

Example:

>>> from vision_caption import Captioner, data                 # doctest: +SKIP
>>> split = data.scenes(train_count=6000, test_count=500)      # doctest: +SKIP
>>> cap = Captioner().fit(split.train)                         # doctest: +SKIP
>>> cap.evaluate(split.test)                                   # doctest: +SKIP
>>> cap.caption(["photo.jpg", open("other.png", "rb").read()], beam_width=4)  # doctest: +SKIP
['a large red circle left of a small blue square', '...']
>>> cap.plot_attention("photo.jpg")                            # doctest: +SKIP
"""

import logging
import os

import keras
import numpy as np
import tensorflow as tf

from pipelines import shards as shards_lib
from pipelines.losses import MaskedSparseCrossEntropy
from pipelines.pipeline import Pipeline
from pipelines.tokenizers import BOS_ID, EOS_ID, PAD_ID
from vision_caption import preprocess, shards as caption_shards
from vision_caption.config import CaptionConfig
from vision_caption.data import CaptionedImage, holdout
from vision_caption.metrics import caption_scores
from vision_caption.model import ImageCaptioner
from vision_caption.vocab import WordVocabulary, normalize_caption_list

log = logging.getLogger(__name__)

def _is_single(inputs):
    if isinstance(inputs, (str, bytes, bytearray, os.PathLike)):
        return True
    return isinstance(inputs, np.ndarray) and inputs.ndim <= 3


def _describe(item, index):
    if isinstance(item, (str, os.PathLike)):
        return f"input {index} ({os.fspath(item)})"
    return f"input {index}"


class Captioner(Pipeline):
    """Image in, caption out: a CNN encoder and the shared attentive
    recurrent decoder, decoded greedily or with beam search in graph ops.

    Images may be file paths, encoded bytes (JPEG, PNG, GIF, BMP, WebP) or
    numpy arrays; all go through the same graph preprocessing
    (`vision_caption.preprocess`) as in the exported SavedModel. A bad image
    (not an image, corrupt, too small or too big, a bad array) gets a
    ValueError that names it; see `preprocess` for what is accepted.

    Args:
        config: a `CaptionConfig` (defaults: the synthetic scenes task).
        **overrides: fields of its sections (`Captioner(units=32, epochs=1)`;
            see `pipelines.pipeline.Pipeline`).

    Example:

    >>> Captioner().config.model.image_size
    64
    >>> Captioner(units=32, epochs=1).config.model.units
    32
    """

    config_class = CaptionConfig
    # Image decoding does not depend on the weights: it survives `fit`.
    _kept_functions = ("decode",)
    export_name = "vision_caption"
    state_file = "captioner.json"
    #: The `WordVocabulary`: learned by `fit` (unless set before), or loaded.
    vocab = None
    #: The domain name in the index of `pipelines prepare vision_caption`.
    shard_domain = "vision_caption"
    # The `Shards` the running `fit` trains on (None: in memory), and whether
    # a split is streamed from shards.
    _shards = None
    _streamed = False

    @property
    def image_size(self):
        return self.config.model.image_size

    # --------------------------------------------------------------- images
    def _decode_fn(self):
        d, size = self.config.data, self.image_size
        return self._function("decode", lambda: preprocess.make_decoder(
            size, d.min_image_side, d.max_image_pixels))

    def encoded_bytes(self, item, where="image"):
        """A path, bytes or array -> encoded image bytes (arrays as PNG).

        Raises:
            ValueError: naming `where`, for a missing file, a bad array or a
                value of another type.
        """
        if isinstance(item, (str, os.PathLike)):
            return preprocess.read_image_file(item, where)
        if isinstance(item, (bytes, bytearray)):
            return bytes(item)
        if isinstance(item, np.ndarray):
            try:
                return preprocess.array_to_png(item)
            except ValueError as e:
                raise ValueError(f"{where}: {e}.") from None
        raise ValueError(f"{where}: expected a file path, encoded image bytes or a numpy "
                         f"array; got {type(item).__name__}.")

    def pixels(self, item, where="image"):
        """One image (path, bytes or array) -> uint8 `[size, size, 3]`, the
        model's input, through the graph preprocessing.

        Raises:
            ValueError: naming `where` and what is wrong with the image.
        """
        return preprocess.checked_pixels(self._decode_fn(), self.encoded_bytes(item, where),
                                         where)

    def _pixels_of(self, examples, what, skip_bad):
        """Pixels of `CaptionedImage`s; bad ones raise, or are skipped and
        logged. Returns `(pixels [n, s, s, 3], kept indices)`."""
        out, kept, bad = [], [], []
        for i, ex in enumerate(examples):
            where = ex.source or f"{what} {i}"
            try:
                out.append(self.pixels(ex.image, where))
                kept.append(i)
            except ValueError as e:
                if not skip_bad:
                    raise
                bad.append(str(e))
        if bad:
            log.warning("%s: skipped %d of %d images that cannot be used (first: %s)", what,
                        len(bad), len(examples), bad[0])
        if not out:
            raise ValueError(f"{what}: no usable image.")
        return np.stack(out), kept

    # ------------------------------------------------------------- captions
    def _encode_captions(self, examples, what):
        """Token ids of the training captions -> `(kept image indices,
        captions_in [n, c, t], captions_out [n, c, t])`."""
        cfg = self.config
        first_only = cfg.data.train_captions == "first"
        per_image = [(ex.captions[:1] if first_only else ex.captions)
                     for ex in examples]
        flat = [str(c) for caps in per_image for c in caps]
        ids = self.vocab.tokenize(tf.constant(flat)).to_list() if flat else []
        limit = cfg.model.max_length - 1
        kept, rows, too_long, empty, pos = [], [], 0, 0, 0
        for i, caps in enumerate(per_image):
            good = []
            for tokens in ids[pos:pos + len(caps)]:
                if not tokens:
                    empty += 1
                elif len(tokens) > limit:
                    too_long += 1
                else:
                    good.append(tokens)
            pos += len(caps)
            good = good[:cfg.data.max_captions_per_image]
            if good:
                kept.append(i)
                rows.append(good)
        if too_long or empty:
            log.warning("%s: dropped %d captions longer than model.max_length - 1 = %d words "
                        "and %d empty ones.", what, too_long, limit, empty)
        if len(kept) < len(examples):
            log.warning("%s: skipped %d images left without a usable caption.", what,
                        len(examples) - len(kept))
        if not rows:
            raise ValueError(f"{what}: no usable caption.")
        n_caps = max(len(r) for r in rows)
        steps = max(len(t) for r in rows for t in r) + 1
        cin = np.full((len(rows), n_caps, steps), PAD_ID, np.int32)
        cout = np.full((len(rows), n_caps, steps), PAD_ID, np.int32)
        for i, r in enumerate(rows):
            for j, tokens in enumerate(r):
                cin[i, j, :len(tokens) + 1] = [BOS_ID] + tokens
                cout[i, j, :len(tokens) + 1] = tokens + [EOS_ID]
        return kept, cin, cout

    def _arrays(self, examples, what):
        kept, cin, cout = self._encode_captions(examples, what)
        pixels, ok = self._pixels_of([examples[i] for i in kept], what,
                                     self.config.data.skip_bad_images)
        return pixels, cin[ok], cout[ok]

    def _dataset(self, inputs, cin, cout, training_mode, key="image"):
        cfg = self.config
        ds = tf.data.Dataset.from_tensor_slices({key: inputs, "cin": cin, "cout": cout})
        if training_mode:
            ds = ds.shuffle(len(cin), seed=cfg.train.seed, reshuffle_each_iteration=True)
        ds = ds.batch(cfg.train.batch_size)

        def trim(batch):
            # Only as many caption slots and steps as this batch uses.
            real = tf.not_equal(batch["cout"], PAD_ID)
            steps = tf.reduce_max(tf.reduce_sum(tf.cast(real, tf.int32), -1))
            slots = tf.reduce_max(tf.reduce_sum(tf.cast(tf.reduce_any(real, -1), tf.int32), -1))
            return ({key: batch[key], "captions_in": batch["cin"][:, :slots, :steps]},
                    batch["cout"][:, :slots, :steps])

        return ds.map(trim, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)

    def _dataset_of(self, part, training_mode):
        """The batches of a shard `Split`, or of in-memory arrays (with the
        "image" key)."""
        if isinstance(part, shards_lib.Split):
            return self._stream_dataset(part, training_mode)
        return self._dataset(*part, training_mode, "image")

    def _stream_dataset(self, split, training_mode):
        """Batches of a shard `Split`, in TensorFlow ops only: its records
        (interleaved files; in training the bounded shuffle of
        `data.shuffle_buffer`) parsed, decoded and resized to the model's
        image size, their captions tokenised by the vocabulary's lookup
        table (`vision_caption.shards.parse`), padded per batch to the
        caption slots and steps it uses (what `_dataset` trims the arrays
        to), and prefetched."""
        cfg, d, m = self.config, self.config.data, self.config.model
        size = self.image_size

        def parse(records):
            return caption_shards.parse(
                records, self.vocab, size, min_side=d.min_image_side,
                max_pixels=d.max_image_pixels, max_length=m.max_length,
                max_captions=d.max_captions_per_image,
                first_only=d.train_captions == "first")

        ds = self._stream(split, parse, training_mode)
        ds = ds.padded_batch(
            cfg.train.batch_size,
            padded_shapes={"image": [size, size, 3], "cin": [None, None], "cout": [None, None]},
            padding_values={"image": tf.constant(0, tf.uint8),
                            "cin": tf.constant(PAD_ID, tf.int32),
                            "cout": tf.constant(PAD_ID, tf.int32)})
        ds = ds.map(lambda b: ({"image": b["image"], "captions_in": b["cin"]}, b["cout"]),
                    num_parallel_calls=tf.data.AUTOTUNE)
        return ds.prefetch(tf.data.AUTOTUNE)

    # ------------------------------------------------------------------ fit
    def fit(self, train=None, val=None, run_dir=None):
        """Learns the vocabulary from the training captions (unless one is
        set already), then trains the model; returns self.

        Args:
            train: `CaptionedImage`s, a `pipelines.shards.Split` of shards
                written by `pipelines prepare vision_caption` (streamed, never
                loaded whole), or None for the shards of `data.shards`.
            val: validation `CaptionedImage`s (or a `Split`); None holds out
                a seeded `data.val_fraction` of `train` (no validation if it
                is 0); for shards, their "val" split, which `prepare` held
                out by the same rule.
            run_dir: the run directory (checkpoints, history, resume after
                a kill); None trains in a temporary one.

        Raises:
            pipelines.shards.ShardsError: the shards were prepared for
                another domain, or with other values of the config fields
                their records depend on (naming the field and both values).
        """
        if train is None:
            train, val = self._shard_splits(val)
        # `_shard_fields` checks the fields this index lists.
        self._shards = train.shards if isinstance(train, shards_lib.Split) else None
        try:
            return super().fit(train, val, run_dir=run_dir)
        finally:
            self._shards = None

    def _shard_fields(self):
        """The config's values of the fields the shards' records depend on:
        the split rule and the size limits always; the dataset's fields
        (`data.dataset`, counts, splits) where the index lists them (shards
        of an `--input` do not depend on the config's dataset)."""
        prepared = self._shards.index.get("fields") if self._shards is not None else None
        return caption_shards.fields_to_check(self.config, prepared or {})

    def _split(self, train, val):
        cfg = self.config
        train = list(train)
        if not train:
            raise ValueError("fit needs at least one training image.")
        if val is None:
            train, val = holdout(train, cfg.data.val_fraction, cfg.data.seed)
        return train, val

    def _learn(self, train):
        cfg = self.config
        # A vocabulary set before `fit` (or loaded) is kept.
        if self.vocab is not None:
            return
        if isinstance(train, shards_lib.Split):
            # One pass over the caption strings of the records, never the
            # images (see `vision_caption.shards.vocabulary`).
            self.vocab = caption_shards.vocabulary(
                train, min_count=cfg.vocab.min_count, max_words=cfg.vocab.max_words,
                max_length=cfg.model.max_length, first_only=cfg.data.train_captions == "first")
        else:
            self.vocab = WordVocabulary.build(
                [c for ex in train for c in ex.captions], min_count=cfg.vocab.min_count,
                max_words=cfg.vocab.max_words)

    def _prepare(self, train, val):
        val = val if val else None
        self._streamed = any(isinstance(s, shards_lib.Split) for s in (train, val))
        # The pixel arrays are made before the model is built (the order the
        # seeded results depend on); the datasets after it (`_datasets`). A
        # shard `Split` stays as it is: it is streamed from `_datasets`.
        prepared = []
        for split, what in ((train, "training images"), (val, "validation images")):
            if split is None or isinstance(split, shards_lib.Split):
                prepared.append(split)
            else:
                prepared.append(self._arrays(list(split), what))
        return tuple(prepared)

    @property
    def _caches_features(self):
        m = self.config.model
        return not m.fine_tune and m.cache_features

    def _build_model(self):
        m = self.config.model
        return ImageCaptioner(
            self.vocab.size, image_size=m.image_size, encoder=m.encoder,
            conv_filters=list(m.conv_filters), weights=m.weights, fine_tune=m.fine_tune,
            feature_dim=m.feature_dim, embedding_dim=m.embedding_dim, units=m.units,
            cell_type=m.cell_type, attention=m.attention, dropout=m.dropout,
            pad_id=PAD_ID, bos_id=BOS_ID, eos_id=EOS_ID)

    @property
    def _uses_cache(self):
        # Streamed images are never all at hand: no whole-corpus cache (see
        # `_datasets`).
        return self._caches_features and not self._streamed

    def _trained_model(self):
        # A frozen encoder's grid never changes: train the head on cached grids.
        return self.model.feature_head() if self._uses_cache else self.model

    def _compile_args(self):
        return {"loss": MaskedSparseCrossEntropy(
            pad_id=PAD_ID, label_smoothing=self.config.model.label_smoothing)}

    def _datasets(self, data):
        if self._streamed:
            # From shards, a frozen encoder (`fine_tune: false`) computes the
            # features in the stream: the whole model is trained, its frozen
            # backbone run in inference mode on each batch inside the
            # training step (the grids the cache would hold, on the
            # accelerator, never a whole-corpus cache).
            return tuple(None if part is None else self._dataset_of(part, training_mode)
                         for part, training_mode in zip(data, (True, False)))
        train_arrays, val_arrays = data
        key = "image"
        if self._caches_features:
            # Every image is encoded once, by the built (frozen) backbone.
            key = "grid"
            batch_size = self.config.train.batch_size

            def encode(pixels):
                return self.model.backbone.predict(pixels.astype("float32"),
                                                   batch_size=batch_size, verbose=0)

            train_arrays = (encode(train_arrays[0]),) + train_arrays[1:]
            if val_arrays is not None:
                val_arrays = (encode(val_arrays[0]),) + val_arrays[1:]
        train_ds = self._dataset(*train_arrays, True, key)
        val_ds = self._dataset(*val_arrays, False, key) if val_arrays is not None else None
        return train_ds, val_ds

    # ------------------------------------------------------------ inference
    def _graph(self, beam_width):
        """uint8 pixels `[batch, s, s, 3]` -> caption `string [batch]`, the
        graph shared by `caption` and the export."""
        model, vocab, m = self.model, self.vocab, self.config.model
        beam, alpha, max_length = int(beam_width), m.length_penalty, m.max_length

        def infer(pixels):
            def run():
                ids, _ = model.generate(pixels, max_length=max_length, beam_width=beam,
                                        length_penalty=alpha)
                return vocab.detokenize(ids)

            # An empty batch is answered without running the network (some
            # CPU kernels, batch norm among them, reject zero-size batches).
            return tf.cond(tf.shape(pixels)[0] > 0, run, lambda: tf.zeros([0], tf.string))

        return infer

    def _beam(self, beam_width):
        """The beam width in force: `beam_width`, or the config's."""
        return int(beam_width or self.config.model.beam_width)

    def _infer_fn(self, beam_width):
        size = self.image_size
        return self._function(("infer", int(beam_width)), lambda: tf.function(
            self._graph(beam_width),
            input_signature=[tf.TensorSpec([None, size, size, 3], tf.uint8)]))

    def _caption_pixels(self, pixels, beam_width, batch_size=64):
        fn = self._infer_fn(beam_width)
        out = []
        for start in range(0, len(pixels), batch_size):
            out.extend(t.decode("utf-8") for t in fn(pixels[start:start + batch_size]).numpy())
        return out

    def caption(self, inputs, beam_width=None, batch_size=64):
        """Captions images.

        Args:
            inputs: a list of file paths, encoded image bytes and/or numpy
                arrays (a single one is accepted too, and answered with a
                single caption); a 4-D array is a batch of images.
            beam_width: 1 for greedy decoding, more for beam search (default:
                the config's `model.beam_width`).
            batch_size: images decoded together.

        Returns:
            A list of captions (normalised words).

        Raises:
            ValueError: naming the input that is not a usable image.
        """
        self._require_fitted()
        single = _is_single(inputs)
        items = [inputs] if single else list(inputs)
        if not items:
            return []
        pixels = np.stack([self.pixels(item, _describe(item, i))
                           for i, item in enumerate(items)])
        out = self._caption_pixels(pixels, self._beam(beam_width), batch_size)
        return out[0] if single else out

    def predict(self, inputs, beam_width=None, batch_size=64):
        """The pipelines' common verb: `caption`."""
        return self.caption(inputs, beam_width=beam_width, batch_size=batch_size)

    def evaluate(self, examples, beam_width=None, batch_size=64):
        """BLEU-1..4 (against all references of each image), CIDEr-D and the
        exact-match rate of greedy and beam decoding on `CaptionedImage`s
        (or the records of a shard `Split`, read into memory: a test split)."""
        self._require_fitted()
        if isinstance(examples, shards_lib.Split):
            examples = caption_shards.captioned_images(examples)
        examples = list(examples)
        pixels, kept = self._pixels_of(examples, "evaluation images",
                                       self.config.data.skip_bad_images)
        refs = [normalize_caption_list(examples[i].captions) for i in kept]
        beam = self._beam(beam_width)
        result = {}
        for name, width in (("greedy", 1), ("beam", beam)):
            hyps = self._caption_pixels(pixels, width, batch_size)
            for k, v in caption_scores(hyps, refs).items():
                result[f"{k}_{name}"] = round(v, 4)
        result["beam_width"] = beam
        result["images"] = len(kept)
        return result

    # ----------------------------------------------------------------- plot
    def plot_attention(self, image, beam_width=None, columns=5):
        """Draws where the decoder looked for each word of the caption of
        `image` (a path, bytes or array): one panel per word (and the end of
        the caption) with the attention over the feature grid drawn over the
        image. Returns the matplotlib Figure."""
        plt = self._pyplot()
        self._require_fitted()
        pixels = self.pixels(image, _describe(image, 0))
        text = self._caption_pixels(pixels[None], self._beam(beam_width))[0]
        ids = self.vocab.tokenize(tf.constant([text])).to_tensor()
        captions_in = tf.concat([[[BOS_ID]], ids], axis=1)
        maps = keras.ops.convert_to_numpy(
            self.model.attention_maps(pixels[None], captions_in))[0]
        words = text.split() + ["</s>"]
        columns = max(1, min(columns, len(words)))
        rows = -(-len(words) // columns)
        fig, axes = plt.subplots(rows, columns, figsize=(2.2 * columns, 2.4 * rows),
                                 squeeze=False)
        size = self.image_size
        for ax in axes.ravel():
            ax.axis("off")
        for i, word in enumerate(words):
            ax = axes.ravel()[i]
            ax.imshow(pixels)
            ax.imshow(maps[i], cmap="inferno", alpha=0.6, interpolation="bilinear",
                      extent=(0, size, size, 0), vmin=0)
            ax.set_title(word, fontsize=10)
        fig.suptitle(text, fontsize=10)
        fig.tight_layout()
        return fig

    # ------------------------------------------------------------ save/load
    def _state(self):
        return {"vocabulary": self.vocab.words}

    def _restore(self, state, path):
        self.vocab = WordVocabulary(state["vocabulary"])

    # --------------------------------------------------------------- export
    def serving_fn(self, beam_width=None):
        """`serve(image_bytes string [batch]) -> {"caption": string [batch]}`:
        decoding, resizing, the CNN, the decoder, beam search and
        detokenisation, all graph ops. A bad image fails the call with an
        InvalidArgumentError whose message names it (`image_bytes[i]: ...`)."""
        infer = self._graph(self._beam(beam_width))
        d, size = self.config.data, self.image_size

        def serve(image_bytes):
            # Any shape binds; a wrong one is one line from here, not
            # TensorFlow's "Binding inputs" error.
            check = tf.debugging.Assert(tf.equal(tf.rank(image_bytes), 1), [
                "image_bytes must be string [batch] (a 1-D tensor of encoded images); got "
                "shape", tf.shape(image_bytes)])
            with tf.control_dependencies([check]):
                image_bytes = tf.reshape(image_bytes, [-1])
            names = tf.strings.join(
                ["image_bytes[", tf.strings.as_string(tf.range(tf.size(image_bytes))), "]"])
            pixels = tf.map_fn(
                lambda x: preprocess.decode_image(x[0], size, d.min_image_side,
                                                  d.max_image_pixels, x[1]),
                (image_bytes, names),
                fn_output_signature=tf.TensorSpec([size, size, 3], tf.uint8))
            return {"caption": infer(pixels)}

        return serve

    def export(self, path, sample=None, beam_width=None):
        """Writes a SavedModel whose `serve(image_bytes string [batch])`
        (JPEG, PNG, GIF, BMP or WebP bytes) returns `{"caption": string
        [batch]}`, everything in the graph (it needs only `tensorflow` and
        nothing but `tensorflow` to run). `sample` (images: paths, bytes or arrays,
        arrays sent as PNG) is captioned in memory and by the reloaded export
        in a fresh process; both must agree.

        Args:
            path: the export folder (written atomically).
            sample: images to verify the export on (None: no check).
            beam_width: the beam of `serve` (default: the config's
                `model.beam_width`; 1 is greedy).
        """
        return super().export(path, sample=sample, beam_width=beam_width)

    def _endpoints(self, beam_width=None):
        return {"serve": (self.serving_fn(beam_width),
                          [tf.TensorSpec(None, tf.string, name="image_bytes")])}

    def _export_sample(self, sample, beam_width=None):
        data = [self.encoded_bytes(item, _describe(item, i)) for i, item in enumerate(sample)]
        # numpy bytes arrays drop trailing NUL bytes: such images (some
        # BMPs) cannot travel to the verifying process unchanged.
        data = [b for b in data if not b.endswith(b"\0")]
        inputs = expected = None
        if data:
            inputs = {"image_bytes": np.array(data, dtype=bytes)}
            expected = {"caption": np.array(self.caption(data, self._beam(beam_width),
                                                         len(data)), dtype=str)}
        return inputs, expected

    def _export_metadata(self, beam_width=None):
        d = self.config.data
        return {
            "inputs": {"image_bytes": {
                "dtype": "string", "shape": [None],
                "notes": f"encoded {preprocess.FORMATS} images (gray, RGB or with alpha; "
                         f"8 or 16 bit); each side at least {d.min_image_side} pixels, at "
                         f"most {d.max_image_pixels} pixels; resized to "
                         f"{self.image_size}x{self.image_size}"}},
            "outputs": {"caption": {"dtype": "string", "shape": [None],
                                    "notes": "lowercase words separated by spaces"}},
            "beam_width": self._beam(beam_width),
            "vocabulary_size": self.vocab.size,
            "requires": ["tensorflow"],
        }

    def _tracked(self):
        return [self.model, self.vocab]


__all__ = ["Captioner", "CaptionedImage"]
