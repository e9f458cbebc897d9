"""UCI sentiment-sentence benchmark for recurrent sentence classification,
in its own domain and across domains.

In domain (today's split of amazon + imdb sentences, seeded and stratified
by label): the default config (text/configs/sentiment.yaml, trained from
scratch), the pretrained config (text/configs/sentiment_pretrained.yaml: the
encoder pretrained as a language model on unlabeled English, then
fine-tuned) and scikit-learn's TF-IDF + logistic regression (C chosen on the
validation split), all on the same split.

Across domains (`--cross-domain`, on by default): trained on one review
source (its sentences split 90/10 into train and validation, seeded and
stratified) and tested on every sentence of the other source that the first
does not hold, amazon -> imdb and imdb -> amazon, for the same three models.

Prints accuracy and macro F1 of each, training times (the pretraining, run
once into the pretrained config's `pretrain.run_dir` and reused by every
fine-tuning, separately), and whether the exported pretrained classifier's
labels equal the in-memory ones on every in-domain test sentence, with the
export's throughput on CPU (sentences per second at batch 1 and 64).

    PIPELINES_DATA_DIR=../shared/data python bench/sentiment.py [--set k=v ...]

`--set` changes both configs, `--pretrained-set` only the pretrained one;
`--no-in-domain` runs only the cross-domain part (e.g. to compare
fine-tuning settings with `--set model.members=1 --pretrained-set ...`).
Writes bench/results/sentiment.{json,md} (sentiment_cross_domain.* with
`--no-in-domain`).
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

from text.classification import data, task  # noqa: E402
from text.classification import SentenceClassifier, tfidf_baseline  # noqa: E402
from text.classification import pretrain as pretrain_lib  # noqa: E402
from text.config import load_config  # noqa: E402
from report import write_results  # noqa: E402  (bench/ is on the path)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DIRECTIONS = (("amazon", "imdb"), ("imdb", "amazon"))


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


def cross_domain_split(cfg, source, target, data_dir):
    """Train/val from `source` (90/10, stratified, seeded), test: the
    `target` sentences that `source` does not hold."""
    d = cfg.data
    own = data.split_labelled(data.sentiment([source], data_dir, skip_bad=d.skip_bad),
                              val_fraction=d.val_fraction, test_fraction=0.0, seed=d.seed)
    seen = {s.strip() for s, _ in own.train + own.val}
    other = data.split_labelled(data.sentiment([target], data_dir, skip_bad=d.skip_bad),
                                val_fraction=0.0, test_fraction=0.0, seed=d.seed).train
    return {"train": own.train, "val": own.val,
            "test": [(s, y) for s, y in other if s.strip() not in seen]}


def run_models(configs, split, run_dir, seed):
    """Each config trained on `split` and scored on its test part, and the
    TF-IDF baseline; returns `(rows, classifiers)`."""
    rows, fitted = {}, {}
    for key, cfg in configs.items():
        start = time.time()
        clf = SentenceClassifier(cfg).fit(split["train"], split["val"],
                                          run_dir=os.path.join(run_dir, key))
        score = clf.evaluate(split["test"])
        rows[key] = {"accuracy": score["accuracy"], "macro_f1": score["macro_f1"],
                     "seconds": time.time() - start, "epochs": len(clf.history)}
        fitted[key] = clf
        print(key, json.dumps(rows[key]), flush=True)
        if clf.ngrams is not None:
            # The same classifier without its n-gram part: what the network
            # alone answers.
            weight = clf.config.model.ngram_weight
            score = clf.set_ngram_weight(0).evaluate(split["test"])
            rows[key + "_network"] = {"accuracy": score["accuracy"],
                                      "macro_f1": score["macro_f1"]}
            clf.set_ngram_weight(weight)
            print(key + "_network", json.dumps(rows[key + "_network"]), flush=True)
    start = time.time()
    base = tfidf_baseline(split["train"], split["test"], split["val"], seed=seed)
    rows["tfidf"] = {"accuracy": base["accuracy"], "macro_f1": base["macro_f1"],
                     "C": base["C"], "seconds": time.time() - start}
    print("tfidf", json.dumps(rows["tfidf"]), flush=True)
    return rows, fitted


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=os.path.join(ROOT, "text", "configs",
                                                         "sentiment.yaml"))
    parser.add_argument("--pretrained-config", default=os.path.join(
        ROOT, "text", "configs", "sentiment_pretrained.yaml"))
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--run-dir", default=os.path.join(ROOT, "runs", "bench", "sentiment"))
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--pretrained-set", dest="pretrained_overrides", action="append",
                        default=[])
    parser.add_argument("--no-cross-domain", dest="cross_domain", action="store_false")
    parser.add_argument("--no-in-domain", dest="in_domain", action="store_false",
                        help="only the cross-domain runs (no in-domain runs, no export check)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    configs = {"scratch": load_config(args.config, args.overrides),
               "pretrained": load_config(args.pretrained_config,
                                         args.overrides + args.pretrained_overrides)}
    pre_cfg = configs["pretrained"]
    pre_dir = pre_cfg.pretrain.run_dir or os.path.join(args.run_dir, "pretrain")
    # One pretraining for every fine-tuning below (timed on its own).
    pre_cfg.pretrain.run_dir = os.path.abspath(pre_dir)
    finished = os.path.exists(os.path.join(pre_cfg.pretrain.run_dir,
                                           pretrain_lib.PRETRAINED_FILE))
    start = time.time()
    pretrained = pretrain_lib.pretrain(pre_cfg, pre_cfg.pretrain.run_dir, args.data_dir)
    pretrain_row = {"run_dir": pre_cfg.pretrain.run_dir, "reused": finished,
                    "seconds_now": time.time() - start, **pretrained.info}
    print("pretraining", pretrain_lib.describe(pretrained.info), flush=True)

    seed = configs["scratch"].train.seed
    split = task.load_splits(configs["scratch"], args.data_dir)
    sizes = {k: len(v) for k, v in split.items()}
    in_domain, agree, max_diff, rate1, rate64 = {}, None, None, None, None
    if args.in_domain:
        print("in domain", sizes, flush=True)
        in_domain, fitted = run_models(configs, split, os.path.join(args.run_dir, "in_domain"),
                                       seed)
        clf = fitted["pretrained"]
        sentences = [s for s, _ in split["test"]]
        export_dir = clf.export(os.path.join(args.run_dir, "export"),
                                sample=sentences[:8] + [""])
        loaded = tf.saved_model.load(export_dir)
        in_memory = clf.predict(sentences, batch_size=64)
        exported, probs = [], []
        for at in range(0, len(sentences), 64):
            out = loaded.serve(text=tf.constant(sentences[at:at + 64]))
            exported += [s.decode("utf-8") for s in out["label"].numpy()]
            probs.append(out["probabilities"].numpy())
        agree = exported == in_memory.labels
        max_diff = float(np.max(np.abs(np.concatenate(probs) - in_memory.probabilities)))
        rate1 = throughput(loaded.serve, sentences[:200], 1)
        rate64 = throughput(loaded.serve, sentences, 64, repeats=3)

    cross = {}
    if args.cross_domain:
        for source, target in DIRECTIONS:
            name = f"{source}->{target}"
            part = cross_domain_split(configs["scratch"], source, target, args.data_dir)
            print(name, {k: len(v) for k, v in part.items()}, flush=True)
            rows, _ = run_models(configs, part, os.path.join(args.run_dir, name), seed)
            cross[name] = {"split": {k: len(v) for k, v in part.items()}, **rows}

    row = {"in_domain": in_domain, "split": sizes, "cross_domain": cross,
           "pretraining": pretrain_row, "export_equals_in_memory": agree,
           "export_max_probability_difference": max_diff,
           "export_sentences_per_second_batch1": rate1,
           "export_sentences_per_second_batch64": rate64}
    names = {"scratch": f"recurrent from scratch ({configs['scratch'].model.members} members)",
             "pretrained": f"recurrent, pretrained + fine-tuned "
                           f"({pre_cfg.model.members} members)",
             "tfidf": "TF-IDF 1-2 grams + logistic regression"}
    weight = pre_cfg.model.ngram_weight
    if weight:
        names["pretrained"] = (f"recurrent, pretrained + fine-tuned ({pre_cfg.model.members} "
                               f"members) + n-grams (weight {weight:g})")
        names["pretrained_network"] = "  its network alone (no n-grams)"
    keys = [k for k in ("scratch", "pretrained", "pretrained_network", "tfidf")
            if k in names]
    header = ["model"] + ([f"in domain ({sizes['test']} test)"] if in_domain else [])
    if cross:
        header += [f"{k} ({v['split']['test']} test)" for k, v in cross.items()]
        header += ["cross-domain mean"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for key in keys:
        cells = [names[key]] + ([f"{in_domain[key]['accuracy']:.4f}"] if in_domain else [])
        if cross:
            accs = [v[key]["accuracy"] for v in cross.values()]
            cells += [f"{a:.4f}" for a in accs] + [f"{np.mean(accs):.4f}"]
        lines.append("| " + " | ".join(cells) + " |")
    if cross:
        row["cross_domain_mean"] = {key: float(np.mean([v[key]["accuracy"]
                                                        for v in cross.values()]))
                                    for key in keys}
    lines += [
        "",
        f"accuracy; pretraining: {pretrained.info['sentences']} sentences, "
        f"{pretrained.info['epochs']} epochs, validation perplexity "
        f"{pretrained.info['val_perplexity']:.1f}, {pretrained.info['seconds'] / 60:.1f} min"
        f"{' (reused)' if finished else ''}"]
    if in_domain:
        lines[-1] += (f"; fine-tuning in domain {in_domain['pretrained']['seconds'] / 60:.1f} "
                      f"min (adaptation included), from scratch "
                      f"{in_domain['scratch']['seconds'] / 60:.1f} min")
        lines.append(
            f"export labels == in-memory labels on all {sizes['test']} in-domain test "
            f"sentences: {'yes' if agree else 'NO'} (max probability difference "
            f"{max_diff:.1e}); exported throughput on CPU {rate1:.0f} sentences/s (batch 1), "
            f"{rate64:.0f} sentences/s (batch 64)")
    write_results("sentiment" if in_domain else "sentiment_cross_domain", row,
                  "\n".join(lines))
    return 0 if agree in (True, None) else 1


if __name__ == "__main__":
    sys.exit(main())
