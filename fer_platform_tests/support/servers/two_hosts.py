"""A second host for the Ray tests: a network namespace of its own (the cluster's host), joined to the test's
namespace (the driver's host, where the Dagster step runs) by a virtual link this fixture creates and removes.

The test already runs in a namespace of its own (``netns.run_isolated``); the cluster's host is a child namespace
held by a sleeping process, so everything is gone when that process ends. Only the two addresses given here
(``CLUSTER_IP``, ``DRIVER_IP``, on the link alone) are ever targets; the filesystem (the image root, PostgreSQL's
unix socket, the lake folder) stays shared, as a mounted volume is in the shipped deployments."""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass, field

CLUSTER_IP = "10.231.0.1"
DRIVER_IP = "10.231.0.2"
LINK = ("fer-driver", "fer-cluster")  # the link's end on the driver's host, and on the cluster's


def ip(*args: str, prefix: tuple[str, ...] = ()) -> None:
    """``ip`` on this host, or on the host ``prefix`` enters; a failure names the command."""
    subprocess.run([*prefix, "ip", *args], check=True, capture_output=True, text=True)


@dataclass
class ClusterHost:
    """The cluster's host: a child network namespace linked to this one."""

    holder: subprocess.Popen | None = None
    prefix: tuple[str, ...] = field(default_factory=tuple)

    def start(self) -> None:
        """Create the namespace, the link and its two addresses; the loopback of both hosts stays up."""
        if os.environ.get("FER_NETNS") != "1":
            raise RuntimeError("a second host is created only inside the test's own network namespace")
        self.holder = subprocess.Popen(["unshare", "-n", "sleep", "infinity"], start_new_session=True)
        self.prefix = ("nsenter", "-t", str(self.holder.pid), "-n")
        ip("link", "add", LINK[0], "type", "veth", "peer", "name", LINK[1])
        ip("link", "set", LINK[1], "netns", str(self.holder.pid))
        ip("addr", "add", f"{DRIVER_IP}/24", "dev", LINK[0])
        ip("link", "set", LINK[0], "up")
        for args in (("addr", "add", f"{CLUSTER_IP}/24", "dev", LINK[1]), ("link", "set", LINK[1], "up"),
                     ("link", "set", "lo", "up")):
            ip(*args, prefix=self.prefix)

    def stop(self) -> None:
        """End the namespace (its end of the link goes with it, and so does ours) and check the link is gone."""
        if self.holder is not None:
            os.killpg(self.holder.pid, signal.SIGKILL)
            self.holder.wait(30)
        subprocess.run(["ip", "link", "del", LINK[0]], capture_output=True)
