"""The speech config: `data`, `features`, `model` and `train` sections."""

import dataclasses
from typing import List, Optional

from pipelines.config import Config, TrainConfig, check, check_stream_fields

DATASETS = ("fsdd_sequences", "fsdd_digits", "ljspeech", "manifest")


@dataclasses.dataclass
class DataConfig:
    """Args:
        dataset: fsdd_sequences (default task), fsdd_digits, ljspeech, or
            manifest (TSV `path<TAB>transcript` files given below).
        train_count, test_count: FSDD sequences to synthesise per split.
        val_fraction: share of the training utterances held out for validation.
        train_manifest, test_manifest: manifest files for `dataset: manifest`.
        max_seconds: longest clip accepted (longer ones are refused, or
            skipped and logged when loading a manifest).
        seed: seed of the sequence synthesis and the split.
        skip_bad: skip (and log) a manifest clip that cannot be used (an
            unreadable, empty, silent or too long clip, a transcript empty
            once normalised), in memory and in `pipelines prepare speech`
            alike; false: stop at the first, naming its manifest line.
        shards: train from shards written by `pipelines prepare speech`
            (their folder, or a glob of some of their files) instead of
            loading the corpus into memory; `dataset` and the fields above
            are then what `prepare` reads.
        extra_train: more training utterances from other corpora, added to
            the training split only (never to validation or test), each
            `extra_repeat` times: "ljspeech" (LJ Speech; locally its
            120-clip subset) or the path of a manifest. Other voices
            reading other words teach the sounds that the task's few
            speakers make only their own way (the lexicon decoder keeps
            the output to the task's words). Not with `shards`.
        extra_repeat: how many times each extra utterance is in the
            training split (each time augmented anew).
        shuffle_buffer: records held by the bounded shuffle when training
            from shards (what memory the stream holds: a record is about
            40 KB for a 2.5 s clip at 8 kHz, so 2048 records are about 80
            MB; with the file order shuffled each epoch and four files
            interleaved, that mixes a corpus well).
    """

    dataset: str = "fsdd_sequences"
    train_count: int = 3000
    test_count: int = 300
    val_fraction: float = 0.1
    train_manifest: Optional[str] = None
    test_manifest: Optional[str] = None
    max_seconds: float = 20.0
    seed: int = 0
    skip_bad: bool = True
    shards: Optional[str] = None
    shuffle_buffer: int = 2048
    extra_train: List[str] = dataclasses.field(default_factory=list)
    extra_repeat: int = 1

    def validate(self):
        check(self.dataset in DATASETS, "data.dataset", self.dataset,
              f"must be one of {list(DATASETS)}")
        check(self.train_count >= 1, "data.train_count", self.train_count, "must be at least 1")
        check(self.test_count >= 1, "data.test_count", self.test_count, "must be at least 1")
        check(0 < self.val_fraction < 1, "data.val_fraction", self.val_fraction,
              "must be in (0, 1)")
        check(self.dataset != "manifest" or bool(self.train_manifest),
              "data.train_manifest", self.train_manifest,
              "must name a manifest when data.dataset is 'manifest'")
        check(self.max_seconds > 0, "data.max_seconds", self.max_seconds, "must be positive")
        check(all(isinstance(e, str) and e for e in self.extra_train), "data.extra_train",
              self.extra_train, "must be a list of \"ljspeech\" or manifest paths")
        check(self.extra_repeat >= 1, "data.extra_repeat", self.extra_repeat,
              "must be at least 1")
        check(not (self.extra_train and self.shards), "data.extra_train", self.extra_train,
              "must be empty with data.shards (prepare the extra corpora into the shards)")
        check_stream_fields(self)


@dataclasses.dataclass
class FeatureConfig:
    """Args: the log-mel front end (see `speech.features.LogMel`);
    `normalization`: "utterance" (each clip's own statistics) or "global"
    (the training set's, applied in the model: what a streaming model
    needs); `cepstra`: keep only the first N DCT coefficients of each
    frame's log-mel, the envelope without the pitch harmonics (0: off; see
    `speech.features.LogMel`); `fmax`: the top of the mel bands in Hz
    (None: half the sample rate); below it, recordings whose channels
    differ in bandwidth (some microphones pass little above 3 kHz) look
    more alike."""

    sample_rate: int = 8000
    n_fft: int = 256
    hop_length: int = 80
    n_mels: int = 40
    fmin: float = 20.0
    fmax: Optional[float] = None
    normalization: str = "utterance"
    cepstra: int = 0

    def validate(self):
        check(self.sample_rate >= 1000, "features.sample_rate", self.sample_rate,
              "must be at least 1000")
        check(self.n_fft >= self.hop_length >= 1, "features.n_fft", self.n_fft,
              f"must be at least features.hop_length={self.hop_length}")
        check(self.n_mels >= 4, "features.n_mels", self.n_mels, "must be at least 4")
        check(self.normalization in ("utterance", "global"), "features.normalization",
              self.normalization, "must be 'utterance' or 'global'")
        check(0 <= self.cepstra <= self.n_mels, "features.cepstra", self.cepstra,
              f"must be in [0, features.n_mels={self.n_mels}]")
        check(self.fmax is None or self.fmin < self.fmax <= self.sample_rate / 2,
              "features.fmax", self.fmax,
              f"must be above features.fmin={self.fmin} and at most half "
              f"features.sample_rate={self.sample_rate}")


@dataclasses.dataclass
class ModelConfig:
    """Args:
        conv_filters, units, num_layers, cell_type, dropout: the network.
        spec_augment: apply SpecAugment masks in training.
        freq_masks, freq_width, time_masks, time_width: SpecAugment.
        beam_width: beam of the CTC beam search (1 = greedy) used by default.
        lexicon: a word list to decode with (`pipelines.decoding.Lexicon`:
            the best CTC path that spells only its words): "digits" (the
            task's ten words), or a UTF-8 file of words (one per line, or
            separated by spaces); None: none. The words are saved with the
            model.
        decoder: what `transcribe` and the export use: "beam" (CTC beam
            search of `beam_width`) or "lexicon" (needs `lexicon`).
        causal: a model that never looks ahead (causal convolutions, a
            unidirectional stack), so it can transcribe a stream chunk by
            chunk (`SpeechRecognizer.stream`, the export's `stream_*`
            endpoints); needs `features.normalization: global`.
        lookahead: with `causal`, output frames of the future (each two
            hops: 20 ms at the default 10 ms hop) that each frame's logits
            read (`CTCAcousticModel`); a stream answers that much later.
        delay_penalty: nats per output frame that each label-emitting frame
            of an alignment costs in training (delay-penalized CTC; 0: plain
            CTC): a streaming model emits words sooner.
        emission_deadline_ms: with `causal`, train on only the CTC
            alignments that spell each word by this many ms after the
            output frame that first reads the word's last sample
            (alignment-restricted CTC, `pipelines.losses.delay_penalized_ctc`
            with deadlines): a stream then shows each word within its
            look-ahead plus this. Needs training utterances that know their
            word ends (`Utterance.word_ends`: the synthesised digit
            sequences); None: no deadline.
        stream_max_chars: characters of transcript a stream's state holds
            (older ones are dropped from `text`; every word is still
            returned once as it becomes final).
    """

    conv_filters: int = 32
    units: int = 128
    num_layers: int = 2
    cell_type: str = "gru"
    dropout: float = 0.1
    spec_augment: bool = True
    freq_masks: int = 2
    freq_width: int = 6
    time_masks: int = 2
    time_width: int = 10
    beam_width: int = 8
    lexicon: Optional[str] = None
    decoder: str = "beam"
    causal: bool = False
    lookahead: int = 0
    delay_penalty: float = 0.0
    emission_deadline_ms: Optional[float] = None
    stream_max_chars: int = 256

    def validate(self):
        check(self.units >= 1, "model.units", self.units, "must be positive")
        check(self.cell_type in ("gru", "lstm"), "model.cell_type", self.cell_type,
              "must be 'gru' or 'lstm'")
        check(0 <= self.dropout < 1, "model.dropout", self.dropout, "must be in [0, 1)")
        check(self.beam_width >= 1, "model.beam_width", self.beam_width, "must be at least 1")
        check(self.decoder in ("beam", "lexicon"), "model.decoder", self.decoder,
              "must be 'beam' or 'lexicon'")
        check(self.decoder != "lexicon" or bool(self.lexicon), "model.decoder", self.decoder,
              "needs model.lexicon (\"digits\" or a word list file)")
        check(self.lookahead >= 0, "model.lookahead", self.lookahead, "must be at least 0")
        check(self.delay_penalty >= 0, "model.delay_penalty", self.delay_penalty,
              "must be at least 0")
        check(self.causal or self.lookahead == 0, "model.lookahead", self.lookahead,
              "needs model.causal: true (a bidirectional model already reads the future)")
        check(self.emission_deadline_ms is None or self.causal, "model.emission_deadline_ms",
              self.emission_deadline_ms,
              "needs model.causal: true (it bounds how late a streaming model may emit)")
        check(self.stream_max_chars >= 8, "model.stream_max_chars", self.stream_max_chars,
              "must be at least 8")


@dataclasses.dataclass
class AugmentConfig:
    """Waveform augmentation of the training utterances, each epoch anew
    (see `speech.augment.Augment`); alongside SpecAugment (`model.*`).

    Args:
        enabled: augment (off by default; on in the default config).
        speed: `[low, high]` speed (resampling) factors; `[1, 1]`: off.
        onset_probability: chance of cutting an utterance's leading and
            trailing silence to a drawn share of itself (none at times).
        onset_none_probability: chance, for each end of a cut utterance,
            that none of its silence is kept.
        gain_db: `[low, high]` gain in dB.
        noise_probability: chance of adding white noise.
        snr_db: `[low, high]` signal-to-noise ratio of that noise, in dB.
        freq_warp: `[low, high]` factors by which the log-mel band axis of
            each training utterance is stretched or squeezed (vocal tract
            length perturbation, `speech.augment.warp_frequencies`);
            `[1, 1]`: off.
        tilt_db: `[low, high]` spectral tilt in dB (the gain at Nyquist
            against 0 Hz, linear in dB between), drawn per utterance;
            `[0, 0]`: off.
        lowpass_probability: chance of a low-pass at a drawn cutoff.
        lowpass_hz: `[low, high]` that cutoff in Hz.
    """

    enabled: bool = False
    speed: List[float] = dataclasses.field(default_factory=lambda: [0.9, 1.1])
    onset_probability: float = 0.7
    onset_none_probability: float = 0.5
    gain_db: List[float] = dataclasses.field(default_factory=lambda: [-6.0, 6.0])
    noise_probability: float = 0.8
    snr_db: List[float] = dataclasses.field(default_factory=lambda: [0.0, 30.0])
    freq_warp: List[float] = dataclasses.field(default_factory=lambda: [1.0, 1.0])
    tilt_db: List[float] = dataclasses.field(default_factory=lambda: [0.0, 0.0])
    lowpass_probability: float = 0.0
    lowpass_hz: List[float] = dataclasses.field(default_factory=lambda: [2000.0, 4000.0])

    def validate(self):
        for name in ("speed", "gain_db", "snr_db", "freq_warp", "tilt_db", "lowpass_hz"):
            value = getattr(self, name)
            check(len(value) == 2 and value[0] <= value[1], f"augment.{name}", value,
                  "must be [low, high] with low <= high")
        check(self.speed[0] > 0, "augment.speed", self.speed, "must be positive factors")
        check(self.freq_warp[0] > 0, "augment.freq_warp", self.freq_warp,
              "must be positive factors")
        check(self.lowpass_hz[0] > 0, "augment.lowpass_hz", self.lowpass_hz,
              "must be positive frequencies")
        for name in ("onset_probability", "onset_none_probability", "noise_probability",
                     "lowpass_probability"):
            value = getattr(self, name)
            check(0 <= value <= 1, f"augment.{name}", value, "must be in [0, 1]")

    def make(self, sample_rate):
        """The `speech.augment.Augment` of these settings, for waveforms
        at `sample_rate`."""
        from speech.augment import Augment

        return Augment(speed=self.speed, onset_probability=self.onset_probability,
                       onset_none_probability=self.onset_none_probability,
                       gain_db=self.gain_db, noise_probability=self.noise_probability,
                       snr_db=self.snr_db, tilt_db=self.tilt_db,
                       lowpass_probability=self.lowpass_probability,
                       lowpass_hz=self.lowpass_hz, sample_rate=sample_rate)


def _default_train():
    return TrainConfig(epochs=20, batch_size=32, learning_rate=2e-3, patience=4,
                       lr_decay=0.9)


@dataclasses.dataclass
class SpeechConfig(Config):
    name: str = "fsdd"
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    features: FeatureConfig = dataclasses.field(default_factory=FeatureConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    augment: AugmentConfig = dataclasses.field(default_factory=AugmentConfig)
    train: TrainConfig = dataclasses.field(default_factory=_default_train)

    def validate(self):
        check(not self.model.causal or self.features.normalization == "global",
              "model.causal", self.model.causal,
              "needs features.normalization: global (a stream cannot wait for the clip's "
              "end to normalise it)")
        check(self.augment.lowpass_hz[1] <= self.features.sample_rate / 2, "augment.lowpass_hz",
              self.augment.lowpass_hz,
              f"must be at most half features.sample_rate={self.features.sample_rate}")
