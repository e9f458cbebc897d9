"""`pipelines train|evaluate|export|predict <domain> ...`: one thin CLI.

Every domain's `python -m <domain>.train` calls the same `main`, and both
only parse flags, build the config and call the domain's task functions, the
same functions a notebook can import.

    pipelines train forecasting --config forecasting/configs/etth1.yaml \\
        --data-dir ../shared/data --set train.epochs=5
"""

import argparse
import json
import logging
import os
import sys

from pipelines.config import ConfigError

COMMANDS = ("train", "evaluate", "export", "predict")


def build_parser(domain=None):
    parser = argparse.ArgumentParser(
        prog=f"python -m {domain}.train" if domain else "pipelines",
        description="Train, evaluate, export and serve recurrent pipelines.",
    )
    if domain is None:
        parser.add_argument("command", choices=COMMANDS)
        parser.add_argument("domain")
    parser.add_argument("--config", help="YAML config (default: the domain's default)")
    parser.add_argument("--data-dir", help="data directory (default: $PIPELINES_DATA_DIR)")
    parser.add_argument("--run-dir", help="run directory (default: runs/<domain>/<name>)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override a config field; repeatable")
    parser.add_argument("--input", help="predict: input file")
    parser.add_argument("--output", help="predict: output file (default: stdout)")
    parser.add_argument("--export-dir", help="export: target (default: <run-dir>/export)")
    return parser


def resolve(args, task, command="train"):
    config_path = args.config
    if config_path is None and command != "train" and args.run_dir:
        # evaluate/export/predict on an existing run: the run's own config
        # (the one it was trained with), not the domain's default.
        saved = os.path.join(args.run_dir, "config.yaml")
        config_path = saved if os.path.exists(saved) else None
    config_path = config_path or task.default_config
    config = task.config_class.from_yaml(config_path, args.overrides)
    run_dir = args.run_dir or os.path.join("runs", task.name, config.name)
    if args.data_dir:
        os.environ["PIPELINES_DATA_DIR"] = os.path.abspath(args.data_dir)
    return config, os.path.abspath(run_dir), args.data_dir


def main(argv=None, domain=None):
    """Entry point of `pipelines` (and, with `domain`, of `<domain>.train`)."""
    from pipelines import registry

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(domain)
    args = parser.parse_args(argv)
    command = "train" if domain else args.command
    domain = domain or args.domain
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        task = registry.get_task(domain)
        config, run_dir, data_dir = resolve(args, task, command)
        if command == "train":
            result = task.train(config, run_dir, data_dir)
        elif command == "evaluate":
            result = task.evaluate(config, run_dir, data_dir)
        elif command == "export":
            result = task.export(config, run_dir, data_dir, args.export_dir)
        else:
            if not args.input:
                parser.error("predict needs --input")
            result = task.predict(config, run_dir, data_dir, args.input, args.output)
    except (ConfigError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if result is not None:
        print(json.dumps(result, indent=2, default=str))
    return 0


def domain_main(domain):
    """`python -m <domain>.train`: the train command of one domain."""
    sys.exit(main(domain=domain))


if __name__ == "__main__":
    sys.exit(main())
