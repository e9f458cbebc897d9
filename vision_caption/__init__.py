"""Image captioning: a CNN encoder and the shared attentive recurrent
decoder; image bytes in, caption out."""

from vision_caption.pipeline import Captioner  # noqa: F401
