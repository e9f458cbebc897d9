"""Caption metrics against all references of an image: corpus BLEU-1..4,
CIDEr-D and the exact-match rate.

The definitions are those of the COCO caption evaluation
(`pycocoevalcap`), on already-normalised, space-separated captions:

- BLEU-n (Papineni et al., 2002): n-gram precisions clipped by the largest
  count of that n-gram in any one reference, pooled over the corpus, their
  geometric mean (uniform weights over 1..n), times the brevity penalty with
  the reference length closest to each hypothesis (the shorter one on ties).
  No smoothing; values in [0, 1].
- CIDEr-D (Vedantam et al., 2015): TF-IDF weighted n-gram vectors (n = 1..4,
  document frequencies from the references of the evaluated images), cosine
  similarity with each reference with the hypothesis counts clipped to the
  reference's, a Gaussian penalty on the length difference (sigma = 6), the
  mean over references and n, times 10.

Example:

>>> refs = [["a red circle", "a circle that is red"], ["a blue square"]]
>>> bleu(["a red circle", "a blue square"], refs)["bleu4"]
0.0
>>> round(bleu(["a red circle", "a blue square"], refs)["bleu1"], 3)
1.0
>>> exact_match(["a red circle", "a blue circle"], refs)
0.5
"""

import collections
import math

import numpy as np


def _ngrams(words, n):
    return collections.Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1))


def _check(hypotheses, references):
    hypotheses, references = list(hypotheses), [list(r) for r in references]
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} reference lists.")
    for i, refs in enumerate(references):
        if not refs:
            raise ValueError(f"Image {i} has no reference caption.")
    return hypotheses, references


def bleu(hypotheses, references, max_n=4):
    """Corpus BLEU-1..max_n.

    Args:
        hypotheses: one caption (str) per image.
        references: a list of reference captions (str) per image.

    Returns:
        {"bleu1": ..., ..., "bleu{max_n}": ...}, each in [0, 1].
    """
    hypotheses, references = _check(hypotheses, references)
    matches = np.zeros(max_n)
    totals = np.zeros(max_n)
    hyp_len = ref_len = 0
    for hyp, refs in zip(hypotheses, references):
        words = hyp.split()
        ref_words = [r.split() for r in refs]
        hyp_len += len(words)
        # The closest reference length; the shorter on ties.
        ref_len += min((abs(len(r) - len(words)), len(r)) for r in ref_words)[1]
        for n in range(1, max_n + 1):
            counts = _ngrams(words, n)
            max_ref = collections.Counter()
            for r in ref_words:
                for gram, c in _ngrams(r, n).items():
                    max_ref[gram] = max(max_ref[gram], c)
            matches[n - 1] += sum(min(c, max_ref[g]) for g, c in counts.items())
            totals[n - 1] += max(len(words) - n + 1, 0)
    if hyp_len == 0:
        return {f"bleu{n}": 0.0 for n in range(1, max_n + 1)}
    brevity = 1.0 if hyp_len > ref_len else math.exp(1.0 - ref_len / hyp_len)
    out = {}
    for n in range(1, max_n + 1):
        p = matches[:n] / np.maximum(totals[:n], 1)
        if (p <= 0).any():
            out[f"bleu{n}"] = 0.0
        else:
            out[f"bleu{n}"] = float(brevity * math.exp(np.mean(np.log(p))))
    return out


def cider_d(hypotheses, references, n=4, sigma=6.0):
    """Corpus CIDEr-D (the mean over images), as in the COCO evaluation.

    Example:

    >>> refs = [["a big red circle"], ["a small blue square"], ["a big green cross"]]
    >>> hyps = ["a big red circle", "a small blue square", "a big green cross"]
    >>> round(cider_d(hyps, refs), 3)
    10.0
    >>> round(cider_d(["a big red square", "a small blue square", "a big green cross"],
    ...                refs), 3)
    7.97
    """
    hypotheses, references = _check(hypotheses, references)
    if not hypotheses:
        return 0.0

    def counts(text):
        words = text.split()
        out = collections.Counter()
        for k in range(1, n + 1):
            out.update(_ngrams(words, k))
        return out

    ref_counts = [[counts(r) for r in refs] for refs in references]
    doc_freq = collections.Counter()
    for refs in ref_counts:
        doc_freq.update(set(g for c in refs for g in c))
    log_images = math.log(float(len(references)))

    def vector(cnt):
        vec = [dict() for _ in range(n)]
        norm = np.zeros(n)
        length = 0
        for gram, tf in cnt.items():
            k = len(gram) - 1
            df = math.log(max(1.0, doc_freq[gram]))
            vec[k][gram] = float(tf) * (log_images - df)
            norm[k] += vec[k][gram] ** 2
            if k == 1:
                # As in pycocoevalcap: the length is the bigram count.
                length += tf
        return vec, np.sqrt(norm), length

    scores = []
    for hyp, refs in zip(hypotheses, ref_counts):
        vec, norm, length = vector(counts(hyp))
        total = np.zeros(n)
        for ref in refs:
            rvec, rnorm, rlength = vector(ref)
            delta = float(length - rlength)
            val = np.zeros(n)
            for k in range(n):
                for gram, v in vec[k].items():
                    if gram in rvec[k]:
                        val[k] += min(v, rvec[k][gram]) * rvec[k][gram]
                if norm[k] != 0 and rnorm[k] != 0:
                    val[k] /= norm[k] * rnorm[k]
                val[k] *= math.exp(-(delta ** 2) / (2 * sigma ** 2))
            total += val
        scores.append(float(np.mean(total)) / len(refs) * 10.0)
    return float(np.mean(scores))


def exact_match(hypotheses, references):
    """Share of hypotheses equal to one of their image's references."""
    hypotheses, references = _check(hypotheses, references)
    if not hypotheses:
        return 0.0
    return sum(h in set(refs) for h, refs in zip(hypotheses, references)) / len(hypotheses)


def caption_scores(hypotheses, references):
    """BLEU-1..4, CIDEr-D and exact match in one dict (normalised captions)."""
    out = bleu(hypotheses, references)
    out["cider"] = cider_d(hypotheses, references)
    out["exact_match"] = exact_match(hypotheses, references)
    return out
