"""Ray from another host: ``two_hosts_cluster.py`` run inside a network namespace of its own (the driver's host),
with the cluster on a second one."""

from pathlib import Path

import pytest

from fer_platform_tests.support.servers.netns import assert_inner_tests_pass

SUITE = Path(__file__).parent / "two_hosts_cluster.py"
pytestmark = pytest.mark.slow  # a Ray cluster of three nodes on a second host


@pytest.mark.timeout(1500)
@pytest.mark.isolated_suite(SUITE)  # started with the session, run beside the other tests
def test_the_platform_on_a_cluster_on_another_host():
    assert_inner_tests_pass(SUITE, cases=2)  # 3 wrong addresses
