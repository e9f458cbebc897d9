"""Cross-domain screen of fine-tuning settings for the pretrained sentence
classifier: one network (or `--members`) per direction, amazon -> imdb and
imdb -> amazon, on `bench/sentiment.py`'s cross-domain splits, starting from
a finished pretraining (made first if `--pretrained-dir` has none). Faster
than the full bench (no model from scratch, no TF-IDF, no in-domain run),
for comparing `--set` settings one at a time; the full bench gives the
figures to report.

    PIPELINES_DATA_DIR=../shared/data python bench/sentiment_screen.py NAME [--set k=v ...]

Prints each direction's test accuracy and their mean, and appends a line to
bench/results/sentiment_screen.tsv.
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
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    overrides = args.overrides + [f"model.members={args.members}",
                                  f"pretrain.run_dir={os.path.abspath(args.pretrained_dir)}"]
    scores = {}
    for source, target in DIRECTIONS:
        cfg = load_config(args.config, overrides)
        split = cross_domain_split(cfg, source, target, args.data_dir)
        run_dir = os.path.join(args.run_root, args.name, f"{source}2{target}")
        shutil.rmtree(run_dir, ignore_errors=True)  # a screen starts fresh
        start = time.time()
        clf = SentenceClassifier(cfg).fit(split["train"], split["val"], run_dir=run_dir)
        scores[f"{source}->{target}"] = round(clf.evaluate(split["test"])["accuracy"], 4)
        print(args.name, source, "->", target, scores[f"{source}->{target}"],
              f"{time.time() - start:.0f} s, {len(clf.history)} epochs", flush=True)
    scores["mean"] = round(sum(scores.values()) / len(DIRECTIONS), 4)
    print("RESULT", args.name, json.dumps(scores), " ".join(args.overrides), flush=True)
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "sentiment_screen.tsv"), "a",
              encoding="utf-8") as f:
        f.write(f"{args.name}\t{json.dumps(scores)}\t{' '.join(args.overrides)}\t"
                f"members={args.members}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
