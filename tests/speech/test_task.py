"""`speech.task`: the `Task` the CLI runs (splits, export sample, predict lines)."""

import os

import numpy as np
import soundfile

from pipelines import registry
from pipelines.data import Splits
from speech import task
from speech.config import SpeechConfig
from speech.pipeline import SpeechRecognizer


def _tone(path, seconds=0.5, sample_rate=8000):
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    soundfile.write(path, (0.3 * np.sin(2 * np.pi * 440 * t)).astype("float32"), sample_rate)
    return os.fspath(path)


def test_registered_task():
    assert registry.get_task("speech") is task.TASK
    assert task.TASK.pipeline_class is SpeechRecognizer and task.TASK.predictions_key == "transcripts"
    assert task.TASK.config_class is SpeechConfig and os.path.isfile(task.TASK.default_config)
    assert task.load_splits == task.TASK.load_splits and task.predict == task.TASK.predict


def test_manifest_splits_and_export_sample(tmp_path):
    a, b = _tone(tmp_path / "a.wav"), _tone(tmp_path / "b.wav", 0.25)
    manifest = tmp_path / "train.tsv"
    manifest.write_text(f"path\ttranscript\n{a}\tOne\n{b}\tTwo 2\n", encoding="utf-8")
    cfg = SpeechConfig.from_dict({}, ["data.dataset=manifest",
                                      f"data.train_manifest={manifest}"])
    splits = task.load_splits(cfg)
    assert isinstance(splits, Splits) and splits.val is None and splits.test == []
    assert [u.text for u in splits.train] == ["one", "two two"]
    # No test split: the export is verified on training clips.
    sample = task.TASK.export_sample(None, splits)
    assert [len(s) for s in sample] == [4000, 2000]
    assert task.TASK.score(None, splits) == {}


def test_predict_lines(tmp_path):
    a, b = _tone(tmp_path / "a.wav"), _tone(tmp_path / "b.wav")
    manifest = tmp_path / "list.tsv"
    manifest.write_text("path\ttranscript\na.wav\tx\nb.wav\ty\n", encoding="utf-8")

    class Fake:
        # Reads an input as its path; transcribes what it read.
        def _load_inputs(self, items):
            return list(items)

        def transcribe(self, paths):
            return [f"text of {os.path.basename(p)}" for p in paths]

    assert task.TASK.predict_lines(Fake(), a) == [f"{a}\ttext of a.wav"]
    assert task.TASK.predict_lines(Fake(), str(manifest)) == [
        f"{a}\ttext of a.wav", f"{b}\ttext of b.wav"]
