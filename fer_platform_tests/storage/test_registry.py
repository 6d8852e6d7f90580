"""The lake model registry: versions appear only when complete, concurrent writers get distinct versions, a
writer killed mid-write leaves the registry as it was, promotion is a pointer; locally and on Azurite."""

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from fer_platform.storage.location import open_location
from fer_platform.storage.registry import ModelNotFoundError, ModelRegistry

PREFIX = "models/probe"

# A writer that registers a version whose file is large enough to be killed while it is being written.
KILLED_WRITER = """
import sys
from fer_platform.storage.location import open_location
from fer_platform.storage.registry import ModelRegistry
ModelRegistry(open_location(sys.argv[1]), "models/probe", "probe").register(
    {"model.pt": b"x" * 200_000_000}, {"accuracy": 0.1}
)
"""


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
    assert models.promoted() == "v0001"
    with pytest.raises(ModelNotFoundError, match="'v0009' not found.*registered: v0001, v0002"):
        models.promote("v0009")


def test_concurrent_writers_get_distinct_versions(lake_url):
    models = registry(lake_url)
    with ThreadPoolExecutor(8) as pool:
        names = list(pool.map(lambda i: models.register({"model.pt": bytes([i])}, {"i": i}), range(8)))
    assert sorted(names) == [f"v{n:04d}" for n in range(1, 9)]
    assert sorted(models.metrics(v)["i"] for v in names) == list(range(8))
    assert all(models.read(v, "model.pt") == bytes([models.metrics(v)["i"]]) for v in names)


def test_a_writer_killed_mid_write_leaves_the_registry_as_it_was(tmp_path):
    url = str(tmp_path / "lake")
    models = registry(url)
    models.register({"model.pt": b"kept"}, {"accuracy": 0.9})
    models.promote("v0001")
    env = os.environ | {"PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    writer = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, url], env=env)
    claim = tmp_path / "lake" / PREFIX / "v0002" / ".claim"
    deadline = time.monotonic() + 60
    while not claim.exists() and time.monotonic() < deadline and writer.poll() is None:
        time.sleep(0.01)
    assert claim.exists(), "the writer never claimed v0002"
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    assert models.versions() == ["v0001"] and models.promoted() == "v0001"
    assert not (tmp_path / "lake" / PREFIX / "v0002" / "model.pt").exists()  # only a hidden temporary, if any
    assert models.register({"model.pt": b"next"}, {"accuracy": 0.95}) == "v0003"  # the claimed number stays used
    assert models.versions() == ["v0001", "v0003"]
