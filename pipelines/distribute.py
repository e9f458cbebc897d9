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
    scalar only across replicas, which is what Keras means; the first data
    batch (reduced only to build the model from its shapes) stays local.
    """

    def reduce(self, reduce_op, value, axis=None):
        parent = super()

        def reduce_leaf(v):
            local = self.experimental_local_results(v)[0]
            rank = getattr(getattr(local, "shape", None), "rank", None)
            if rank and axis is None and str(reduce_op).upper().endswith("MEAN"):
                # The first data batch, averaged only so that Keras can build
                # the model from its shapes: padded variable-length batches
                # differ in shape between workers, and the collective mean
                # would fail on them. This worker's batch has the shapes.
                return local
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


# (files, workers) already warned about: `fit` asks once per dataset it makes.
_WARNED = set()


def worker_shard(files):
    """`(workers, this worker's ordinal)` when `files` shard files can be
    split between the workers of `TF_CONFIG` by file (at least one each);
    None for a single worker, or (logged) when there are fewer files than
    workers: then every worker reads every file and keeps its share of the
    examples (`shard_options`).

    Sharding by file is done on the file list itself (`Dataset.shard`), not
    by `AutoShardPolicy.FILE`: tf.data's auto-sharding cannot find the
    files behind bucketing (`GroupByWindowDataset`).
    """
    workers = worker_count()
    if workers == 1:
        return None
    if files < workers:
        if (files, workers) in _WARNED:
            return None
        _WARNED.add((files, workers))
        log.warning(
            "%d shard file(s) for %d workers: each worker reads every file and keeps "
            "1/%d of the examples; prepare with --shards %d or more so that each reads "
            "only its own files.", files, workers, workers, workers)
        return None
    kind, index = task()
    # MultiWorkerMirroredStrategy orders the chief first, then the workers.
    has_chief = "chief" in cluster_config().get("cluster", {})
    return workers, 0 if kind == "chief" else index + int(has_chief)


def shard_options(dataset, sharded=False):
    """Sets how `dataset` is split across workers: `sharded` (each worker
    already reads only its own files, `worker_shard`) turns auto-sharding
    off; otherwise each worker keeps its share of the examples
    (`AutoShardPolicy.DATA`, the safe choice for in-memory and generated
    data)."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.OFF if sharded
        else tf.data.experimental.AutoShardPolicy.DATA)
    return dataset.with_options(options)
