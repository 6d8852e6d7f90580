"""Connecting to Ray without hanging: addresses, an address that does not answer (a stalled pipeline and a wrong
address need a cluster: ``embeddings/on_ray_cluster.py``, ``ray_cluster/two_hosts.py``)."""

import socket
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


@pytest.mark.slow
def test_a_refused_ray_client_leaves_the_process_able_to_connect_again():
    """A port that answers but is not Ray Client is refused; the failed connect must not leave Ray's process-wide
    client mode on (the next connection in the process, here ``local``, would fail inside Ray)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with pytest.raises(RayUnavailableError, match="cannot connect"):
            with connected(f"ray://127.0.0.1:{listener.getsockname()[1]}", timeout_s=5):
                pass
    with connected("local") as cluster:
        assert cluster.cpus > 0 and cluster.nodes == 1
