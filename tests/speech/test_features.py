import glob
import os

import librosa
import numpy as np
import pytest

from speech.features import LogMel, SpecAugment
from tests import harness


@pytest.fixture
def fsdd_audio(data_dir):
    paths = sorted(glob.glob(os.path.join(data_dir, "fsdd", "recordings", "*.wav")))[:5]
    return [librosa.load(p, sr=8000)[0] for p in paths]


def test_mel_power_matches_librosa_on_fsdd(fsdd_audio):
    fe = LogMel(sample_rate=8000, n_fft=256, hop_length=80, n_mels=40, fmin=20.0)
    for y in fsdd_audio:
        ref = librosa.feature.melspectrogram(
            y=y, sr=8000, n_fft=256, hop_length=80, win_length=256, window="hann",
            center=False, power=2.0, n_mels=40, fmin=20.0,
        ).T
        got = fe.mel_power(y[None]).numpy()[0]
        assert got.shape == ref.shape
        assert np.max(np.abs(got - ref)) / np.max(ref) < 1e-3
        assert np.linalg.norm(got - ref) / np.linalg.norm(ref) < 1e-3


def test_padding_does_not_change_features(fsdd_audio):
    fe = LogMel()
    a, b = fsdd_audio[0], fsdd_audio[1]
    width = max(len(a), len(b)) + 500
    batch = np.zeros((2, width), "float32")
    batch[0, :len(a)] = a
    batch[1, :len(b)] = b
    feats, frames = fe(batch, np.array([len(a), len(b)]))
    alone, n = fe(a[None], np.array([len(a)]))
    assert frames.numpy().tolist() == [(len(a) - 256) // 80 + 1, (len(b) - 256) // 80 + 1]
    np.testing.assert_allclose(feats[0, : int(n[0])], alone[0], atol=1e-4)
    # Normalised per utterance over real frames; zero beyond them.
    real = feats[0, : int(n[0])].numpy()
    np.testing.assert_allclose(real.mean(0), 0, atol=1e-4)
    assert np.all(feats[0, int(n[0]):].numpy() == 0)


def test_cepstral_smoothing_keeps_the_envelope(fsdd_audio):
    y = fsdd_audio[0][None]
    raw = LogMel().log_mel(y).numpy()
    # Every coefficient kept: the same features.
    np.testing.assert_allclose(LogMel(cepstra=40).log_mel(y).numpy(), raw, atol=1e-4)
    smooth = LogMel(cepstra=13).log_mel(y).numpy()
    assert smooth.shape == raw.shape
    # Its first 13 DCT coefficients are the raw frame's; the rest are zero.
    from scipy.fft import dct
    np.testing.assert_allclose(dct(smooth, norm="ortho")[..., :13],
                               dct(raw, norm="ortho")[..., :13], atol=1e-3)
    assert np.abs(dct(smooth, norm="ortho")[..., 13:]).max() < 1e-3
    # Smoother from band to band than the raw log-mel.
    assert np.abs(np.diff(smooth, 2, axis=-1)).mean() < 0.5 * np.abs(np.diff(raw, 2, axis=-1)).mean()
    with pytest.raises(ValueError, match=r"cepstra=41 must be in \[0, n_mels=40\]"):
        LogMel(cepstra=41)
    # The config field reaches the front end that training and the export use.
    from pipelines.config import ConfigError
    from speech.config import SpeechConfig
    from speech.pipeline import SpeechRecognizer
    assert SpeechRecognizer(SpeechConfig.from_dict({"features": {"cepstra": 13}})
                            ).features.cepstra == 13
    with pytest.raises(ConfigError) as e:
        SpeechConfig.from_dict({"features": {"cepstra": 50}})
    assert str(e.value) == ("Config field 'features.cepstra' must be in [0, "
                            "features.n_mels=40]; got 50.")



def test_fmax_reaches_the_front_end():
    from pipelines.config import ConfigError
    from speech.config import SpeechConfig
    from speech.pipeline import SpeechRecognizer
    fe = SpeechRecognizer(SpeechConfig.from_dict({"features": {"fmax": 3000}})).features
    assert fe.fmax == 3000
    # No band reaches above 3 kHz: the FFT bins there have no weight.
    freqs = np.fft.rfftfreq(fe.n_fft, 1 / fe.sample_rate)
    assert fe.filterbank[freqs > 3000].max() == 0 and fe.filterbank[freqs < 2900].max() > 0
    assert SpeechRecognizer(SpeechConfig()).features.fmax is None
    with pytest.raises(ConfigError) as e:
        SpeechConfig.from_dict({"features": {"fmax": 5000}})
    assert str(e.value) == ("Config field 'features.fmax' must be above features.fmin=20.0 "
                            "and at most half features.sample_rate=8000; got 5000.0.")

def test_spec_augment_only_in_training():
    x = np.ones((2, 30, 40), "float32")
    layer = SpecAugment(freq_masks=2, freq_width=5, time_masks=2, time_width=5, seed=3)
    np.testing.assert_array_equal(layer(x, training=False), x)
    out = layer(x, training=True).numpy()
    assert out.shape == x.shape and 0 < (out == 0).mean() < 0.6
    assert set(np.unique(out)) <= {0.0, 1.0}


def test_spec_augment_layer_holds_up():
    """The shared layer checks. The masks are random in training, so what is
    compared (eager vs symbolic, config and `.keras` round trips, mixed
    precision) is the inference-mode output, which is the input itself; it
    has no weights, so there is no training step to take."""
    x = np.random.default_rng(0).normal(size=(2, 30, 40)).astype("float32")
    layer = harness.run_layer_test(
        lambda: SpecAugment(freq_masks=2, freq_width=5, time_masks=2, time_width=5, seed=3),
        [x], expected_shapes=[(2, 30, 40)], train=False)
    np.testing.assert_array_equal(layer(x), x)
    # No masks at all: the identity in training too.
    np.testing.assert_array_equal(SpecAugment(freq_masks=0, time_masks=0)(x, training=True), x)


def test_spec_augment_masks_are_seeded():
    """Training-mode masks: the same seed gives the same masks, and each
    mask zeroes whole bands or whole frames."""
    x = np.ones((3, 50, 40), "float32")

    def masked(seed):
        return SpecAugment(freq_masks=1, freq_width=6, time_masks=1, time_width=10,
                           seed=seed)(x, training=True).numpy()

    a = masked(7)
    np.testing.assert_array_equal(a, masked(7))
    for out in a:
        zero = out == 0
        bands, frames = zero.all(axis=0), zero.all(axis=1)
        # Every zero lies in a fully masked band or a fully masked frame.
        assert np.array_equal(zero, bands[None, :] | frames[:, None])
        assert bands.sum() <= 6 and frames.sum() <= 10
