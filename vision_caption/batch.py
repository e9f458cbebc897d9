"""Captioning many image files with an export, on Apache Beam (`pipelines
predict vision_caption --engine beam`; see `pipelines.batch`).

Each image file is one input: its bytes go to `serve(image_bytes)` as they
are (the export decodes, checks and resizes them, so a corrupt image is
refused by the export itself, with its message, and lands in the error
file). Images are all resized to one size: no length, no bucketing. Its
record is `{"input": path, "caption": caption}`.
"""

from pipelines.batch import BatchReader
from vision_caption import data, preprocess


class CaptionReader(BatchReader):
    """Image files -> `serve(image_bytes)`'s input; captions out.

    Args:
        metadata: the captioning export's metadata.
    """

    suffixes = data.IMAGE_SUFFIXES

    def read(self, name, raw):
        return {"image_bytes": preprocess.read_image_file(raw, raw)}
