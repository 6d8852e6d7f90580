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
import time
from dataclasses import dataclass, field
from pathlib import Path

from fer_platform_tests.support.servers.deployment import free_port

RAY = Path(sys.executable).parent / "ray"
RAY_ENV = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
NODE_START_TIMEOUT_S = 120


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
    """A head with no CPUs (the work goes to the workers) and ``workers`` nodes of one CPU each."""

    folder: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    nodes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start_node(self, name: str, *args: str) -> None:
        log = open(self.folder / f"{name}.log", "wb")  # noqa: SIM115 - kept open for the node's life
        command = [str(RAY), "start", "--block", "--node-ip-address=127.0.0.1", "--disable-usage-stats", *ports()]
        self.nodes[name] = subprocess.Popen(
            command + list(args),
            env=self.env | RAY_ENV,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start(self, workers: int) -> None:
        self.start_node(
            "head", "--head", f"--port={self.port}", "--num-cpus=0", "--include-dashboard=false",
            f"--ray-client-server-port={free_port()}",
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
            [sys.executable, "-c", code % self.address], env=self.env | RAY_ENV, capture_output=True, text=True,
            timeout=60,
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
