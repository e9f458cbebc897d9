"""`python -m speech.train --config speech/configs/fsdd.yaml`: trains,
evaluates and exports (the same as `pipelines train speech`)."""

from pipelines.cli import domain_main

if __name__ == "__main__":
    domain_main("speech")
