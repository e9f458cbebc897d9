"""The CTC acoustic model: conv front end + shared recurrent encoder + float32 head."""

import keras
from keras import ops

from pipelines import precision
from pipelines.blocks import FunctionalModel, RecurrentEncoder, SequenceMask
from pipelines.losses import delay_penalized_ctc
from pipelines.precision import HEAD_DTYPE
from pipelines.validation import check_argument
from speech.features import FeatureNormalization, SpecAugment

#: Frames of the past that each causal convolution reads besides the
#: current one (kernel 3 in time, no look-ahead).
CAUSAL_CONTEXT = 2


@keras.saving.register_keras_serializable(package="speech")
class ZeroMasked(keras.layers.Layer):
    """`(sequences [b, t, d], keep [b, t] bool)` -> the sequences with the
    steps not kept set to zero. The Keras mask stops here: `keep` replaces
    it."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, sequences, keep, mask=None):
        return ops.where(keep[..., None], sequences, ops.zeros_like(sequences))

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, sequences_shape, keep_shape=None):
        return tuple(sequences_shape)


@keras.saving.register_keras_serializable(package="speech")
class CTCAcousticModel(FunctionalModel):
    """Log-mel frames -> per-frame character logits, trained with CTC.

    Two 3x3 convolutions (the first halves time and frequency, the second
    halves frequency again) compress the spectrogram, a bidirectional
    recurrent stack (the shared `RecurrentEncoder`, cuDNN-eligible) reads it
    with padding masked, and a float32 dense head gives `vocab_size + 1`
    logits per frame, the last one the CTC blank. The CTC loss uses each
    utterance's real frame and label counts, and runs in float32 under mixed
    precision too.

    Inputs are a dict: `features` float `[batch, frames, n_mels]` and `lengths`
    int32 `[batch]` (real frames). Targets for `fit` are a dict: `labels`
    int32 `[batch, max_label]` and `label_lengths` int32 `[batch]`, and
    optionally `deadlines` int32 `[batch, max_label]`, the last output frame
    at which each label may be emitted (alignment-restricted CTC).

    Args:
        n_mels: feature bands.
        vocab_size: characters (without the blank).
        conv_filters: channels of both convolutions.
        units: recurrent width per direction.
        num_layers: recurrent layers.
        cell_type: "gru" or "lstm".
        dropout: dropout between recurrent layers.
        spec_augment: dict of `SpecAugment` arguments, or None for none.
        causal: no look into the future anywhere, so the model can stream:
            both convolutions read the current and the two previous frames
            only (left padding in time), and the recurrent stack is
            unidirectional. Otherwise centred 3x3 convolutions and a
            bidirectional stack.
        lookahead: with `causal`, output frames of the future that each
            frame's logits may read (0: none). A row convolution over the
            recurrent outputs of the frame and the `lookahead` after it
            (DeepSpeech 2's look-ahead), added to the frame's own output:
            a unidirectional stack must otherwise spell a word before it
            has heard what follows it. A stream holds its last `lookahead`
            outputs back, so it answers `lookahead` frames later.
        delay_penalty: nats per output frame that each label-emitting
            frame of an alignment costs in the training loss
            (`pipelines.losses.delay_penalized_ctc`): a streaming model then
            emits a label as soon as the audio tells it, not at the next
            word (0: the plain CTC loss).
        feature_mean, feature_std: `n_mels` floats each, to normalise the
            features with (`FeatureNormalization`, statistics of the
            training set) when the front end does not (`LogMel(normalization=
            "global")`); None: the features come normalised.
        dtype: the dtype policy of every layer but the float32 head (None:
            the policy in force); it is part of the config, so a model saved
            under mixed precision reloads under it.

    Example:

    >>> import numpy as np
    >>> m = CTCAcousticModel(n_mels=40, vocab_size=28, units=16, conv_filters=4)
    >>> tuple(m({"features": np.zeros((2, 50, 40), "float32"),
    ...          "lengths": np.array([50, 30], "int32")}).shape)
    (2, 25, 29)
    """

    def __init__(self, n_mels, vocab_size, conv_filters=32, units=128, num_layers=2,
                 cell_type="gru", dropout=0.1, spec_augment=None, causal=False,
                 lookahead=0, delay_penalty=0.0, feature_mean=None, feature_std=None, dtype=None, **kwargs):
        check_argument(isinstance(n_mels, int) and n_mels >= 4, "n_mels", n_mels,
                       "must be an integer >= 4")
        check_argument((feature_mean is None) == (feature_std is None), "feature_std",
                       feature_std, "must be given with feature_mean (or neither)")
        check_argument(feature_mean is None or len(feature_mean) == n_mels, "feature_mean",
                       None if feature_mean is None else len(feature_mean),
                       f"must have n_mels={n_mels} values")
        check_argument(isinstance(vocab_size, int) and vocab_size >= 1, "vocab_size",
                       vocab_size, "must be a positive integer")
        check_argument(isinstance(lookahead, int) and lookahead >= 0, "lookahead", lookahead,
                       "must be an integer >= 0")
        check_argument(causal or lookahead == 0, "lookahead", lookahead,
                       "needs causal=True (a bidirectional stack already reads the future)")
        check_argument(delay_penalty >= 0, "delay_penalty", delay_penalty, "must be >= 0")

        # Every layer (and the model) takes the policy `dtype`; it is in
        # get_config, so a reload rebuilds the same policy.
        with precision.dtype_scope(dtype):
            # === Layers ===
            normalize = None
            if feature_mean is not None:
                normalize = FeatureNormalization(feature_mean, feature_std, name="normalize")
            augment = SpecAugment(**(spec_augment or {"freq_masks": 0, "time_masks": 0}),
                                  name="spec_augment")
            # Explicit padding + "valid": with "same", a stride-2 convolution
            # pads the left side by 0 or 1 depending on the parity of the
            # *padded* batch width, so an utterance's frames would depend on
            # its batch.
            # Causal: the frames before, none after (a stream has the same
            # zeros before its first frame, and its past in its state).
            time_pad = (CAUSAL_CONTEXT, 0) if causal else (1, 1)
            pad1 = keras.layers.ZeroPadding2D(padding=(time_pad, (1, 1)), name="pad_1")
            conv1 = keras.layers.Conv2D(conv_filters, 3, strides=(2, 2),
                                        padding="valid", activation="relu", name="conv_1")
            if causal:
                pad2 = keras.layers.ZeroPadding2D(padding=(time_pad, (1, 1)), name="pad_2")
                conv2 = keras.layers.Conv2D(conv_filters, 3, strides=(1, 2), padding="valid",
                                            activation="relu", name="conv_2")
            else:
                pad2 = None
                conv2 = keras.layers.Conv2D(conv_filters, 3, strides=(1, 2),
                                            padding="same", activation="relu", name="conv_2")
            encoder = RecurrentEncoder(units, num_layers=num_layers, cell_type=cell_type,
                                       bidirectional=not causal, dropout=dropout,
                                       name="encoder")
            lookahead_pad = lookahead_conv = None
            if lookahead:
                # Zeros after the last real frame, as a stream's end flushes.
                lookahead_pad = keras.layers.ZeroPadding1D((0, lookahead), name="lookahead_pad")
                lookahead_conv = keras.layers.Conv1D(units, lookahead + 1, activation="relu",
                                                     name="lookahead")
            head = keras.layers.Dense(vocab_size + 1, dtype=HEAD_DTYPE, name="ctc_head")

            # === Functional model ===
            features = keras.Input((None, n_mels), name="features")
            lengths = keras.Input((), dtype="int32", name="lengths")
            x = normalize(features) if normalize is not None else features
            x = augment(x)
            x = conv1(pad1(ops.expand_dims(x, -1)))
            x = conv2(pad2(x) if pad2 is not None else x)
            bands = -(-(-(-n_mels // 2)) // 2)
            x = keras.layers.Reshape((-1, bands * conv_filters), name="frames")(x)
            out_lengths = (lengths + 1) // 2
            mask = SequenceMask(name="frame_mask")(x, out_lengths)
            x = encoder(x, mask=mask)
            if lookahead:
                # Padded frames are zeroed first: a frame near the end of a
                # short utterance must not read a longer one's padding.
                x = ZeroMasked(name="zero_padding")(x, mask)
                x = keras.layers.Add(name="with_lookahead")(
                    [x, lookahead_conv(lookahead_pad(x))])
            logits = head(x)
            super().__init__(inputs={"features": features, "lengths": lengths},
                             outputs=logits, **kwargs)

        # === Config ===
        self.n_mels = n_mels
        self.vocab_size = vocab_size
        self.conv_filters = conv_filters
        self.units = units
        self.num_layers = num_layers
        self.cell_type = cell_type
        self.dropout = dropout
        self.spec_augment = spec_augment
        self.causal = causal
        self.lookahead = lookahead
        self.delay_penalty = float(delay_penalty)
        self.feature_mean = feature_mean
        self.feature_std = feature_std

    @property
    def blank_index(self):
        return self.vocab_size

    @staticmethod
    def output_lengths(lengths):
        """Frames after the time-halving convolution."""
        return (ops.cast(lengths, "int32") + 1) // 2

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None,
                     training=True):
        args = (ops.cast(y["labels"], "int32"), ops.cast(y_pred, "float32"),
                ops.cast(y["label_lengths"], "int32"), self.output_lengths(x["lengths"]))
        deadlines = y.get("deadlines") if isinstance(y, dict) else None
        if self.delay_penalty or deadlines is not None:
            # Deadlines (`model.emission_deadline_ms`): only the alignments
            # that emit each label by its frame.
            loss = delay_penalized_ctc(*args, blank=self.blank_index,
                                       penalty=self.delay_penalty, deadlines=deadlines)
        else:
            loss = ops.ctc_loss(*args, mask_index=self.blank_index)
        total = ops.mean(loss)
        if self.losses:
            total = total + ops.sum(ops.stack([ops.cast(l, "float32") for l in self.losses]))
        return total

    def get_config(self):
        return {
            **super().get_config(),
            "n_mels": self.n_mels,
            "vocab_size": self.vocab_size,
            "conv_filters": self.conv_filters,
            "units": self.units,
            "num_layers": self.num_layers,
            "cell_type": self.cell_type,
            "dropout": self.dropout,
            "spec_augment": self.spec_augment,
            "causal": self.causal,
            "lookahead": self.lookahead,
            "delay_penalty": self.delay_penalty,
            "feature_mean": self.feature_mean,
            "feature_std": self.feature_std,
        }
