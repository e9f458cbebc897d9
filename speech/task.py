"""Speech's train/evaluate/export/predict: what the CLI and notebooks call."""

import logging
import os

from pipelines import training
from speech import data
from speech.config import SpeechConfig
from speech.pipeline import SpeechRecognizer

NAME = "speech"
Config = SpeechConfig
DEFAULT_CONFIG = os.path.join(os.path.dirname(__file__), "configs", "fsdd.yaml")

log = logging.getLogger(__name__)


def load_splits(config, data_dir=None):
    """Returns {"train": [...], "test": [...]} Utterances for the config."""
    d, rate = config.data, config.features.sample_rate
    if d.dataset == "fsdd_sequences":
        return data.fsdd_sequences(data_dir, train_count=d.train_count,
                                   test_count=d.test_count, seed=d.seed, sample_rate=rate)
    if d.dataset == "fsdd_digits":
        return data.fsdd_digits(data_dir, sample_rate=rate)
    if d.dataset == "ljspeech":
        utts = data.ljspeech(data_dir, sample_rate=rate)
        cut = int(len(utts) * 0.9)
        return {"train": utts[:cut], "test": utts[cut:]}
    train = data.load_manifest(d.train_manifest, rate, d.max_seconds, skip_bad=True)
    test = (data.load_manifest(d.test_manifest, rate, d.max_seconds, skip_bad=True)
            if d.test_manifest else [])
    return {"train": train, "test": test}


def _export(asr, split, path):
    sample = [u.audio for u in split["test"][:8]] or [u.audio for u in split["train"][:8]]
    return asr.export(path, sample=sample)


def train(config, run_dir, data_dir=None):
    """Trains, evaluates (WER/CER greedy and beam) and exports."""
    run = training.RunDir(run_dir)
    split = load_splits(config, data_dir)
    asr = SpeechRecognizer(config).fit(split["train"], run_dir=run.path)
    asr.save(run.model)
    metrics = run.write_metrics({"test": asr.evaluate(split["test"])} if split["test"] else {})
    _export(asr, split, run.export)
    return {"run_dir": run.path, "model": run.model, "export": run.export,
            "history": run.history, "metrics_file": run.metrics,
            "test": metrics.get("test")}


def _load(run):
    return SpeechRecognizer.load(run.trained_model("speech"))


def evaluate(config, run_dir, data_dir=None):
    run = training.RunDir(run_dir)
    asr = _load(run)
    split = load_splits(asr.config, data_dir)
    return run.write_metrics({"test": asr.evaluate(split["test"])})


def export(config, run_dir, data_dir=None, export_dir=None):
    run = training.RunDir(run_dir)
    asr = _load(run)
    return {"export": _export(asr, load_splits(asr.config, data_dir), export_dir or run.export)}


def predict(config, run_dir, data_dir, input_path, output_path=None):
    """Transcribes an audio file, or every file listed in a manifest."""
    run = training.RunDir(run_dir)
    asr = _load(run)
    if input_path.endswith((".tsv", ".txt")):
        paths = [p for p, _ in data.read_manifest(input_path)]
    else:
        paths = [input_path]
    texts = asr.transcribe(paths)
    lines = [f"{p}\t{t}" for p, t in zip(paths, texts)]
    return training.write_predictions(lines, output_path, "transcripts")
