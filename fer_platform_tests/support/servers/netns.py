"""Run a pytest file inside a network namespace of its own (``unshare -n``, loopback up): what a test that
starts a Ray cluster does, so that no node can talk over the machine's external address (NOTES.md)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from subprocess import PIPE

from fer_platform_tests.support.constants import REPO


def unshare_prefix() -> list[str]:
    """``unshare -n`` as root, ``unshare -rn`` (a user namespace mapping us to root) otherwise."""
    unshare = shutil.which("unshare")
    if unshare is None or shutil.which("ip") is None:
        raise RuntimeError("unshare (util-linux) and ip (iproute2) are needed to isolate the Ray test cluster")
    return [unshare, "-n"] if os.geteuid() == 0 else [unshare, "-rn"]


SUITE_TIMEOUT_S = 1400  # an isolated suite's whole run (its test carries a pytest timeout above it)
RUNNING: set[subprocess.Popen] = set()  # isolated suites running now (``interrupt_isolated`` stops them)
_BACKGROUND = ThreadPoolExecutor(max_workers=1, thread_name_prefix="isolated-suites")  # one at a time
_STARTED: dict[Path, Future] = {}


def run_isolated(test_file: Path, timeout_s: int, *pytest_args: str) -> subprocess.CompletedProcess:
    """``pytest test_file`` in a new network namespace; returns the finished process (output captured), or
    raises ``subprocess.TimeoutExpired`` after killing it. Its temporary files live in a folder of their own
    (``--basetemp``): a pytest session that starts under /tmp/pytest-of-<user> makes that folder private again,
    which locks the embedded PostgreSQL servers of a session running beside it (their own user) out of their
    data folders."""
    basetemp = Path(tempfile.mkdtemp(prefix="fer-isolated-")) / "run"
    inner = (
        f"ip link set lo up && exec {sys.executable} -m pytest -q -p no:cacheprovider --basetemp={basetemp} "
        f"{test_file} " + " ".join(pytest_args)
    )
    command = [*unshare_prefix(), "sh", "-c", inner]
    env = os.environ | {"FER_NETNS": "1"}
    # a session of its own: a Ctrl-C at the terminal reaches it once, from ``interrupt_isolated``
    with subprocess.Popen(
        command, cwd=REPO, env=env, stdout=PIPE, stderr=PIPE, text=True, start_new_session=True
    ) as proc:
        RUNNING.add(proc)
        try:
            out, err = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise
        finally:
            RUNNING.discard(proc)
            shutil.rmtree(basetemp.parent, ignore_errors=True)
    return subprocess.CompletedProcess(command, proc.returncode, out, err)


def start_isolated(suites: list[Path]) -> None:
    """Start ``suites`` now, one after another on a thread of their own, so that their minutes of cluster
    start-up, kills and node restarts overlap the rest of the session (each waits mostly on Ray, not on a
    core); the test of each takes its result (``assert_inner_tests_pass``)."""
    for suite in suites:
        if suite not in _STARTED:
            _STARTED[suite] = _BACKGROUND.submit(run_isolated, suite, SUITE_TIMEOUT_S, "-x")


def interrupt_isolated(grace_s: float = 60) -> None:
    """The session ends: what was started and not taken is cancelled, and a running suite interrupted (SIGINT:
    its fixtures stop its cluster), killed if it has not ended after ``grace_s``."""
    for future in _STARTED.values():
        future.cancel()
    for proc in list(RUNNING):
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()


def assert_inner_tests_pass(inner: Path, cases: int = 0) -> None:
    """Run ``inner`` isolated (stopping at the first failure), or take the run ``start_isolated`` began, and
    check every one of its tests passed: its ``def test_`` functions plus ``cases`` more from parametrization."""
    started = _STARTED.pop(inner, None)
    proc = started.result() if started is not None else run_isolated(inner, SUITE_TIMEOUT_S, "-x")
    assert proc.returncode == 0, proc.stdout[-8000:] + proc.stderr[-3000:]
    expected = len(re.findall(r"^def test_", inner.read_text(), flags=re.M)) + cases
    assert f"{expected} passed" in proc.stdout, proc.stdout[-3000:]
