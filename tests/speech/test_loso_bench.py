"""`bench/speech_fsdd.py --loso-only --speakers ...`: a call that trains
some folds reports them with every fold finished by earlier calls, and the
table says when folds are missing."""

import json
import os
import sys

from speech.config import SpeechConfig

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "bench"))
import speech_fsdd  # noqa: E402  (bench/)


def _metrics(wer):
    return {f"{m}_{w}": wer for m in ("wer", "cer") for w in ("greedy", "beam", "lexicon")}


def test_a_call_for_some_speakers_reports_every_finished_fold(tmp_path):
    folder = tmp_path / "data" / "fsdd" / "recordings"
    folder.mkdir(parents=True)
    for speaker in ("alice", "bob", "carol"):
        for take in (0, 9):  # one test take, one train take
            (folder / f"3_{speaker}_{take}.wav").write_bytes(b"")
    runs = tmp_path / "loso"
    for speaker, wer in (("alice", 0.1), ("bob", 0.3)):  # carol's fold never ran
        (runs / speaker).mkdir(parents=True)
        (runs / speaker / "metrics.json").write_text(json.dumps(_metrics(wer)))
    reports = []
    out = speech_fsdd.leave_one_speaker_out(
        SpeechConfig(), str(tmp_path / "data"), str(runs),
        on_fold=lambda loso, n: reports.append((sorted(loso), n)), only=["alice"])
    # alice's fold is finished (read, not trained); bob's, from an earlier
    # call, is reported beside it; carol's is neither trained nor invented.
    assert sorted(out) == ["alice", "bob"]
    assert reports == [(["alice"], 3), (["alice", "bob"], 3)]
    table = speech_fsdd.loso_table(out, ["greedy", "lexicon"], 3).splitlines()
    assert table[-2:] == ["| mean (2 of 3 folds) | 20.00% | 20.00% |",
                          "| worst (2 of 3 folds) | 30.00% | 30.00% |"]
    assert speech_fsdd.loso_table(out, ["greedy"]).splitlines()[-1] == "| worst | 30.00% |"
