"""Connecting to Ray (``FER_RAY_ADDRESS``) and waiting on it without hanging: what every stage that runs on a
cluster shares. Dagster-free; ``orchestration.resources.RayResource`` opens and closes it for a step.

Addresses: ``local`` starts a Ray instance for the run on this machine; ``auto`` is Ray's own discovery
(``RAY_ADDRESS``, else the cluster started on this machine); ``host:port`` (the GCS port of a head started with
``ray start --head``) or ``ray://host:port`` (Ray Client) is an existing cluster. An address that does not answer
is refused within ``CONNECT_TIMEOUT_S``, naming it; a token or password in it is never shown.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import socket
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, TypeVar

CONNECT_TIMEOUT_S = 10.0
ACTOR_CPUS = 0.4  # two actors and a read task fit on one CPU: reads are never starved (ray-project/ray #44687)
READ_CPUS = 0.2
T = TypeVar("T")


class RayUnavailableError(ConnectionError):
    """The cluster cannot be reached; the message names the address (without credentials) and the setting."""


class RayStallError(TimeoutError):
    """A pipeline made no progress for the stall limit; what was committed before stays committed."""


def shown(address: str) -> str:
    """The address as logs and errors show it: user info and query strings (tokens) removed."""
    return re.sub(r"//[^@/]*@", "//", address).split("?")[0]


def host_port(address: str) -> tuple[str, int] | None:
    """``(host, port)`` of an explicit address, None for ``local`` and ``auto``."""
    if address in ("local", "auto"):
        return None
    match = re.fullmatch(r"(?:ray://)?(?:[^@/]*@)?\[?([^\]/?]+?)\]?:(\d+)/?(?:\?.*)?", address)
    if not match:
        raise ValueError(f"FER_RAY_ADDRESS={shown(address)!r} is not local, auto, host:port or ray://host:port")
    return match.group(1), int(match.group(2))


def require_reachable(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Refuse within ``timeout_s`` an explicit address where nothing listens (``ray.init`` would retry for long)."""
    target = host_port(address)
    if target is None:
        return
    try:
        socket.create_connection(target, timeout=timeout_s).close()
    except OSError as exc:
        raise RayUnavailableError(
            f"the Ray cluster at {shown(address)} does not answer ({exc}): start it, or fix FER_RAY_ADDRESS"
        ) from exc


@dataclass(frozen=True)
class Cluster:
    """A connected cluster: what a step records in its metadata."""

    address: str  # as shown
    nodes: int
    cpus: float
    gpus: float

    def metadata(self) -> dict:
        """What a step that ran here records: the engine, the address without credentials, the live nodes."""
        return {"engine": "ray", "ray_address": self.address, "ray_nodes": self.nodes}


@contextmanager
def connected(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> Iterator[Cluster]:
    """``ray.init`` for the duration of the block, then ``ray.shutdown`` (the cluster itself keeps running)."""
    import ray  # imported only when a cluster is asked for

    require_reachable(address, timeout_s)
    # "local" always starts a new instance (a bare ray.init() would join a cluster `ray start` left on this
    # machine); it serves this machine only, so it listens on loopback, never on the machine's address.
    where = {"address": "local", "_node_ip_address": "127.0.0.1"} if address == "local" else {"address": address}
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        ray.init(**where, ignore_reinit_error=True, log_to_driver=False, configure_logging=False)
    except ConnectionError as exc:
        raise RayUnavailableError(f"cannot connect to the Ray cluster at {shown(address)}: {exc}") from exc
    try:
        resources = ray.cluster_resources()
        nodes = sum(1 for node in ray.nodes() if node.get("Alive"))
        yield Cluster(shown(address), nodes, resources.get("CPU", 0.0), resources.get("GPU", 0.0))
    finally:
        ray.shutdown()


def without_stalls(items: Iterable[T], stall_s: float, what: str) -> Iterator[T]:
    """``items``, but a gap of more than ``stall_s`` seconds between two of them raises ``RayStallError`` (Ray Data
    can hang when every actor is dead or no CPU is left for reading: ray-project/ray #44687, #62746, #41258)."""
    inbox: queue.Queue = queue.Queue(maxsize=4)
    done = object()

    def produce() -> None:
        try:
            for item in items:
                inbox.put(item)
            inbox.put(done)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            inbox.put(exc)

    threading.Thread(target=produce, name="fer-ray-results", daemon=True).start()
    while True:
        try:
            item = inbox.get(timeout=stall_s)
        except queue.Empty:
            raise RayStallError(
                f"{what} made no progress for {stall_s:.0f} s (FER_RAY_STALL_S): stopped; "
                f"everything committed before is kept, and a re-run resumes from it"
            ) from None
        if item is done:
            return
        if isinstance(item, BaseException):
            raise item
        yield item


def quiet_data() -> None:
    """Ray Data without its console bars: each step logs its own progress lines."""
    from ray.data import DataContext

    DataContext.get_current().enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)


def task_dataset(rows: list[dict], fn: Callable[..., dict], batch_size: int, tasks: int, fn_kwargs: dict):
    """``fn`` as Ray tasks over batches of ``rows``, at most ``tasks`` at a time (I/O and decoding: a fraction
    of a CPU each, a bounded pool instead of a crowd of workers)."""
    import ray.data
    from ray.data import TaskPoolStrategy

    quiet_data()
    return ray.data.from_items(rows, override_num_blocks=max(1, -(-len(rows) // batch_size))).map_batches(
        fn, batch_size=batch_size, num_cpus=READ_CPUS, fn_kwargs=fn_kwargs, compute=TaskPoolStrategy(size=tasks)
    )


def task_pipeline(
    rows: list[dict], fn: Callable[..., dict], batch_size: int, tasks: int, stall_s: float, what: str, **fn_kwargs
) -> Iterator[dict]:
    """Finished batches (numpy) of ``fn`` run as tasks on the connected cluster, in any order, ``without_stalls``."""
    batches = task_dataset(rows, fn, batch_size, tasks, fn_kwargs).iter_batches(batch_size=None, batch_format="numpy")
    yield from without_stalls(batches, stall_s, what)


def actor_pipeline(
    rows: list[dict],
    read: Callable[..., dict],
    actor: type,
    actor_args: tuple,
    batch_size: int,
    actors: tuple[int, int],
    stall_s: float,
    gpus_per_actor: float,
    what: str,
    read_kwargs: dict[str, Any] | None = None,
) -> Iterator[dict]:
    """Ray Data's batch-inference shape on the connected cluster: ``read`` as tasks over batches of ``rows``, then
    an autoscaling pool of ``actor`` (``ActorPoolStrategy(min, max)``); finished batches (numpy) as they come,
    in any order, with ``without_stalls``. Actors take a fraction of a CPU, or one GPU each when asked."""
    from ray.data import ActorPoolStrategy

    # reads keep up with the actors: as many read tasks at a time as actors at most
    dataset = task_dataset(rows, read, batch_size, actors[1], read_kwargs or {}).map_batches(
        actor,
        fn_constructor_args=actor_args,
        batch_size=batch_size,
        compute=ActorPoolStrategy(min_size=actors[0], max_size=actors[1]),
        num_cpus=ACTOR_CPUS,
        num_gpus=gpus_per_actor,
    )
    batches = dataset.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=1)
    yield from without_stalls(batches, stall_s, what)
