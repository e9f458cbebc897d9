import glob
import os

import librosa
import numpy as np
import pytest

from speech.features import LogMel, SpecAugment


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


def test_spec_augment_only_in_training():
    x = np.ones((2, 30, 40), "float32")
    layer = SpecAugment(freq_masks=2, freq_width=5, time_masks=2, time_width=5, seed=3)
    np.testing.assert_array_equal(layer(x, training=False), x)
    out = layer(x, training=True).numpy()
    assert out.shape == x.shape and 0 < (out == 0).mean() < 0.6
    assert set(np.unique(out)) <= {0.0, 1.0}
