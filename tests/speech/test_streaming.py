"""Streaming: a causal recogniser fed chunk by chunk gives the transcript,
words and times of the whole clip; the export streams without Python; bad
streams get one clear error each."""

import os

import numpy as np
import pytest
import tensorflow as tf

from speech import data
from speech.config import SpeechConfig
from speech.pipeline import SpeechRecognizer

STREAMING = ["features.normalization=global", "model.causal=true", "model.conv_filters=4",
             "model.units=16", "model.num_layers=2", "model.beam_width=1",
             "model.stream_max_chars=400", "model.lookahead=3", "train.seed=3"]


def _data_dir():
    path = os.environ.get("PIPELINES_DATA_DIR", "")
    if not os.path.isdir(path):
        pytest.skip(f"data directory {path!r} not present")
    return path


def _causal(*overrides, test_count=4):
    """A causal recogniser with seeded untrained weights and the feature
    statistics of real clips. Its head is sharpened and leans to the space,
    so it spells many random "words" (CTC spikes, repeats, spaces): equality
    below is not the trivial one of two empty transcripts."""
    splits = data.fsdd_sequences(_data_dir(), train_count=12, test_count=test_count, seed=2)
    asr = SpeechRecognizer(SpeechConfig.from_dict({}, STREAMING + list(overrides)))
    asr._stats = asr._feature_statistics(splits.train)
    tf.keras.utils.set_random_seed(3)
    asr.model = asr._build_model()
    head = asr.model.get_layer("ctc_head")
    kernel, bias = head.get_weights()
    bias[asr.alphabet.index(" ")] += 0.5
    head.set_weights([kernel * 3.0, bias])
    return asr, [u.audio for u in splits.test]


@pytest.fixture(scope="module")
def causal():
    return _causal()


def test_causal_model_looks_ahead_its_lookahead_only(causal):
    asr, clips = causal
    clip = max(clips, key=len)
    full = asr.word_times(clip)
    # Cutting the clip's end changes nothing before the cut, but for the
    # look-ahead (3 output frames of 20 ms).
    cut = len(clip) // 2
    head = asr.word_times(clip[:cut])
    early = [w for w in full if w[2] <= cut / asr.sample_rate - 0.1 - 3 * 0.02]
    assert len(early) >= 2 and head[:len(early)] == early


def test_streams_without_lookahead_equal_the_whole_clip():
    asr, clips = _causal("model.lookahead=0", test_count=2)
    for clip, text, words in zip(clips, asr.transcribe(clips, beam_width=1),
                                 asr.word_times(clips)):
        last = list(asr.stream(clip, chunk_ms=37.5))[-1]
        assert (last.text, last.words) == (text, words)
        assert len(words) >= 2


@pytest.mark.parametrize("chunk_ms", [10, 37.5, 100, 400])
def test_streams_equal_the_whole_clip(causal, chunk_ms):
    """Chunks of 80 and 300 samples (37.5 ms is not a multiple of the hop),
    one frame, 100 and 400 ms: the same words and times as offline."""
    asr, clips = causal
    offline_text = asr.transcribe(clips, beam_width=1)
    offline_words = asr.word_times(clips)
    assert sum(len(t.split()) for t in offline_text) >= 15
    for clip, text, words in zip(clips, offline_text, offline_words):
        updates = list(asr.stream(clip, chunk_ms=chunk_ms))
        last = updates[-1]
        assert last.final and not any(u.final for u in updates[:-1])
        assert last.text == text
        assert last.words == words
        # Every word is reported final exactly once, in order.
        assert [w for u in updates for w in u.final_words] == words
        # Partial transcripts only grow (greedy CTC never revises).
        texts = [u.text for u in updates]
        assert all(b.startswith(a.rstrip()) for a, b in zip(texts, texts[1:]))


def test_uneven_chunks_and_empty_chunks(causal):
    asr, clips = causal
    clip = clips[1]
    rng = np.random.default_rng(0)
    cuts = np.sort(rng.integers(0, len(clip), size=40))
    chunks = np.split(clip, cuts)
    chunks = chunks[:5] + [clip[:0]] + chunks[5:] + [clip[:0]]   # empty chunks too
    last = list(asr.stream(iter(chunks)))[-1]
    assert last.text == asr.transcribe(clip, beam_width=1)


def test_word_times_are_in_the_clip(causal):
    asr, clips = causal
    for clip, words in zip(clips, asr.word_times(clips)):
        seconds = len(clip) / asr.sample_rate
        for word, start, end in words:
            assert 0 <= start < end <= seconds + 0.05, (word, start, end)
        starts = [w[1] for w in words]
        assert starts == sorted(starts)


def test_a_full_state_keeps_the_latest_characters():
    asr, clips = _causal("model.stream_max_chars=8", test_count=1)
    clip = clips[0]
    full = asr.transcribe(clip, beam_width=1)
    updates = list(asr.stream(clip))
    assert len(updates[-1].text) <= 8 and full.endswith(updates[-1].text)
    words = [w for u in updates for w in u.final_words]
    assert " ".join(w[0] for w in words).endswith(updates[-1].text)


def test_emission_deadlines_come_from_the_word_ends():
    """`model.emission_deadline_ms`: every label of a word gets the output
    frame that first reads the word's last sample, moved by the deadline
    (a space counts with the word after it); the training batches carry
    them, a model trains on them, and the restricted loss is above the plain
    one (fewer alignments). Utterances without word ends, and a model that
    is not causal, get one error each."""
    from pipelines.config import ConfigError

    asr = SpeechRecognizer(SpeechConfig.from_dict(
        {}, STREAMING + ["model.emission_deadline_ms=-40", "train.epochs=3"]))
    label = tf.constant(data.encode("one two"))
    # Sample 2999 is first read by log-mel frame 35 (window [2800, 3056)),
    # which output frame 18 is the first to read (frames 34-36); -40 ms is
    # two output frames earlier. Likewise 5999: frame 72, output 36, 34.
    got = asr._deadlines(label, tf.constant([3000, 6000], tf.int64)).numpy().tolist()
    assert got == [16, 16, 16, 34, 34, 34, 34]

    splits = data.fsdd_sequences(_data_dir(), train_count=16, test_count=1, seed=2)
    asr._stats = asr._feature_statistics(splits.train)
    x, y = next(iter(asr._dataset(splits.train, True)))
    assert y["deadlines"].shape == y["labels"].shape and y["deadlines"].dtype == tf.int32
    frames = (x["lengths"].numpy() + 1) // 2
    for d, n, f in zip(y["deadlines"].numpy(), y["label_lengths"].numpy(), frames):
        assert np.all(np.diff(d[:n]) >= 0) and 0 <= d[0] and d[n - 1] <= f
    tf.keras.utils.set_random_seed(3)
    asr.model = asr._build_model()
    restricted = float(asr.model.compute_loss(x, y, asr.model(x)))
    plain = float(asr.model.compute_loss(x, {k: y[k] for k in ("labels", "label_lengths")},
                                         asr.model(x)))
    assert restricted > plain
    asr.fit(splits.train, val=splits.train[:4])
    losses = [h["loss"] for h in asr.history]
    assert len(losses) == 3 and losses[-1] < losses[0]

    bare = data.Utterance(splits.train[0].audio, splits.train[0].text, "a.wav")
    with pytest.raises(ValueError) as e:
        asr._dataset([bare], True)
    assert str(e.value) == (
        "a.wav: model.emission_deadline_ms needs the end of each word's audio "
        "(Utterance.word_ends), and this utterance has none; the synthesised digit "
        "sequences (data.fsdd_sequences) have them.")
    wrong = data.Utterance(np.zeros(900, "float32"), "one two", "b.wav", word_ends=(500,))
    with pytest.raises(ValueError, match=r"b.wav: word_ends=\[500\] must be 2 increasing "
                                         r"sample indices in \(0, 900\]"):
        asr._dataset([wrong], True)
    with pytest.raises(ConfigError) as e:
        SpeechConfig.from_dict({}, ["model.emission_deadline_ms=0"])
    assert str(e.value) == ("Config field 'model.emission_deadline_ms' needs model.causal: "
                            "true (it bounds how late a streaming model may emit); got 0.0.")


def test_bad_streams(causal, tmp_path):
    asr, clips = causal
    with pytest.raises(ValueError, match="streams audio at 8000 Hz; got sample_rate=16000"):
        list(asr.stream(clips[0], sample_rate=16000))
    with pytest.raises(ValueError, match=r"chunk 1: audio contains NaN"):
        list(asr.stream(iter([clips[0][:100], np.array([np.nan], "float32")])))
    with pytest.raises(ValueError, match="chunk_ms must be a positive"):
        list(asr.stream(clips[0], chunk_ms=0))
    offline = SpeechRecognizer(SpeechConfig.from_dict({}, ["model.units=8",
                                                           "model.conv_filters=4"]))
    offline._stats = None
    offline.model = offline._build_model()
    with pytest.raises(ValueError, match="cannot stream: its model looks ahead"):
        list(offline.stream(clips[0]))


def test_export_streams_without_python(causal, tmp_path):
    asr, clips = causal
    path = asr.export(tmp_path / "export", sample=clips[:2])
    import json

    meta = json.load(open(os.path.join(path, "metadata.json")))
    assert meta["streaming"]["state_size"] == asr._stream_graph().state_size
    assert meta["streaming"]["lookahead_frames"] == 3
    assert meta["streaming"]["emission_deadline_ms"] is None
    loaded = tf.saved_model.load(path)
    # Two streams in one batch, fed 100 ms at a time.
    a, b = clips[0], clips[2]
    n = min(len(a), len(b))
    batch = np.stack([a[:n], b[:n]])
    state = loaded.stream_start(batch_size=tf.constant(2))["state"]
    assert state.dtype == tf.float32 and state.shape == (2, meta["streaming"]["state_size"])
    for i in range(0, n, 800):
        out = loaded.stream_feed(waveform=batch[:, i:i + 800], state=state)
        state = out["state"]
    end = loaded.stream_finish(state=state)
    offline = asr.transcribe([a[:n], b[:n]], beam_width=1)
    assert [t.decode() for t in end["text"].numpy()] == offline
    words = loaded.serve_words(waveform=batch, lengths=np.array([n, n], "int32"))
    np.testing.assert_allclose(words["word_times"].numpy(), end["word_times"].numpy())
    assert (words["words"].numpy() == end["words"].numpy()).all()

    # Bad streams: one clear error each.
    def fails(fn, message, **kw):
        with pytest.raises(tf.errors.InvalidArgumentError, match=message):
            fn(**kw)

    fails(loaded.stream_feed, "the stream is finished",
          waveform=batch[:, :80], state=end["state"])
    fails(loaded.stream_feed, r"the chunk has\] \[1\] \[rows but the state holds\] \[2\]",
          waveform=batch[:1, :80], state=state)
    fails(loaded.stream_feed, "state is not from this model",
          waveform=batch[:, :80], state=state + 1.0)
    fails(loaded.stream_feed, r"state must be float32 \[batch, ",
          waveform=batch[:, :80], state=state[:, :10])
    fails(loaded.stream_feed, "waveform contains NaN",
          waveform=np.full((2, 80), np.nan, "float32"), state=state)
    fails(loaded.stream_feed_at_rate, "streams audio at 8000 Hz",
          waveform=batch[:, :80], state=state, sample_rate=tf.constant(16000))
    # An empty chunk is a no-op.
    same = loaded.stream_feed(waveform=np.zeros((2, 0), "float32"), state=state)
    np.testing.assert_array_equal(same["state"].numpy(), state.numpy())


def test_cli_streams_a_file(causal, tmp_path):
    import json

    import soundfile

    from pipelines.training import RunDir
    from tests import harness

    asr, clips = causal
    run = RunDir(str(tmp_path / "run"))
    asr.save(run.model)
    wav = tmp_path / "a.wav"
    soundfile.write(wav, clips[3], asr.sample_rate)
    result = harness.run_module(["-m", "pipelines.cli", "predict", "speech", "--run-dir",
                                 str(tmp_path / "run"), "--input", str(wav), "--stream",
                                 "--chunk-ms", "250"])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    partials = [line.split("\t") for line in lines if "\t" in line]
    final = json.loads("\n".join(line for line in lines if "\t" not in line))
    # Partials as the audio arrives (seconds fed, text so far), then the end.
    assert [float(p[0]) for p in partials] == sorted(float(p[0]) for p in partials)
    assert final["text"] == asr.transcribe(clips[3], beam_width=1)
    assert [w["word"] for w in final["words"]] == final["text"].split()
    bad = harness.run_module(["-m", "pipelines.cli", "predict", "text", "--run-dir",
                              str(tmp_path / "run"), "--input", str(wav), "--stream"])
    assert bad.returncode == 2
