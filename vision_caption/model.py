"""The captioning model: a CNN encoder giving a grid of spatial features and
the shared attentive recurrent decoder (`pipelines.blocks.AttentiveDecoder`),
decoded with the shared beam search (`pipelines.decoding.beam_search`).

Only the image front end and the glue live here: the encoder backbone (a
small CNN, or a `keras.applications` network), the projection of its grid
into the decoder's memory with a learned embedding of each grid position
(spatial words such as "left of" need to know *where* the decoder looked),
and the bridge from the pooled features to the decoder's initial state.
"""

import keras
import tensorflow as tf
from keras import ops

from pipelines import decoding, precision
from pipelines.blocks import ATTENTION_KINDS, CELL_TYPES, AttentiveDecoder, FunctionalModel
from pipelines.precision import HEAD_DTYPE
from pipelines.validation import check_argument as _check

PACKAGE = "vision_caption"

# Backbones from keras.applications. Each takes RGB in [0, 255] and does its
# own input scaling (include_preprocessing), downsampling by 32.
APPLICATIONS = {
    "mobilenet_v3_small": "MobileNetV3Small",
    "mobilenet_v3_large": "MobileNetV3Large",
    "efficientnet_b0": "EfficientNetB0",
    "efficientnetv2_b0": "EfficientNetV2B0",
}
ENCODERS = ("small_cnn",) + tuple(APPLICATIONS)


def build_backbone(encoder, image_size, conv_filters=(32, 64, 128, 128), weights=None,
                   name="backbone"):
    """RGB uint8-valued float `[b, size, size, 3]` -> feature grid `[b, h, w, c]`.

    `small_cnn`: 3x3 convolution + batch norm + ReLU per entry of
    `conv_filters`, each but the last followed by 2x2 max pooling (four
    entries turn 64x64 pixels into an 8x8 grid). The `keras.applications`
    encoders take `weights` (None, "imagenet", or a weights file).

    Example:

    >>> tuple(build_backbone("small_cnn", 32, conv_filters=(4, 8)).output_shape)
    (None, 16, 16, 8)
    """
    if encoder == "small_cnn":
        inputs = keras.Input((image_size, image_size, 3), name="pixels")
        x = keras.layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
        for i, filters in enumerate(conv_filters):
            x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False,
                                    name=f"conv_{i}")(x)
            # Momentum 0.9: the moving statistics keep up within a short run.
            x = keras.layers.BatchNormalization(momentum=0.9, name=f"bn_{i}")(x)
            x = keras.layers.ReLU(name=f"relu_{i}")(x)
            if i < len(conv_filters) - 1:
                x = keras.layers.MaxPooling2D(2, name=f"pool_{i}")(x)
        return keras.Model(inputs, x, name=name)
    factory = getattr(keras.applications, APPLICATIONS[encoder])
    net = factory(include_top=False, weights=weights, input_shape=(image_size, image_size, 3))
    # Renamed so the model's layer names do not depend on the backbone.
    return keras.Model(net.input, net.output, name=name)


@keras.saving.register_keras_serializable(package=PACKAGE)
class GridPositionEmbedding(keras.layers.Layer):
    """Adds a learned vector per grid position to `[b, positions, d]`.

    Example:

    >>> import numpy as np
    >>> tuple(GridPositionEmbedding()(np.zeros((2, 9, 4), "float32")).shape)
    (2, 9, 4)
    """

    def build(self, input_shape):
        self.embeddings = self.add_weight(
            shape=(input_shape[1], input_shape[2]), name="embeddings",
            initializer=keras.initializers.RandomNormal(stddev=0.1))
        self.built = True

    def call(self, x):
        return x + ops.cast(self.embeddings, x.dtype)


@keras.saving.register_keras_serializable(package=PACKAGE)
class FlattenCaptions(keras.layers.Layer):
    """`[b, captions, t]` -> `[b * captions, t]` (captions of one image adjacent)."""

    def call(self, captions):
        return ops.reshape(captions, (-1, ops.shape(captions)[2]))

    def compute_output_spec(self, captions):
        return keras.KerasTensor((None, captions.shape[2]), dtype=captions.dtype)


@keras.saving.register_keras_serializable(package=PACKAGE)
class RepeatPerCaption(keras.layers.Layer):
    """Repeats each image's tensor once per caption: `([b, ...], captions [b,
    c, t]) -> [b * c, ...]`, so one image encoding serves all its captions."""

    def call(self, x, captions):
        return ops.repeat(x, ops.shape(captions)[1], axis=0)

    def compute_output_spec(self, x, captions):
        return keras.KerasTensor((None,) + tuple(x.shape[1:]), dtype=x.dtype)


@keras.saving.register_keras_serializable(package=PACKAGE)
class UnflattenCaptions(keras.layers.Layer):
    """`([b * c, t, v], captions [b, c, t]) -> [b, c, t, v]`."""

    def call(self, logits, captions):
        shape = ops.shape(captions)
        return ops.reshape(logits, (shape[0], shape[1], ops.shape(logits)[1],
                                    ops.shape(logits)[2]))

    def compute_output_spec(self, logits, captions):
        return keras.KerasTensor(tuple(captions.shape[:3]) + (logits.shape[-1],),
                                 dtype=logits.dtype)


@keras.saving.register_keras_serializable(package=PACKAGE)
class ImageCaptioner(FunctionalModel):
    """CNN encoder + attentive recurrent decoder over its feature grid.

    Inputs (dict): `image` uint8 `[batch, image_size, image_size, 3]` and
    `captions_in` int32 `[batch, captions, steps]`: every caption of the
    image, shifted right (BOS first), padded with `pad_id` (a padding
    caption is all `pad_id`). Output: float32 logits `[batch, captions,
    steps, vocab_size]` (teacher forcing). The image is encoded once and its
    memory repeated for each of its captions. `generate` decodes with greedy
    or beam search from the same weights, in graph-safe ops.

    Args:
        vocab_size: caption vocabulary size (special ids included).
        image_size: side of the square input images (pixels).
        encoder: "small_cnn", or a keras.applications backbone:
            "mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0",
            "efficientnetv2_b0".
        conv_filters: channels of the small CNN's convolutions.
        weights: backbone weights ("imagenet", a file, or None for random);
            not used by the small CNN. A saved model reloads its own trained
            weights, never these.
        fine_tune: train the encoder (False freezes it, batch norm included).
        feature_dim: width of the decoder's memory (projected grid features).
        embedding_dim, units, cell_type, attention, dropout: the decoder.
        pad_id, bos_id, eos_id: special ids of the vocabulary.
        dtype: the dtype policy of every layer, the backbone's included
            (None: the policy in force); saved in the config, so a
            mixed-precision model reloads mixed.

    Example:

    >>> import numpy as np
    >>> m = ImageCaptioner(12, image_size=32, conv_filters=[4, 8], feature_dim=8,
    ...                    embedding_dim=4, units=8)
    >>> out = m({"image": np.zeros((2, 32, 32, 3), "uint8"),
    ...          "captions_in": np.ones((2, 3, 5), "int32")})
    >>> tuple(out.shape)
    (2, 3, 5, 12)
    >>> ids, lengths = m.generate(np.zeros((2, 32, 32, 3), "uint8"), max_length=6,
    ...                           beam_width=2)
    >>> tuple(ids.shape)
    (2, 6)
    """

    def __init__(self, vocab_size, image_size=64, encoder="small_cnn",
                 conv_filters=(32, 64, 128, 128), weights=None, fine_tune=True,
                 feature_dim=128, embedding_dim=64, units=256, cell_type="gru",
                 attention="additive", dropout=0.1, pad_id=0, bos_id=1, eos_id=2, dtype=None,
                 **kwargs):
        _check(isinstance(vocab_size, int) and vocab_size > 4, "vocab_size", vocab_size,
               "must be an integer > 4 (4 special ids and at least one word)")
        _check(isinstance(image_size, int) and image_size >= 16, "image_size", image_size,
               "must be an integer >= 16")
        _check(encoder in ENCODERS, "encoder", encoder, f"must be one of {list(ENCODERS)}")
        conv_filters = list(conv_filters)
        _check(bool(conv_filters) and all(isinstance(f, int) and f > 0 for f in conv_filters),
               "conv_filters", conv_filters, "must be a non-empty list of positive integers")
        _check(encoder == "small_cnn" or image_size >= 32, "image_size", image_size,
               f"must be at least 32 for encoder {encoder!r}")
        for name, value in (("feature_dim", feature_dim), ("embedding_dim", embedding_dim),
                            ("units", units)):
            _check(isinstance(value, int) and value > 0, name, value,
                   "must be a positive integer")
        _check(cell_type in CELL_TYPES, "cell_type", cell_type,
               f"must be one of {list(CELL_TYPES)}")
        _check(attention in ATTENTION_KINDS, "attention", attention,
               f"must be one of {list(ATTENTION_KINDS)}")
        _check(0 <= dropout < 1, "dropout", dropout, "must be in [0, 1)")

        # Every layer (and the model) takes the policy `dtype`, the backbone's
        # too (keras.applications builds its layers under the policy in
        # force); it is in get_config, so a reload rebuilds the same policy.
        with precision.dtype_scope(dtype):
            # === Layers ===
            backbone = build_backbone(encoder, image_size, conv_filters, weights)
            backbone.trainable = bool(fine_tune)
            height, width, channels = backbone.output_shape[1:]
            to_sequence = keras.layers.Reshape((height * width, channels),
                                               name="grid_to_sequence")
            project = keras.layers.Dense(feature_dim, activation="relu", name="project")
            positions = GridPositionEmbedding(name="grid_positions")
            pool = keras.layers.GlobalAveragePooling1D(name="pool")
            n_states = 2 if cell_type == "lstm" else 1
            bridges = [keras.layers.Dense(units, activation="tanh", name=f"bridge_{i}")
                       for i in range(n_states)]
            flatten = FlattenCaptions(name="flatten_captions")
            repeat = RepeatPerCaption(name="per_caption")
            # float32 like the head: a mixed-precision layer would cast the logits down.
            unflatten = UnflattenCaptions(dtype=HEAD_DTYPE, name="unflatten_captions")
            decoder = AttentiveDecoder(vocab_size, embedding_dim=embedding_dim, units=units,
                                       cell_type=cell_type, attention=attention,
                                       dropout=dropout, name="decoder")

            def head(grid, captions_in):
                memory = positions(project(to_sequence(grid)))
                states = [bridge(pool(memory)) for bridge in bridges]
                logits = decoder(flatten(captions_in), repeat(memory, captions_in),
                                 initial_state=[repeat(s, captions_in) for s in states])
                return unflatten(logits, captions_in)

            # === Functional model ===
            image = keras.Input((image_size, image_size, 3), dtype="uint8", name="image")
            captions_in = keras.Input((None, None), dtype="int32", name="captions_in")
            # A frozen backbone runs in inference mode: its batch-norm statistics
            # stay those it came with.
            grid = backbone(ops.cast(image, "float32"),
                            training=None if fine_tune else False)
            logits = head(grid, captions_in)
            super().__init__(inputs={"image": image, "captions_in": captions_in},
                             outputs=logits, **kwargs)

        # === Config ===
        self.vocab_size = vocab_size
        self.image_size = image_size
        self.encoder = encoder
        self.conv_filters = conv_filters
        self.weights_source = weights
        self.fine_tune = bool(fine_tune)
        self.feature_dim = feature_dim
        self.embedding_dim = embedding_dim
        self.units = units
        self.cell_type = cell_type
        self.attention = attention
        self.dropout = dropout
        self.pad_id = pad_id
        self.bos_id = bos_id
        self.eos_id = eos_id
        self.grid_shape = (height, width, channels)
        self._head = head
        self._parts = (backbone, to_sequence, project, positions, pool, bridges, decoder)

    @property
    def backbone(self):
        return self._parts[0]

    @property
    def decoder(self):
        return self._parts[-1]

    def feature_head(self):
        """A model sharing this one's layers that starts from the backbone's
        grid: `{"grid": [b, h, w, c], "captions_in"} -> logits`. Training it
        on cached grids trains this model (for a frozen encoder, whose grid
        never changes, each image is encoded once for the whole run)."""
        # Under this model's policy, whatever the policy in force is now.
        with precision.dtype_scope(self.dtype_policy):
            grid = keras.Input(self.grid_shape, name="grid")
            captions_in = keras.Input((None, None), dtype="int32", name="captions_in")
            return keras.Model({"grid": grid, "captions_in": captions_in},
                               self._head(grid, captions_in), name="feature_head")

    def encode(self, image):
        """uint8 `image [b, s, s, 3]` -> `(memory [b, h * w, feature_dim],
        initial decoder state)`, in inference mode."""
        backbone, to_sequence, project, positions, pool, bridges, _ = self._parts
        grid = backbone(ops.cast(image, "float32"), training=False)
        memory = positions(project(to_sequence(grid)))
        return memory, [bridge(pool(memory)) for bridge in bridges]

    def generate(self, image, max_length, beam_width=4, length_penalty=0.6):
        """Greedy (`beam_width=1`) or beam-search captions, graph-safe.

        Returns `(ids int32 [batch, max_length], lengths int32 [batch])`,
        EOS included, padded with `pad_id`.
        """
        image = tf.convert_to_tensor(image)
        memory, state = self.encode(image)
        k = int(beam_width)
        memory_k = decoding.tile_beams(memory, k)
        keys_k = self.decoder.attention_keys(memory_k)  # projected once, not every step

        def step(tokens, s):
            logits, s, _ = self.decoder.step(tokens, s, memory_k, keys=keys_k)
            return logits, s

        return decoding.beam_search(
            step, [decoding.tile_beams(s, k) for s in state], tf.shape(image)[0],
            self.bos_id, self.eos_id, max_length, beam_width=k,
            length_penalty=length_penalty, pad_id=self.pad_id)

    def attention_maps(self, image, captions_in):
        """Teacher-forced attention `[b, steps, h, w]` over the feature grid
        while reading `captions_in [b, steps]` (row i: emitting token i)."""
        memory, state = self.encode(image)
        _, weights = self.decoder(captions_in, memory, initial_state=state,
                                  return_attention=True)
        height, width = self.grid_shape[:2]
        return ops.reshape(weights, (ops.shape(weights)[0], ops.shape(weights)[1],
                                     height, width))

    def get_config(self):
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size, "image_size": self.image_size,
            "encoder": self.encoder, "conv_filters": list(self.conv_filters),
            "weights": self.weights_source, "fine_tune": self.fine_tune,
            "feature_dim": self.feature_dim, "embedding_dim": self.embedding_dim,
            "units": self.units, "cell_type": self.cell_type, "attention": self.attention,
            "dropout": self.dropout, "pad_id": self.pad_id, "bos_id": self.bos_id,
            "eos_id": self.eos_id,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        # Rebuilt only to receive saved weights: never download pretrained
        # ones; the source is still remembered (and reported by get_config).
        weights = config.pop("weights", None)
        model = cls(weights=None, **config)
        model.weights_source = weights
        return model
