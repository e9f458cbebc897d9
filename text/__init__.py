"""Text pipelines: translation (`Translator`) and sentence classification
(`SentenceClassifier`)."""

from text.classification import SentenceClassifier  # noqa: F401
from text.translation import Translator  # noqa: F401
