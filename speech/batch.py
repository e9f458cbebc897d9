"""Speech recognition over many audio files with an export, on Apache Beam
(`pipelines predict speech --engine beam`; see `pipelines.batch`).

Each audio file is one input, read as `predict` reads it
(`speech.data.load_audio`: mono, resampled to the export's rate, refused
with the reason when unreadable, empty, silent or longer than
`data.max_seconds`), and batched with files of similar length (buckets
`pipelines.batch.BUCKET_RATIO` apart in samples). Its record is `{"input":
path, "text": transcript}`.

Example:

>>> reader = SpeechReader({"sample_rate": 8000, "config": {"data": {"max_seconds": 2.0}}})
>>> reader.bucket_boundaries()[:3]
[800, 1040, 1352]
"""

import numpy as np

from pipelines.batch import BatchReader, geometric_boundaries
from speech import data


class SpeechReader(BatchReader):
    """Audio files -> `serve(waveform, lengths)`'s inputs; transcripts out.

    Args:
        metadata: the speech export's metadata (its `sample_rate` and
            config's `data.max_seconds`).
    """

    suffixes = data.AUDIO_SUFFIXES
    varies_in_length = True

    def __init__(self, metadata):
        super().__init__(metadata)
        self.rate = int(metadata["sample_rate"])
        self.max_seconds = metadata["config"]["data"].get("max_seconds")

    def read(self, name, raw):
        audio = data.load_audio(raw, self.rate, self.max_seconds)
        return {"waveform": audio, "lengths": np.int32(len(audio))}

    def length(self, features):
        return int(features["lengths"])

    def bucket_boundaries(self):
        # From a tenth of a second to the longest clip accepted.
        longest = self.rate * float(self.max_seconds or 30.0)
        return geometric_boundaries(self.rate // 10, int(longest))
