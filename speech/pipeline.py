"""`SpeechRecognizer`: the user-facing CTC speech-recognition pipeline.

Example:

>>> from speech import SpeechRecognizer, data                     # doctest: +SKIP
>>> splits = data.fsdd_sequences(train_count=3000, test_count=300)  # doctest: +SKIP
>>> asr = SpeechRecognizer().fit(splits.train)                     # doctest: +SKIP
>>> asr.evaluate(splits.test)                                      # doctest: +SKIP
>>> asr.transcribe(["../shared/data/fsdd/recordings/3_george_0.wav"])  # doctest: +SKIP
['three']
"""

import dataclasses
import functools
import logging
import os

import numpy as np
import tensorflow as tf

from pipelines import decoding, shards as shards_lib
from pipelines.config import ConfigError
from pipelines.data import padded_batches
from pipelines.metrics import error_rates
from pipelines.pipeline import Pipeline
from speech import augment as augment_lib, data, shards as speech_shards
from speech.config import SpeechConfig
from speech.features import LogMel
from speech.model import CTCAcousticModel

log = logging.getLogger(__name__)


class SpeechRecognizer(Pipeline):
    """Waveform in, transcript out: log-mel + conv/BiGRU + CTC.

    Args:
        config: a `SpeechConfig` (defaults: FSDD digit sequences at 8 kHz).
        **overrides: fields of its sections (`SpeechRecognizer(units=64,
            epochs=5, sample_rate=16000)`; see `pipelines.pipeline.Pipeline`).

    Example:

    >>> asr = SpeechRecognizer()
    >>> asr.features.sample_rate
    8000
    >>> small = SpeechRecognizer(units=16, epochs=1)
    >>> small.config.model.units, small.config.train.epochs
    (16, 1)
    """

    config_class = SpeechConfig
    state_file = "recognizer.json"
    export_name = "speech"
    shard_domain = "speech"
    #: The characters of the transcripts (a saved recogniser keeps its own).
    alphabet = data.ALPHABET

    @functools.cached_property
    def features(self):
        """The `LogMel` front end of `config.features`: the same object
        computes the features in training, `transcribe` and the export."""
        f = self.config.features
        return LogMel(sample_rate=f.sample_rate, n_fft=f.n_fft,
                      hop_length=f.hop_length, n_mels=f.n_mels, fmin=f.fmin,
                      fmax=f.fmax, normalization=f.normalization, cepstra=f.cepstra)

    @property
    def sample_rate(self):
        return self.features.sample_rate

    @property
    def max_samples(self):
        return int(self.config.data.max_seconds * self.sample_rate)

    # ------------------------------------------------------------------ data
    def _check_audio(self, audio, where):
        audio = np.asarray(audio, dtype="float32")
        if audio.ndim != 1:
            raise ValueError(
                f"{where}: audio must be 1-D (mono samples); got shape {audio.shape}.")
        if len(audio) < self.features.min_samples():
            raise ValueError(
                f"{where}: clip of {len(audio)} samples is shorter than one "
                f"analysis window ({self.features.min_samples()} samples)."
            )
        if len(audio) > self.max_samples:
            raise ValueError(
                f"{where}: clip of {len(audio) / self.sample_rate:.2f} s is longer "
                f"than data.max_seconds={self.config.data.max_seconds}."
            )
        if not np.isfinite(audio).all():
            raise ValueError(f"{where}: audio contains NaN or infinite samples.")
        return audio

    def _dataset(self, utterances, training_mode):
        """Batches of `utterances` (a list, or a `pipelines.shards.Split`
        streamed from its shards), bucketed by length."""
        cfg = self.config
        deadline = cfg.model.emission_deadline_ms is not None
        if isinstance(utterances, shards_lib.Split):
            if deadline:
                raise ConfigError(
                    "Config field 'model.emission_deadline_ms' needs the end of each word's "
                    "audio, which prepared shards do not hold; train on in-memory "
                    f"utterances (data.shards={cfg.data.shards!r}).")
            ds = self._stream(utterances, speech_shards.parse, training_mode)
            boundaries = utterances.boundaries()
        else:
            ds, boundaries = self._in_memory(utterances, training_mode)
        if training_mode and cfg.augment.enabled:
            ds = self._augmented(ds)
        ds = ds.map(lambda e: {"wave": e["wave"], "label": e["label"],
                               "wave_length": tf.shape(e["wave"])[0],
                               "label_length": tf.shape(e["label"])[0],
                               **({"deadline": self._deadlines(e["label"], e["ends"])}
                                  if deadline else {})})
        ds = padded_batches(ds, cfg.train.batch_size, lambda e: e["wave_length"], boundaries)
        fe = self.features
        low, high = cfg.augment.freq_warp
        warp = training_mode and cfg.augment.enabled and (low, high) != (1.0, 1.0)

        def to_model(batch, seed=None):
            feats, frames = fe(batch["wave"], batch["wave_length"])
            if seed is not None:
                factor = tf.random.stateless_uniform(tf.shape(feats)[:1], seed, low, high)
                feats = augment_lib.warp_frequencies(feats, factor)
            targets = {"labels": batch["label"], "label_lengths": batch["label_length"]}
            if deadline:
                targets["deadlines"] = batch["deadline"]
            return {"features": feats, "lengths": frames}, targets

        if warp:
            # A band-axis warp factor per utterance, drawn anew each epoch.
            seeds = tf.data.Dataset.random(seed=cfg.train.seed + 1,
                                           rerandomize_each_iteration=True).batch(2)
            ds = tf.data.Dataset.zip((ds, seeds))
        return ds.map(to_model, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)

    def _augmented(self, ds):
        """The training elements with their waveforms augmented
        (`augment.*`): a seed per element from `tf.data.Dataset.random`, new
        each epoch and reproducible from `train.seed`."""
        augment = self.config.augment.make(self.config.features.sample_rate)
        seeds = tf.data.Dataset.random(seed=self.config.train.seed,
                                       rerandomize_each_iteration=True).batch(2)

        def one(e, seed):
            if "ends" not in e:
                return {**e, "wave": augment(e["wave"], seed)}
            wave, ends = augment(e["wave"], seed, ends=e["ends"])
            return {**e, "wave": wave, "ends": ends}

        return tf.data.Dataset.zip((ds, seeds)).map(one, num_parallel_calls=tf.data.AUTOTUNE)

    def _deadlines(self, label, ends):
        """int32 `[labels]`: the last output frame at which each label of one
        utterance may be emitted (`model.emission_deadline_ms`): that many
        ms after the first output frame that reads the last sample of the
        label's word (a space counts with the word after it)."""
        fe = self.features
        space = int(data.encode(" ")[0])
        word = tf.cumsum(tf.cast(tf.equal(label, space), tf.int32))
        end = tf.gather(ends, tf.minimum(word, tf.shape(ends)[0] - 1))
        # The first log-mel frame whose window holds sample end - 1, then the
        # first output frame (two hops each, the causal convolutions reading
        # the frame and the ones before it) that reads that frame.
        frame = tf.maximum(0, -(-(tf.cast(end, tf.int32) - fe.n_fft) // fe.hop_length))
        output = -(-frame // 2)
        ms_per_frame = 2000.0 * fe.hop_length / fe.sample_rate
        return output + int(round(self.config.model.emission_deadline_ms / ms_per_frame))

    def _in_memory(self, utterances, training_mode):
        """`(elements, bucket boundaries)` of a list of utterances."""
        cfg = self.config
        waves = [self._check_audio(u.audio, u.source) for u in utterances]
        labels = [data.encode(u.text) for u in utterances]
        for u, lab in zip(utterances, labels):
            if len(lab) == 0:
                raise ValueError(f"{u.source}: empty transcript.")
        wave_lengths = np.array([len(w) for w in waves], "int64")
        label_lengths = np.array([len(lab) for lab in labels], "int64")
        columns = {
            "wave": tf.RaggedTensor.from_row_lengths(np.concatenate(waves), wave_lengths),
            "label": tf.RaggedTensor.from_row_lengths(
                np.concatenate(labels).astype("int32"), label_lengths),
        }
        if cfg.model.emission_deadline_ms is not None:
            columns["ends"] = self._word_ends(utterances)
        ds = tf.data.Dataset.from_tensor_slices(columns)
        if training_mode:
            ds = ds.shuffle(len(waves), seed=cfg.train.seed, reshuffle_each_iteration=True)
        boundaries = sorted(set(int(b) for b in np.quantile(wave_lengths, [0.2, 0.4, 0.6, 0.8])))
        return ds, boundaries

    @staticmethod
    def _word_ends(utterances):
        """The utterances' `word_ends` as a ragged int64 column, each
        checked (one per word, increasing, within the audio)."""
        ends = []
        for u in utterances:
            words = len(u.text.split())
            mine = None if u.word_ends is None else [int(v) for v in u.word_ends]
            if mine is None:
                raise ValueError(
                    f"{u.source}: model.emission_deadline_ms needs the end of each word's "
                    "audio (Utterance.word_ends), and this utterance has none; the "
                    "synthesised digit sequences (data.fsdd_sequences) have them.")
            if (len(mine) != words or any(b <= a for a, b in zip(mine, mine[1:]))
                    or not 0 < mine[0] or mine[-1] > len(u.audio)):
                raise ValueError(
                    f"{u.source}: word_ends={mine} must be {words} increasing sample "
                    f"indices in (0, {len(u.audio)}], one per word of {u.text!r}.")
            ends.append(mine)
        return tf.RaggedTensor.from_row_lengths(
            np.array([v for mine in ends for v in mine], "int64"),
            np.array([len(mine) for mine in ends], "int64"))

    def _build_model(self):
        m = self.config.model
        augment = None
        if m.spec_augment:
            augment = {"freq_masks": m.freq_masks, "freq_width": m.freq_width,
                       "time_masks": m.time_masks, "time_width": m.time_width,
                       "seed": self.config.train.seed}
        return CTCAcousticModel(
            n_mels=self.features.n_mels, vocab_size=len(self.alphabet),
            conv_filters=m.conv_filters, units=m.units, num_layers=m.num_layers,
            cell_type=m.cell_type, dropout=m.dropout, spec_augment=augment,
            causal=m.causal, lookahead=m.lookahead, delay_penalty=m.delay_penalty,
            feature_mean=self._stats[0] if self._stats else None,
            feature_std=self._stats[1] if self._stats else None,
        )

    _stats = None
    #: Where `data.extra_train`'s corpora are (`fit`'s `data_dir`).
    _data_dir = None

    # ------------------------------------------------------------------- fit
    def fit(self, train=None, val=None, run_dir=None, data_dir=None):
        """Trains on `Utterance`s, or on shards; returns self.

        Args:
            train: training utterances (audio at `features.sample_rate`), a
                `pipelines.shards.Split` of shards written by `pipelines
                prepare speech`, or None for the shards of `data.shards`.
                The corpora of `data.extra_train` are added to it, after
                the validation share is held out.
            val: validation utterances (default: a seeded `data.val_fraction`
                of `train`).
            run_dir: run directory (checkpoints, history, resume); a temporary
                one if None.
            data_dir: where `data.extra_train`'s corpora are (default:
                `PIPELINES_DATA_DIR`).
        """
        self._data_dir = data_dir
        return super().fit(train, val, run_dir=run_dir)

    def _shard_fields(self):
        return {"features.sample_rate": self.sample_rate}

    def _split(self, train, val):
        train = list(train)
        if val is None:
            # Seeded by data.seed (not train.seed): the same utterances are
            # held out whatever the training seed.
            order = np.random.default_rng(self.config.data.seed).permutation(len(train))
            n_val = max(1, int(len(train) * self.config.data.val_fraction))
            val = [train[i] for i in order[:n_val]]
            train = [train[i] for i in order[n_val:]]
        if self.config.data.extra_train:
            train = train + data.extra_training(self.config, self._data_dir)
        return train, list(val)

    def _prepare(self, train, val):
        # The datasets are made before the model, as they always were: the
        # seeded benchmark scores were measured in this order.
        self._stats = None
        if self.features.normalization == "global":
            self._stats = self._feature_statistics(train)
        return self._dataset(train, True), self._dataset(val, False)

    #: Training utterances the global feature statistics are fitted on.
    STATS_CLIPS = 1000

    def _feature_statistics(self, train):
        """Per-band mean and std of the log-mel of (up to `STATS_CLIPS`)
        clean training utterances: what `features.normalization: global`
        normalises with, fitted on the training split only."""
        if isinstance(train, shards_lib.Split):
            ds = self._stream(train, speech_shards.parse, False).take(self.STATS_CLIPS)
            waves = [e["wave"].numpy() for e in ds]
        else:
            pick = np.random.default_rng(self.config.data.seed).permutation(len(train))
            waves = [np.asarray(train[i].audio, "float32")
                     for i in pick[:self.STATS_CLIPS]]
        fe = self.features
        feats, frames = [], []
        for start in range(0, len(waves), 64):
            batch, lengths = _pad(waves[start:start + 64])
            f, n = fe(batch, lengths)
            feats.append(f.numpy())
            frames.append(n.numpy())
        from speech.features import feature_statistics

        return feature_statistics(feats, frames)

    # ------------------------------------------------------------- inference
    def _graph(self, beam_width):
        """The graph-only path waveform -> text, shared by `transcribe` and the
        export, so both give the same transcripts."""
        fe, model, alphabet = self.features, self.model, self.alphabet
        blank = len(alphabet)
        lexicon = (decoding.Lexicon(self._lexicon_words(), alphabet, blank)
                   if beam_width == "lexicon" else None)

        def infer(waveform, lengths):
            lengths = tf.cast(lengths, tf.int32)
            feats, frames = fe(waveform, lengths)
            logits = model({"features": feats, "lengths": frames}, training=False)
            out_lengths = CTCAcousticModel.output_lengths(frames)
            if lexicon is not None:
                return lexicon.decode(logits, out_lengths)
            ids = decoding.ctc_decode(logits, out_lengths, blank, beam_width)
            return decoding.ids_to_text(ids, alphabet)

        return infer

    def _infer_fn(self, beam_width):
        return self._function(("transcribe", beam_width), lambda: tf.function(
            self._graph(beam_width),
            input_signature=[tf.TensorSpec([None, None], tf.float32),
                             tf.TensorSpec([None], tf.int32)],
        ))

    def _load_inputs(self, inputs, sample_rate=None):
        sample_rate = self.sample_rate if sample_rate is None else sample_rate
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, float, np.number)) \
                or not sample_rate > 0:
            raise ValueError(f"sample_rate must be a positive number of Hz (the rate of the "
                             f"arrays); got sample_rate={sample_rate!r}.")
        audios = []
        for i, item in enumerate(inputs):
            if isinstance(item, (str, os.PathLike)):
                audio = data.load_audio(item, self.sample_rate, self.config.data.max_seconds)
                where = os.fspath(item)
            else:
                where = f"input {i}"
                audio = np.asarray(item, dtype="float32")
                if sample_rate != self.sample_rate:
                    import librosa

                    audio = librosa.resample(audio, orig_sr=sample_rate,
                                             target_sr=self.sample_rate)
            audios.append(self._check_audio(audio, where))
        return audios

    def transcribe(self, inputs, sample_rate=None, beam_width=None, batch_size=32):
        """Transcribes audio files or arrays.

        Args:
            inputs: a list of paths (read and resampled by librosa) and/or 1-D
                float arrays (a single path or array is accepted too).
            sample_rate: the rate of the arrays, in Hz (default: the model's
                own, `features.sample_rate`); arrays at another rate are
                resampled to it first. Files carry their own rate.
            beam_width: 1 for greedy, more for beam search, or "lexicon"
                (the best path spelling only `model.lexicon`'s words);
                default: the config's `model.decoder` (and `beam_width`).
            batch_size: clips per inference batch.

        Returns:
            A list of transcripts (normalised text); one transcript for a
            single path or array.
        """
        self._require_fitted()
        single = isinstance(inputs, (str, os.PathLike)) or (
            isinstance(inputs, np.ndarray) and inputs.ndim == 1)
        if single:
            inputs = [inputs]
        audios = self._load_inputs(list(inputs), sample_rate)
        texts = self._transcribe_arrays(audios, self._decoder(beam_width),
                                        batch_size)
        return texts[0] if single else texts

    def predict(self, inputs, **kwargs):
        """`transcribe(inputs, **kwargs)`: every pipeline's `predict`."""
        return self.transcribe(inputs, **kwargs)

    def _transcribe_arrays(self, audios, beam_width, batch_size=32):
        fn = self._infer_fn(beam_width if beam_width == "lexicon" else int(beam_width))
        order = np.argsort([len(a) for a in audios])
        out = [None] * len(audios)
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            batch, lengths = _pad([audios[i] for i in idx])
            for i, text in zip(idx, fn(batch, lengths).numpy()):
                out[i] = text.decode("utf-8")
        return out

    def evaluate(self, utterances, beam_width=None):
        """WER and CER of greedy and beam decoding on `utterances`."""
        self._require_fitted()
        utterances = list(utterances)
        audios = [self._check_audio(u.audio, u.source) for u in utterances]
        # The same normalisation for references and hypotheses.
        refs = [data.normalize_text(u.text) for u in utterances]
        beam = beam_width or self.config.model.beam_width
        result = {}
        ways = [("greedy", 1), ("beam", beam)]
        if self.config.model.lexicon:
            ways.append(("lexicon", "lexicon"))
        for name, width in ways:
            hyps = [data.normalize_text(h) for h in self._transcribe_arrays(audios, width)]
            for k, v in error_rates(refs, hyps).items():
                result[f"{k}_{name}"] = v
        result["beam_width"] = beam
        result["utterances"] = len(utterances)
        return result

    # ------------------------------------------------------------- streaming
    @property
    def can_stream(self):
        """Whether the model never looks ahead (`model.causal: true`), so
        `stream` and the export's `stream_*` endpoints exist."""
        return self.model is not None and bool(getattr(self.model, "causal", False))

    def _stream_graph(self):
        from speech.streaming import StreamGraph

        if "stream_graph" not in self._fns:
            self._fns["stream_graph"] = StreamGraph(self)
        return self._fns["stream_graph"]

    def _stream_fns(self):
        graph = self._stream_graph()
        state = tf.TensorSpec([None, graph.state_size], tf.float32)
        feed = self._function("stream_feed", lambda: tf.function(
            graph.feed, input_signature=[tf.TensorSpec([None, None], tf.float32), state]))
        finish = self._function("stream_finish", lambda: tf.function(
            graph.finish, input_signature=[state]))
        return graph, feed, finish

    def stream(self, audio, chunk_ms=100, sample_rate=None):
        """Transcribes audio as it arrives: yields a `StreamUpdate` each time
        the partial transcript changes, and a last one with `final=True`.

        The model must be causal (`model.causal: true`, e.g.
        `speech/configs/fsdd_streaming.yaml`); its transcript at the end is
        the one `transcribe(..., beam_width=1)` gives for the whole clip.

        Args:
            audio: an audio file or a 1-D array (cut into chunks of
                `chunk_ms`), or an iterable of 1-D arrays (the chunks as
                they arrive, any sizes; an empty one is a no-op).
            chunk_ms: the chunk length for a file or an array, in ms.
            sample_rate: the rate of arrays (default: the model's own);
                chunks at another rate are refused (resample first).

        Example:

        >>> for update in asr.stream("a.wav", chunk_ms=100):  # doctest: +SKIP
        ...     print(f"{update.seconds:5.1f}s {update.text}")
        """
        self._require_fitted()
        if not self.can_stream:
            self._stream_graph()  # raises the message that says why not
        rate = self.sample_rate if sample_rate is None else sample_rate
        if rate != self.sample_rate:
            raise ValueError(f"This model streams audio at {self.sample_rate} Hz; got "
                             f"sample_rate={rate!r}: resample the audio first.")
        if not (isinstance(chunk_ms, (int, float)) and chunk_ms > 0):
            raise ValueError(f"chunk_ms must be a positive number of milliseconds; got "
                             f"{chunk_ms!r}.")
        if isinstance(audio, (str, os.PathLike)):
            audio = data.load_audio(audio, self.sample_rate)
        if isinstance(audio, np.ndarray) and audio.ndim <= 1:
            audio = np.asarray(audio, "float32").reshape(-1)
            step = max(1, int(round(chunk_ms * self.sample_rate / 1000)))
            chunks = (audio[i:i + step] for i in range(0, len(audio), step))
        else:
            chunks = audio
        return self._stream_chunks(chunks)

    def _stream_chunks(self, chunks):
        graph, feed, finish = self._stream_fns()
        state = graph.start(1)
        fed, text, final = 0, "", []
        for i, chunk in enumerate(chunks):
            chunk = np.asarray(chunk, "float32")
            if chunk.ndim != 1:
                raise ValueError(f"chunk {i}: audio must be 1-D (mono samples); got shape "
                                 f"{chunk.shape}.")
            if not np.isfinite(chunk).all():
                raise ValueError(f"chunk {i}: audio contains NaN or infinite samples.")
            out = feed(chunk[None], state)
            state, fed = out["state"], fed + len(chunk)
            words = _words(out["final_words"], out["final_word_times"],
                           out["final_word_count"])
            final += words
            new = out["text"].numpy()[0].decode("utf-8")
            if new != text or words:
                text = new
                yield StreamUpdate(text, words, fed / self.sample_rate, False)
        out = finish(state)
        words = _words(out["final_words"], out["final_word_times"], out["final_word_count"])
        yield StreamUpdate(out["text"].numpy()[0].decode("utf-8"), words,
                           fed / self.sample_rate, True,
                           _words(out["words"], out["word_times"], out["word_count"]))

    def word_times(self, inputs, sample_rate=None, batch_size=32):
        """Each clip's words with their start and end times in seconds,
        from the greedy CTC alignment (a causal model's; the same words and
        times its streams end with).

        Returns:
            A list (per clip) of `(word, start, end)` tuples.
        """
        self._require_fitted()
        single = isinstance(inputs, (str, os.PathLike)) or (
            isinstance(inputs, np.ndarray) and inputs.ndim == 1)
        audios = self._load_inputs([inputs] if single else list(inputs), sample_rate)
        fn = self._function("align", lambda: tf.function(
            self._align_graph(),
            input_signature=[tf.TensorSpec([None, None], tf.float32),
                             tf.TensorSpec([None], tf.int32)]))
        out = []
        for start in range(0, len(audios), batch_size):
            batch, lengths = _pad(audios[start:start + batch_size])
            r = fn(batch, lengths)
            out += [_words(r["words"][i:i + 1], r["word_times"][i:i + 1],
                           r["word_count"][i:i + 1]) for i in range(len(lengths))]
        return out[0] if single else out

    def _align_graph(self):
        graph, fe, model = self._stream_graph(), self.features, self.model

        def align(waveform, lengths):
            feats, frames = fe(waveform, lengths)
            logits = model({"features": feats, "lengths": frames}, training=False)
            return graph.align(logits, CTCAcousticModel.output_lengths(frames))

        return align

    # ------------------------------------------------------------------ plot
    def plot(self, audio, sample_rate=None, title=None):
        """Spectrogram with the per-frame CTC output: what the model heard, when.

        Args:
            audio: an audio file, or a 1-D float array.
            sample_rate: the array's rate (default: the model's own).
            title: the figure's title (default: the transcript `transcribe`
                gives, with the config's beam width).

        Returns the matplotlib Figure (log-mel features on top, the most likely
        character per output frame below, blanks drawn as '·').
        """
        plt = self._pyplot()
        self._require_fitted()
        audio = self._load_inputs([audio], sample_rate)[0]
        feats, frames = self.features(audio[None], np.array([len(audio)]))
        logits = self.model({"features": feats, "lengths": frames}, training=False)
        probs = tf.nn.softmax(tf.cast(logits, tf.float32))[0].numpy()
        best = probs.argmax(-1)
        # The same transcript `transcribe` gives (beam search by default).
        text = self._transcribe_arrays([audio], self._beam_width(None))[0]
        fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 5), sharex=False,
                                       gridspec_kw={"height_ratios": [2, 1.2]})
        ax1.imshow(feats[0].numpy().T, origin="lower", aspect="auto", cmap="magma")
        ax1.set_ylabel("mel band")
        ax1.set_title(title or f"heard: {text!r}")
        ax2.imshow(probs.T, origin="lower", aspect="auto", cmap="Greys", vmin=0, vmax=1)
        labels = list(self.alphabet.replace(" ", "␣")) + ["·"]
        for t, c in enumerate(best):
            if c != len(self.alphabet):
                ax2.text(t, c, labels[c], ha="center", va="center", color="tab:red", fontsize=8)
        ax2.set_yticks(range(len(labels)))
        ax2.set_yticklabels(labels, fontsize=5)
        ax2.set_xlabel("output frame (20 ms)")
        fig.tight_layout()
        return fig

    # ------------------------------------------------------------- save/load
    def _state(self):
        return {"alphabet": self.alphabet, "lexicon": self._lexicon_words()}

    def _restore(self, state, path):
        self.alphabet = state["alphabet"]
        self._words = state.get("lexicon")

    _words = None

    def _lexicon_words(self):
        """The words of `model.lexicon` (read once, then kept: they are
        saved with the model), or None."""
        spec = self.config.model.lexicon
        if not spec:
            return None
        if self._words is None:
            if spec == "digits":
                self._words = list(data.DIGIT_WORDS)
            else:
                from pipelines.files import utf8_lines

                if not os.path.isfile(spec):
                    raise ValueError(f"model.lexicon={spec!r}: no such word list file "
                                     "(or \"digits\").")
                self._words = [w for _, line in utf8_lines(spec) for w in line.split()]
        return self._words

    def _decoder(self, beam_width=None):
        """What to decode with: "lexicon", or a beam width (1: greedy);
        by default the config's `model.decoder`."""
        if beam_width == "lexicon" or (beam_width is None
                                       and self.config.model.decoder == "lexicon"):
            return "lexicon"
        return self._beam_width(beam_width)

    # ---------------------------------------------------------------- export
    def _beam_width(self, beam_width=None):
        return int(beam_width or self.config.model.beam_width)

    def serving_fn(self, beam_width=None):
        """`serve(waveform, lengths) -> {"text"}` with input checks in the
        graph, and `serve_at_rate(waveform, lengths, sample_rate)` that also
        refuses audio at another rate."""
        infer = self._graph(self._decoder(beam_width))
        min_samples, max_samples = self.features.min_samples(), self.max_samples
        rate = self.sample_rate

        def serve(waveform, lengths):
            # Shapes are checked here, in one line each, rather than by
            # TensorFlow's long "Binding inputs" error.
            wave_shape = tf.shape(waveform)
            rank_ok = tf.logical_and(tf.equal(tf.rank(waveform), 2),
                                     tf.equal(tf.rank(lengths), 1))
            # Only the rank check speaks when the ranks are wrong.
            rows = tf.reduce_prod(wave_shape[:1])
            batch_ok = tf.logical_or(tf.logical_not(rank_ok),
                                     tf.equal(tf.size(lengths), rows))
            shape_checks = [
                tf.debugging.Assert(rank_ok, [
                    "waveform must be float32 [batch, samples] and lengths int32 [batch]; "
                    "got shapes", wave_shape, tf.shape(lengths)]),
                tf.debugging.Assert(batch_ok, [
                    "lengths must have one entry per row of waveform; got", tf.size(lengths),
                    "lengths for", rows, "rows"]),
            ]
            with tf.control_dependencies(shape_checks):
                # Reshapes give the static ranks the graph below needs. (Not
                # tf.ensure_shape: Grappler would read the rank it demands
                # back into the checks above and fold them away.)
                waveform = tf.reshape(waveform, tf.stack([-1, tf.shape(waveform)[-1]]))
                lengths = tf.reshape(lengths, [-1])
            checks = [
                tf.debugging.assert_all_finite(
                    waveform, "waveform contains NaN or infinite samples"),
                tf.debugging.assert_less_equal(
                    lengths, tf.shape(waveform, out_type=tf.int32)[1],
                    message="lengths exceed the number of samples in waveform"),
                tf.debugging.assert_greater_equal(
                    lengths, min_samples,
                    message=f"a clip is shorter than one analysis window "
                            f"({min_samples} samples at {rate} Hz)"),
                tf.debugging.assert_less_equal(
                    lengths, max_samples,
                    message=f"a clip is longer than the maximum {max_samples} samples "
                            f"({max_samples / rate:g} s at {rate} Hz)"),
            ]
            with tf.control_dependencies(checks):
                return {"text": infer(tf.identity(waveform), lengths)}

        def serve_at_rate(waveform, lengths, sample_rate):
            check = tf.debugging.assert_equal(
                sample_rate, rate,
                message=f"this model takes audio at {rate} Hz; resample the waveform first")
            with tf.control_dependencies([check]):
                return serve(tf.identity(waveform), lengths)

        return serve, serve_at_rate

    def export(self, path, sample=None, beam_width=None):
        """Writes a SavedModel: `serve(waveform float32 [batch, samples] zero
        padded, lengths int32 [batch]) -> {"text": string [batch]}` at the
        sample rate in `metadata.json`; plus `serve_at_rate(waveform, lengths,
        sample_rate)` that refuses audio at another rate.

        Args:
            path: the export folder (written atomically).
            sample: a list of 1-D arrays at the model's rate, transcribed in
                memory and by the reloaded export in a fresh process; both
                must agree.
            beam_width: the beam of the exported search (default: the
                config's `model.beam_width`).
        """
        return super().export(path, sample=sample, beam_width=beam_width)

    def _endpoints(self, beam_width=None):
        serve, serve_at_rate = self.serving_fn(beam_width)
        # Any shape binds; `serve` checks shapes in the graph (one line each).
        wave_spec = tf.TensorSpec(None, tf.float32, name="waveform")
        len_spec = tf.TensorSpec(None, tf.int32, name="lengths")
        rate_spec = tf.TensorSpec([], tf.int32, name="sample_rate")
        endpoints = {"serve": (serve, [wave_spec, len_spec]),
                     "serve_at_rate": (serve_at_rate, [wave_spec, len_spec, rate_spec])}
        if self.can_stream:
            endpoints.update(self._stream_endpoints())
        return endpoints

    def _stream_endpoints(self):
        """`stream_start(batch_size)`, `stream_feed(waveform, state)`,
        `stream_feed_at_rate(waveform, state, sample_rate)`,
        `stream_finish(state)` and `serve_words(waveform, lengths)` (the
        greedy words with their times) of a causal model."""
        graph, rate = self._stream_graph(), self.sample_rate
        serve, _ = self.serving_fn(1)
        align = self._align_graph()

        def stream_start(batch_size):
            return {"state": graph.start(batch_size)}

        def stream_feed_at_rate(waveform, state, sample_rate):
            check = tf.debugging.assert_equal(
                sample_rate, rate,
                message=f"this model streams audio at {rate} Hz; resample the chunks first")
            with tf.control_dependencies([check]):
                return graph.feed(tf.identity(waveform), state)

        def serve_words(waveform, lengths):
            # serve's input checks first, then the alignment of the same clips.
            checked = serve(waveform, lengths)
            with tf.control_dependencies([checked["text"]]):
                return align(tf.identity(tf.reshape(waveform, tf.stack(
                    [-1, tf.shape(waveform)[-1]]))), tf.reshape(lengths, [-1]))

        wave = tf.TensorSpec(None, tf.float32, name="waveform")
        state = tf.TensorSpec(None, tf.float32, name="state")
        return {
            "stream_start": (stream_start, [tf.TensorSpec([], tf.int32, name="batch_size")]),
            "stream_feed": (graph.feed, [wave, state]),
            "stream_feed_at_rate": (stream_feed_at_rate,
                                    [wave, state, tf.TensorSpec([], tf.int32,
                                                                name="sample_rate")]),
            "stream_finish": (graph.finish, [state]),
            "serve_words": (serve_words, [wave, tf.TensorSpec(None, tf.int32,
                                                              name="lengths")]),
        }

    def _export_sample(self, sample, beam_width=None):
        audios = [self._check_audio(a, f"sample {i}") for i, a in enumerate(sample)]
        batch, lengths = _pad(audios)
        texts = self._transcribe_arrays(audios, self._decoder(beam_width),
                                        batch_size=len(audios))
        return {"waveform": batch, "lengths": lengths}, {"text": np.array(texts)}

    def _export_metadata(self, beam_width=None):
        rate = self.sample_rate
        decoder = self._decoder(beam_width)
        lexicon = decoder == "lexicon"
        beam = None if lexicon else decoder
        return {
            "sample_rate": rate,
            "alphabet": self.alphabet,
            "inputs": {"waveform": {"dtype": "float32", "shape": [None, None],
                                    "units": f"mono samples at {rate} Hz, zero padded"},
                       "lengths": {"dtype": "int32", "shape": [None], "units": "samples"}},
            "outputs": {"text": {"dtype": "string", "shape": [None],
                                 "units": "normalised transcript (lowercase, digits as words)"}},
            # What `serve` decodes with; the lexicon's words when it is one.
            "decoder": "lexicon" if lexicon else "beam" if beam > 1 else "greedy",
            "beam_width": None if lexicon else beam,
            "lexicon": self._lexicon_words() if lexicon else None,
            "streaming": self._stream_metadata(),
        }

    def _stream_metadata(self):
        if not self.can_stream:
            return None
        graph = self._stream_graph()
        return {
            "endpoints": ["stream_start", "stream_feed", "stream_feed_at_rate",
                          "stream_finish", "serve_words"],
            "state_size": graph.state_size,
            "max_chars": graph.max_chars,
            "decoder": "greedy",
            "frame_seconds": 2 * self.features.hop_length / self.sample_rate,
            # Each frame's label waits for this many frames after it.
            "lookahead_frames": graph.lookahead,
            # What the training alignments were held to (None: plain CTC).
            "emission_deadline_ms": self.config.model.emission_deadline_ms,
            "usage": "state = stream_start(batch_size=B)['state']; for each chunk "
                     "float32 [B, n] at sample_rate: out = stream_feed(waveform=chunk, "
                     "state=state); state = out['state'] (out['text']: the transcript so "
                     "far; out['final_words'], out['final_word_times'] (seconds), "
                     "out['final_word_count']: words that became final); at the end "
                     "stream_finish(state=state): text, words, word_times, word_count.",
        }


@dataclasses.dataclass
class StreamUpdate:
    """What `SpeechRecognizer.stream` yields.

    Args:
        text: the transcript so far.
        final_words: `(word, start, end)` (seconds) of the words that
            became final since the last update.
        seconds: audio fed so far.
        final: True for the last update (after the end of the audio).
        words: on the last update, every word with its times.
    """

    text: str
    final_words: list
    seconds: float
    final: bool
    words: list = None


def _words(words, times, count):
    """Row 0 of `ctc_words`-style outputs as `(word, start, end)` tuples."""
    n = int(count.numpy()[0])
    return [(w.decode("utf-8"), round(float(a), 3), round(float(b), 3))
            for w, (a, b) in zip(words.numpy()[0][:n], times.numpy()[0][:n])]


def _pad(audios):
    """A zero-padded float32 batch `[len(audios), longest]` of 1-D clips and
    their int32 lengths."""
    batch = np.zeros((len(audios), max(len(a) for a in audios)), "float32")
    for row, audio in enumerate(audios):
        batch[row, :len(audio)] = audio
    return batch, np.array([len(a) for a in audios], "int32")
