"""Azurite (the npm package bin/setup installs) serving Blob and Queue on loopback: one launcher for the test
fixture and the benchmarks."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

from fer_platform_tests.support.constants import AZURITE_KEY, REPO
from fer_platform_tests.support.servers.deployment import free_port


def start_azurite(location: Path | None, host: str = "127.0.0.1") -> tuple[subprocess.Popen, str]:
    """Start Azurite (in memory when ``location`` is None) on ``host`` (loopback, or an address a test's own network
    namespace holds); the process and the connection string of its Blob and Queue services. Raises RuntimeError
    when it is missing or does not answer within 30 s."""
    binary = REPO / "node_modules" / ".bin" / "azurite"
    if not binary.exists():
        raise RuntimeError(f"{binary} is missing: run bin/setup (it runs npm ci)")
    ports = {service: free_port() for service in ("blob", "queue", "table")}
    listen = [a for s, p in ports.items() for a in (f"--{s}Host", host, f"--{s}Port", str(p))]
    storage = ["--inMemoryPersistence"] if location is None else ["--location", str(location)]
    flags = ["--skipApiVersionCheck", "--loose", "--disableTelemetry"]
    proc = subprocess.Popen(
        [str(binary), *listen, *storage, *flags], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    for port in (ports["blob"], ports["queue"]):
        while True:
            try:
                socket.create_connection((host, port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    proc.kill()
                    raise RuntimeError("Azurite did not start") from None
                time.sleep(0.2)
    return proc, (
        f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AZURITE_KEY};"
        f"BlobEndpoint=http://{host}:{ports['blob']}/devstoreaccount1;"
        f"QueueEndpoint=http://{host}:{ports['queue']}/devstoreaccount1;"
    )
