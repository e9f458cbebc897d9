"""Text pipelines: translation (`Translator`, `text.translation`) and
sentence classification (`SentenceClassifier`, `text.classification`);
`text.data` reads the sentence files both use.

`text.prepare(config, output=...)` writes a corpus as TFRecord shards
(`pipelines prepare text`; `text.shards`); `data.shards` trains from them.
"""

from pipelines import lazy_exports

__all__ = ["SentenceClassifier", "Translator", "prepare"]
__getattr__ = lazy_exports(__name__, {"SentenceClassifier": "text.classification",
                                      "Translator": "text.translation",
                                      "prepare": "text.task"})
