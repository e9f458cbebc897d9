"""Caption metrics: BLEU-1..4 with several references agrees with sacreBLEU,
CIDEr-D follows the COCO definition, exact match counts any reference."""

import math

import numpy as np
import pytest
import sacrebleu

from vision_caption import metrics

HYPS = ["a man riding a horse on a beach", "two dogs play in the snow",
        "a red circle left of a blue square", "a cat"]
REFS = [["a man rides a horse along the beach", "a person on a horse on the beach",
         "a rider and horse on sand"],
        ["two dogs are playing in the snow", "dogs running in snow"],
        ["a red circle left of a blue square", "a blue square right of a red circle"],
        ["a small cat sleeping on a sofa"]]


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_bleu_matches_sacrebleu_with_multiple_references(order):
    ours = metrics.bleu(HYPS, REFS)[f"bleu{order}"]
    streams = [[refs[k] if k < len(refs) else None for refs in REFS] for k in range(3)]
    # sacreBLEU takes reference streams, None where an image has fewer.
    scorer = sacrebleu.metrics.BLEU(max_ngram_order=order, tokenize="none",
                                    smooth_method="none")
    theirs = scorer.corpus_score(HYPS, streams).score / 100
    assert math.isclose(ours, theirs, rel_tol=1e-9, abs_tol=1e-12), (ours, theirs)


def test_bleu_clips_counts_and_penalises_brevity():
    # "the" 7 times against a reference with it twice: clipped precision 2/7.
    out = metrics.bleu(["the the the the the the the"], [["the cat is on the mat"]])
    assert math.isclose(out["bleu1"], 2 / 7)
    short = metrics.bleu(["a red"], [["a red circle", "a red circle left of a square"]])
    assert math.isclose(short["bleu1"], math.exp(1 - 3 / 2))
    assert metrics.bleu([""], [["a red circle"]]) == {f"bleu{n}": 0.0 for n in range(1, 5)}


def test_cider_d():
    refs = [["a big red circle", "a large red circle"], ["a small blue square"],
            ["a big green cross"]]
    perfect = metrics.cider_d(["a big red circle", "a small blue square",
                               "a big green cross"], refs)
    worse = metrics.cider_d(["a big red square", "a small blue square", "a big green cross"],
                            refs)
    assert 0 < worse < perfect
    # A length far from the references' is penalised (gaussian, sigma 6).
    hyps = ["a big red circle", "a small blue square", "a big green cross"]
    long = metrics.cider_d([" ".join([hyps[0]] * 4)] + hyps[1:], refs)
    assert 0 < long < perfect
    assert metrics.cider_d([], []) == 0.0


def test_exact_match_and_errors():
    assert metrics.exact_match(HYPS, REFS) == 0.25
    scores = metrics.caption_scores(HYPS, REFS)
    assert set(scores) == {"bleu1", "bleu2", "bleu3", "bleu4", "cider", "exact_match"}
    assert all(np.isfinite(v) for v in scores.values())
    with pytest.raises(ValueError, match="2 hypotheses but 1 reference lists"):
        metrics.bleu(["a", "b"], [["a"]])
    with pytest.raises(ValueError, match="Image 0 has no reference caption"):
        metrics.cider_d(["a"], [[]])
