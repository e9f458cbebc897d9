"""Waveform augmentation: each part does what it says (speed, onset and
offset, gain, noise at its SNR), draws are reproducible from the seed and
differ between seeds, the config validates, and the training batches are
augmented anew each epoch (evaluation never)."""

import numpy as np
import pytest
import tensorflow as tf

from pipelines.config import ConfigError
from speech.augment import LOWPASS_DB, SILENT, Augment
from speech.config import SpeechConfig

SPEECH = (0.5 * np.sin((np.arange(4000) + 1) / 3)).astype("float32")  # no silent sample
WAVE = np.concatenate([np.zeros(800, "float32"), SPEECH, np.zeros(1600, "float32")])
OFF = {"speed": (1.0, 1.0), "onset_probability": 0.0, "gain_db": (0.0, 0.0),
       "noise_probability": 0.0}


def _run(augment, seed=(1, 2), wave=WAVE):
    return augment(tf.constant(wave), tf.constant(seed, tf.int64)).numpy()


def test_everything_off_is_the_identity():
    np.testing.assert_array_equal(_run(Augment(**OFF)), WAVE)


def test_onset_and_offset_are_cut_the_speech_kept():
    cut = Augment(**{**OFF, "onset_probability": 1.0})
    leads = set()
    for seed in range(8):
        out = _run(cut, (seed, 0))
        loud = np.flatnonzero(np.abs(out) > SILENT)
        lead, trail = loud[0], len(out) - loud[-1] - 1
        assert lead <= 800 and trail <= 1600
        np.testing.assert_array_equal(out[lead:lead + len(SPEECH)], SPEECH)
        leads.add(int(lead))
    assert len(leads) > 2 and 0 in leads and max(leads) > 0  # drawn, none at times
    for none, expected in ((1.0, {0}), (0.0, None)):
        always = Augment(**{**OFF, "onset_probability": 1.0, "onset_none_probability": none})
        leads = {int(np.flatnonzero(np.abs(_run(always, (s, 0))) > SILENT)[0]) for s in range(8)}
        if expected is None:
            assert 0 not in leads and len(leads) > 4
        else:
            assert leads == expected


def test_speed_gain_and_noise():
    fast = _run(Augment(**{**OFF, "speed": (1.25, 1.25)}))
    assert len(fast) == round(len(WAVE) / 1.25)
    louder = _run(Augment(**{**OFF, "gain_db": (6.0, 6.0)}))
    np.testing.assert_allclose(louder[900:1000], np.clip(WAVE[900:1000] * 10 ** 0.3, -1, 1),
                               rtol=1e-5)
    noisy = _run(Augment(**{**OFF, "noise_probability": 1.0, "snr_db": (10.0, 10.0)}))
    noise = noisy - WAVE
    snr = 10 * np.log10(np.mean(SPEECH ** 2) / np.mean(noise ** 2))
    assert snr == pytest.approx(10.0, abs=0.5)
    assert np.all(noisy[:800] != 0)  # the pauses are no longer exact zeros


def _level_db(wave, hz, rate=8000):
    spectrum = np.abs(np.fft.rfft(wave))
    return 20 * np.log10(spectrum[np.argmin(np.abs(np.fft.rfftfreq(len(wave), 1 / rate) - hz))])


def test_channel_tilt_and_lowpass():
    """Two tones, 500 Hz and 3500 Hz: a tilt moves the high one against the
    low one by `tilt_db * (3500 - 500) / 4000`; a low-pass at 2 kHz takes
    the high one down by LOWPASS_DB more and leaves the low one; the peak
    stays where it was (no clipping from a boost); the length is kept."""
    t = np.arange(16000) / 8000
    tones = (0.3 * np.sin(2 * np.pi * 500 * t) + 0.3 * np.sin(2 * np.pi * 3500 * t))
    tones = tones.astype("float32")
    before = _level_db(tones, 3500) - _level_db(tones, 500)
    for tilt in (-12.0, 9.0):
        out = _run(Augment(**OFF, tilt_db=(tilt, tilt)), wave=tones)
        assert len(out) == len(tones)
        assert np.abs(out).max() == pytest.approx(np.abs(tones).max(), rel=1e-4)
        assert _level_db(out, 3500) - _level_db(out, 500) - before == pytest.approx(
            tilt * 3000 / 4000, abs=0.1)
    low = _run(Augment(**OFF, lowpass_probability=1.0, lowpass_hz=(2000, 2000)), wave=tones)
    assert _level_db(low, 3500) - _level_db(low, 500) - before == pytest.approx(
        -LOWPASS_DB, abs=0.1)
    # With probability 0.5, some seeds filter and some do not.
    half = Augment(**OFF, lowpass_probability=0.5, lowpass_hz=(2000, 2000))
    drops = {round(float(_level_db(_run(half, (s, 0), tones), 3500)
                         - _level_db(tones, 3500))) < -20 for s in range(8)}
    assert drops == {True, False}


def test_word_ends_move_with_the_speed_and_the_cut():
    """The ends of the words (here: the speech's end, sample 4800) follow the
    waveform: scaled by the speed change, shifted by the cut silence."""
    def ends_of(augment, seed=(1, 2)):
        wave, ends = augment(tf.constant(WAVE), tf.constant(seed, tf.int64),
                             ends=tf.constant([2000, 4800], tf.int64))
        return wave.numpy(), ends.numpy().tolist()

    assert ends_of(Augment(**OFF))[1] == [2000, 4800]
    assert ends_of(Augment(**{**OFF, "speed": (1.25, 1.25)}))[1] == [1600, 3840]
    for seed in range(4):
        wave, (mid, end) = ends_of(Augment(**{**OFF, "onset_probability": 1.0}), (seed, 0))
        loud = np.flatnonzero(np.abs(wave) > SILENT)
        assert end == loud[-1] + 1 and mid == end - 2800


def test_draws_follow_the_seed():
    augment = Augment()
    np.testing.assert_array_equal(_run(augment, (3, 4)), _run(augment, (3, 4)))
    assert not np.array_equal(_run(augment, (3, 4)), _run(augment, (3, 5)))


def test_config_validates_and_roundtrips():
    cfg = SpeechConfig.from_dict({}, ["augment.enabled=true", "augment.snr_db=[10, 20]"])
    assert cfg.augment.enabled and cfg.augment.snr_db == [10, 20]
    assert SpeechConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match=r"augment.speed.*must be \[low, high\]"):
        SpeechConfig.from_dict({}, ["augment.speed=[1.1, 0.9]"])
    with pytest.raises(ConfigError, match=r"augment.noise_probability.*must be in \[0, 1\]"):
        SpeechConfig.from_dict({}, ["augment.noise_probability=2"])
    with pytest.raises(ConfigError, match=r"augment.lowpass_hz.*must be at most half "
                                          r"features.sample_rate=8000"):
        SpeechConfig.from_dict({}, ["augment.lowpass_hz=[2000, 5000]"])
    with pytest.raises(ConfigError, match=r"augment.tilt_db.*must be \[low, high\]"):
        SpeechConfig.from_dict({}, ["augment.tilt_db=[6, -6]"])
    channel = SpeechConfig.from_dict({}, ["augment.tilt_db=[-6, 6]",
                                          "augment.lowpass_probability=0.3"])
    made = channel.augment.make(channel.features.sample_rate)
    assert made.tilt_db == (-6.0, 6.0) and made.lowpass_probability == 0.3


def test_training_datasets_are_augmented_anew_each_epoch(data_dir):
    from speech import data
    from speech.pipeline import SpeechRecognizer

    splits = data.fsdd_sequences(data_dir, train_count=6, test_count=1, seed=1)
    asr = SpeechRecognizer(SpeechConfig.from_dict({}, ["augment.enabled=true",
                                                       "train.batch_size=6"]))
    ds = asr._dataset(splits.train, training_mode=True)
    first, second = (next(iter(ds))[0]["lengths"].numpy() for _ in range(2))
    assert not np.array_equal(np.sort(first), np.sort(second))
    plain = asr._dataset(splits.train, training_mode=False)
    again = [next(iter(plain))[0]["features"].numpy() for _ in range(2)]
    np.testing.assert_array_equal(*again)  # evaluation is never augmented


def test_frequency_warp_moves_bands_and_keeps_the_shape():
    from speech.augment import warp_frequencies

    feats = np.random.default_rng(0).normal(size=(2, 5, 40)).astype("float32")
    np.testing.assert_allclose(warp_frequencies(feats, 1.0).numpy(), feats)
    stretched = warp_frequencies(feats, 1.25).numpy()
    assert stretched.shape == feats.shape
    np.testing.assert_allclose(stretched[..., 5], feats[..., 4], rtol=1e-6)  # 5 / 1.25
    squeezed = warp_frequencies(feats, 0.8).numpy()
    np.testing.assert_allclose(squeezed[..., 4], feats[..., 5], rtol=1e-6)   # 4 / 0.8
    np.testing.assert_allclose(squeezed[..., -1], feats[..., -1])           # the top repeats
    each = warp_frequencies(feats, [1.25, 0.8]).numpy()                      # one per utterance
    np.testing.assert_allclose(each, np.stack([stretched[0], squeezed[1]]), rtol=1e-6)
    with pytest.raises(ConfigError, match=r"augment.freq_warp.*must be \[low, high\]"):
        SpeechConfig.from_dict({}, ["augment.freq_warp=[1.1, 0.9]"])


def test_training_batches_are_frequency_warped(data_dir):
    from speech import data
    from speech.pipeline import SpeechRecognizer

    splits = data.fsdd_sequences(data_dir, train_count=4, test_count=1, seed=1)
    off = ["augment.enabled=true", "augment.speed=[1, 1]", "augment.onset_probability=0",
           "augment.gain_db=[0, 0]", "augment.noise_probability=0", "train.batch_size=4"]

    def first_batch(*extra):
        asr = SpeechRecognizer(SpeechConfig.from_dict({}, off + list(extra)))
        batch = next(iter(asr._dataset(splits.train, training_mode=True)))[0]
        return np.sort(batch["features"].numpy().reshape(-1))

    plain = first_batch()
    np.testing.assert_allclose(first_batch("augment.freq_warp=[1, 1]"), plain)
    assert not np.allclose(first_batch("augment.freq_warp=[0.8, 0.9]"), plain)
