"""Speech recognition with CTC: waveform in, transcript out."""

from pipelines import lazy_exports

__all__ = ["SpeechRecognizer"]
__getattr__ = lazy_exports(__name__, {"SpeechRecognizer": "speech.pipeline"})
