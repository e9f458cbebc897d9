"""Sentence classification, many-to-one: sentence in, label out.

`SentenceClassifier` (`pipeline.py`) is the user-facing pipeline around
`RecurrentClassifier` (`model.py`); `tfidf_baseline` (`baselines.py`) scores
scikit-learn's TF-IDF + logistic regression on the same split, the classical
baseline the recurrent model is judged beside, and `NgramModel`
(`ngrams.py`) is that model in TensorFlow ops, mixed into the classifier's
answer by `model.ngram_weight`; `data.py` reads the UCI
sentiment sentences and splits labelled sentences; `task.py` is what
`pipelines train text` runs for a `task: classification` config.

Example:

>>> from text.classification import SentenceClassifier
>>> SentenceClassifier(members=1).config.model.members
1
"""

from text.classification.baselines import tfidf_baseline  # noqa: F401
from text.classification.model import (AttentionPooling, ConcatPooling,  # noqa: F401
                                       RecurrentClassifier)
from text.classification.ngrams import NgramModel  # noqa: F401
from text.classification.pipeline import Predictions, SentenceClassifier  # noqa: F401
