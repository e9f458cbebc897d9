"""Training on corpora larger than memory: in memory against from shards.

For speech (the default config, speech/configs/fsdd.yaml) at corpus sizes
x1, x4 and x16 of its 3,000 FSDD training sequences (3,000 / 12,000 /
48,000: more draws of the same generator over the same real recordings), and
captioning (vision_caption/configs/scenes.yaml) at x1, x4 and x16 of its
5,000 generated scenes (more draws of the scene generator), prints:

- the time `prepare` took to write the corpus as shards (Apache Beam, the
  local multi-process runner, one worker per core);
- for each input path, in a fresh child process: peak resident memory (the
  child's `ru_maxrss`, from `os.wait4`) over the data loading and a fixed
  number of training steps, and training examples per second over those
  steps (the first steps, which trace the graph, not counted); each
  measurement is run `--repeats` times (default 2) and the fastest kept,
  all of them in the JSON.

Where the in-memory path fails or runs out of time or memory, the table says
so, with the error.

    PIPELINES_DATA_DIR=../shared/data python bench/scale.py [--multiples 1 4 16] \\
        [--steps 30] [--work /tmp/scale]

Writes bench/results/<--name, default scale>.{json,md}.
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

WARMUP = 5
# Per domain: its task module, default config, the training count at x1 and
# the overrides that set the count (the test split kept small: it is not
# measured).
DOMAINS = {
    "speech": ("speech.task", "speech/configs/fsdd.yaml", 3000,
               ["data.train_count={n}", "data.test_count=50"]),
    "vision_caption": ("vision_caption.task", "vision_caption/configs/scenes.yaml", 5000,
                       ["data.train_count={n}", "data.test_count=50"]),
}


def config_of(domain, count, shards_dir=None):
    import importlib

    module, path, _, overrides = DOMAINS[domain]
    task = importlib.import_module(module).TASK
    items = [o.format(n=count) for o in overrides] + ["train.verbose=0"]
    if shards_dir:
        items.append(f"data.shards={shards_dir}")
    return task, task.config_class.from_yaml(os.path.join(ROOT, path), items)


def child(domain, mode, count, shards_dir, steps):
    """Loads the corpus (`memory`) or opens the shards, makes the training
    dataset and the model as `Pipeline.fit` does, trains `steps` batches
    after `WARMUP`, prints one JSON line."""
    from pipelines import shards, training
    import keras
    import tensorflow as tf

    task, cfg = config_of(domain, count, shards_dir if mode == "shards" else None)
    pipeline = task.pipeline_class(cfg)
    started = time.time()
    if mode == "shards":
        opened = shards.Shards.open(shards_dir)
        train = opened.split("train")
        val = opened.split("val") if opened.has("val") else None
    else:
        splits = task.load_splits(cfg)
        train, val = pipeline._split(splits.train, splits.val)
    training.seed_everything(cfg.train.seed)
    pipeline._learn(train)
    data = pipeline._prepare(train, val)
    pipeline.model = pipeline._build_model()
    model = pipeline._trained_model()
    model.compile(optimizer=training.make_optimizer(cfg.train), **pipeline._compile_args())
    train_ds, _ = pipeline._datasets(data)
    loaded = time.time() - started
    batches = iter(train_ds.repeat())

    class Clock(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == WARMUP - 1:
                self.start = time.time()

    clock = Clock()
    sizes = []

    def counted():
        for x, y in batches:
            sizes.append(int(tf.shape(tf.nest.flatten(x)[0])[0]))
            yield x, y

    ds = tf.data.Dataset.from_generator(counted, output_signature=train_ds.element_spec)
    model.fit(ds, steps_per_epoch=WARMUP + steps, epochs=1, verbose=0, callbacks=[clock])
    seconds = time.time() - clock.start
    timed = sum(sizes[WARMUP:WARMUP + steps])
    print("RESULT " + json.dumps({"load_seconds": round(loaded, 1),
                                  "examples_per_second": timed / seconds,
                                  "peak_rss_gib": round(peak_rss_kib() / 2**20, 2)}))


def peak_rss_kib():
    """This process's peak resident set, in KiB: `VmHWM` of its own memory
    map (Linux). Not `ru_maxrss`, which Linux carries over `exec` from the
    parent that forked the process."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def measure(domain, mode, count, shards_dir, steps, timeout):
    """Runs `child` in a fresh process; returns its result (with its peak
    RSS in GiB), or the error."""
    cmd = [sys.executable, os.path.abspath(__file__), "--child", domain, mode, str(count),
           shards_dir or "-", str(steps)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        return {"error": f"did not finish in {timeout} s"}
    lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        last = (err.strip().splitlines() or ["no output"])[-1]
        if proc.returncode in (-9, 137):
            last = "killed (out of memory)"
        return {"error": last[:300]}
    return json.loads(lines[-1][len("RESULT "):])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--multiples", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--work", default="/tmp/pipelines-scale")
    parser.add_argument("--timeout", type=int, default=3600)
    parser.add_argument("--repeats", type=int, default=2,
                        help="runs of each measurement; the fastest is reported")
    parser.add_argument("--name", default="scale", help="results file name (bench/results/)")
    parser.add_argument("--domains", nargs="+", default=list(DOMAINS), choices=list(DOMAINS))
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        domain, mode, count, shards_dir, steps = args.child
        child(domain, mode, int(count), shards_dir, int(steps))
        return

    import logging

    logging.basicConfig(level=logging.WARNING)
    from report import write_results

    rows = []
    for domain in args.domains:
        base = DOMAINS[domain][2]
        for m in sorted(args.multiples):
            task, cfg = config_of(domain, base * m)
            out = os.path.join(args.work, f"{domain}-x{m}")
            started = time.time()
            task.prepare(cfg, out, shards=16, overwrite=True)
            prep_seconds = time.time() - started
            print(f"{domain}: prepared x{m} ({base * m}) in {prep_seconds:.0f} s; driver peak "
                  f"RSS so far {peak_rss_kib() / 2**20:.2f} GiB", flush=True)
            # The shards just written are flushed first: the kernel writing
            # back gigabytes of dirty pages would slow the next measurement.
            os.sync()
            time.sleep(5)
            for mode in ("shards", "memory"):
                # The best of `--repeats` runs: right after a run that used
                # much memory or wrote gigabytes, this shared 2-core machine
                # runs the next one up to 2x slower for a while.
                runs = [measure(domain, mode, base * m, out, args.steps, args.timeout)
                        for _ in range(args.repeats)]
                done = [r for r in runs if "error" not in r]
                result = max(done, key=lambda r: r["examples_per_second"]) if done else runs[0]
                if len(done) > 1:
                    result = {**result, "examples_per_second_runs": [
                        round(r["examples_per_second"], 1) for r in done]}
                row = {"domain": domain, "multiple": m, "examples": base * m, "input": mode,
                       "prepare_seconds": round(prep_seconds, 1) if mode == "shards" else None,
                       **result}
                rows.append(row)
                print(json.dumps(row), flush=True)

    def fmt(row, key, spec):
        value = row.get(key)
        return "-" if value is None else format(value, spec)

    lines = ["| domain | corpus | input | prepare (s) | load (s) | peak RSS (GiB) | "
             "examples/s | note |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['domain']} | x{r['multiple']} ({r['examples']}) | {r['input']} | "
                     f"{fmt(r, 'prepare_seconds', '.0f')} | {fmt(r, 'load_seconds', '.1f')} | "
                     f"{fmt(r, 'peak_rss_gib', '.2f')} | "
                     f"{fmt(r, 'examples_per_second', '.1f')} | {r.get('error', '')} |")
    write_results(args.name, {"rows": rows, "steps": args.steps, "warmup_steps": WARMUP},
                  "\n".join(lines))


if __name__ == "__main__":
    main()
