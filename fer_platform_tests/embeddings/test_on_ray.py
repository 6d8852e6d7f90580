"""Embedding on a real Ray cluster: ``on_ray_cluster.py`` run inside a network namespace of its own."""

from pathlib import Path

import pytest

from fer_platform_tests.support.servers.netns import assert_inner_tests_pass

SUITE = Path(__file__).parent / "on_ray_cluster.py"
pytestmark = pytest.mark.slow  # a Ray cluster of three nodes in a network namespace


@pytest.mark.timeout(1500)
@pytest.mark.isolated_suite(SUITE)  # started with the session, run beside the other tests
def test_embedding_on_a_multi_node_ray_cluster():
    assert_inner_tests_pass(SUITE, cases=1)  # landing and scan kills
