"""`python -m speech.train` and `pipelines ... speech`, end to end (tiny)."""

import json
import os
from tests import harness
from tests.harness import run_module as run


ROOT = harness.ROOT
TINY = os.path.join(ROOT, "speech", "configs", "tiny.yaml")


def test_train_then_predict(tmp_path, data_dir):
    run_dir = tmp_path / "run"
    result = run(["-m", "speech.train", "--config", TINY, "--data-dir", data_dir,
                  "--run-dir", str(run_dir), "--set", "train.verbose=0"])
    harness.assert_trained_run(result, run_dir)
    metrics = json.load(open(run_dir / "metrics.json"))["test"]
    assert metrics["utterances"] == 8 and {"wer_beam", "cer_greedy"} <= set(metrics)

    wav = os.path.join(data_dir, "fsdd", "recordings", "5_lucas_2.wav")
    # No --config: the run's own config.yaml (what it was trained with).
    result = run(["-m", "pipelines.cli", "predict", "speech",
                  "--run-dir", str(run_dir), "--input", wav])
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith(f"{wav}\t")

    # A folder with one bad file: one clear error naming it; with --skip-bad
    # the rest is transcribed, the bad one reported, and the status says so.
    folder = tmp_path / "clips"
    folder.mkdir()
    (folder / "a.wav").write_bytes(open(wav, "rb").read())
    (folder / "broken.wav").write_bytes(b"RIFF not really audio")
    common = ["-m", "pipelines.cli", "predict", "speech", "--run-dir", str(run_dir),
              "--input", str(folder)]
    result = run(common)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(
        f"error: Cannot read audio file {folder / 'broken.wav'}")
    result = run(common + ["--skip-bad"])
    assert result.returncode == 3, result.stderr[-3000:]
    assert result.stdout.startswith(f"{folder / 'a.wav'}\t")
    assert "Skipped 1 input(s) that could not be used: " + str(folder / "broken.wav") \
        in result.stderr
    summary = json.loads(result.stdout[result.stdout.index("{"):])
    assert [s["input"] for s in summary["skipped"]] == [str(folder / "broken.wav")]
    assert run(common + ["--skip-bad", "--allow-skipped"]).returncode == 0


def test_missing_run_is_one_clear_error(tmp_path):
    result = run(["-m", "pipelines.cli", "evaluate", "speech", "--config", TINY,
                  "--run-dir", str(tmp_path / "none")])
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: No trained model in {tmp_path / 'none'} (expected {tmp_path / 'none' / 'model'}); "
        "run `pipelines train speech` with this --run-dir first."
    )
