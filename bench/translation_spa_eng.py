"""Tatoeba Spanish->English benchmark for the translation pipeline.

Trains the default config (text/configs/spa_eng.yaml) on the training split
(deduplicated; no source or target sentence shared between splits), then
prints on the test split: sacreBLEU (13a tokenisation, cased) and chrF for
greedy and beam search, training time, agreement of the exported SavedModel
with the in-memory Translator on every test sentence, and the export's
sentences per second on CPU.

    PIPELINES_DATA_DIR=../shared/data python bench/translation_spa_eng.py [--set k=v ...]

Writes bench/results/translation_spa_eng.{json,md}.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tensorflow as tf  # noqa: E402
import tensorflow_text  # noqa: E402,F401  (the export's ops)

from text import task  # noqa: E402
from text.config import load_config  # noqa: E402
from text.translation import Translator  # noqa: E402
from report import write_results  # noqa: E402  (bench/ is on the path)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BATCH = 64


def _epochs(run_dir):
    """Finished epochs, from the run's history.csv (one row per epoch)."""
    with open(os.path.join(run_dir, "history.csv")) as fh:
        return sum(1 for _ in fh) - 1


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=os.path.join(ROOT, "text", "configs", "spa_eng.yaml"))
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--run-dir", default=os.path.join(ROOT, "runs", "bench", "translation"))
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--evaluate-only", action="store_true",
                        help="skip training: score the model a previous run of this script "
                             "saved in --run-dir (its training time is read from there)")
    args = parser.parse_args(argv)

    cfg = load_config(args.config, args.overrides)
    split = task.load_splits(cfg, args.data_dir)
    print({k: len(v) for k, v in split.items()}, flush=True)
    timing = os.path.join(args.run_dir, "bench_training.json")
    if args.evaluate_only:
        tr = Translator.load(os.path.join(args.run_dir, "model"))
        with open(timing) as fh:
            train_s = json.load(fh)["train_seconds"]
    else:
        start = time.time()
        tr = Translator(cfg).fit(split["train"], split["val"], run_dir=args.run_dir)
        train_s = time.time() - start
        tr.save(os.path.join(args.run_dir, "model"))
        with open(timing, "w") as fh:
            json.dump({"train_seconds": train_s}, fh)
    print(f"training: {train_s / 60:.1f} min", flush=True)
    metrics = tr.evaluate(split["test"], batch_size=BATCH)
    print(json.dumps(metrics, indent=2), flush=True)

    sources = [s for s, _ in split["test"]]
    export_dir = os.path.join(args.run_dir, "export")
    tr.export(export_dir, sample=sources[:8])
    loaded = tf.saved_model.load(export_dir)
    in_memory = tr.translate(sources, batch_size=BATCH)
    exported, compute = [], 0.0
    for i in range(0, len(sources), BATCH):
        t0 = time.perf_counter()
        out = loaded.serve(text=tf.constant(sources[i:i + BATCH]))["translation"].numpy()
        compute += time.perf_counter() - t0
        exported += [s.decode("utf-8") for s in out]
    agree = sum(a == b for a, b in zip(in_memory, exported)) / len(sources)
    row = {**metrics, "train_seconds": train_s, "epochs": _epochs(args.run_dir),
           "export_agreement": agree, "export_sentences_per_second": len(sources) / compute,
           "splits": {k: len(v) for k, v in split.items()},
           "examples": [{"source": s, "reference": r, "translation": t}
                        for (s, r), t in list(zip(split["test"], in_memory))[:10]]}
    table = "\n".join([
        "| decoding | sacreBLEU | chrF |",
        "|---|---|---|",
        f"| greedy | {row['bleu_greedy']:.1f} | {row['chrf_greedy']:.1f} |",
        f"| beam ({row['beam_width']}) | {row['bleu_beam']:.1f} | {row['chrf_beam']:.1f} |",
        "",
        f"test split: {len(sources)} pairs; training: {train_s / 60:.1f} min "
        f"({row['epochs']} epochs); export == in-memory on {100 * agree:.1f}% of the "
        f"test sentences; export: {row['export_sentences_per_second']:.0f} sentences/s "
        f"(beam {row['beam_width']}, batch {BATCH}, CPU)",
    ])
    write_results("translation_spa_eng", row, table, ensure_ascii=False)


if __name__ == "__main__":
    main()
