"""coco_mini fitting benchmark for the image-captioning pipeline.

Trains vision_caption/configs/coco_mini.yaml on all 159 coco_mini photos
(train2017 + val2017, 5 human captions each) and prints, on those same
images: BLEU-1..4 (against all 5 references) and CIDEr-D for greedy and beam
decoding, the training time, and whether the exported SavedModel (fed the
JPEG files' bytes) agrees with the in-memory pipeline. It shows the pipeline
can fit real photos and captions; 159 images are far too few to generalise.

    PIPELINES_DATA_DIR=../shared/data python bench/caption_coco_mini.py [--set k=v ...]

Writes bench/results/caption_coco_mini.{json,md}.
"""

import argparse
import json
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from caption_scenes import metric_table, serve_all  # noqa: E402  (bench/ is on the path)
from vision_caption import task  # noqa: E402
from vision_caption.config import CaptionConfig  # noqa: E402
from vision_caption.pipeline import Captioner  # noqa: E402
from report import write_results  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config",
                        default=os.path.join(ROOT, "vision_caption", "configs", "coco_mini.yaml"))
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--run-dir", default=os.path.join(ROOT, "runs", "bench",
                                                          "caption_coco_mini"))
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args(argv)
    if args.data_dir is None and not os.environ.get("PIPELINES_DATA_DIR"):
        args.data_dir = os.path.join(os.path.dirname(ROOT), "shared", "data")

    if os.path.exists(args.run_dir) and not args.resume:
        shutil.rmtree(args.run_dir)
    cfg = CaptionConfig.from_yaml(args.config, args.overrides)
    split = task.load_splits(cfg, args.data_dir)
    train = split["train"]
    start, cpu_start = time.time(), time.process_time()
    captioner = Captioner(cfg).fit(train, run_dir=args.run_dir)
    train_s = time.time() - start
    # CPU seconds of this process: with the machine shared, wall time
    # overstates what the run needs; CPU time / cores bounds it from below.
    train_cpu_s = time.process_time() - cpu_start
    metrics = captioner.evaluate(train)
    print(json.dumps(metrics, indent=2), flush=True)

    export_dir = os.path.join(args.run_dir, "export")
    captioner.export(export_dir, sample=[ex.image for ex in train[:4]])
    loaded = tf.saved_model.load(export_dir)
    blobs = [open(ex.image, "rb").read() for ex in train]
    in_memory = captioner.caption(blobs, batch_size=32)
    exported, ips = serve_all(loaded.serve, blobs, 32)
    agree = float(np.mean([a == b for a, b in zip(in_memory, exported)]))
    row = {**metrics, "train_seconds": train_s, "train_cpu_seconds": train_cpu_s,
           "epochs": len(captioner.history),
           "images": len(train), "export_agreement": agree,
           "export_images_per_second_batch32": ips,
           "examples": [{"caption": c, "references": ex.captions}
                        for c, ex in list(zip(in_memory, train))[:5]]}
    table = "\n".join(metric_table([
        ("greedy", metrics, "greedy"), (f"beam ({metrics['beam_width']})", metrics, "beam")]) + [
        "",
        f"training-set scores on all {len(train)} coco_mini photos (5 references each) after "
        f"{train_s / 60:.1f} min wall, {train_cpu_s / 60:.1f} min CPU of training "
        f"({row['epochs']} epochs); exported SavedModel "
        f"(JPEG bytes in) == in-memory captions on {100 * agree:.1f}% of them; "
        f"{ips:.0f} images/s (batch 32, JPEG decoding included)",
    ])
    write_results("caption_coco_mini", row, table)


if __name__ == "__main__":
    main()
