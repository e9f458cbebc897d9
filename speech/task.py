"""Speech's train/evaluate/export/predict: what the CLI and notebooks call."""

import os

from pipelines.data import Splits
from pipelines.task import Task
from speech import batch as speech_batch, data, shards as speech_shards
from speech.config import SpeechConfig
from speech.pipeline import SpeechRecognizer

CONFIGS = os.path.join(os.path.dirname(__file__), "configs")


class SpeechTask(Task):
    """`pipelines <command> speech`: FSDD sequences (or LJ Speech, FSDD
    digits, manifests) -> `SpeechRecognizer`; scored by WER/CER, greedy and
    beam."""

    name = "speech"
    config_class = SpeechConfig
    default_config = os.path.join(CONFIGS, "fsdd.yaml")
    pipeline_class = SpeechRecognizer
    predictions_key = "transcripts"
    shard_source = speech_shards.SpeechSource
    batch_reader_class = speech_batch.SpeechReader

    def examples_of(self, split, limit=None):
        return speech_shards.utterances(split, limit)

    #: The data directory of the last `load_splits`: where `fit` finds
    #: `data.extra_train`.
    _data_dir = None

    def load_splits(self, config, data_dir=None):
        """`Splits` of `Utterance`s for the config (`val` None: the
        recogniser holds out its own `data.val_fraction` of `train`)."""
        self._data_dir = data_dir
        d, rate = config.data, config.features.sample_rate
        if d.dataset == "fsdd_sequences":
            return data.fsdd_sequences(data_dir, train_count=d.train_count,
                                       test_count=d.test_count, seed=d.seed, sample_rate=rate)
        if d.dataset == "fsdd_digits":
            return data.fsdd_digits(data_dir, sample_rate=rate)
        if d.dataset == "ljspeech":
            utts = data.ljspeech(data_dir, sample_rate=rate)
            cut = int(len(utts) * 0.9)
            return Splits(train=utts[:cut], test=utts[cut:])
        train = data.load_manifest(d.train_manifest, rate, d.max_seconds, skip_bad=d.skip_bad)
        test = (data.load_manifest(d.test_manifest, rate, d.max_seconds, skip_bad=d.skip_bad)
                if d.test_manifest else [])
        return Splits(train=train, test=test)

    def fit(self, pipeline, splits, run):
        return pipeline.fit(splits.train, splits.val, run_dir=run.path,
                            data_dir=self._data_dir)

    def export_sample(self, asr, splits):
        """Up to 8 test clips (training clips when there is no test split)."""
        clips = (splits.test or [])[:8] or splits.train[:8]
        return [u.audio for u in clips]

    def stream(self, config, run_dir, data_dir, input_path, chunk_ms=100.0):
        """Prints `<seconds fed>\t<partial transcript>` each time the
        transcript changes, then returns the final `{"text", "words"}` (each
        word with its start and end in seconds)."""
        from pipelines import training

        asr = self.load(training.RunDir(run_dir))
        if not os.path.isfile(input_path):
            raise FileNotFoundError(f"--input {input_path}: no such audio file (--stream "
                                    "takes one file).")
        last = None
        for update in asr.stream(input_path, chunk_ms=chunk_ms):
            if not update.final:
                print(f"{update.seconds:.2f}\t{update.text}", flush=True)
            last = update
        return {"text": last.text,
                "words": [{"word": w, "start": a, "end": b} for w, a, b in last.words]}

    def predict_lines(self, asr, input_path, skip_bad=False):
        """Transcribes an audio file, every audio file of a folder, or every
        file listed in a manifest: `path<TAB>transcript` lines (with
        `skip_bad`, also the files that could not be used, with the
        reason)."""
        if os.path.isdir(input_path):
            paths = sorted(os.path.join(input_path, n) for n in os.listdir(input_path)
                           if n.lower().endswith(data.AUDIO_SUFFIXES))
            if not paths:
                raise ValueError(f"No audio files ({', '.join(data.AUDIO_SUFFIXES)}) in "
                                 f"{input_path}.")
        elif input_path.endswith((".tsv", ".txt")):
            paths = [p for p, _ in data.read_manifest(input_path)]
        else:
            paths = [input_path]
        kept, audios, skipped = self.load_each(
            paths, lambda p: asr._load_inputs([p])[0], skip_bad)
        # The waveforms read are at the model's rate: transcribed as they are.
        texts = asr.transcribe(audios) if audios else []
        lines = [f"{p}\t{t}" for p, t in zip(kept, texts)]
        return (lines, skipped) if skip_bad else lines


TASK = SpeechTask()
load_splits, train, evaluate, export, predict, prepare = (
    TASK.load_splits, TASK.train, TASK.evaluate, TASK.export, TASK.predict, TASK.prepare)
