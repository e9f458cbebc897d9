"""Text pipelines: translation (`Translator`, `text.translation`) and
sentence classification (`SentenceClassifier`, `text.classification`);
`text.data` reads the sentence files both use."""

from pipelines import lazy_exports

__all__ = ["SentenceClassifier", "Translator"]
__getattr__ = lazy_exports(__name__, {"SentenceClassifier": "text.classification",
                                      "Translator": "text.translation"})
