"""UCI sentiment-sentence benchmark for recurrent sentence classification.

Trains the default config (text/configs/sentiment.yaml: amazon + imdb
sentences, a seeded split stratified by label) and, on the same split,
scikit-learn's TF-IDF + logistic regression (C chosen on the validation
split). Prints, on the test split: accuracy and macro F1 of both, training
time, whether the exported SavedModel's labels equal the in-memory
pipeline's on every test sentence, and the export's throughput on CPU
(sentences per second at batch 1 and batch 64).

    PIPELINES_DATA_DIR=../shared/data python bench/sentiment.py [--set k=v ...]

Writes bench/results/sentiment.{json,md}.
"""

import argparse
import json
import logging
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_text  # noqa: E402,F401 - the export's ops

from text.classification import task  # noqa: E402
from text.classification import SentenceClassifier, tfidf_baseline  # noqa: E402
from text.config import load_config  # noqa: E402
from report import write_results  # noqa: E402  (bench/ is on the path)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def throughput(serve, sentences, batch, repeats=1):
    """Sentences per second through `serve` (after one warm-up call)."""
    serve(text=tf.constant(sentences[:batch]))
    count, seconds = 0, 0.0
    for _ in range(repeats):
        for start in range(0, len(sentences), batch):
            chunk = tf.constant(sentences[start:start + batch])
            t0 = time.perf_counter()
            serve(text=chunk)["label"].numpy()
            seconds += time.perf_counter() - t0
            count += int(chunk.shape[0])
    return count / seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=os.path.join(ROOT, "text", "configs",
                                                         "sentiment.yaml"))
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--run-dir", default=os.path.join(ROOT, "runs", "bench", "sentiment"))
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    cfg = load_config(args.config, args.overrides)
    split = task.load_splits(cfg, args.data_dir)
    print({k: len(v) for k, v in split.items()}, flush=True)
    start = time.time()
    clf = SentenceClassifier(cfg).fit(split["train"], split["val"], run_dir=args.run_dir)
    train_s = time.time() - start
    ours = clf.evaluate(split["test"])
    start = time.time()
    baseline = tfidf_baseline(split["train"], split["test"], split["val"], seed=cfg.train.seed)
    baseline_s = time.time() - start
    print(json.dumps({"recurrent": ours, "tfidf": baseline}, indent=2), flush=True)

    sentences = [s for s, _ in split["test"]]
    export_dir = clf.export(os.path.join(args.run_dir, "export"), sample=sentences[:8] + [""])
    loaded = tf.saved_model.load(export_dir)
    in_memory = clf.predict(sentences, batch_size=64)
    exported, probs = [], []
    for start_i in range(0, len(sentences), 64):
        out = loaded.serve(text=tf.constant(sentences[start_i:start_i + 64]))
        exported += [s.decode("utf-8") for s in out["label"].numpy()]
        probs.append(out["probabilities"].numpy())
    agree = exported == in_memory.labels
    max_diff = float(np.max(np.abs(np.concatenate(probs) - in_memory.probabilities)))
    rate1 = throughput(loaded.serve, sentences[:200], 1)
    rate64 = throughput(loaded.serve, sentences, 64, repeats=3)

    row = {
        "recurrent_accuracy": ours["accuracy"], "recurrent_macro_f1": ours["macro_f1"],
        "tfidf_accuracy": baseline["accuracy"], "tfidf_macro_f1": baseline["macro_f1"],
        "tfidf_C": baseline["C"], "confusion_matrix": ours["confusion_matrix"],
        "labels": ours["labels"], "train_seconds": train_s, "tfidf_seconds": baseline_s,
        "epochs": len(clf.history), "members": cfg.model.members,
        "split": {k: len(v) for k, v in split.items()},
        "export_equals_in_memory": agree, "export_max_probability_difference": max_diff,
        "export_sentences_per_second_batch1": rate1,
        "export_sentences_per_second_batch64": rate64,
    }
    n = len(sentences)
    table = "\n".join([
        f"| model ({n} test sentences) | accuracy | macro F1 | training |",
        "|---|---|---|---|",
        f"| recurrent (BiGRU, {cfg.model.pooling} pooling, {cfg.model.members} member"
        f"{'s' if cfg.model.members > 1 else ''}) | {ours['accuracy']:.4f} | "
        f"{ours['macro_f1']:.4f} | {train_s / 60:.1f} min ({len(clf.history)} epochs in all) |",
        f"| TF-IDF 1-2 grams + logistic regression (C={baseline['C']:g}) | "
        f"{baseline['accuracy']:.4f} | {baseline['macro_f1']:.4f} | {baseline_s:.1f} s |",
        "",
        f"export labels == in-memory labels on all {n} test sentences: "
        f"{'yes' if agree else 'NO'} (max probability difference {max_diff:.1e}); "
        f"exported throughput on CPU {rate1:.0f} sentences/s (batch 1), "
        f"{rate64:.0f} sentences/s (batch 64)",
    ])
    write_results("sentiment", row, table)
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
