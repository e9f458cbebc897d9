"""Text pipelines: translation and sentence classification."""
