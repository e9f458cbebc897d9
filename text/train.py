"""`python -m text.train --config text/configs/spa_eng.yaml`: trains,
evaluates and exports (the same as `pipelines train text`); the config's
`task` chooses translation or sentence classification."""

from pipelines.cli import domain_main

if __name__ == "__main__":
    domain_main("text")
