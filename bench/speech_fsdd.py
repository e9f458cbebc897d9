"""FSDD digit-sequence benchmark for the CTC speech pipeline.

Trains the default config (speech/configs/fsdd.yaml) on FSDD sequences (train
recordings only), then prints on the test sequences (test recordings only):
WER and CER for greedy and beam decoding, training time, agreement of the
exported SavedModel with the in-memory pipeline, and the export's real-time
factor on CPU (seconds of compute per second of audio) at batch 1 and 16.

    PIPELINES_DATA_DIR=../shared/data python bench/speech_fsdd.py [--set k=v ...]

Writes bench/results/speech_fsdd.{json,md}.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from speech import task  # noqa: E402
from speech.config import SpeechConfig  # noqa: E402
from speech.pipeline import SpeechRecognizer  # noqa: E402
from report import write_results  # noqa: E402  (bench/ is on the path)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def real_time_factor(serve, audios, rate, batch, repeats=1):
    """Seconds of compute per second of audio through `serve`."""
    seconds_audio = compute = 0.0
    for _ in range(repeats):
        for start in range(0, len(audios), batch):
            chunk = audios[start:start + batch]
            width = max(len(a) for a in chunk)
            wave = np.zeros((len(chunk), width), "float32")
            for i, a in enumerate(chunk):
                wave[i, :len(a)] = a
            lengths = np.array([len(a) for a in chunk], "int32")
            t0 = time.perf_counter()
            serve(waveform=tf.constant(wave), lengths=tf.constant(lengths))["text"].numpy()
            compute += time.perf_counter() - t0
            seconds_audio += lengths.sum() / rate
    return compute / seconds_audio


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=os.path.join(ROOT, "speech", "configs", "fsdd.yaml"))
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--run-dir", default=os.path.join(ROOT, "runs", "bench", "speech_fsdd"))
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args(argv)

    cfg = SpeechConfig.from_yaml(args.config, args.overrides)
    split = task.load_splits(cfg, args.data_dir)
    start = time.time()
    asr = SpeechRecognizer(cfg).fit(split["train"], run_dir=args.run_dir)
    train_s = time.time() - start
    metrics = asr.evaluate(split["test"])
    print(json.dumps(metrics, indent=2), flush=True)

    export_dir = os.path.join(args.run_dir, "export")
    asr.export(export_dir, sample=[u.audio for u in split["test"][:8]])
    loaded = tf.saved_model.load(export_dir)
    audios = [u.audio for u in split["test"]]
    in_memory = asr._transcribe_arrays(audios, cfg.model.beam_width, batch_size=16)
    exported = []
    for start_i in range(0, len(audios), 16):
        chunk = audios[start_i:start_i + 16]
        width = max(len(a) for a in chunk)
        wave = np.zeros((len(chunk), width), "float32")
        for i, a in enumerate(chunk):
            wave[i, :len(a)] = a
        lengths = np.array([len(a) for a in chunk], "int32")
        exported += [t.decode() for t in loaded.serve(waveform=wave, lengths=lengths)["text"].numpy()]
    # Batches are padded differently in the two paths; transcripts must agree.
    agree = float(np.mean([a == b for a, b in zip(in_memory, exported)]))
    rtf1 = real_time_factor(loaded.serve, audios[:50], asr.sample_rate, 1)
    rtf16 = real_time_factor(loaded.serve, audios, asr.sample_rate, 16)
    row = {**metrics, "train_seconds": train_s, "epochs": len(asr.history),
           "export_agreement": agree, "rtf_batch1": rtf1, "rtf_batch16": rtf16,
           "test_seconds_audio": float(sum(len(a) for a in audios) / asr.sample_rate)}
    table = "\n".join([
        "| decoding | WER | CER |",
        "|---|---|---|",
        f"| greedy | {100 * row['wer_greedy']:.2f}% | {100 * row['cer_greedy']:.2f}% |",
        f"| beam ({row['beam_width']}) | {100 * row['wer_beam']:.2f}% | {100 * row['cer_beam']:.2f}% |",
        "",
        f"training: {train_s / 60:.1f} min ({row['epochs']} epochs); export == in-memory on "
        f"{100 * agree:.1f}% of {len(audios)} test sequences; exported real-time factor "
        f"{rtf1:.4f} (batch 1), {rtf16:.4f} (batch 16)",
    ])
    write_results("speech_fsdd", row, table)


if __name__ == "__main__":
    main()
