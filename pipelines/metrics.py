"""Metrics computed with well-kept libraries (jiwer for WER/CER)."""

import jiwer


def error_rates(references, hypotheses):
    """Corpus WER and CER (jiwer) of `hypotheses` against `references`.

    Both are lists of already-normalised strings. An empty reference cannot
    be scored; it raises a ValueError naming its position.
    """
    references, hypotheses = list(references), list(hypotheses)
    if len(references) != len(hypotheses):
        raise ValueError(
            f"{len(references)} references but {len(hypotheses)} hypotheses."
        )
    for i, ref in enumerate(references):
        if not ref.strip():
            raise ValueError(f"Reference {i} is empty; WER is undefined for it.")
    return {
        "wer": float(jiwer.wer(references, hypotheses)),
        "cer": float(jiwer.cer(references, hypotheses)),
    }
