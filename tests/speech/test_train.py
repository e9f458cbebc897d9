"""`python -m speech.train` and `pipelines ... speech`, end to end (tiny)."""

import json
import os
import subprocess
import sys


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = os.path.join(ROOT, "speech", "configs", "tiny.yaml")


def _run(args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)


def test_train_then_predict(tmp_path, data_dir):
    run_dir = tmp_path / "run"
    result = _run(["-m", "speech.train", "--config", TINY, "--data-dir", data_dir,
                   "--run-dir", str(run_dir), "--set", "train.verbose=0"])
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout[result.stdout.index("{"):])
    assert summary["export"] == str(run_dir / "export")
    for name in ("config.yaml", "history.csv", "metrics.json", "model", "export", "checkpoints"):
        assert os.path.exists(run_dir / name), name
    metrics = json.load(open(run_dir / "metrics.json"))["test"]
    assert metrics["utterances"] == 8 and {"wer_beam", "cer_greedy"} <= set(metrics)

    wav = os.path.join(data_dir, "fsdd", "recordings", "5_lucas_2.wav")
    result = _run(["-m", "pipelines.cli", "predict", "speech", "--config", TINY,
                   "--run-dir", str(run_dir), "--input", wav])
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith(f"{wav}\t")


def test_missing_run_is_one_clear_error(tmp_path):
    result = _run(["-m", "pipelines.cli", "evaluate", "speech", "--config", TINY,
                   "--run-dir", str(tmp_path / "none")])
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: No trained model in {tmp_path / 'none'} (expected {tmp_path / 'none' / 'model'}); "
        "run `pipelines train speech` with this --run-dir first."
    )
