"""`python -m text.train` and `pipelines ... text` with a classification
config, end to end (tiny config, a few hundred sentences, two epochs)."""

import json
import os

from tests.harness import run_module as run
from tests.text.helpers import CONFIGS, train_tiny

TINY = os.path.join(CONFIGS, "sentiment_tiny.yaml")


def test_train_evaluate_predict(tmp_path, data_dir):
    run_dir, result = train_tiny(TINY, tmp_path, data_dir)
    metrics = json.load(open(run_dir / "metrics.json"))
    assert metrics["test"]["labels"] == ["negative", "positive"]
    assert {"accuracy", "macro_f1", "confusion_matrix"} <= set(metrics["test"])
    assert 0 <= metrics["baseline_tfidf"]["accuracy"] <= 1
    meta = json.load(open(run_dir / "export" / "metadata.json"))
    assert meta["pipeline"] == "classification" and meta["labels"] == ["negative", "positive"]
    # The skipped lines of the shared copy are logged, not silent.
    assert "malformed lines" in result.stderr

    sentences = tmp_path / "in.txt"
    sentences.write_text("Great phone, works perfectly.\n\nThe worst film I have seen.\n")
    result = run(["-m", "pipelines.cli", "predict", "text", "--config", TINY,
                  "--run-dir", str(run_dir), "--input", str(sentences)])
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.rstrip("\n").split("\n")
    assert len(lines) == 3 and lines[0].startswith("Great phone, works perfectly.\t")
    assert all(line.split("\t")[1] in ("negative", "positive") for line in lines)
    assert all(0.0 <= float(line.split("\t")[2]) <= 1.0 for line in lines)

    result = run(["-m", "pipelines.cli", "evaluate", "text", "--config", TINY,
                  "--data-dir", data_dir, "--run-dir", str(run_dir)])
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout)["test"] == metrics["test"]


def test_bad_tsv_is_one_clear_error(tmp_path):
    tsv = tmp_path / "labels.tsv"
    tsv.write_text("good movie\tpos\nbad movie\tneg\nno label on this line\n")
    result = run(["-m", "text.train", "--config", TINY, "--run-dir", str(tmp_path / "run"),
                  "--set", "data.dataset=tsv", "--set", f"data.path={tsv}",
                  "--set", "data.skip_bad=false"])
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {tsv}, line 3: expected 2 tab-separated columns (sentence, label), got 1: "
        "'no label on this line'. Pass skip_bad=True (config data.skip_bad: true) to skip "
        "such lines.")
    tsv.write_text("good movie\tpos\nfine movie\tpos\n")
    result = run(["-m", "text.train", "--config", TINY, "--run-dir", str(tmp_path / "run"),
                  "--set", "data.dataset=tsv", "--set", f"data.path={tsv}"])
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "error: A classifier needs at least two labels; the data has only 'pos' "
        "(2 sentences).")
