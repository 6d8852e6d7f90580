"""Connecting to Ray without hanging: addresses, an address that does not answer (a stalled pipeline and a wrong
address need a cluster: ``embeddings/on_ray_cluster.py``, ``ray_cluster/two_hosts.py``)."""

import time

import pytest

from fer_platform.ray_cluster.connection import RayUnavailableError, connected, host_port, shown
from fer_platform_tests.support.servers.deployment import free_port


def test_addresses_are_parsed_and_shown_without_credentials():
    assert host_port("local") is None and host_port("auto") is None
    assert host_port("10.0.0.5:6379") == ("10.0.0.5", 6379)
    assert host_port("ray://user:s3cret@head.example:10001") == ("head.example", 10001)
    assert shown("ray://user:s3cret@head.example:10001?token=abc") == "ray://head.example:10001"
    with pytest.raises(ValueError, match="not local, auto, host:port"):
        host_port("head-without-port")


def test_an_address_that_does_not_answer_fails_fast_naming_it():
    address = f"ray://user:s3cret@127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(RayUnavailableError) as refused:
        with connected(address, timeout_s=5):
            pass
    assert time.monotonic() - started < 15
    message = str(refused.value)
    assert f"ray://127.0.0.1:{address.rsplit(':', 1)[1]}" in message and "FER_RAY_ADDRESS" in message
    assert "s3cret" not in message
