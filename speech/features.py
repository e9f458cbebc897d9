"""The speech front end, in TensorFlow ops only.

The same `LogMel` object computes features in `tf.data` during training and
inside the exported SavedModel: power STFT (`tf.signal.stft`, periodic Hann
window, no centring), a mel filterbank taken from `librosa.filters.mel` as a
constant, log compression, and per-utterance mean/variance normalisation over
the real (unpadded) frames; or, for a streaming model that cannot wait for
the end of the clip, no normalisation here: `FeatureNormalization` in the
model applies statistics fitted on the training set instead
(`normalization="global"`).

Every frame depends on its own samples only (no centring, no padding at
the start), so a stream of chunks gives exactly the frames of the whole clip.
"""

import dataclasses

import keras
import librosa
from keras import ops
import numpy as np
import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class LogMel:
    """Log-mel features of zero-padded waveform batches.

    Args:
        sample_rate: audio sample rate in Hz.
        n_fft: FFT and window length in samples.
        hop_length: samples between frames.
        n_mels: mel bands.
        fmin, fmax: band edges in Hz (`fmax=None`: Nyquist).
        log_offset: added before the log.
        normalization: "utterance" (mean and variance of each clip's own
            frames: needs the whole clip) or "global" (none here: the
            model's `FeatureNormalization` applies the training set's).
        cepstra: cepstral smoothing: each frame's log-mel keeps only its
            first `cepstra` DCT coefficients (the spectral envelope, as MFCCs
            do) and is turned back into `n_mels` bands, so the harmonics of
            the voice's pitch, which differ from speaker to speaker, are
            smoothed away while the shapes stay the same (0: off).

    Example:

    >>> fe = LogMel(sample_rate=8000)
    >>> feats, frames = fe(np.zeros((2, 8000), "float32") + 0.1, np.array([8000, 4000]))
    >>> feats.shape, frames.numpy().tolist()
    (TensorShape([2, 97, 40]), [97, 47])
    """

    sample_rate: int = 8000
    n_fft: int = 256
    hop_length: int = 80
    n_mels: int = 40
    fmin: float = 20.0
    fmax: float = None
    log_offset: float = 1e-6
    normalization: str = "utterance"
    cepstra: int = 0

    def __post_init__(self):
        if self.n_fft < self.hop_length:
            raise ValueError(
                f"n_fft={self.n_fft} must be at least hop_length={self.hop_length}."
            )
        if self.normalization not in NORMALIZATIONS:
            raise ValueError(f"normalization={self.normalization!r} must be one of "
                             f"{list(NORMALIZATIONS)}.")
        if not 0 <= self.cepstra <= self.n_mels:
            raise ValueError(f"cepstra={self.cepstra} must be in [0, n_mels={self.n_mels}].")

    @property
    def filterbank(self):
        """`[n_fft // 2 + 1, n_mels]` float32 matrix (librosa's, Slaney-normalised)."""
        mel = librosa.filters.mel(
            sr=self.sample_rate, n_fft=self.n_fft, n_mels=self.n_mels,
            fmin=self.fmin, fmax=self.fmax,
        )
        return np.ascontiguousarray(mel.T.astype("float32"))

    def frames(self, lengths):
        """Number of full frames in waveforms of `lengths` samples."""
        lengths = tf.cast(lengths, tf.int32)
        return tf.maximum(0, (lengths - self.n_fft) // self.hop_length + 1)

    def min_samples(self):
        return self.n_fft

    def mel_power(self, waveforms):
        """float32 `[batch, samples]` -> mel power `[batch, frames, n_mels]`."""
        waveforms = tf.convert_to_tensor(waveforms, tf.float32)
        stft = tf.signal.stft(
            waveforms, frame_length=self.n_fft, frame_step=self.hop_length,
            fft_length=self.n_fft, window_fn=tf.signal.hann_window, pad_end=False,
        )
        power = tf.math.real(stft) ** 2 + tf.math.imag(stft) ** 2
        return tf.tensordot(power, tf.constant(self.filterbank), axes=1)

    def log_mel(self, waveforms):
        """float32 `[batch, samples]` -> log-mel `[batch, frames, n_mels]`,
        not normalised (every full frame of the samples), cepstrally
        smoothed with `cepstra` set."""
        logmel = tf.math.log(self.mel_power(waveforms) + self.log_offset)
        if not self.cepstra or self.cepstra == self.n_mels:
            return logmel
        # The orthonormal DCT-II and its inverse: with every coefficient
        # kept this is the identity; the higher ones zeroed, the envelope.
        cepstrum = tf.signal.dct(logmel, type=2, norm="ortho")
        keep = tf.constant([1.0] * self.cepstra + [0.0] * (self.n_mels - self.cepstra))
        return tf.signal.idct(cepstrum * keep, type=2, norm="ortho")

    def __call__(self, waveforms, lengths):
        """Returns log-mel features `[batch, frames, n_mels]` (normalised
        per utterance, or not at all for "global"; zero beyond each
        utterance's frames) and int32 frame counts."""
        logmel = self.log_mel(waveforms)
        frames = self.frames(lengths)
        mask = tf.sequence_mask(frames, tf.shape(logmel)[1], dtype=tf.float32)[..., None]
        if self.normalization == "global":
            return logmel * mask, frames
        count = tf.maximum(tf.reduce_sum(mask, axis=1, keepdims=True), 1.0)
        mean = tf.reduce_sum(logmel * mask, axis=1, keepdims=True) / count
        var = tf.reduce_sum(((logmel - mean) * mask) ** 2, axis=1, keepdims=True) / count
        feats = (logmel - mean) * tf.math.rsqrt(var + 1e-5) * mask
        return feats, frames


NORMALIZATIONS = ("utterance", "global")


def feature_statistics(features, frames):
    """Per-band mean and standard deviation of the real frames of batches.

    Args:
        features: an iterable of float `[batch, steps, n_mels]` arrays.
        frames: the matching iterable of int `[batch]` real frame counts.

    Returns:
        `(mean, std)`: float lists of `n_mels` values (float64 sums, so a
        large training set adds up exactly enough).
    """
    total = squares = None
    count = 0
    for feats, n in zip(features, frames):
        feats = np.asarray(feats, np.float64)
        keep = np.arange(feats.shape[1])[None, :] < np.asarray(n)[:, None]
        rows = feats[keep]
        total = rows.sum(0) if total is None else total + rows.sum(0)
        squares = (rows ** 2).sum(0) if squares is None else squares + (rows ** 2).sum(0)
        count += len(rows)
    if not count:
        raise ValueError("feature_statistics: no frames (every clip shorter than one "
                         "analysis window?).")
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean ** 2, 1e-10))
    return mean.tolist(), std.tolist()


@keras.saving.register_keras_serializable(package="speech")
class FeatureNormalization(keras.layers.Layer):
    """`(features - mean) / std` per band, with fixed statistics (fitted on
    the training set by the pipeline): normalisation that needs no future
    frames, for a model that streams.

    Args:
        mean, std: `n_mels` floats each (saved in the config).

    Example:

    >>> norm = FeatureNormalization(mean=[1.0, 2.0], std=[2.0, 4.0])
    >>> norm(np.array([[[3.0, 6.0]]], "float32")).numpy().tolist()
    [[[1.0, 1.0]]]
    """

    def __init__(self, mean, std, **kwargs):
        super().__init__(**kwargs)
        mean, std = [float(v) for v in mean], [float(v) for v in std]
        if len(mean) != len(std) or not mean:
            raise ValueError(f"FeatureNormalization: mean ({len(mean)} values) and std "
                             f"({len(std)} values) must be non-empty and of one length.")
        if min(std) <= 0:
            raise ValueError(f"FeatureNormalization: std must be positive; got {min(std)}.")
        self.mean, self.std = mean, std
        self.supports_masking = True

    def call(self, features):
        mean = ops.cast(ops.convert_to_tensor(self.mean), features.dtype)
        scale = ops.cast(1.0 / ops.convert_to_tensor(self.std), features.dtype)
        return (features - mean) * scale

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "std": self.std}


@keras.saving.register_keras_serializable(package="speech")
class SpecAugment(keras.layers.Layer):
    """SpecAugment (Park et al., 2019) time and frequency masks, in training only.

    Args:
        freq_masks: number of frequency masks per utterance.
        freq_width: maximum width of a frequency mask (bands).
        time_masks: number of time masks per utterance.
        time_width: maximum width of a time mask (frames).
        seed: seed of the layer's random generator.
    """

    def __init__(self, freq_masks=2, freq_width=6, time_masks=2, time_width=10,
                 seed=None, **kwargs):
        super().__init__(**kwargs)
        self.freq_masks = freq_masks
        self.freq_width = freq_width
        self.time_masks = time_masks
        self.time_width = time_width
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def _masks(self, batch, size, count, width):
        keep = tf.ones((batch, size), tf.bool)
        positions = tf.range(size)[None, :]
        for _ in range(count):
            w = keras.random.randint((batch, 1), 0, width + 1, seed=self.seed_generator)
            start = keras.random.randint((batch, 1), 0, tf.maximum(size - width, 1),
                                         seed=self.seed_generator)
            keep &= ~((positions >= start) & (positions < start + w))
        return keep

    def call(self, features, training=None):
        if not training or (self.freq_masks + self.time_masks) == 0:
            return features
        shape = tf.shape(features)
        batch, steps, bands = shape[0], shape[1], shape[2]
        keep_f = self._masks(batch, bands, self.freq_masks, self.freq_width)
        keep_t = self._masks(batch, steps, self.time_masks, self.time_width)
        keep = tf.cast(keep_t[:, :, None] & keep_f[:, None, :], features.dtype)
        return features * keep

    def get_config(self):
        config = super().get_config()
        config.update({
            "freq_masks": self.freq_masks, "freq_width": self.freq_width,
            "time_masks": self.time_masks, "time_width": self.time_width,
            "seed": self.seed,
        })
        return config
