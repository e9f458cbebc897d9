"""`python -m text.train` and `pipelines ... text`, end to end (tiny)."""

import json
import os

from tests.harness import run_module as run
from tests.text.helpers import CONFIGS, train_tiny
from text.config import load_config
from text.task import load_splits

TINY = os.path.join(CONFIGS, "tiny.yaml")


def test_train_then_predict(tmp_path, data_dir):
    run_dir, _ = train_tiny(TINY, tmp_path, data_dir)
    metrics = json.load(open(run_dir / "metrics.json"))["test"]
    # Scored on the whole leak-free test split of the 400 pairs (groups of
    # pairs sharing a sentence stay together, so not exactly 5%).
    splits = load_splits(load_config(TINY), data_dir)
    assert metrics["sentences"] == len(splits["test"]) > 0
    assert {"bleu_beam", "chrf_greedy"} <= set(metrics)

    sentences = tmp_path / "in.txt"
    sentences.write_text("Hola.\n\n¿Dónde está?\n", encoding="utf-8")
    result = run(["-m", "pipelines.cli", "predict", "text", "--config", TINY,
                  "--run-dir", str(run_dir), "--input", str(sentences)])
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.rstrip("\n").split("\n")
    assert len(lines) == 3 and lines[0].startswith("Hola.\t") and lines[1] == "\t"

    # A Latin-1 file: one line naming the file, the line and the byte; an
    # empty file: an error, not exit 0 and an empty line.
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("Hola.\n¿Dónde está?\n".encode("latin-1"))
    result = run(["-m", "pipelines.cli", "predict", "text", "--run-dir", str(run_dir),
                  "--input", str(latin1)])
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {latin1}, line 2: not UTF-8 text (byte 0xbf at column 1); convert the file "
        "to UTF-8 (for example: iconv -f latin1 -t utf-8)."]
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    result = run(["-m", "pipelines.cli", "predict", "text", "--run-dir", str(run_dir),
                  "--input", str(empty)])
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {empty}: nothing to predict (no input in the file)."]


def test_config_errors_are_one_line(tmp_path):
    result = run(["-m", "pipelines.cli", "train", "text", "--config", TINY,
                  "--run-dir", str(tmp_path), "--set", "model.cell_type=rnn"])
    assert result.returncode == 2
    # A bad --set is reported against the override (pipelines.cli since 5c3c13a).
    assert result.stderr.strip().splitlines()[-1] == (
        "error: --set model.cell_type=rnn: Config field 'model.cell_type' must be 'gru' or "
        "'lstm'; got 'rnn'.")
