"""Speech recognition with CTC: waveform in, transcript out."""

from speech.pipeline import SpeechRecognizer  # noqa: F401
