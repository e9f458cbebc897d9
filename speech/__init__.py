"""Speech recognition with CTC: waveform in, transcript out.

`speech.prepare(config, output=...)` writes a corpus as TFRecord shards
(`pipelines prepare speech`); `data.shards` trains from them.
"""

from pipelines import lazy_exports

__all__ = ["SpeechRecognizer", "prepare"]
__getattr__ = lazy_exports(__name__, {"SpeechRecognizer": "speech.pipeline",
                                      "prepare": "speech.task"})
