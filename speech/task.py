"""Speech's train/evaluate/export/predict: what the CLI and notebooks call."""

import os

from pipelines.data import Splits
from pipelines.task import Task
from speech import data
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

    def load_splits(self, config, data_dir=None):
        """`Splits` of `Utterance`s for the config (`val` None: the
        recogniser holds out its own `data.val_fraction` of `train`)."""
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
        train = data.load_manifest(d.train_manifest, rate, d.max_seconds, skip_bad=True)
        test = (data.load_manifest(d.test_manifest, rate, d.max_seconds, skip_bad=True)
                if d.test_manifest else [])
        return Splits(train=train, test=test)

    def export_sample(self, asr, splits):
        """Up to 8 test clips (training clips when there is no test split)."""
        clips = (splits.test or [])[:8] or splits.train[:8]
        return [u.audio for u in clips]

    def predict_lines(self, asr, input_path):
        """Transcribes an audio file, or every file listed in a manifest:
        `path<TAB>transcript` lines."""
        if input_path.endswith((".tsv", ".txt")):
            paths = [p for p, _ in data.read_manifest(input_path)]
        else:
            paths = [input_path]
        return [f"{p}\t{t}" for p, t in zip(paths, asr.transcribe(paths))]


TASK = SpeechTask()
load_splits, train, evaluate, export, predict = (
    TASK.load_splits, TASK.train, TASK.evaluate, TASK.export, TASK.predict)
