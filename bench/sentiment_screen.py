"""Cross-domain screen of fine-tuning settings for the pretrained sentence
classifier: one network (or `--members`) per direction, amazon -> imdb and
imdb -> amazon, on `bench/sentiment.py`'s cross-domain splits, starting from
a finished pretraining (made first if `--pretrained-dir` has none). Faster
than the full bench (no model from scratch, no TF-IDF, no in-domain run),
for comparing `--set` settings one at a time; the full bench gives the
figures to report.

    PIPELINES_DATA_DIR=../shared/data python bench/sentiment_screen.py NAME [--set k=v ...]

Prints each direction's test accuracy and their mean, and appends a line to
bench/results/sentiment_screen.tsv. `--ngram-weights 0 0.5 0.7` fits once
and scores the same classifiers at each `model.ngram_weight` (0: the
network alone), a line each.
"""

import argparse
import json
import logging
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from text.classification import SentenceClassifier  # noqa: E402
from text.config import load_config  # noqa: E402
from sentiment import DIRECTIONS, cross_domain_split  # noqa: E402  (bench/ is on the path)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("name", help="the screen's name (its run folder and result line)")
    parser.add_argument("--config", default=os.path.join(ROOT, "text", "configs",
                                                         "sentiment_pretrained.yaml"))
    parser.add_argument("--pretrained-dir", default=os.path.join(ROOT, "runs", "text",
                                                                 "pretrained_english"))
    parser.add_argument("--run-root", default=os.path.join(ROOT, "runs", "bench",
                                                           "sentiment_screen"))
    parser.add_argument("--members", type=int, default=1)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--ngram-weights", type=float, nargs="+", default=None,
                        help="score the same fitted classifiers at each of these "
                             "model.ngram_weight values (0: the network alone); one result "
                             "line each")
    args = parser.parse_args(argv)
    if args.ngram_weights and not all(0 <= w < 1 for w in args.ngram_weights):
        parser.error(f"--ngram-weights must be in [0, 1); got {args.ngram_weights}")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    overrides = args.overrides + [f"model.members={args.members}",
                                  f"pretrain.run_dir={os.path.abspath(args.pretrained_dir)}"]
    if args.ngram_weights:
        # Fitted once with the n-gram model; scored at each weight below.
        overrides.append("model.ngram_weight=0.5")
    weights = args.ngram_weights or [None]
    per_weight = {w: {} for w in weights}
    for source, target in DIRECTIONS:
        cfg = load_config(args.config, overrides)
        split = cross_domain_split(cfg, source, target, args.data_dir)
        run_dir = os.path.join(args.run_root, args.name, f"{source}2{target}")
        shutil.rmtree(run_dir, ignore_errors=True)  # a screen starts fresh
        start = time.time()
        clf = SentenceClassifier(cfg).fit(split["train"], split["val"], run_dir=run_dir)
        seconds = time.time() - start
        for w in weights:
            if w is not None:
                clf.set_ngram_weight(w)  # the same networks and n-grams
            accuracy = round(clf.evaluate(split["test"])["accuracy"], 4)
            per_weight[w][f"{source}->{target}"] = accuracy
            print(args.name, source, "->", target, accuracy,
                  "" if w is None else f"(ngram_weight {w:g})",
                  f"{seconds:.0f} s, {len(clf.history)} epochs", flush=True)
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    for w, scores in per_weight.items():
        scores["mean"] = round(sum(scores.values()) / len(DIRECTIONS), 4)
        name = args.name if w is None else f"{args.name}@ngram_weight={w:g}"
        print("RESULT", name, json.dumps(scores), " ".join(args.overrides), flush=True)
        with open(os.path.join(HERE, "results", "sentiment_screen.tsv"), "a",
                  encoding="utf-8") as f:
            f.write(f"{name}\t{json.dumps(scores)}\t{' '.join(args.overrides)}\t"
                    f"members={args.members}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
