"""A live service for the tests, on a free loopback port: ``fer-platform serve`` as deployed, or the very same app
with another admission bound (so that a test can fill workers + queue with a few requests):

    python -m fer_platform_tests.support.service.live --port P --workers W --queue Q

The server's pid is the process that runs uvicorn, so its ``/proc/<pid>/status`` is the server's memory.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from fer_platform_tests.support.servers.deployment import free_port, start, stop, wait_for_port


@dataclass(frozen=True)
class LiveServer:
    url: str
    port: int
    pid: int
    log: Path


@contextmanager
def live_server(env: Mapping[str, str], log: Path, admission: tuple[int, int] | None = None) -> Iterator[LiveServer]:
    """``fer-platform serve`` with ``env`` (``admission``: (workers, queue) instead of the app's own bound)."""
    port = free_port()
    if admission is None:
        command = [str(Path(sys.executable).parent / "fer-platform"), "serve", "--port", str(port)]
    else:
        workers, queue = admission
        command = [sys.executable, "-m", "fer_platform_tests.support.service.live", "--port", str(port)]
        command += ["--workers", str(workers), "--queue", str(queue)]
    proc = start(command, env, log)
    try:
        wait_for_port(port, proc, timeout=120)
        yield LiveServer(f"http://127.0.0.1:{port}", port, proc.pid, log)
    finally:
        stop(proc)


def memory_mb(pid: int, field: str) -> float:
    """VmRSS (now) or VmHWM (peak since start or since ``reset_peak``) of a process, in MB."""
    line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith(field + ":"))
    return int(line.split()[1]) / 1024


def reset_peak(pid: int) -> None:
    """Set the process's VmHWM to its current RSS (Linux >= 4.0, ``clear_refs`` value 5), so that the next
    VmHWM is the peak of what happened since, whatever the process did before."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def main(argv: list[str] | None = None) -> None:
    """``fer-platform serve`` (same app, same protocol) with ``Admission(workers, queue)``."""
    parser = argparse.ArgumentParser(prog="fer_platform_tests.support.service.live")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--queue", type=int, required=True)
    args = parser.parse_args(argv)
    import uvicorn

    from fer_platform.service.admission import Admission
    from fer_platform.service.app import create_app
    from fer_platform.service.http import header_timeout_protocol
    from fer_platform.settings import load_settings

    settings = load_settings()
    app = create_app(settings)
    app.state.admission = Admission(args.workers, args.queue)
    uvicorn.run(
        app, host="127.0.0.1", port=args.port, log_level="info", http=header_timeout_protocol(settings.header_timeout_s)
    )


if __name__ == "__main__":
    main()
