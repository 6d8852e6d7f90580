"""The pipelines every stage runs on a connected cluster, driven from the step by pulling: ``task_pipeline``
(Ray tasks over batches: landing, a scan's hashing) and ``actor_pipeline`` (read tasks, then a pool of model
actors: embedding, expression vectors), both run by a ``runner.PipelineRunner`` on the head node.

The step waits for each batch at most ``Pool.stall_s`` (Ray Data can hang when every actor is dead or no CPU is
left for reading: ray-project/ray #44687, #62746, #41258), and for the first one ``Pool.startup_s`` (nodes
brought up by an autoscaler, models loaded), then stops the pipeline: nothing is left running behind it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np

from fer_platform.ray_cluster.connection import HEAD_RESOURCE
from fer_platform.ray_cluster.runner import ActorStage, PipelineRunner, TaskStage

Columns = dict[str, np.ndarray]  # equal-length columns: a block's rows
Rows = dict[str, Any]  # a pipeline's input: equal-length numpy or Arrow columns (Arrow: no Python object per row)
PULLS_IN_FLIGHT = 4  # batches asked of the runner ahead of the one being handed on


class RayStallError(TimeoutError):
    """A pipeline made no progress for its limit; what was committed before stays committed."""


@dataclass(frozen=True)
class Pool:
    """How a stage may use the connected cluster (``RayResource.pool``)."""

    actors: tuple[int, int]  # (min, max) model actors
    tasks: int  # read or copy tasks at a time
    gpus_per_actor: float
    stall_s: float  # longest wait for the next batch
    startup_s: float  # longest wait for the first batch

    def metadata(self) -> dict:
        """What a step records of how it used the cluster."""
        return {"ray_actors": f"{self.actors[0]}-{self.actors[1]}", "ray_gpus_per_actor": self.gpus_per_actor}


def on_head() -> Any:
    """Placement on the head node: what must outlive any worker node (a pipeline's runner, a progress channel)."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    head = next(n["NodeID"] for n in ray.nodes() if n.get("Alive") and HEAD_RESOURCE in n.get("Resources", {}))
    return NodeAffinitySchedulingStrategy(node_id=head, soft=False)


def pulled(runner: Any, pool: Pool, what: str) -> Iterator[Columns]:
    """The runner's batches, ``PULLS_IN_FLIGHT`` asked for ahead (a round trip through Ray Client costs a few
    ms each); a wait past the limit stops."""
    import ray

    pending = deque(runner.take.remote() for _ in range(PULLS_IN_FLIGHT))
    limit, setting = max(pool.startup_s, pool.stall_s), "FER_RAY_STARTUP_S"
    while True:
        if not ray.wait([pending[0]], timeout=limit)[0]:
            raise RayStallError(
                f"{what} made no progress for {limit:.0f} s ({setting}): stopped; "
                f"everything committed before is kept, and a re-run resumes from it"
            )
        batch = ray.get(pending.popleft())
        if batch is None:
            return
        pending.append(runner.take.remote())
        limit, setting = pool.stall_s, "FER_RAY_STALL_S"
        yield batch


def run_pipeline(rows: Rows, stages: tuple, block_rows: int, pool: Pool, what: str) -> Iterator[Columns]:
    """``stages`` over ``rows`` on the cluster: finished batches as they come; the pipeline is stopped when the
    caller stops reading or fails."""
    import pyarrow as pa
    import ray

    if not len(next(iter(rows.values()))):
        return
    runner = ray.remote(PipelineRunner).options(num_cpus=0, scheduling_strategy=on_head(), max_restarts=0)
    handle = runner.remote(pa.table(rows), stages, block_rows)
    try:
        yield from pulled(handle, pool, what)
    finally:
        ray.kill(handle)


def task_pipeline(
    rows: Rows, fn: Callable[..., dict], batch_size: int, pool: Pool, what: str, **fn_kwargs: Any
) -> Iterator[Columns]:
    """Finished batches (numpy) of ``fn`` run as tasks over ``rows``, in any order."""
    stages = (TaskStage(fn, batch_size, pool.tasks, fn_kwargs),)
    yield from run_pipeline(rows, stages, batch_size, pool, what)


def actor_pipeline(
    rows: Rows, read: Callable[..., dict], actor: type, actor_args: tuple, batch_size: int, pool: Pool,
    what: str, read_kwargs: dict[str, Any] | None = None,
) -> Iterator[Columns]:
    """Ray Data's batch-inference shape: ``read`` as tasks over batches of ``rows`` (as many at a time as actors
    at most, so reads keep up), then an autoscaling pool of ``actor``; finished batches (numpy), in any order."""
    read_stage = TaskStage(read, batch_size, pool.actors[1], read_kwargs or {})
    model_stage = ActorStage(actor, actor_args, batch_size, pool.actors, pool.gpus_per_actor)
    yield from run_pipeline(rows, (read_stage, model_stage), batch_size, pool, what)
