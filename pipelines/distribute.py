"""One place that turns a strategy name into a `tf.distribute` strategy.

`default` (one device), `mirrored` (all local GPUs, or the given devices),
`multi_worker` (MultiWorkerMirroredStrategy, configured by `TF_CONFIG`), and
`tpu`. Build and compile models inside `strategy.scope()`; Keras splits each
global batch across replicas and shards `tf.data` input between workers.

Example:

>>> strategy = get_strategy("default")
>>> strategy.num_replicas_in_sync
1
"""

import json
import logging
import os

import tensorflow as tf

log = logging.getLogger(__name__)

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")


def get_strategy(name="default", devices=None, tpu_address=None):
    """Returns the `tf.distribute.Strategy` named by `name`.

    Args:
        name: one of `STRATEGIES`.
        devices: for `mirrored`, the device names to mirror over (defaults to
            all local GPUs, or the CPU when there are none).
        tpu_address: for `tpu`, the TPU name or address ("" = local).
    """
    if name not in STRATEGIES:
        raise ValueError(
            f"Unknown distribution strategy {name!r}; expected one of "
            f"{list(STRATEGIES)}."
        )
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(devices=devices)
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError(
                "Strategy 'multi_worker' needs the TF_CONFIG environment "
                "variable describing the cluster and this worker's task."
            )
        cluster_config()  # one clear error for bad JSON
        return _MultiWorkerMirroredStrategy()
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(
        tpu=tpu_address or ""
    )
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


class _MultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
    """`MultiWorkerMirroredStrategy` whose `reduce` takes what Keras 3 gives it.

    With several workers, Keras 3's `fit` and `evaluate` call `reduce` with a
    whole batch structure (`(x, y)`, to build the model), with scalar losses
    and metrics and `axis=0`, and without `axis` (sums). The collective
    strategy reduces one value per call along an axis it must have, so plain
    `MultiWorkerMirroredStrategy` fails on the first step ("Attempt to convert
    a value (PerReplica...)", then "Invalid reduction dimension 0"); see
    keras-team/keras#20585. Here each leaf is reduced on its own, and a
    scalar only across replicas, which is what Keras means.
    """

    def reduce(self, reduce_op, value, axis=None):
        parent = super()

        def reduce_leaf(v):
            local = self.experimental_local_results(v)[0]
            rank = getattr(getattr(local, "shape", None), "rank", None)
            return parent.reduce(reduce_op, v, axis=None if rank == 0 else axis)

        return tf.nest.map_structure(reduce_leaf, value)


def cluster_config():
    """`TF_CONFIG` parsed (`{}` when unset or empty)."""
    raw = os.environ.get("TF_CONFIG", "") or "{}"
    try:
        return json.loads(raw)
    except json.JSONDecodeError as e:
        raise ValueError(f"TF_CONFIG is not valid JSON: {e}") from None


def task():
    """`(type, index)` of this process's task in `TF_CONFIG` (`("chief", 0)`
    without one: a single process is its own chief)."""
    info = cluster_config().get("task", {})
    return info.get("type", "chief"), int(info.get("index", 0))


def is_chief():
    """True on the worker that should write checkpoints, logs and exports."""
    kind, index = task()
    has_chief = "chief" in cluster_config().get("cluster", {})
    return kind == "chief" or (not has_chief and kind == "worker" and index == 0)


def worker_count():
    """Workers (chief included) in `TF_CONFIG`'s cluster; 1 without one."""
    cluster = cluster_config().get("cluster", {})
    return max(1, len(cluster.get("worker", [])) + len(cluster.get("chief", [])))


def shard_options(dataset, files=None):
    """Sets how `dataset` is split across workers.

    Args:
        dataset: a `tf.data.Dataset`.
        files: for a dataset read from files (`pipelines.shards`), how many:
            with at least one file per worker each worker reads its own files
            (`AutoShardPolicy.FILE`); with fewer, every worker reads every
            file and keeps its share of the examples (`DATA`), which is
            logged. None (in-memory or generated data): `DATA`.
    """
    policy = tf.data.experimental.AutoShardPolicy.DATA
    if files is not None:
        workers = worker_count()
        if files >= workers:
            policy = tf.data.experimental.AutoShardPolicy.FILE
        else:
            log.warning(
                "%d shard file(s) for %d workers: each worker reads every file and keeps "
                "1/%d of the examples; prepare with --shards %d or more so that each "
                "reads only its own files.", files, workers, workers, workers)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = policy
    return dataset.with_options(options)
