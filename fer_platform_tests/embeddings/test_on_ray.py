"""Embedding on a real Ray cluster: ``on_ray_cluster.py`` run inside a network namespace of its own."""

from pathlib import Path

import pytest

from fer_platform_tests.support.servers.netns import assert_inner_tests_pass

pytestmark = pytest.mark.slow  # a Ray cluster of three nodes in a network namespace


@pytest.mark.timeout(1500)
def test_embedding_on_a_multi_node_ray_cluster():
    assert_inner_tests_pass(Path(__file__).parent / "on_ray_cluster.py", 1400, cases=1)  # landing and scan kills
