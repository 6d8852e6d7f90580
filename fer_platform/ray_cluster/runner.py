"""What runs on the cluster to drive a pipeline: ``PipelineRunner``, an actor on the head node that builds the Ray
Data pipeline (the shape of Ray's batch-inference examples: read tasks, then an actor pool) and hands its
finished batches to the step one at a time.

Why an actor and not the step's own process: Ray Data's streaming executor cannot run in a Ray Client driver
(Ray 2.60: no core worker there), and a driver on a host with no Ray node cannot be reached by the workers that
return its results. On the head the pipeline's owner is reachable from every worker whatever address the step
used; the step only pulls batches, so it holds one batch at a time. The head outlives any worker node, so a
worker's loss costs its batches (Ray retries them), never the pipeline.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np

ACTOR_CPUS = 0.4  # two actors and a read task fit on one CPU: reads are never starved (ray-project/ray #44687)
READ_CPUS = 0.2


@dataclass(frozen=True)
class TaskStage:
    """``fn`` as Ray tasks over batches, at most ``tasks`` at a time (I/O and decoding: a fraction of a CPU each,
    a bounded pool instead of a crowd of workers)."""

    fn: Callable[..., dict]
    batch_size: int
    tasks: int
    fn_kwargs: dict = field(default_factory=dict)

    def apply(self, dataset: Any) -> Any:
        from ray.data import TaskPoolStrategy

        return dataset.map_batches(
            self.fn, batch_size=self.batch_size, num_cpus=READ_CPUS, fn_kwargs=self.fn_kwargs,
            compute=TaskPoolStrategy(size=self.tasks),
        )


@dataclass(frozen=True)
class ActorStage:
    """An autoscaling pool of ``actor`` (``ActorPoolStrategy(min, max)``): a fraction of a CPU each, and
    ``gpus`` each when asked, so that an autoscaler brings nodes with GPUs."""

    actor: type
    args: tuple
    batch_size: int
    actors: tuple[int, int]
    gpus: float

    def apply(self, dataset: Any) -> Any:
        from ray.data import ActorPoolStrategy

        return dataset.map_batches(
            self.actor, fn_constructor_args=self.args, batch_size=self.batch_size,
            compute=ActorPoolStrategy(min_size=self.actors[0], max_size=self.actors[1]),
            num_cpus=ACTOR_CPUS, num_gpus=self.gpus,
        )


class PipelineRunner:
    """Ray actor: the pipeline of ``stages`` over ``rows`` (an Arrow table, cut into blocks of ``block_rows``),
    its finished batches (numpy columns) one per ``take``, in any order, then None."""

    def __init__(self, rows: Any, stages: tuple, block_rows: int):
        import ray.data
        from ray.data import DataContext

        DataContext.get_current().enable_progress_bars = False  # each step logs its own progress lines
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        blocks = [rows.slice(start, block_rows) for start in range(0, rows.num_rows, block_rows)]
        dataset = ray.data.from_arrow(blocks)
        for stage in stages:
            dataset = stage.apply(dataset)
        self.batches = iter(dataset.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=1))

    def take(self) -> Optional[dict[str, np.ndarray]]:
        """The next finished batch, None when there are no more."""
        return next(self.batches, None)
