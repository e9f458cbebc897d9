"""Batch prediction of text exports on Beam: every line of the input files
translated (or classified) as `serve` answers it alone; an empty line and a
line that is not UTF-8 are error records naming the line."""

import numpy as np
import pytest

from tests import harness
from text.config import ClassificationConfig, TranslationConfig
from text.classification import SentenceClassifier
from text.task import TASK
from text.translation import Translator

pytest.importorskip("apache_beam")

SPA = ["cero", "uno", "dos", "tres", "cuatro"]
ENG = ["Zero", "One", "Two", "Three", "Four"]
TRAIN = {"epochs": 1, "batch_size": 16, "patience": 0, "tensorboard": False, "verbose": 0}


def _pairs(n, seed):
    rng = np.random.default_rng(seed)
    idx = [rng.integers(0, 5, rng.integers(1, 4)) for _ in range(n)]
    return [(" ".join(SPA[i] for i in k), " ".join(ENG[i] for i in k) + ".") for k in idx]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Two text files: 6 sentences of varying length, an empty line, a line
    of spaces and a Latin-1 line."""
    folder = tmp_path_factory.mktemp("sentences")
    (folder / "a.txt").write_text("uno dos\n\ntres\ncuatro uno dos tres cero uno\n",
                                  encoding="utf-8")
    (folder / "b.txt").write_bytes("dos dos\n   \nbueno café\n".encode("latin-1")
                                   + "cero\ntres uno\n".encode("utf-8"))
    return folder


ERRORS = {"a.txt:2": "a.txt:2: an empty sentence", "b.txt:2": "b.txt:2: an empty sentence",
          "b.txt:3": r"b.txt:3: not UTF-8 text \(byte 0xe9 at column 10\)"}


def _errors(folder):
    return {str(folder / name): reason for name, reason in ERRORS.items()}


def test_translation_export_on_beam(inputs, tmp_path):
    config = TranslationConfig.from_dict({
        "tokenizer": {"source_vocab": 280, "target_vocab": 280},
        "model": {"embedding_dim": 8, "units": 16, "encoder_layers": 1, "beam_width": 2},
        "train": TRAIN})
    tr = Translator(config).fit(_pairs(64, 0), _pairs(8, 1), run_dir=str(tmp_path / "run"))
    export = tr.export(tmp_path / "export")
    summary, results = harness.run_batch_test(TASK, export, str(inputs / "*.txt"),
                                              _errors(inputs), tmp_path, batch_size=3)
    assert summary["inputs"] == 9 and summary["bucketing"]
    record = results[f"{inputs / 'a.txt'}:4"]
    assert record["sentence"] == "cuatro uno dos tres cero uno"
    assert record["translation"] == tr.translate([record["sentence"]])[0]


def test_classification_export_on_beam(inputs, tmp_path):
    config = ClassificationConfig.from_dict({
        "tokenizer": {"vocab_size": 280},
        "model": {"embedding_dim": 8, "units": 8, "members": 1},
        "train": TRAIN})
    train = [(s, "long" if len(s.split()) > 1 else "short") for s, _ in _pairs(64, 0)]
    clf = SentenceClassifier(config)
    clf.fit(train, train[:8], run_dir=str(tmp_path / "run"))
    export = clf.export(tmp_path / "export")
    _, results = harness.run_batch_test(TASK, export, str(inputs), _errors(inputs), tmp_path)
    record = results[f"{inputs / 'b.txt'}:5"]
    assert sorted(record) == ["input", "label", "probabilities", "sentence"]
    assert sorted(record["probabilities"]) == ["long", "short"]
    assert record["label"] == max(record["probabilities"], key=record["probabilities"].get)
    assert sum(record["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
