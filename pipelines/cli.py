"""`pipelines prepare|train|evaluate|export|predict <domain> ...`: one thin CLI.

Every domain's `python -m <domain>.train` calls the same `main`, and both
only parse flags, build the config and call the domain's `Task` (the same
methods a notebook can call).

    pipelines train forecasting --config forecasting/configs/etth1.yaml \\
        --data-dir ../shared/data --set train.epochs=5

Which config and data a command uses:

- `train` starts from `--config` (default: the domain's default config) plus
  `--set` overrides.
- `evaluate`, `export` and `predict` on an existing `--run-dir` start from the
  config the run was trained with (its `config.yaml`). `--config` and
  `--set` may change `data.*` fields there (what to evaluate on, where the
  files are); `train.*` does not matter to a trained model; any other change
  (the model is the trained one) is refused with an error that says so.
- The data directory is `--data-dir`, else `$PIPELINES_DATA_DIR`, else the
  one the run was trained with (recorded in its `run.json`), else
  `~/.keras/pipelines_data`.
"""

import argparse
import json
import logging
import os
import sys

from pipelines.config import ConfigError
from pipelines.registry import DOMAINS

COMMANDS = {
    "prepare": "write a corpus as TFRecord shards, on Apache Beam",
    "train": "train, evaluate and export a model",
    "evaluate": "score a trained run again (metrics.json)",
    "export": "write a trained run's SavedModel again",
    "predict": "run a trained model on files",
}

#: Exit status of `predict` when inputs were skipped (`--skip-bad`).
SKIPPED_STATUS = 3


def _add_prepare(parser):
    parser.add_argument("--config", help="YAML config whose data section names the corpus "
                                         "(default: the domain's default)")
    parser.add_argument("--data-dir", help="data directory (default: $PIPELINES_DATA_DIR, "
                                           "else ~/.keras/pipelines_data)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override a config field; repeatable")
    parser.add_argument("--input", help="the corpus instead of the config's dataset: a "
                                        "manifest, corpus folder, captions file or TSV")
    parser.add_argument("--output", required=True, help="the shard folder to write")
    parser.add_argument("--shards", type=int, default=8,
                        help="shard files per split (at least the training workers; "
                             "default 8)")
    parser.add_argument("--overwrite", action="store_true",
                        help="rebuild an existing --output (replaced whole, atomically)")
    parser.add_argument("--native-logs", action="store_true",
                        help="show TensorFlow's native log lines (hidden by default)")
    parser.epilog = ("Other --options go to Apache Beam: by default the local runner "
                     "(FnApiRunner, one process per core); e.g. --runner=FlinkRunner "
                     "--flink_master=HOST:8081, or --runner=DataflowRunner --project=P "
                     "--region=R --temp_location=gs://B/tmp.")


def _add_common(parser, command):
    parser.add_argument("--config", help="YAML config (default: the domain's default; for a "
                                         "trained run, its own config.yaml)")
    parser.add_argument("--data-dir", help="data directory (default: $PIPELINES_DATA_DIR, "
                                           "else the run's, else ~/.keras/pipelines_data)")
    parser.add_argument("--run-dir", help="run directory (default: runs/<domain>/<name>)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE",
                        help="override a config field; repeatable"
                             + ("" if command == "train" else " (data.* only)"))
    parser.add_argument("--native-logs", action="store_true",
                        help="show TensorFlow's native log lines (hidden by default)")
    if command == "export":
        parser.add_argument("--export-dir", help="target (default: <run-dir>/export)")
    if command == "predict":
        parser.add_argument("--input", required=True,
                            help="input file (or folder / list file, by domain; with "
                                 "--engine beam also a glob)")
        parser.add_argument("--output", help="output file (default: stdout; with --engine "
                                             "beam required: the JSON lines file)")
        parser.add_argument("--engine", choices=["beam"],
                            help="beam: run the export (--export-dir) on Apache Beam "
                                 "RunInference, batched, errors to <output>.errors.jsonl "
                                 "(default: in this process, on the run's saved model)")
        parser.add_argument("--export-dir", help="with --engine beam: the SavedModel "
                                                 "(default: <run-dir>/export)")
        parser.add_argument("--batch-size", type=int, default=32,
                            help="with --engine beam: examples per serve call (default 32)")
        parser.add_argument("--no-bucketing", action="store_true",
                            help="with --engine beam: batch in arrival order, not by length")
        parser.add_argument("--stream", action="store_true",
                            help="feed --input to the model chunk by chunk as it would "
                                 "arrive, printing the partial transcript each time it "
                                 "changes, then the final one with word times (speech, "
                                 "causal models: speech/configs/fsdd_streaming.yaml)")
        parser.add_argument("--chunk-ms", type=float, default=100.0,
                            help="with --stream: the chunk length in ms (default 100)")
        parser.add_argument("--skip-bad", action="store_true",
                            help="skip inputs that cannot be read, report them, and exit "
                                 f"with status {SKIPPED_STATUS} if any was skipped")
        parser.add_argument("--allow-skipped", action="store_true",
                            help="with --skip-bad (or --engine beam): exit 0 even when inputs "
                                 "were skipped (or became error records)")


def build_parser(domain=None):
    """The parser of `pipelines` or, with `domain`, of `python -m
    <domain>.train` (the train command of that domain)."""
    domains = ", ".join(sorted(DOMAINS))
    if domain is not None:
        parser = argparse.ArgumentParser(
            prog=f"python -m {domain}.train",
            description=f"Train, evaluate and export the {domain} pipeline "
                        f"(the same as `pipelines train {domain}`).")
        _add_common(parser, "train")
        parser.set_defaults(command="train", domain=domain)
        return parser
    parser = argparse.ArgumentParser(
        prog="pipelines",
        description="Train, evaluate, export and serve recurrent pipelines. "
                    f"Domains: {domains}.",
        epilog="`pipelines COMMAND --help` lists a command's options.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command, text in COMMANDS.items():
        sub = commands.add_parser(command, help=text, description=f"{text}.")
        sub.add_argument("domain", metavar="DOMAIN", help=f"one of: {domains}")
        if command == "prepare":
            _add_prepare(sub)
        else:
            _add_common(sub, command)
    return parser


def resolve(args, task, command="train"):
    """`(config, run_dir, data_dir)` for the command (see the module
    docstring for which config and data directory)."""
    from pipelines import data as data_lib
    from pipelines.training import RunDir

    saved = None
    if command != "train" and args.run_dir:
        path = os.path.join(args.run_dir, "config.yaml")
        saved = path if os.path.exists(path) else None
    config_path = args.config or saved or task.default_config
    try:
        config = task.config_class.from_yaml(config_path, args.overrides)
    except ConfigError as e:
        raise ConfigError(_name_the_override(str(e), config_path, args.overrides)) from None
    if saved is not None and (args.config or args.overrides):
        base = task.config_class.from_yaml(saved, [])
        _only_data_changes(command, base, config)
    run_dir = os.path.abspath(args.run_dir or os.path.join("runs", task.name, config.name))
    data_dir = args.data_dir
    if not data_dir and not os.environ.get(data_lib.ENV_VAR) and command != "train":
        data_dir = RunDir(run_dir).recorded_data_dir()
    if data_dir:
        data_dir = os.path.abspath(data_dir)
        os.environ[data_lib.ENV_VAR] = data_dir
    return config, run_dir, data_dir


def _name_the_override(message, config_path, overrides):
    """A bad `--set` is reported against the override, not the YAML file."""
    prefix = f"{config_path}: "
    body = message[len(prefix):] if message.startswith(prefix) else message
    for item in overrides:
        key = item.split("=", 1)[0].strip()
        if f"'{key}'" in body or f"'{key}." in body:
            return f"--set {item}: {body}"
    return message


def _only_data_changes(command, trained, wanted):
    """Refuses `--config`/`--set` changes outside `data.*` on a trained run."""
    from pipelines.training import config_changes, describe_changes

    old, new = trained.to_dict(), wanted.to_dict()
    # data.* is honoured; train.* (and the run name) cannot matter to a
    # trained model; anything else would be silently ignored, so it is refused.
    changed = config_changes(
        old, new, lambda k: k.startswith(("data.", "train.")) or k == "name")
    if changed:
        details = describe_changes(old, new, changed)
        raise ConfigError(
            f"`{command}` on a trained run can change only data.* fields (the model is the "
            f"one trained); refused: {details}. Train a new run to change them.")


def main(argv=None, domain=None):
    """Entry point of `pipelines` (and, with `domain`, of `<domain>.train`)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(domain)
    args, beam_args = parser.parse_known_args(argv)
    beam = args.command == "prepare" or getattr(args, "engine", None) == "beam"
    if beam_args and not beam:
        parser.error(f"unrecognized arguments: {' '.join(beam_args)}")
    if not args.native_logs:
        from pipelines import logs

        logs.quiet_native_logs()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # TensorFlow's Python INFO lines ("Assets written to ...") say nothing a
    # user needs; its warnings still show.
    logging.getLogger("tensorflow").setLevel(logging.WARNING)
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    # It relays every worker warning about its own set-up.
    logging.getLogger("apache_beam.runners.portability.local_job_service").setLevel(logging.ERROR)
    from pipelines import registry

    try:
        task = registry.get_task(args.domain)
        if args.command == "prepare":
            result = _prepare(task, args, beam_args)
            print(json.dumps(result, indent=2, default=str))
            return 0
        if args.command == "predict" and args.engine == "beam":
            from pipelines.batch import BatchError

            try:
                result = _batch_predict(task, args, beam_args)
            except BatchError as e:
                print(f"error: {e}", file=sys.stderr)
                return 1
            print(json.dumps(result, indent=2, default=str))
            return SKIPPED_STATUS if result["errors"] and not args.allow_skipped else 0
        config, run_dir, data_dir = resolve(args, task, args.command)
        if args.command == "train":
            result = task.train(config, run_dir, data_dir)
        elif args.command == "evaluate":
            result = task.evaluate(config, run_dir, data_dir)
        elif args.command == "export":
            result = task.export(config, run_dir, data_dir, args.export_dir)
        elif args.stream:
            result = task.stream(config, run_dir, data_dir, args.input, args.chunk_ms)
        else:
            result = task.predict(config, run_dir, data_dir, args.input, args.output,
                                  skip_bad=args.skip_bad)
    except (ConfigError, ValueError, FileNotFoundError, FileExistsError, ImportError,
            UnicodeDecodeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    status = 0
    if isinstance(result, dict) and result.get("skipped"):
        status = 0 if args.allow_skipped else SKIPPED_STATUS
    if result is not None:
        print(json.dumps(result, indent=2, default=str))
    return status


def _batch_predict(task, args, beam_args):
    """`pipelines predict --engine beam`: the export on Beam RunInference."""
    if not args.output:
        raise ValueError("--engine beam needs --output PATH (the JSON lines file to write).")
    export_dir = args.export_dir
    if not export_dir:
        if not args.run_dir:
            raise ValueError("--engine beam needs --export-dir DIR (or --run-dir of a trained "
                             "run, whose export/ is used).")
        export_dir = os.path.join(args.run_dir, "export")
    if args.data_dir:
        from pipelines import data as data_lib

        os.environ[data_lib.ENV_VAR] = os.path.abspath(args.data_dir)
    return task.batch_predict(export_dir, args.input, args.output, batch_size=args.batch_size,
                              bucketing=not args.no_bucketing, beam_args=beam_args)


def _prepare(task, args, beam_args):
    """`pipelines prepare`: the domain's corpus -> shards; returns a summary
    of the index."""
    from pipelines import data as data_lib

    config_path = args.config or task.default_config
    try:
        config = task.config_class.from_yaml(config_path, args.overrides)
    except ConfigError as e:
        raise ConfigError(_name_the_override(str(e), config_path, args.overrides)) from None
    data_dir = os.path.abspath(args.data_dir) if args.data_dir else None
    if data_dir:
        os.environ[data_lib.ENV_VAR] = data_dir
    index = task.prepare(config, args.output, input=args.input, shards=args.shards,
                         data_dir=data_dir, beam_args=beam_args, overwrite=args.overwrite)
    return {"shards": os.path.abspath(args.output),
            "splits": {k: {"examples": v["examples"], "skipped": v["skipped"],
                           "shards": len(v["shards"])} for k, v in index["splits"].items()},
            "seconds": index["seconds"],
            "train_with": f"--set data.shards={os.path.abspath(args.output)}"}


def domain_main(domain):
    """`python -m <domain>.train`: the train command of one domain."""
    sys.exit(main(domain=domain))


if __name__ == "__main__":
    sys.exit(main())
