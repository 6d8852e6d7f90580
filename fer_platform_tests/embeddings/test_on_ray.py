"""Embedding on a real Ray cluster: ``on_ray_cluster.py`` run inside a network namespace of its own."""

import re
from pathlib import Path

import pytest

from fer_platform_tests.support.servers.netns import run_isolated

pytestmark = pytest.mark.slow  # a Ray cluster of three nodes in a network namespace

INNER = Path(__file__).parent / "on_ray_cluster.py"


@pytest.mark.timeout(1200)
def test_embedding_on_a_multi_node_ray_cluster():
    proc = run_isolated(INNER, 1100, "-x")
    assert proc.returncode == 0, proc.stdout[-8000:] + proc.stderr[-3000:]
    expected = len(re.findall(r"^def test_", INNER.read_text(), flags=re.M))
    assert f"{expected} passed" in proc.stdout, proc.stdout[-3000:]
