"""Image captioning: a CNN encoder and the shared attentive recurrent
decoder; image bytes in, caption out."""

from pipelines import lazy_exports

__all__ = ["Captioner"]
__getattr__ = lazy_exports(__name__, {"Captioner": "vision_caption.pipeline"})
