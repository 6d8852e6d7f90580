"""A real multi-node Ray cluster on this machine for the tests: ``ray start --head`` and worker nodes as separate
processes on 127.0.0.1, each in a process session of its own, ended by process group (a node killed with
SIGKILL otherwise leaves its agents behind). NOTES.md's traps: every process gets the same ``RAY_AUTH_MODE``
and no usage stats; the caller runs inside a network namespace of its own (``netns.py``), so that the nodes'
traffic cannot leave loopback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import psycopg

from fer_platform_tests.support.servers.deployment import free_port

RAY = Path(sys.executable).parent / "ray"
RAY_ENV = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
NODE_START_TIMEOUT_S = 120
RESTART_AFTER_S = 3  # a killed node comes back this long after (killing)
KILL_WAIT_S = 300


def ports() -> list[str]:
    """Ports a node would otherwise take from fixed defaults (two nodes on one address would clash)."""
    return [
        f"--dashboard-agent-listen-port={free_port()}",
        f"--dashboard-agent-grpc-port={free_port()}",
        f"--metrics-export-port={free_port()}",
        f"--runtime-env-agent-port={free_port()}",
    ]


@dataclass
class RayTestCluster:
    """A head with no CPUs (the work goes to the workers) and ``workers`` nodes of one CPU each, on ``host_ip``;
    ``prefix`` runs a command on the cluster's host (``two_hosts.ClusterHost.prefix``; none: this host)."""

    folder: Path
    env: dict[str, str]
    host_ip: str = "127.0.0.1"
    prefix: tuple[str, ...] = ()
    port: int = field(default_factory=free_port)
    client_port: int = field(default_factory=free_port)
    nodes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def address(self) -> str:
        """The head's GCS address (for a driver with a Ray node on its host)."""
        return f"{self.host_ip}:{self.port}"

    @property
    def client_address(self) -> str:
        """The head's Ray Client address (for a driver on any host)."""
        return f"ray://{self.host_ip}:{self.client_port}"

    def start_node(self, name: str, *args: str) -> None:
        log = open(self.folder / f"{name}.log", "wb")  # noqa: SIM115 - kept open for the node's life
        command = [str(RAY), "start", "--block", f"--node-ip-address={self.host_ip}", "--disable-usage-stats"]
        self.nodes[name] = subprocess.Popen(
            [*self.prefix, *command, *ports(), *args],
            env=self.env | RAY_ENV,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start(self, workers: int) -> None:
        self.start_node(
            "head", "--head", f"--port={self.port}", "--num-cpus=0", "--include-dashboard=false",
            f"--ray-client-server-port={self.client_port}",
        )
        for i in range(workers):
            self.start_worker(f"worker{i}")

    def start_worker(self, name: str) -> None:
        self.start_node(name, f"--address={self.address}", "--num-cpus=1", "--object-store-memory=200000000")
        self.wait_for_nodes(len(self.nodes))

    def alive_nodes(self) -> int:
        """Alive nodes as the head sees them (``ray list nodes`` would need the dashboard)."""
        code = "import ray; ray.init(address='%s', log_to_driver=False); print(sum(n['Alive'] for n in ray.nodes()))"
        proc = subprocess.run(
            [*self.prefix, sys.executable, "-c", code % self.address], env=self.env | RAY_ENV, capture_output=True,
            text=True, timeout=60,
        )
        return int(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 and proc.stdout.strip() else 0

    def wait_for_nodes(self, count: int) -> None:
        deadline = time.monotonic() + NODE_START_TIMEOUT_S
        while self.alive_nodes() < count:
            dead = [name for name, proc in self.nodes.items() if proc.poll() is not None]
            if dead or time.monotonic() > deadline:
                logs = {name: (self.folder / f"{name}.log").read_text()[-2000:] for name in self.nodes}
                raise RuntimeError(f"Ray nodes did not come up (dead: {dead}): {logs}")
            time.sleep(1)

    def kill(self, name: str) -> None:
        """SIGKILL a node's whole process group: its raylet, object store, agents and workers."""
        proc = self.nodes.pop(name)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(30)

    def stop(self) -> None:
        for name in [n for n in self.nodes if n != "head"] + ["head"]:
            if name in self.nodes:
                self.kill(name)


@contextmanager
def running_cluster(folder: Path, azurite: str, workers: int = 2, **where: object) -> Iterator[RayTestCluster]:
    """A started cluster (``where``: ``host_ip``, ``prefix`` of another host) whose nodes hold the source
    container's credentials (the driver need not); this process gets the nodes' auth mode, as a driver must."""
    env = dict(os.environ) | {"AZURE_STORAGE_CONNECTION_STRING": azurite}
    nodes = RayTestCluster(folder, env, **where)  # type: ignore[arg-type]
    os.environ.update(RAY_ENV)
    try:
        nodes.start(workers=workers)
        yield nodes
    finally:
        nodes.stop()


def store_rows(dsn: str) -> int:
    """Vectors committed to the store so far (a sign a run is past its first chunk)."""
    with psycopg.connect(dsn) as conn:
        if conn.execute("SELECT to_regclass('fer_vector_store')").fetchone()[0] is None:
            return 0
        return conn.execute("SELECT count(*) FROM fer_vector_store").fetchone()[0]


@contextmanager
def killing(ready: Callable[[], object], cluster: RayTestCluster, names: tuple[str, ...]) -> Iterator[list]:
    """For the block: SIGKILL the worker nodes ``names`` once ``ready()`` says so, then start them again after
    ``RESTART_AFTER_S`` (a run whose every worker went waits for them). Yields what ``ready`` returned when it
    fired (empty if it never did); the block's end waits for the nodes to be back."""
    fired: list = []

    def watch() -> None:
        deadline = time.monotonic() + KILL_WAIT_S
        while time.monotonic() < deadline and not fired:
            if seen := ready():
                for name in names:
                    cluster.kill(name)
                fired.append(seen)
                time.sleep(RESTART_AFTER_S)
                for name in names:
                    cluster.start_worker(name)
            time.sleep(0.1)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        yield fired
    finally:
        watcher.join()


def sleepy(batch: dict, seconds: float) -> dict:
    """A task that takes ``seconds``: a pipeline that makes no progress."""
    time.sleep(seconds)
    return batch


def runners() -> list[dict]:
    """The pipeline runners the cluster knows, from the GCS (the state API needs the dashboard)."""
    import ray

    return [a for a in ray._private.state.actors().values() if a["ActorClassName"] == "PipelineRunner"]
