"""Batch prediction of a captioning export on Beam: image files captioned
as `serve` captions each alone; a truncated JPEG (refused by the export's
own checks) and a missing file named in a list are error records."""

import os

import numpy as np
import pytest
import tensorflow as tf

from tests import harness
from vision_caption import data
from vision_caption.config import CaptionConfig
from vision_caption.pipeline import Captioner
from vision_caption.task import TASK

pytest.importorskip("apache_beam")

TINY = os.path.join(harness.ROOT, "vision_caption", "configs", "tiny.yaml")


def test_caption_export_on_beam(tmp_path):
    split = data.scenes(train_count=32, test_count=4, image_size=32, max_objects=1, seed=1)
    cap = Captioner(CaptionConfig.from_yaml(TINY, ["train.verbose=0", "model.beam_width=2"]))
    cap.fit(split["train"], run_dir=tmp_path / "run")
    export = cap.export(tmp_path / "export")
    images = tmp_path / "images"
    images.mkdir()
    names = []
    for i, ex in enumerate(split["test"]):
        (images / f"s{i}.png").write_bytes(tf.io.encode_png(np.asarray(ex.image)).numpy())
        names.append(f"s{i}.png")
    jpeg = tf.io.encode_jpeg(np.asarray(split["test"][0].image)).numpy()
    (images / "cut.jpg").write_bytes(jpeg[:len(jpeg) // 2])
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join([*(f"images/{n}" for n in names), "images/cut.jpg",
                                  "images/missing.png"]) + "\n")
    errors = {str(images / "cut.jpg"): r"^image_bytes\[0\]: the JPEG data is truncated",
              str(images / "missing.png"): r"missing.png: no such image file"}
    summary, results = harness.run_batch_test(TASK, export, str(listing), errors, tmp_path)
    assert summary["inputs"] == 6 and not summary["bucketing"]
    path = str(images / "s2.png")
    assert results[path]["caption"] == cap.caption([path])[0]
