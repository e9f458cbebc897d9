"""Batch prediction on Apache Beam RunInference against a plain loop over
`serve`, from the same export, on the same machine, in the same run.

- speech: the 300 FSDD test sequences of the default config
  (speech/configs/fsdd.yaml, `data.test_count: 300`), written as WAV files;
- translation: the 5,819 test sentences of the default config
  (text/configs/spa_eng.yaml), one per line of a text file.

The exports have the default configs' architecture (throughput depends on
the architecture and the beam, not on how long the weights were trained):
trained one epoch on part of the training split (`--train-count`) unless
`--speech-export` / `--translation-export` name exports to use.

For each domain, each way is run end to end (loading the model, reading and
decoding the inputs, writing the answers): the plain loop
(`pipelines.batch.plain_loop`: one process, batches of `--batch-size` in
input order), and the Beam job (`pipelines.batch.predict`) with and without
length bucketing, on the local runner (`FnApiRunner`) in its two modes: one
worker in this process (`in_memory`, the default of `predict --engine
beam`) and one worker process per core (`multi_processing`). A way that
takes under `SHORT` seconds is run `--repeats` times and the fastest kept
(all runs in the JSON): on a job that short, a blip of the shared machine
weighs. It prints inputs per second, the ratio to the loop, the padding
share (padded entries over all: samples of audio, words of text), and
whether the answers equal the loop's.

    PIPELINES_DATA_DIR=../shared/data python bench/batch_predict.py [--batch-size 32]

Writes bench/results/batch_predict.{json,md}.
"""

import argparse
import json
import os
import sys
import time

SHORT = 30.0
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)


def speech_inputs(work, train_count, export):
    """The export (trained here unless given) and the folder of WAV files."""
    import soundfile

    from speech.task import TASK

    cfg = TASK.config_class.from_yaml(TASK.default_config, [
        f"data.train_count={train_count}", "train.epochs=1", "train.verbose=0",
        "train.tensorboard=false"])
    splits = TASK.load_splits(cfg)
    export = export or _train(TASK, cfg, splits, os.path.join(work, "speech"))
    folder = os.path.join(work, "speech-wav")
    os.makedirs(folder, exist_ok=True)
    for i, u in enumerate(splits.test):
        soundfile.write(os.path.join(folder, f"test-{i:03d}.wav"), u.audio,
                        cfg.features.sample_rate)
    return export, os.path.join(folder, "*.wav"), len(splits.test)


def translation_inputs(work, train_count, export):
    from text.task import TASK

    cfg = TASK.config_class.from_yaml(TASK.default_config, [])
    test = TASK.load_splits(cfg).test
    if not export:
        small = TASK.config_class.from_yaml(TASK.default_config, [
            "train.epochs=1", "train.verbose=0", "train.tensorboard=false"])
        splits = TASK.load_splits(small)
        splits = type(splits)(train=splits.train[:train_count], val=splits.val[:200],
                              test=test[:16])
        export = _train(TASK, small, splits, os.path.join(work, "translation"))
    path = os.path.join(work, "spa-test.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(source.replace("\n", " ") + "\n" for source, _ in test))
    return export, path, len(test)


def _train(task, cfg, splits, run_dir):
    """Trains `cfg` on `splits` and exports (kept in `run_dir/export`, reused
    by a later run)."""
    export = os.path.join(run_dir, "export")
    if os.path.exists(os.path.join(export, "saved_model.pb")):
        return export
    pipeline = task.pipeline_for(cfg).fit(splits.train, splits.val, run_dir=run_dir)
    return pipeline.export(export)


def run_ways(export, input, batch_size, modes, repeats):
    from pipelines import batch

    def best(run):
        runs = [run()]
        while runs[0]["seconds"] < SHORT and len(runs) < repeats:
            runs.append(run())
            runs.sort(key=lambda r: r["seconds"])
        return {**runs[0], "seconds_runs": [r["seconds"] for r in runs]}

    def loop():
        started = time.time()
        records, padding = batch.plain_loop(export, input, batch_size=batch_size)
        seconds = time.time() - started
        return {"way": "plain loop", "seconds": round(seconds, 2),
                "inputs_per_second": len(records) / seconds, "padding_share": padding,
                "same": True, "records": records}

    first = best(loop)
    expected = {r["input"]: r for r in first.pop("records")}
    rows = [first]
    out = os.path.join(os.path.dirname(export), "batch-out", "predictions.jsonl")
    for mode in modes:
        for bucketing in (True, False):
            args = [f"--direct_running_mode={mode}"]
            if mode == "in_memory":
                args.append("--direct_num_workers=1")

            def job():
                summary = batch.predict(export, input, out, batch_size=batch_size,
                                        bucketing=bucketing, beam_args=args)
                got = {**batch.read_records(out),
                       **batch.read_records(batch.errors_path(out))}
                return {"way": _way(mode, bucketing), "seconds": summary["seconds"],
                        "inputs_per_second": summary["inputs"] / summary["seconds"],
                        "padding_share": summary["padding_share"],
                        "same": _same(got, expected), "batches": summary["batches"],
                        "errors": summary["errors"]}

            rows.append(best(job))
    for row in rows:
        row["vs_loop"] = row["inputs_per_second"] / rows[0]["inputs_per_second"]
    return rows


def _way(mode, bucketing):
    workers = "1 worker" if mode == "in_memory" else f"{min(8, os.cpu_count() or 1)} workers"
    return f"Beam ({mode}, {workers}{', bucketed' if bucketing else ''})"


def _same(got, expected, atol=1e-5):
    if sorted(got) != sorted(expected):
        return False
    for name, record in got.items():
        for key, value in record.items():
            want = expected[name].get(key)
            if isinstance(value, (int, float)) and isinstance(want, (int, float)):
                if abs(value - want) > atol:
                    return False
            elif value != want:
                return False
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--domains", nargs="+", default=["speech", "translation"],
                        choices=["speech", "translation"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--beam-modes", nargs="+", default=["in_memory", "multi_processing"],
                        choices=["multi_processing", "in_memory"])
    parser.add_argument("--speech-export")
    parser.add_argument("--translation-export")
    parser.add_argument("--speech-train-count", type=int, default=300)
    parser.add_argument("--translation-train-count", type=int, default=20000)
    parser.add_argument("--work", default="/tmp/pipelines-batch")
    parser.add_argument("--name", default="batch_predict")
    args = parser.parse_args()

    import logging

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("apache_beam").setLevel(logging.ERROR)
    from report import write_results

    results = []
    for domain in args.domains:
        if domain == "speech":
            export, input, n = speech_inputs(args.work, args.speech_train_count,
                                             args.speech_export)
        else:
            export, input, n = translation_inputs(args.work, args.translation_train_count,
                                                  args.translation_export)
        for row in run_ways(export, input, args.batch_size, args.beam_modes,
                            args.repeats):
            row = {"domain": domain, "inputs": n, "batch_size": args.batch_size, **row}
            results.append(row)
            print(json.dumps(row), flush=True)

    lines = ["| domain | inputs | way | seconds | inputs/s | vs loop | padding share | "
             "answers = loop's |", "|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['domain']} | {r['inputs']} | {r['way']} | {r['seconds']} | "
                     f"{r['inputs_per_second']:.1f} | {r['vs_loop']:.2f}x | "
                     f"{100 * r['padding_share']:.1f}% | {'yes' if r['same'] else 'NO'} |")
    write_results(args.name, results, "\n".join(lines))


if __name__ == "__main__":
    main()
