"""Run a pytest file inside a network namespace of its own (``unshare -n``, loopback up): what a test that
starts a Ray cluster does, so that no node can talk over the machine's external address (NOTES.md)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from fer_platform_tests.support.constants import REPO


def unshare_prefix() -> list[str]:
    """``unshare -n`` as root, ``unshare -rn`` (a user namespace mapping us to root) otherwise."""
    unshare = shutil.which("unshare")
    if unshare is None or shutil.which("ip") is None:
        raise RuntimeError("unshare (util-linux) and ip (iproute2) are needed to isolate the Ray test cluster")
    return [unshare, "-n"] if os.geteuid() == 0 else [unshare, "-rn"]


def run_isolated(test_file: Path, timeout_s: int, *pytest_args: str) -> subprocess.CompletedProcess:
    """``pytest test_file`` in a new network namespace; returns the finished process (output captured)."""
    inner = f"ip link set lo up && exec {sys.executable} -m pytest -q -p no:cacheprovider {test_file} " + " ".join(
        pytest_args
    )
    return subprocess.run(
        [*unshare_prefix(), "sh", "-c", inner],
        cwd=REPO,
        env=os.environ | {"FER_NETNS": "1"},
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def assert_inner_tests_pass(inner: Path, timeout_s: int, cases: int = 0) -> None:
    """Run ``inner`` isolated (stopping at the first failure) and check every one of its tests passed: its
    ``def test_`` functions plus ``cases`` more from parametrization."""
    proc = run_isolated(inner, timeout_s, "-x")
    assert proc.returncode == 0, proc.stdout[-8000:] + proc.stderr[-3000:]
    expected = len(re.findall(r"^def test_", inner.read_text(), flags=re.M)) + cases
    assert f"{expected} passed" in proc.stdout, proc.stdout[-3000:]
