"""The lake model registry: versions appear only when complete, concurrent writers get distinct versions, a
writer killed mid-write leaves the registry as it was, promotion is a pointer; locally and on Azurite."""

import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from fer_platform.models.lifecycle.registry import ModelNotFoundError, ModelRegistry
from fer_platform.storage.location import open_location
from fer_platform_tests.support.in_flight import bytes_in_flight, kill_when

PREFIX = "models/probe"

# A writer that registers a version whose file is large enough to be killed while it is being written.
KILLED_WRITER = """
import sys
from fer_platform.storage.location import open_location
from fer_platform.models.lifecycle.registry import ModelRegistry
ModelRegistry(open_location(sys.argv[1]), "models/probe", "probe").register(
    {"model.pt": b"x" * int(sys.argv[2])}, {"accuracy": 0.1}
)
"""
MODEL_BYTES = 200_000_000


def registry(url: str) -> ModelRegistry:
    return ModelRegistry(open_location(url), PREFIX, "probe")


def test_versions_grow_and_are_immutable(lake_url):
    models = registry(lake_url)
    assert models.versions() == [] and models.promoted() is None
    assert models.register({"model.pt": b"one"}, {"accuracy": 0.5}) == "v0001"
    assert models.register({"model.pt": b"two"}, {"accuracy": 0.6}) == "v0002"
    assert models.versions() == ["v0001", "v0002"] and models.read("v0001", "model.pt") == b"one"
    assert models.metrics("v0002") == {"accuracy": 0.6}
    models.promote("v0001")
    assert models.promoted() == "v0001" and models.champion() == "v0001"  # the first promotion is the champion
    models.promote("v0002", champion="v0001")  # passed the check without beating v0001
    assert models.promoted() == "v0002" and models.champion() == "v0001"
    models.promote("v0001")  # a rollback keeps the champion
    assert models.promoted() == models.champion() == "v0001"
    with pytest.raises(ModelNotFoundError, match="'v0009' not found.*registered: v0001, v0002"):
        models.promote("v0009")


def test_concurrent_writers_get_distinct_versions(lake_url, monkeypatch):
    models = registry(lake_url)
    listed = threading.Barrier(8, timeout=60)
    numbers = models._numbers

    def numbers_then_wait(complete: bool) -> list[int]:  # every writer lists before any claims: all race for v0001
        found = numbers(complete)
        if not complete:
            listed.wait()
        return found

    monkeypatch.setattr(models, "_numbers", numbers_then_wait)
    with ThreadPoolExecutor(8) as pool:
        names = list(pool.map(lambda i: models.register({"model.pt": bytes([i])}, {"i": i}), range(8)))
    assert sorted(names) == [f"v{n:04d}" for n in range(1, 9)]
    assert sorted(models.metrics(v)["i"] for v in names) == list(range(8))
    assert all(models.read(v, "model.pt") == bytes([models.metrics(v)["i"]]) for v in names)


@pytest.mark.slow  # SIGKILL of a writer subprocess
def test_a_writer_killed_mid_write_leaves_the_registry_as_it_was(lake_url):
    """The writer has claimed v0002 and is SIGKILLed alive while model.pt's bytes are out but unseen (a non-empty
    temporary; blocks uploaded, not committed): versions and the promotion pointer are as they were."""
    models = registry(lake_url)
    models.register({"model.pt": b"kept"}, {"accuracy": 0.9})
    models.promote("v0001")
    lake = open_location(lake_url)
    env = os.environ | {"PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    writer = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, lake_url, str(MODEL_BYTES)], env=env)

    def under_way() -> int:  # bytes of v0002/model.pt in flight once v0002 is claimed; -1 if v0002 shows up
        if f"{PREFIX}/v0002/.claim" not in lake.names(f"{PREFIX}/"):
            return 0
        return bytes_in_flight(lake, f"{PREFIX}/v0002/model.pt") or (-1 if models.versions() != ["v0001"] else 0)

    in_flight = kill_when(writer, under_way)
    assert models.versions() == ["v0001"] and models.promoted() == "v0001"
    assert models.read("v0001", "model.pt") == b"kept"
    assert 0 < in_flight <= MODEL_BYTES  # killed while model.pt was being written
    assert f"{PREFIX}/v0002/model.pt" not in lake.names(f"{PREFIX}/")  # only a hidden temporary or blocks, if any
    assert models.register({"model.pt": b"next"}, {"accuracy": 0.95}) == "v0003"  # the claimed number stays used
    assert models.versions() == ["v0001", "v0003"] and models.promoted() == "v0001"
