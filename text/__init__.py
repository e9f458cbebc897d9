"""Text pipelines: translation (and sentence classification)."""

from text.translation import Translator  # noqa: F401
