import os

import numpy as np
import pytest
import tensorflow as tf

from speech import data
from speech.config import SpeechConfig
from speech.pipeline import SpeechRecognizer
from pipelines import export as export_lib
from pipelines.config import ConfigError
from tests import harness

TINY = ["model.conv_filters=4", "model.units=8", "model.num_layers=1", "model.beam_width=3",
        "train.epochs=2", "train.batch_size=8", "train.patience=0", "train.tensorboard=false",
        "train.verbose=0"]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    data_dir = os.environ["PIPELINES_DATA_DIR"]
    if not os.path.isdir(data_dir):
        pytest.skip("no data directory")
    splits = data.fsdd_sequences(data_dir, train_count=24, test_count=4, seed=1)
    cfg = SpeechConfig.from_dict({}, TINY)
    run_dir = tmp_path_factory.mktemp("speech") / "run"
    asr = SpeechRecognizer(cfg)
    assert asr.fit(splits["train"], run_dir=run_dir) is asr
    return asr, splits, run_dir


def test_fit_history_and_evaluate(fitted):
    asr, splits, run_dir = fitted
    assert [row["epoch"] for row in asr.history] == [1, 2]
    assert all(np.isfinite(row["loss"]) and np.isfinite(row["val_loss"]) for row in asr.history)
    metrics = asr.evaluate(splits["test"])
    assert set(metrics) == {"wer_greedy", "cer_greedy", "wer_beam", "cer_beam", "beam_width",
                            "utterances"}
    assert metrics["utterances"] == 4 and metrics["beam_width"] == 3
    assert all(metrics[k] >= 0 for k in ("wer_greedy", "cer_beam"))


def test_transcribe_paths_arrays_and_resampling(fitted, data_dir):
    asr, splits, _ = fitted
    path = f"{data_dir}/fsdd/recordings/3_george_0.wav"
    text = asr.transcribe(path)
    assert isinstance(text, str)
    audio = data.load_audio(path, 8000)
    assert asr.transcribe([audio], sample_rate=8000) == [text]
    # The same clip at 16 kHz is resampled to the model's 8 kHz first.
    import librosa

    up = librosa.resample(audio, orig_sr=8000, target_sr=16000)
    assert len(asr.transcribe([up, audio], sample_rate=16000)) == 2
    # `predict` is `transcribe`.
    assert asr.predict([audio]) == [text]


def test_arrays_default_to_the_model_rate(fitted, monkeypatch):
    """Raw arrays without `sample_rate=` are taken at the model's own rate
    (no resampling); another rate is resampled first."""
    import librosa

    asr, splits, _ = fitted
    audios = [u.audio for u in splits["test"]]
    assert asr.transcribe(audios) == asr.transcribe(audios, sample_rate=asr.sample_rate)
    assert asr.transcribe(audios[0]) == asr.transcribe([audios[0]], sample_rate=8000)[0]
    calls, real = [], librosa.resample
    monkeypatch.setattr(librosa, "resample", lambda y, **kw: calls.append(kw) or real(y, **kw))
    asr.transcribe(audios[:1])
    assert calls == []
    asr.transcribe(audios[:1], sample_rate=16000)
    assert calls == [{"orig_sr": 16000, "target_sr": 8000}]


def test_bad_input_errors(fitted):
    asr, _, _ = fitted
    with pytest.raises(ValueError) as e:
        asr.transcribe([np.zeros(100, "float32")], sample_rate=8000)
    assert str(e.value) == (
        "input 0: clip of 100 samples is shorter than one analysis window (256 samples)."
    )
    with pytest.raises(ValueError, match=r"clip of 25.00 s is longer than data.max_seconds=20.0"):
        asr.transcribe([np.ones(200_000, "float32")], sample_rate=8000)
    for rate in (0, -8000, "8k"):
        with pytest.raises(ValueError) as e:
            asr.transcribe([np.ones(4000, "float32")], sample_rate=rate)
        assert str(e.value) == ("sample_rate must be a positive number of Hz (the rate of the "
                                f"arrays); got sample_rate={rate!r}.")
    bad = data.Utterance(np.ones(4000, "float32") * 0.1, "h€llo", "x.wav")
    with pytest.raises(ValueError, match="characters outside the vocabulary: '€'"):
        SpeechRecognizer(asr.config).fit([bad, bad], val=[bad])


def test_save_load_export_agree(fitted, tmp_path):
    asr, splits, _ = fitted
    audios = [u.audio for u in splits["test"]]
    before = asr.transcribe(audios, sample_rate=8000)
    # predict == transcribe; not fitted, bad clips, save/load and the export
    # (verified in a fresh process) all checked by the shared harness.
    again, _ = harness.run_pipeline_test(
        asr, audios, tmp_path, bad_inputs=[
            ([np.zeros(100, "float32")], ValueError,
             r"input 0: clip of 100 samples is shorter than one analysis window"),
            ([np.full(4000, np.nan, "float32")], ValueError,
             r"input 0: audio contains NaN or infinite samples"),
        ])
    assert again.transcribe(audios, sample_rate=8000) == before
    assert again.alphabet == asr.alphabet
    assert os.path.exists(tmp_path / "saved" / "recognizer.json")
    path = str(tmp_path / "export")
    meta = export_lib.read_metadata(path)
    assert meta["sample_rate"] == 8000 and meta["outputs"]["text"]["dtype"] == "string"
    assert meta["pipeline"] == "speech" and meta["beam_width"] == 3
    assert meta["alphabet"] == data.ALPHABET
    assert meta["inputs"]["waveform"]["units"] == "mono samples at 8000 Hz, zero padded"
    loaded = tf.saved_model.load(path)
    width = max(len(a) for a in audios)
    wave = np.stack([np.pad(a, (0, width - len(a))) for a in audios]).astype("float32")
    lengths = np.array([len(a) for a in audios], "int32")
    out = loaded.serve(waveform=wave, lengths=lengths)["text"].numpy()
    assert [t.decode() for t in out] == asr.transcribe(audios, sample_rate=8000, beam_width=3)
    at_rate = loaded.serve_at_rate(waveform=wave, lengths=lengths,
                                   sample_rate=tf.constant(8000))["text"].numpy()
    assert at_rate.tolist() == out.tolist()
    with pytest.raises(tf.errors.InvalidArgumentError, match="takes audio at 8000 Hz"):
        loaded.serve_at_rate(waveform=wave, lengths=lengths, sample_rate=tf.constant(16000))
    with pytest.raises(tf.errors.InvalidArgumentError, match="lengths exceed the number of samples"):
        loaded.serve(waveform=wave, lengths=lengths + width)
    with pytest.raises(tf.errors.InvalidArgumentError, match="shorter than one analysis window"):
        loaded.serve(waveform=wave, lengths=np.full_like(lengths, 10))
    # A lengths/batch mismatch or a wrong rank is one line from the graph,
    # not a CTC FailedPreconditionError or a "Binding inputs" error.
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=f"lengths must have one entry per row of waveform; got] "
                             f"\\[{len(lengths) + 1}\\] \\[lengths for\\] \\[{len(lengths)}\\]"):
        loaded.serve(waveform=wave, lengths=np.append(lengths, lengths[:1]))
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"waveform must be float32 \[batch, samples\] and lengths int32 "
                             r"\[batch\]; got shapes"):
        loaded.serve(waveform=wave[0], lengths=lengths[:1])


def test_export_beam_width_option(fitted, tmp_path):
    asr, splits, _ = fitted
    audios = [u.audio for u in splits["test"][:2]]
    path = asr.export(tmp_path / "greedy", sample=audios, beam_width=1)
    assert export_lib.read_metadata(path)["beam_width"] == 1
    loaded = tf.saved_model.load(path)  # kept: its functions need its variables
    out = loaded.serve(**asr._export_sample(audios, beam_width=1)[0])
    assert [t.decode() for t in out["text"].numpy()] == asr.transcribe(audios, beam_width=1)


def test_plot_shows_frames(fitted, data_dir):
    asr, _, _ = fitted
    path = f"{data_dir}/fsdd/recordings/7_jackson_1.wav"
    fig = asr.plot(path)
    assert len(fig.axes) == 2 and fig.axes[0].get_title().startswith("heard: ")
    # The title is what `transcribe` says (beam search), not the greedy path.
    assert fig.axes[0].get_title() == f"heard: {asr.transcribe(path)!r}"


def test_config_errors():
    with pytest.raises(ConfigError) as e:
        SpeechConfig.from_dict({}, ["data.dataset=timit"])
    assert str(e.value) == (
        "Config field 'data.dataset' must be one of ['fsdd_sequences', 'fsdd_digits', "
        "'ljspeech', 'manifest']; got 'timit'."
    )


def test_constructor_overrides():
    asr = SpeechRecognizer(units=16, epochs=1)
    assert asr.config.model.units == 16 and asr.config.train.epochs == 1
    assert asr.config.features.sample_rate == 8000
    # The same config as spelling it out; the given config is copied, not changed.
    cfg = SpeechConfig.from_dict({}, TINY)
    assert SpeechRecognizer(conv_filters=4, units=8, num_layers=1, beam_width=3, epochs=2,
                            batch_size=8, patience=0, tensorboard=False,
                            verbose=0).config == cfg
    faster = SpeechRecognizer(cfg, sample_rate=16000, n_mels=20)
    assert faster.features.sample_rate == 16000 and faster.features.n_mels == 20
    assert cfg.features.sample_rate == 8000
    with pytest.raises(TypeError, match=r"Unknown SpeechRecognizer argument\(s\) \['unit'\]"):
        SpeechRecognizer(unit=16)
    with pytest.raises(ConfigError, match="model.cell_type"):
        SpeechRecognizer(cell_type="rnn")
