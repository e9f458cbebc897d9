"""How the FSDD speakers' recordings differ in their channel: per speaker,
the mean log-mel level of the speech frames at a few band centres
(relative to the band at about 640 Hz), and how far the speech stands above
the recording's own quiet frames in each band.

The speech frames of a recording are the loudest third of its frames (by
mean log-mel), the quiet frames its quietest fifth; levels are the
project's own front end (`speech.features.LogMel` of the default config,
before normalisation), in natural-log mel power.

    PIPELINES_DATA_DIR=../shared/data python bench/speech_channels.py [--per-speaker N]

Writes bench/results/speech_channels.{json,md}.
"""

import argparse
import collections
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import librosa  # noqa: E402
import numpy as np  # noqa: E402

from speech import data  # noqa: E402
from speech.config import SpeechConfig  # noqa: E402
from speech.pipeline import SpeechRecognizer  # noqa: E402
from report import write_results  # noqa: E402  (bench/ is on the path)

#: Bands shown (indices of the 40 mel bands of the default front end).
BANDS = (0, 10, 20, 25, 30, 33, 36, 39)
REFERENCE = 10


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--per-speaker", type=int, default=None,
                        help="recordings read per speaker (default: all; else every k-th, "
                             "spread over the digits)")
    args = parser.parse_args(argv)
    features = SpeechRecognizer(SpeechConfig()).features
    centres = librosa.mel_frequencies(n_mels=features.n_mels + 2, fmin=features.fmin,
                                      fmax=features.sample_rate / 2)[1:-1]
    recordings = data.fsdd_recordings(args.data_dir)
    speech, snr = collections.defaultdict(list), collections.defaultdict(list)
    every = sorted(list(recordings.train) + list(recordings.test))
    if args.per_speaker:
        counts = collections.Counter(r[2] for r in every)
        step = max(1, min(counts.values()) // args.per_speaker)
        every = [r for i, r in enumerate(every) if i % step == 0]
    for path, _, speaker, _ in every:
        audio = data.load_audio(path, features.sample_rate)
        logmel = features.log_mel(audio[None].astype("float32")).numpy()[0]  # [frames, mels]
        order = np.argsort(logmel.mean(axis=1))
        loud = logmel[order[-max(1, len(order) // 3):]].mean(axis=0)
        quiet = logmel[order[:max(1, len(order) // 5)]].mean(axis=0)
        speech[speaker].append(loud)
        snr[speaker].append(loud - quiet)
    header = [f"{int(round(centres[b]))} Hz" for b in BANDS]
    rows, lines = {}, []
    for title, table in (("speech level relative to the band at "
                          f"{int(round(centres[REFERENCE]))} Hz", speech),
                         ("speech above the quiet frames", snr)):
        lines += [f"{title} (natural-log mel power, over "
                  f"{min(len(v) for v in table.values())}+ recordings each):", "",
                  "| speaker | " + " | ".join(header) + " |",
                  "|---|" + "---|" * len(BANDS)]
        for speaker in sorted(table):
            mean = np.mean(table[speaker], axis=0)
            if table is speech:
                mean = mean - mean[REFERENCE]
            values = [round(float(mean[b]), 1) for b in BANDS]
            rows.setdefault(speaker, {})[title] = dict(zip(header, values))
            lines.append(f"| {speaker} | " + " | ".join(f"{v:.1f}" for v in values) + " |")
        lines.append("")
    write_results("speech_channels", rows, "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
