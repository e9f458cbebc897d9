"""Scenes benchmark for the image-captioning pipeline.

Trains the default config (vision_caption/configs/scenes.yaml) on generated
scenes, then prints on the held-out scenes (combinations of shapes,
attributes and relations never seen in training): BLEU-1..4, CIDEr-D and the
exact-match rate for greedy and beam decoding, the training time, whether the
exported SavedModel's captions (fed PNG bytes) equal the in-memory
pipeline's, and the export's throughput in images per second on CPU.

    python bench/caption_scenes.py [--config ...] [--set k=v ...]

Writes bench/results/caption_scenes.{json,md}.
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

from vision_caption import task  # noqa: E402
from vision_caption.config import CaptionConfig  # noqa: E402
from vision_caption.pipeline import Captioner  # noqa: E402
from report import write_results  # noqa: E402  (bench/ is on the path)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
METRICS = ("bleu1", "bleu2", "bleu3", "bleu4", "cider", "exact_match")


def serve_all(serve, blobs, batch):
    """Captions of `blobs` through the export, and images per second."""
    out, seconds = [], 0.0
    for start in range(0, len(blobs), batch):
        chunk = tf.constant(blobs[start:start + batch])
        t0 = time.perf_counter()
        captions = serve(image_bytes=chunk)["caption"].numpy()
        seconds += time.perf_counter() - t0
        out += [c.decode("utf-8") for c in captions]
    return out, len(blobs) / seconds


def metric_table(rows):
    """rows: [(label, metrics dict, suffix)] -> markdown table."""
    lines = ["| decoding | BLEU-1 | BLEU-2 | BLEU-3 | BLEU-4 | CIDEr-D | exact match |",
             "|---|---|---|---|---|---|---|"]
    for label, m, s in rows:
        lines.append(f"| {label} | " + " | ".join(
            f"{m[f'{k}_{s}']:.3f}" if k != "exact_match" else f"{100 * m[f'{k}_{s}']:.1f}%"
            for k in METRICS) + " |")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config",
                        default=os.path.join(ROOT, "vision_caption", "configs", "scenes.yaml"))
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--run-dir", default=os.path.join(ROOT, "runs", "bench",
                                                          "caption_scenes"))
    parser.add_argument("--resume", action="store_true",
                        help="continue an interrupted run instead of starting afresh")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args(argv)

    if os.path.exists(args.run_dir) and not args.resume:
        shutil.rmtree(args.run_dir)
    cfg = CaptionConfig.from_yaml(args.config, args.overrides)
    split = task.load_splits(cfg, args.data_dir)
    start, cpu_start = time.time(), time.process_time()
    captioner = Captioner(cfg).fit(split["train"], run_dir=args.run_dir)
    train_s = time.time() - start
    # CPU seconds of this process: with the machine shared, wall time
    # overstates what the run needs; CPU time / cores bounds it from below.
    train_cpu_s = time.process_time() - cpu_start
    test = split["test"]
    metrics = captioner.evaluate(test)
    print(json.dumps(metrics, indent=2), flush=True)

    export_dir = os.path.join(args.run_dir, "export")
    captioner.export(export_dir, sample=[ex.image for ex in test[:8]])
    loaded = tf.saved_model.load(export_dir)
    blobs = [tf.io.encode_png(ex.image).numpy() for ex in test]
    in_memory = captioner.caption([ex.image for ex in test], batch_size=64)
    exported, ips64 = serve_all(loaded.serve, blobs, 64)
    _, ips1 = serve_all(loaded.serve, blobs[:100], 1)
    agree = float(np.mean([a == b for a, b in zip(in_memory, exported)]))
    row = {**metrics, "train_seconds": train_s, "train_cpu_seconds": train_cpu_s,
           "epochs": len(captioner.history),
           "train_images": len(split["train"]), "test_images": len(test),
           "export_agreement": agree, "export_images_per_second_batch64": ips64,
           "export_images_per_second_batch1": ips1,
           "examples": [{"caption": c, "references": ex.captions}
                        for c, ex in list(zip(in_memory, test))[:5]]}
    table = "\n".join(metric_table([
        ("greedy", metrics, "greedy"), (f"beam ({metrics['beam_width']})", metrics, "beam")]) + [
        "",
        f"{len(test)} held-out scenes; trained on {len(split['train'])} scenes in "
        f"{train_s / 60:.1f} min wall, {train_cpu_s / 60:.1f} min CPU ({row['epochs']} epochs); "
        "exported SavedModel (PNG bytes in) "
        f"== in-memory captions on {100 * agree:.1f}% of them; export throughput on CPU: "
        f"{ips64:.0f} images/s (batch 64, beam {metrics['beam_width']}), {ips1:.0f} images/s "
        "(batch 1)",
    ])
    write_results("caption_scenes", row, table)


if __name__ == "__main__":
    main()
