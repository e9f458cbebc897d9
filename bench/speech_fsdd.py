"""FSDD digit-sequence benchmark for the CTC speech pipeline.

Trains the default config (speech/configs/fsdd.yaml) on FSDD sequences (train
recordings only), then prints on the test sequences (test recordings only):
WER and CER for greedy and beam decoding, training time, agreement of the
exported SavedModel with the in-memory pipeline, and the export's real-time
factor on CPU (seconds of compute per second of audio) at batch 1 and 16.

Then a robustness table on the same test sequences, greedy and beam: as
synthesised (leading and trailing pauses of 50-300 ms), with no leading or
trailing silence (each cut at its first and last sample above
`speech.augment.SILENT`: audio as a voice detector or an editor cuts it),
and with white noise at 20 dB and 10 dB SNR (relative to the speech's power,
seeded). `--loso` adds leave-one-speaker-out: for each of the five FSDD
speakers, the config trained on sequences of the other four speakers'
recordings (all their takes) and tested on sequences of that speaker's; the
mean and the worst (five more trainings).

    PIPELINES_DATA_DIR=../shared/data python bench/speech_fsdd.py [--set k=v ...] [--loso]
    PIPELINES_DATA_DIR=../shared/data python bench/speech_fsdd.py --loso-only [--speakers george ...]

`--robustness-only` skips training: it loads the best epoch of `--run-dir`
(its `checkpoints/best.weights.h5`, the config given) and prints only the
robustness table, with lexicon decoding (`model.lexicon`, e.g. `--set
model.lexicon=digits`) as a third column. Writes
bench/results/speech_fsdd_robustness.{json,md} then.

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

from pipelines.files import read_json, write_json  # noqa: E402
from speech import task  # noqa: E402
from speech.config import SpeechConfig  # noqa: E402
from speech.pipeline import SpeechRecognizer, _pad  # noqa: E402
from report import write_results  # noqa: E402  (bench/ is on the path)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def real_time_factor(serve, audios, rate, batch, repeats=1):
    """Seconds of compute per second of audio through `serve`."""
    seconds_audio = compute = 0.0
    for _ in range(repeats):
        for start in range(0, len(audios), batch):
            wave, lengths = _pad(audios[start:start + batch])
            t0 = time.perf_counter()
            serve(waveform=tf.constant(wave), lengths=tf.constant(lengths))["text"].numpy()
            compute += time.perf_counter() - t0
            seconds_audio += lengths.sum() / rate
    return compute / seconds_audio


def robustness_sets(test, seed=0):
    """`{name: utterances}`: the test utterances as synthesised, without
    their outer silence, and with white noise at 20 and 10 dB SNR."""
    from speech.augment import SILENT
    from speech.data import Utterance

    def trimmed(audio):
        loud = np.flatnonzero(np.abs(audio) > SILENT)
        return audio[loud[0]:loud[-1] + 1] if loud.size else audio

    def noisy(audio, snr, rng):
        power = np.mean(np.square(audio[np.abs(audio) > SILENT]))
        noise = rng.normal(size=audio.shape) * np.sqrt(power / 10 ** (snr / 10))
        return np.clip(audio + noise, -1, 1).astype("float32")

    rng = np.random.default_rng(seed)
    sets = {"as synthesised": list(test),
            "no leading/trailing silence": [Utterance(trimmed(u.audio), u.text, u.source)
                                            for u in test]}
    for snr in (20, 10):
        sets[f"noise {snr} dB SNR"] = [Utterance(noisy(u.audio, snr, rng), u.text, u.source)
                                       for u in test]
    return sets


def leave_one_speaker_out(cfg, data_dir, run_root, on_fold=None, only=None):
    """`{speaker: metrics}`: the config trained on sequences of four
    speakers' recordings, tested on sequences of the fifth's. A fold whose
    `run_root/<speaker>/metrics.json` exists is read, not trained again (a
    stopped run resumes); `on_fold(out, number of speakers)` is called after each fold; `only`:
    train these speakers' folds only (the other folds already finished in
    `run_root`, by earlier calls, are read and reported with them)."""
    from speech import data

    recordings = data.fsdd_recordings(data_dir)
    every = list(recordings.train) + list(recordings.test)
    speakers = sorted({r[2] for r in every})
    if only:
        unknown = sorted(set(only) - set(speakers))
        if unknown:
            raise SystemExit(f"--speakers: no such FSDD speaker {unknown}; the speakers are "
                             f"{speakers}.")
    cache, out = {}, {}
    for speaker in speakers:
        done = os.path.join(run_root, speaker, "metrics.json")
        if os.path.exists(done):
            out[speaker] = read_json(done)
        elif only and speaker not in only:
            continue
        else:
            train = data.digit_sequences([r for r in every if r[2] != speaker],
                                         cfg.data.train_count, seed=cfg.data.seed, cache=cache)
            test = data.digit_sequences([r for r in every if r[2] == speaker],
                                        cfg.data.test_count, seed=[cfg.data.seed, 1], cache=cache)
            start = time.time()
            asr = SpeechRecognizer(cfg).fit(train, run_dir=os.path.join(run_root, speaker))
            out[speaker] = {**asr.evaluate(test), "train_seconds": time.time() - start,
                            "epochs": len(asr.history)}
            # Atomic: a fold killed while writing is trained again, not read half.
            write_json(done, out[speaker])
        print(speaker, json.dumps(out[speaker]), flush=True)
        if on_fold:
            on_fold(out, len(speakers))
    return out


def decoders(cfg):
    """The decodings scored: greedy, beam, and lexicon where configured."""
    return ["greedy", "beam"] + (["lexicon"] if cfg.model.lexicon else [])


def robustness_table(robust, ways):
    return "\n".join([
        "| test audio | " + " | ".join(f"WER {w}" for w in ways) + " |",
        "|---|" + "---|" * len(ways),
        *(f"| {name} | " + " | ".join(f"{100 * m['wer_' + w]:.2f}%" for w in ways) + " |"
          for name, m in robust.items())])


def loso_table(loso, ways, speakers=None):
    wer = {w: {s: m["wer_" + w] for s, m in loso.items()} for w in ways}
    rows = ["| held-out speaker | " + " | ".join(f"WER {w}" for w in ways) + " |",
            "|---|" + "---|" * len(ways)]
    rows += [f"| {s} | " + " | ".join(f"{100 * wer[w][s]:.2f}%" for w in ways) + " |"
             for s in loso]
    # Over the folds there are: say so when some are still to run.
    over = "" if speakers is None or len(loso) >= speakers else f" ({len(loso)} of {speakers} folds)"
    rows.append(f"| mean{over} | " + " | ".join(
        f"{100 * np.mean(list(wer[w].values())):.2f}%" for w in ways) + " |")
    rows.append(f"| worst{over} | " + " | ".join(
        f"{100 * max(wer[w].values()):.2f}%" for w in ways) + " |")
    return "\n".join(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=os.path.join(ROOT, "speech", "configs", "fsdd.yaml"))
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--run-dir", default=os.path.join(ROOT, "runs", "bench", "speech_fsdd"))
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--loso", action="store_true",
                        help="also leave-one-speaker-out (five more trainings)")
    parser.add_argument("--loso-only", action="store_true",
                        help="leave-one-speaker-out only (resumes finished folds); writes "
                             "bench/results/speech_fsdd_loso.{json,md} after each fold")
    parser.add_argument("--speakers", nargs="+", default=None,
                        help="with --loso-only: these held-out speakers' folds only")
    parser.add_argument("--robustness-only", action="store_true",
                        help="the robustness table of the trained --run-dir only")
    args = parser.parse_args(argv)

    cfg = SpeechConfig.from_yaml(args.config, args.overrides)
    if args.loso_only:
        # Runs into another --run-dir (an experiment) get results of their own.
        default_dir = parser.get_default("run_dir")
        name = "speech_fsdd_loso" + (
            "" if os.path.abspath(args.run_dir) == os.path.abspath(default_dir)
            else "_" + os.path.basename(os.path.normpath(args.run_dir)))

        def report(loso, speakers):
            write_results(name, {"leave_one_speaker_out": loso, "overrides": args.overrides,
                                 "run_dir": args.run_dir},
                          loso_table(loso, decoders(cfg), speakers))
        leave_one_speaker_out(cfg, args.data_dir, os.path.join(args.run_dir, "loso"), report,
                              only=args.speakers)
        return
    split = task.load_splits(cfg, args.data_dir)
    if args.robustness_only:
        asr = SpeechRecognizer(cfg)
        asr.model = asr._build_model()
        asr.model.load_weights(os.path.join(args.run_dir, "checkpoints", "best.weights.h5"))
        robust = {name: asr.evaluate(u) for name, u in robustness_sets(split["test"]).items()}
        table = robustness_table(robust, decoders(cfg))
        write_results("speech_fsdd_robustness", {"robustness": robust, "run_dir": args.run_dir,
                                                 "overrides": args.overrides}, table)
        return
    start = time.time()
    asr = SpeechRecognizer(cfg).fit(split["train"], run_dir=args.run_dir)
    train_s = time.time() - start
    metrics = asr.evaluate(split["test"])
    print(json.dumps(metrics, indent=2), flush=True)

    export_dir = os.path.join(args.run_dir, "export")
    asr.export(export_dir, sample=[u.audio for u in split["test"][:8]])
    loaded = tf.saved_model.load(export_dir)
    audios = [u.audio for u in split["test"]]
    # What the export decodes with (model.decoder).
    in_memory = asr._transcribe_arrays(audios, asr._decoder(None), batch_size=16)
    exported = []
    for start_i in range(0, len(audios), 16):
        wave, lengths = _pad(audios[start_i:start_i + 16])
        exported += [t.decode() for t in loaded.serve(waveform=wave, lengths=lengths)["text"].numpy()]
    # Batches are padded differently in the two paths; transcripts must agree.
    agree = float(np.mean([a == b for a, b in zip(in_memory, exported)]))
    rtf1 = real_time_factor(loaded.serve, audios[:50], asr.sample_rate, 1)
    rtf16 = real_time_factor(loaded.serve, audios, asr.sample_rate, 16)
    robust = {name: asr.evaluate(utts) for name, utts in robustness_sets(split["test"]).items()}
    loso = (leave_one_speaker_out(cfg, args.data_dir, os.path.join(args.run_dir, "loso"))
            if args.loso else {})
    row = {**metrics, "train_seconds": train_s, "epochs": len(asr.history),
           "export_agreement": agree, "rtf_batch1": rtf1, "rtf_batch16": rtf16,
           "test_seconds_audio": float(sum(len(a) for a in audios) / asr.sample_rate),
           "robustness": robust, "leave_one_speaker_out": loso}
    table = "\n".join([
        "| decoding | WER | CER |",
        "|---|---|---|",
        f"| greedy | {100 * row['wer_greedy']:.2f}% | {100 * row['cer_greedy']:.2f}% |",
        f"| beam ({row['beam_width']}) | {100 * row['wer_beam']:.2f}% | {100 * row['cer_beam']:.2f}% |",
        *([f"| lexicon ({cfg.model.lexicon}) | {100 * row['wer_lexicon']:.2f}% | "
           f"{100 * row['cer_lexicon']:.2f}% |"] if cfg.model.lexicon else []),
        "",
        f"model.decoder (transcribe, export): {cfg.model.decoder}",
        f"training: {train_s / 60:.1f} min ({row['epochs']} epochs); export == in-memory on "
        f"{100 * agree:.1f}% of {len(audios)} test sequences; exported real-time factor "
        f"{rtf1:.4f} (batch 1), {rtf16:.4f} (batch 16)",
        "",
        robustness_table(robust, decoders(cfg)),
    ])
    if loso:
        table += "\n\n" + loso_table(loso, decoders(cfg))
    write_results("speech_fsdd", row, table)


if __name__ == "__main__":
    main()
