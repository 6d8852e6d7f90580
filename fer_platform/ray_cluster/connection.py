"""Connecting to Ray (``FER_RAY_ADDRESS``) from wherever the Dagster step runs.

Addresses: ``local`` starts a Ray instance for the run on this machine; ``auto`` is Ray's own discovery
(``RAY_ADDRESS``, else the cluster started on this machine); ``host:port`` is the GCS port of a head started with
``ray start --head`` and needs a Ray node on this host (``ray start --address=... --num-cpus=0``): a driver with
no node of its own attaches to the head's raylet and advertises the head's address as its own, so workers cannot
reach what it owns and pipelines hang (measured, NOTES.md); that case is refused at connect, naming the fix.
``ray://host:port`` is Ray Client, which works from any host: the shipped deployments use it. An address that
does not answer is refused within ``CONNECT_TIMEOUT_S``, naming it; a token or password in it is never shown.
"""

from __future__ import annotations

import logging
import os
import re
import socket
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

CONNECT_TIMEOUT_S = 10.0
CLIENT_ATTEMPTS = 3
HEAD_RESOURCE = "node:__internal_head__"  # a resource only the head node has


class RayUnavailableError(ConnectionError):
    """The cluster cannot be reached; the message names the address (without credentials) and the setting."""


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
    """A connected cluster: what a step records in its metadata and what it may ask of it."""

    address: str  # as shown
    nodes: int
    cpus: float
    gpus: float

    def metadata(self) -> dict:
        """What a step that ran here records: the engine, the address without credentials, the live nodes, GPUs."""
        return {"engine": "ray", "ray_address": self.address, "ray_nodes": self.nodes, "ray_gpus": self.gpus}


def this_host_addresses() -> set[str]:
    """Every IP address of this host's interfaces (the driver's host)."""
    import psutil  # a dependency of Ray

    return {a.address.split("%")[0] for addrs in psutil.net_if_addrs().values() for a in addrs}


def require_node_on_this_host(address: str) -> None:
    """A GCS address works only with a Ray node on the driver's host: refuse it otherwise (a pipeline driven from
    there would hang), naming the two forms that work from another host."""
    import ray

    node_id = ray.get_runtime_context().get_node_id()
    node_ip = next((n["NodeManagerAddress"] for n in ray.nodes() if n["NodeID"] == node_id), None)
    if node_ip is not None and node_ip not in this_host_addresses():
        raise RayUnavailableError(
            f"FER_RAY_ADDRESS={shown(address)} reaches the cluster, but this host runs no Ray node (the driver "
            f"attached to the node at {node_ip}, which cannot reach it back): use Ray Client, "
            f"FER_RAY_ADDRESS=ray://<head>:10001, or start a node here: ray start --address=... --num-cpus=0"
        )


def init_kwargs(address: str) -> dict:
    """``ray.init``'s arguments: ``local`` always starts a new instance (a bare ``ray.init()`` would join a cluster
    ``ray start`` left on this machine) that serves this machine only, so it listens on loopback."""
    if address == "local":
        return {"address": "local", "_node_ip_address": "127.0.0.1"}
    return {"address": address}


def init(address: str) -> None:
    """``ray.init``; a Ray Client connection the server failed to initialize is tried ``CLIENT_ATTEMPTS`` times,
    because the head's client server sometimes loses the per-client server it forks (ray-project/ray #63202,
    measured here too: 1 in 3 tries); a server that does not answer as Ray Client fails after Ray's own retries
    (about 30 s). Every failed try is shut down: a Ray Client connect that fails leaves Ray's process-wide
    client mode on, and the next ``ray.init`` of a GCS address in the process then fails inside Ray."""
    import ray

    attempts = CLIENT_ATTEMPTS if address.startswith("ray://") else 1
    for attempt in range(1, attempts + 1):
        try:
            ray.init(**init_kwargs(address), ignore_reinit_error=True, log_to_driver=False, configure_logging=False)
            return
        except (ConnectionError, TimeoutError) as exc:
            ray.shutdown()  # a failed Ray Client connect leaves Ray's client mode on for the whole process
            if attempt == attempts or "Initialization failure from server" not in str(exc):
                raise RayUnavailableError(
                    f"cannot connect to the Ray cluster at {shown(address)} ({attempts} tries): {exc}"
                ) from exc
            logging.getLogger(__name__).warning(f"Ray Client at {shown(address)} refused try {attempt}: {exc}")


@contextmanager
def connected(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> Iterator[Cluster]:
    """``ray.init`` for the duration of the block, then ``ray.shutdown`` (the cluster itself keeps running)."""
    import ray  # imported only when a cluster is asked for

    require_reachable(address, timeout_s)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    init(address)
    try:
        if not address.startswith("ray://"):
            require_node_on_this_host(address)
        resources = ray.cluster_resources()
        nodes = sum(1 for node in ray.nodes() if node.get("Alive"))
        yield Cluster(shown(address), nodes, resources.get("CPU", 0.0), resources.get("GPU", 0.0))
    finally:
        ray.shutdown()
