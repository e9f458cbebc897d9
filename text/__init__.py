"""Text pipelines: translation (`Translator`, `text.translation`) and
sentence classification (`SentenceClassifier`, `text.classification`);
`text.data` reads the sentence files both use."""

from text.classification import SentenceClassifier  # noqa: F401
from text.translation import Translator  # noqa: F401
