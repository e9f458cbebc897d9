"""Batch prediction of a speech export on Beam: WAV files transcribed as
`serve` transcribes each alone, batched by length (less padding than in
arrival order); a file that is not audio and a clip shorter than one
analysis window (refused by `serve` itself) are error records."""

import json
import os

import numpy as np
import pytest
import soundfile

from speech import data
from speech.config import SpeechConfig
from speech.pipeline import SpeechRecognizer
from speech.task import TASK
from tests import harness

pytest.importorskip("apache_beam")

TINY = os.path.join(harness.ROOT, "speech", "configs", "tiny.yaml")


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    data_dir = os.environ["PIPELINES_DATA_DIR"]
    if not os.path.isdir(data_dir):
        pytest.skip("no data directory")
    folder = tmp_path_factory.mktemp("speech")
    splits = data.fsdd_sequences(data_dir, train_count=16, test_count=8, seed=1)
    config = SpeechConfig.from_yaml(TINY, ["train.verbose=0", "model.beam_width=2"])
    asr = SpeechRecognizer(config)
    asr.fit(splits["train"], run_dir=folder / "run")
    export = asr.export(folder / "export")
    rate = json.load(open(os.path.join(export, "metadata.json")))["sample_rate"]
    inputs = folder / "clips"
    inputs.mkdir()
    for i, u in enumerate(splits["test"]):
        soundfile.write(inputs / f"u{i}.wav", u.audio, rate)
    (inputs / "broken.wav").write_bytes(b"RIFF, but not a WAV file")
    noise = np.random.default_rng(0).uniform(-0.5, 0.5, 50).astype("float32")
    soundfile.write(inputs / "short.wav", noise, rate)
    return export, inputs, asr


def test_speech_export_on_beam(clips, tmp_path):
    export, inputs, asr = clips
    errors = {str(inputs / "broken.wav"): r"Cannot read audio file .*broken.wav: ",
              str(inputs / "short.wav"): r"^a clip is shorter than one analysis window "
                                         r"\(\d+ samples at \d+ Hz\)$"}
    summary, results = harness.run_batch_test(TASK, export, str(inputs / "*.wav"), errors,
                                              tmp_path, batch_size=3)
    assert summary["inputs"] == 10 and summary["bucketing"]
    path = str(inputs / "u3.wav")
    assert results[path]["text"] == asr.transcribe([path])[0]
    plain, _ = harness.run_batch_test(TASK, export, str(inputs / "*.wav"), errors,
                                      tmp_path / "plain", batch_size=3, bucketing=False)
    assert not plain["bucketing"]
    assert summary["padding_share"] < plain["padding_share"]
