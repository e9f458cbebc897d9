"""Image captioning: a CNN encoder and the shared attentive recurrent
decoder; image bytes in, caption out.

`vision_caption.prepare(config, output=...)` writes a captioning corpus as
TFRecord shards (`pipelines prepare vision_caption`); `data.shards` trains
from them.
"""

from pipelines import lazy_exports

__all__ = ["Captioner", "prepare"]
__getattr__ = lazy_exports(__name__, {"Captioner": "vision_caption.pipeline",
                                      "prepare": "vision_caption.task"})
