"""Translating or classifying many sentences with an export, on Apache Beam
(`pipelines predict text --engine beam`; see `pipelines.batch`).

The inputs are text files (a glob, a folder of `.txt` files, or one file);
every line is one input, named `path:line`. A line that is not UTF-8 or is
empty (after stripping spaces) is refused with the reason and lands in the
error file; the others are batched with sentences of a similar number of
words. A translation record is `{"input", "sentence", "translation"}`; a
classification record `{"input", "sentence", "label", "probabilities":
{label: p}}`.
"""

from pipelines.batch import BatchReader, geometric_boundaries


class SentenceReader(BatchReader):
    """Lines of text files -> `serve(text)`'s input; the text pipeline's
    answers out (translation or classification, from the metadata).

    Args:
        metadata: the translation or classification export's metadata.
    """

    suffixes = (".txt",)
    imports = ("tensorflow_text",)
    varies_in_length = True
    many_per_file = True

    def expand(self, path):
        with open(path, "rb") as f:
            for number, raw in enumerate(f, 1):
                yield f"{path}:{number}", raw.rstrip(b"\r\n")

    def read(self, name, raw):
        try:
            sentence = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ValueError(f"{name}: not UTF-8 text (byte {raw[e.start]:#04x} at column "
                             f"{e.start + 1}).") from None
        if not sentence.strip():
            raise ValueError(f"{name}: an empty sentence.")
        return {"text": sentence}

    def length(self, features):
        return len(features["text"].split())

    def bucket_boundaries(self):
        return geometric_boundaries(2, 256)

    def answers(self, outputs, examples):
        out = []
        labels = self.metadata.get("labels")
        for i, example in enumerate(examples):
            answer = {"sentence": example["text"]}
            if "translation" in outputs:
                answer["translation"] = outputs["translation"][i].decode("utf-8")
            else:
                answer["label"] = outputs["label"][i].decode("utf-8")
                answer["probabilities"] = {
                    label: float(p) for label, p in zip(labels, outputs["probabilities"][i])}
            out.append(answer)
        return out
