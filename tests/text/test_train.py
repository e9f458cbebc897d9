"""`python -m text.train` and `pipelines ... text`, end to end (tiny)."""

import json
import os
import subprocess
import sys

from text.config import load_config
from text.task import load_splits

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = os.path.join(ROOT, "text", "configs", "tiny.yaml")


def _run(args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)


def test_train_then_predict(tmp_path, data_dir):
    run_dir = tmp_path / "run"
    result = _run(["-m", "text.train", "--config", TINY, "--data-dir", data_dir,
                   "--run-dir", str(run_dir), "--set", "train.verbose=0"])
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout[result.stdout.index("{"):])
    assert summary["export"] == str(run_dir / "export")
    for name in ("config.yaml", "history.csv", "metrics.json", "model", "export", "checkpoints"):
        assert os.path.exists(run_dir / name), name
    metrics = json.load(open(run_dir / "metrics.json"))["test"]
    # Scored on the whole leak-free test split of the 400 pairs (groups of
    # pairs sharing a sentence stay together, so not exactly 5%).
    splits = load_splits(load_config(TINY), data_dir)
    assert metrics["sentences"] == len(splits["test"]) > 0
    assert {"bleu_beam", "chrf_greedy"} <= set(metrics)

    sentences = tmp_path / "in.txt"
    sentences.write_text("Hola.\n\n¿Dónde está?\n", encoding="utf-8")
    result = _run(["-m", "pipelines.cli", "predict", "text", "--config", TINY,
                   "--run-dir", str(run_dir), "--input", str(sentences)])
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.rstrip("\n").split("\n")
    assert len(lines) == 3 and lines[0].startswith("Hola.\t") and lines[1] == "\t"


def test_config_errors_are_one_line(tmp_path):
    result = _run(["-m", "pipelines.cli", "train", "text", "--config", TINY,
                   "--run-dir", str(tmp_path), "--set", "model.cell_type=rnn"])
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {TINY}: Config field 'model.cell_type' must be 'gru' or 'lstm'; got 'rnn'.")
