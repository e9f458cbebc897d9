"""`python -m forecasting.train --config forecasting/configs/etth1.yaml`:
trains, evaluates and exports (the same as `pipelines train forecasting`)."""

from pipelines.cli import domain_main

if __name__ == "__main__":
    domain_main("forecasting")
