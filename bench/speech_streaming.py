"""Streaming speech benchmark: the causal config fed chunk by chunk.

Trains `speech/configs/fsdd_streaming.yaml` on the FSDD sequences task (or
reuses the finished run in `--run-dir`), exports it, and drives the export's
`stream_start` / `stream_feed` / `stream_finish` endpoints (nothing but
TensorFlow) over the 300 test sequences, then prints:

- WER offline (the same model on whole clips, greedy) and streaming, with
  chunks of 100 ms and 400 ms, and whether every streamed transcript equals
  the offline one;
- emission latency: for each word of a correctly transcribed sequence, the
  time from the end of that word's audio (known from the synthesis: the end
  of its trimmed recording) to the moment the word, complete, is first in
  the partial transcript: the end of the chunk that brought it (or of the
  clip, for a word complete only at `stream_finish`) plus the compute of
  that step; median and 95th percentile, and the median of each word;
- compute per chunk and real-time factor (compute / audio) at batch 1 and,
  per stream, at 32 streams fed together;
- training time; and, beside it, the offline default model's WER when a
  finished `--offline-run-dir` of `bench/speech_fsdd.py` is there
  (`checkpoints/best.weights.h5`; otherwise it says it was not run).

    PIPELINES_DATA_DIR=../shared/data python bench/speech_streaming.py

Writes bench/results/speech_streaming.{json,md}.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from pipelines.files import read_json, write_json  # noqa: E402
from pipelines.metrics import error_rates  # noqa: E402
from speech import data, task  # noqa: E402
from speech.config import SpeechConfig  # noqa: E402
from speech.pipeline import SpeechRecognizer, _pad  # noqa: E402
from report import write_results  # noqa: E402  (bench/ is on the path)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def training_seconds(run_dir, spent, epochs):
    """The training time of the run in `run_dir`, summed over the calls of
    this bench that trained epochs in it (kept in `bench_training.json`), so
    that scoring a finished run again reports its training, not the reload."""
    path = os.path.join(run_dir, "bench_training.json")
    done = read_json(path, {"seconds": 0.0, "epochs": 0})
    if epochs > done["epochs"]:
        done = {"seconds": done["seconds"] + spent, "epochs": epochs}
        write_json(path, done)
    return done["seconds"] if done["epochs"] else spent


def stream_export(loaded, clips, chunk, batch=1):
    """Feeds `clips` (batch of equal-length rows when batch > 1) through the
    export in chunks of `chunk` samples. Returns per clip the final text and
    the steps `(samples fed, compute seconds, partial text)` (the last one
    `stream_finish`'s), and the compute seconds of every chunk."""
    texts, steps, computes = [], [], []
    for start in range(0, len(clips), batch):
        group = clips[start:start + batch]
        wave, _ = _pad(group)
        width = wave.shape[1]
        state = loaded.stream_start(batch_size=tf.constant(len(group)))["state"]
        mine = [[] for _ in group]
        for at in range(0, width, chunk):
            piece = tf.constant(wave[:, at:at + chunk])
            t0 = time.perf_counter()
            out = loaded.stream_feed(waveform=piece, state=state)
            partial = out["text"].numpy()
            spent = time.perf_counter() - t0
            state = out["state"]
            computes.append(spent)
            fed = min(width, at + chunk)
            for i, p in enumerate(partial):
                mine[i].append((fed, spent, p.decode()))
        t0 = time.perf_counter()
        end = loaded.stream_finish(state=state)
        final = [t.decode() for t in end["text"].numpy()]
        spent = time.perf_counter() - t0
        # The end is a step too: a word held back for its look-ahead (or
        # not yet spelled out) first appears there.
        for i, text in enumerate(final):
            mine[i].append((width, spent, text))
        texts += final
        steps += mine
    return texts, steps, computes


def latencies(steps, finals, refs, ends, rate):
    """Emission latency in ms of each word of the correctly transcribed
    sequences (see the module docstring)."""
    out, words_of = [], []
    for mine, final, ref, word_end in zip(steps, finals, refs, ends):
        if final != ref:
            continue
        words = final.split()
        for i, word in enumerate(words):
            for fed, spent, partial in mine:
                got = partial.split()
                # Greedy CTC only appends: once the i-th word reads as it
                # finally does, it is complete.
                if len(got) > i and got[i] == word:
                    out.append(1000 * ((fed - word_end[i]) / rate + spent))
                    words_of.append(word)
                    break
            else:
                raise AssertionError(f"{word!r} of {final!r} never in the partials")
    return np.array(out), words_of


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config",
                        default=os.path.join(ROOT, "speech", "configs", "fsdd_streaming.yaml"))
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--run-dir", default=os.path.join(ROOT, "runs", "bench",
                                                          "speech_streaming"))
    parser.add_argument("--offline-run-dir", default=os.path.join(ROOT, "runs", "bench",
                                                                  "speech_fsdd"))
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--init-from", default=None,
                        help="a finished run directory of the same architecture: training "
                             "starts from its best weights (fine-tuning, e.g. with "
                             "model.delay_penalty)")
    args = parser.parse_args(argv)

    cfg = SpeechConfig.from_yaml(args.config, args.overrides)
    split = task.load_splits(cfg, args.data_dir)
    test = split["test"]
    rate = cfg.features.sample_rate
    start = time.time()
    asr = SpeechRecognizer(cfg)
    if args.init_from:
        best = os.path.join(args.init_from, "checkpoints", "best.weights.h5")
        asr._initialize = lambda model: model.load_weights(best)
    asr.fit(split["train"], run_dir=args.run_dir)
    train_s = training_seconds(args.run_dir, time.time() - start, len(asr.history))
    refs = [data.normalize_text(u.text) for u in test]
    audios = [u.audio for u in test]
    offline = [data.normalize_text(t) for t in asr.transcribe(audios, beam_width=1)]
    row = {"train_seconds": train_s, "epochs": len(asr.history),
           "wer_offline": error_rates(refs, offline)["wer"]}

    export_dir = os.path.join(args.run_dir, "export")
    asr.export(export_dir, sample=audios[:8])
    loaded = tf.saved_model.load(export_dir)
    # Known from the synthesis: the end of each word's trimmed recording.
    ends = [u.word_ends for u in test]
    for ms in (100, 400):
        chunk = int(rate * ms / 1000)
        texts, steps, computes = stream_export(loaded, audios, chunk)
        texts = [data.normalize_text(t) for t in texts]
        lat, lat_words = latencies(steps, texts, refs, ends, rate)
        row[f"stream_{ms}ms"] = {
            "latency_ms_median_by_word": {
                w: float(np.median([v for v, x in zip(lat, lat_words) if x == w]))
                for w in sorted(set(lat_words))},
            "wer": error_rates(refs, texts)["wer"],
            "equal_offline": float(np.mean([a == b for a, b in zip(texts, offline)])),
            "latency_ms_median": float(np.median(lat)) if len(lat) else None,
            "latency_ms_p95": float(np.percentile(lat, 95)) if len(lat) else None,
            "latency_words": int(len(lat)),
            "compute_ms_per_chunk": 1000 * float(np.mean(computes)),
            "rtf_batch1": float(np.sum(computes) / (sum(len(a) for a in audios) / rate)),
        }
        # 32 streams together (the first 32 clips, each padded to the group's
        # longest): compute per stream-second of audio.
        group = audios[:32]
        _, _, computes32 = stream_export(loaded, group, chunk, batch=32)
        seconds = len(group) * max(len(a) for a in group) / rate
        row[f"stream_{ms}ms"]["compute_ms_per_chunk_batch32"] = 1000 * float(np.mean(computes32))
        row[f"stream_{ms}ms"]["rtf_per_stream_batch32"] = float(np.sum(computes32) / seconds)

    best = os.path.join(args.offline_run_dir, "checkpoints", "best.weights.h5")
    if os.path.exists(best):
        base_cfg = SpeechConfig.from_yaml(os.path.join(ROOT, "speech", "configs", "fsdd.yaml"))
        base = SpeechRecognizer(base_cfg)
        base.model = base._build_model()
        base.model.load_weights(best)
        m = base.evaluate(test)
        row["offline_default"] = {k: m[k] for k in m if k.startswith("wer")}
    else:
        row["offline_default"] = None

    lines = ["| model / decoding | chunk | WER | = offline | latency median / p95 (ms) | "
             "compute per chunk (ms), b1 / b32 | RTF b1 / per stream b32 |",
             "|---|---|---|---|---|---|---|",
             f"| streaming config, offline greedy | whole clip | {100 * row['wer_offline']:.2f}% "
             "| | | | |"]
    for ms in (100, 400):
        r = row[f"stream_{ms}ms"]
        lat = ("n/a" if r["latency_ms_median"] is None else
               f"{r['latency_ms_median']:.0f} / {r['latency_ms_p95']:.0f}")
        lines.append(
            f"| streaming config, streamed | {ms} ms | {100 * r['wer']:.2f}% | "
            f"{100 * r['equal_offline']:.1f}% | {lat} | {r['compute_ms_per_chunk']:.2f} / "
            f"{r['compute_ms_per_chunk_batch32']:.2f} | {r['rtf_batch1']:.4f} / "
            f"{r['rtf_per_stream_batch32']:.4f} |")
    if row["offline_default"]:
        o = row["offline_default"]
        lines.append("| default fsdd.yaml (bidirectional), offline | whole clip | " + ", ".join(
            f"{k[4:]} {100 * v:.2f}%" for k, v in o.items()) + " | | | | |")
    else:
        lines.append(f"| default fsdd.yaml, offline | not run: no {best} | | | | | |")
    by_word = row["stream_100ms"]["latency_ms_median_by_word"]
    lines += ["", f"training: {train_s / 60:.1f} min ({row['epochs']} epochs); latency over "
                  f"{row['stream_100ms']['latency_words']} words of correctly transcribed "
                  "sequences (100 ms chunks); median by word (ms): " + ", ".join(
                      f"{w} {v:.0f}" for w, v in by_word.items())]
    write_results("speech_streaming", row, "\n".join(lines))


if __name__ == "__main__":
    main()
