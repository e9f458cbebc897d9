"""Waveform augmentation for training, in TensorFlow ops (a `tf.data` map
on each training utterance, in memory and from shards alike).

What it undoes are accidents of how the training audio was made, which a
model otherwise learns as if they were speech: the FSDD sequences start and
end with 50-300 ms of digital zeros and pause in exact zeros, at one level,
at one speed. Each training utterance, each epoch anew:

- **speed** (`speed`: a factor range): resampled by a drawn factor (linear
  interpolation; tempo and pitch change together, as Kaldi's speed
  perturbation);
- **onset and offset** (`onset_probability`): the silence before the first
  and after the last sample above `SILENT` is cut to a drawn share of
  itself, none of it at all for a share of them (`onset_none_probability`,
  each end drawn on its own), so that utterances also start at their first
  word, as audio cut by a voice detector or an editor does (a share drawn
  uniformly alone almost never gives none: a model so trained still misread
  first words);
- **channel** (`tilt_db`, `lowpass_probability`, `lowpass_hz`): filtered
  by a drawn spectral tilt (a gain linear in dB from 0 Hz to Nyquist) and,
  for a share of them, a low-pass at a drawn cutoff, as microphones and
  codecs differ; applied before the noise, so the level of each band
  against the noise floor varies too, which per-utterance normalisation
  of the features does not undo (it removes a fixed gain per band only);
- **gain** (`gain_db`): scaled by a drawn gain, clipped to [-1, 1];
- **noise** (`noise_probability`, `snr_db`): white noise at a drawn
  signal-to-noise ratio (relative to the utterance's speech power), so
  pauses are never exact zeros.

The draws come from `tf.random.stateless_*` ops seeded by a seed per
element (`Augment.__call__` takes it), which `tf.data.Dataset.random` makes
new each epoch: a run is reproducible, and no two epochs are alike.

Example:

>>> import numpy as np
>>> augment = Augment()
>>> wave = np.concatenate([np.zeros(800), np.sin(np.arange(4000) / 3), np.zeros(800)])
>>> out = augment(tf.constant(wave, tf.float32), tf.constant([1, 2], tf.int64))
>>> out.dtype.name, bool(tf.reduce_max(tf.abs(out)) <= 1.0)
('float32', True)
"""

import math

import tensorflow as tf

#: The level below which a sample counts as silence (the FSDD pauses are
#: exact zeros; recordings' own quiet is far above it).
SILENT = 1e-3

#: The low-pass's roll-off: its width in Hz and how far down it ends (dB).
LOWPASS_WIDTH = 500.0
LOWPASS_DB = 40.0


class Augment:
    """The training augmentation of one config (see the module docstring).

    Args:
        speed: `(low, high)` resampling factors (1: off).
        onset_probability: chance of cutting an utterance's leading and
            trailing silence (each to a drawn share of itself).
        onset_none_probability: chance, for each end of a cut utterance,
            that none of that silence is kept.
        gain_db: `(low, high)` gain in dB.
        noise_probability: chance of adding white noise.
        snr_db: `(low, high)` signal-to-noise ratio of that noise, in dB.
        tilt_db: `(low, high)` spectral tilt in dB: the gain at Nyquist
            against 0 Hz, linear in dB between them (`(0, 0)`: off).
        lowpass_probability: chance of a low-pass filter.
        lowpass_hz: `(low, high)` its cutoff in Hz (a raised-cosine
            roll-off one `LOWPASS_WIDTH` wide, down to -`LOWPASS_DB` dB).
        sample_rate: the waveforms' rate, for `lowpass_hz`.
    """

    def __init__(self, speed=(0.9, 1.1), onset_probability=0.7, onset_none_probability=0.5,
                 gain_db=(-6.0, 6.0), noise_probability=0.8, snr_db=(0.0, 30.0),
                 tilt_db=(0.0, 0.0), lowpass_probability=0.0, lowpass_hz=(2000.0, 4000.0),
                 sample_rate=8000):
        self.speed = tuple(float(v) for v in speed)
        self.onset_probability = float(onset_probability)
        self.onset_none_probability = float(onset_none_probability)
        self.gain_db = tuple(float(v) for v in gain_db)
        self.noise_probability = float(noise_probability)
        self.snr_db = tuple(float(v) for v in snr_db)
        self.tilt_db = tuple(float(v) for v in tilt_db)
        self.lowpass_probability = float(lowpass_probability)
        self.lowpass_hz = tuple(float(v) for v in lowpass_hz)
        self.sample_rate = int(sample_rate)

    def __call__(self, wave, seed, ends=None):
        """float32 `[samples]` and an int64 `[2]` seed -> the augmented
        float32 `[samples']`; with `ends` (int64 `[words]`, the sample at
        which each word's audio ends), `(wave, ends)`, the ends moved with
        the speed change and the cut."""
        wave = tf.convert_to_tensor(wave, tf.float32)
        seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 13)

        def uniform(i, low, high):
            return tf.random.stateless_uniform([], seeds[i], low, high)

        # Speed: resample to len / factor samples.
        factor = uniform(0, *self.speed) if self.speed != (1.0, 1.0) else tf.constant(1.0)
        n = tf.shape(wave)[0]
        new_n = tf.maximum(1, tf.cast(tf.round(tf.cast(n, tf.float32) / factor), tf.int32))
        wave = tf.cond(
            tf.equal(new_n, n), lambda: wave,
            lambda: tf.image.resize(wave[None, :, None], [1, new_n], method="bilinear")[0, :, 0])
        if ends is not None:
            ends = tf.cast(tf.round(tf.cast(ends, tf.float32) * tf.cast(new_n, tf.float32)
                                    / tf.cast(n, tf.float32)), tf.int64)

        # Onset and offset: cut the outer silence to a drawn share of itself.
        loud = tf.where(tf.abs(wave) > SILENT)[:, 0]
        n = tf.shape(wave, out_type=tf.int64)[0]
        start = tf.cond(tf.size(loud) > 0, lambda: loud[0], lambda: tf.constant(0, tf.int64))
        end = tf.cond(tf.size(loud) > 0, lambda: loud[-1] + 1, lambda: n)
        cut = uniform(1, 0.0, 1.0) < self.onset_probability

        def kept(i, j):
            # The share kept: none at all with onset_none_probability.
            return tf.where(uniform(j, 0.0, 1.0) < self.onset_none_probability, 0.0,
                            uniform(i, 0.0, 1.0))

        lead = tf.cast(tf.cast(start, tf.float32) * kept(2, 8), tf.int64)
        trail = tf.cast(tf.cast(n - end, tf.float32) * kept(3, 9), tf.int64)
        wave = tf.cond(cut, lambda: wave[start - lead:end + trail], lambda: wave)
        if ends is not None:
            shift = tf.where(cut, start - lead, tf.constant(0, tf.int64))
            ends = tf.clip_by_value(ends - shift, 0, tf.shape(wave, out_type=tf.int64)[0])

        # Channel: a tilt and a low-pass, before the noise.
        if self.tilt_db != (0.0, 0.0) or self.lowpass_probability > 0:
            lowpass = uniform(11, 0.0, 1.0) < self.lowpass_probability
            wave = self._channel(wave, uniform(10, *self.tilt_db),
                                 tf.where(lowpass, uniform(12, *self.lowpass_hz),
                                          float(self.sample_rate)))

        # Gain.
        gain = tf.pow(10.0, uniform(4, *self.gain_db) / 20.0)
        wave = wave * gain

        # Noise at a drawn SNR, relative to the power of the speech (the
        # samples above SILENT), not of the pauses.
        loud_power = tf.reduce_mean(tf.square(tf.boolean_mask(wave, tf.abs(wave) > SILENT)))
        power = tf.where(tf.math.is_finite(loud_power), loud_power, 1e-4)
        snr = uniform(5, *self.snr_db)
        scale = tf.sqrt(power / tf.pow(10.0, snr / 10.0))
        noise = tf.random.stateless_normal(tf.shape(wave), seeds[6]) * scale
        noisy = uniform(7, 0.0, 1.0) < self.noise_probability
        wave = tf.cond(noisy, lambda: wave + noise, lambda: wave)
        wave = tf.clip_by_value(wave, -1.0, 1.0)
        return wave if ends is None else (wave, ends)

    def _channel(self, wave, tilt_db, cutoff_hz):
        """`wave` filtered in the frequency domain (one FFT of the whole
        utterance; the gain curve is smooth, so its circular wrap is
        negligible) by a gain of `tilt_db * f / nyquist` dB, times a
        raised-cosine roll-off from `cutoff_hz` down to -LOWPASS_DB over
        LOWPASS_WIDTH Hz; rescaled to its former peak, so a boost does not
        clip."""
        n = tf.shape(wave)[0]
        spectrum = tf.signal.rfft(wave, fft_length=[n])
        nyquist = self.sample_rate / 2.0
        freqs = tf.linspace(0.0, nyquist, tf.shape(spectrum)[0])
        gain_db = tilt_db * freqs / nyquist
        past = tf.clip_by_value((freqs - cutoff_hz) / LOWPASS_WIDTH, 0.0, 1.0)
        gain_db -= LOWPASS_DB * (1.0 - tf.cos(past * math.pi)) / 2.0
        gain = tf.complex(tf.pow(10.0, gain_db / 20.0), 0.0)
        out = tf.signal.irfft(spectrum * gain, fft_length=[n])
        peak = tf.reduce_max(tf.abs(wave))
        out_peak = tf.reduce_max(tf.abs(out))
        return tf.where(out_peak > 0, out * peak / tf.maximum(out_peak, 1e-12), out)


def warp_frequencies(features, factor):
    """Log-mel features `[batch, frames, n_mels]` with their band axis
    stretched (`factor` > 1) or squeezed (< 1) by `factor` (a scalar, or one
    per utterance `[batch]`), as a longer or shorter vocal tract moves the
    formants (vocal tract length perturbation, Jaitly and Hinton, 2013):
    band `m` of the result is band `m / factor` of the input, linearly
    interpolated; bands past the top repeat the top band. A factor of 1
    gives the features back unchanged.

    Example:

    >>> feats = tf.reshape(tf.range(8, dtype=tf.float32), [1, 1, 8])
    >>> warp_frequencies(feats, 2.0).numpy()[0, 0].tolist()
    [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5]
    """
    features = tf.convert_to_tensor(features)
    batch, n_mels = tf.shape(features)[0], tf.shape(features)[-1]
    factor = tf.broadcast_to(tf.cast(factor, tf.float32), [batch])
    source = tf.cast(tf.range(n_mels), tf.float32)[None] / factor[:, None]   # [batch, n_mels]
    source = tf.minimum(source, tf.cast(n_mels - 1, tf.float32))
    low = tf.cast(tf.floor(source), tf.int32)
    high = tf.minimum(low + 1, n_mels - 1)
    frac = tf.cast(source - tf.cast(low, tf.float32), features.dtype)[:, None]
    return (tf.gather(features, low, axis=2, batch_dims=1) * (1 - frac)
            + tf.gather(features, high, axis=2, batch_dims=1) * frac)
