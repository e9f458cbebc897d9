"""`python -m vision_caption.train --config vision_caption/configs/scenes.yaml`:
trains, evaluates and exports (the same as `pipelines train vision_caption`)."""

from pipelines.cli import domain_main

if __name__ == "__main__":
    domain_main("vision_caption")
