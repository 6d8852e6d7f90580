"""A model registry in the lake: immutable versions ``<prefix>/vNNNN/`` and an optional promotion pointer.

Registering is safe against kills and concurrent writers. A version number is
claimed by creating ``vNNNN/.claim`` exclusively (a second writer gets the next
number), the version's files are written, and ``metrics.json`` is written last:
a version exists for readers only once its metrics do, so a run killed half way
leaves the registry as it was. ``promoted.json`` names the version a service
serves; it is replaced atomically, so a reader sees the old pointer or the new.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone

from fer_platform.storage.location import Location

VERSION = re.compile(r"^v(\d{4,})$")
METRICS = "metrics.json"
CLAIM = ".claim"
POINTER = "promoted.json"


class ModelNotFoundError(LookupError):
    """No registered version, or not the one asked for (the message lists those that exist)."""


class ModelRegistry:
    """The versions of one model under ``prefix`` in ``lake``."""

    def __init__(self, lake: Location, prefix: str, name: str):
        self.lake, self.prefix, self.name = lake, prefix.rstrip("/"), name

    def _numbers(self, complete: bool) -> list[int]:
        found: dict[str, set[str]] = {}
        for path in self.lake.names(f"{self.prefix}/"):
            parts = path[len(self.prefix) + 1 :].split("/")
            if len(parts) == 2 and VERSION.match(parts[0]):
                found.setdefault(parts[0], set()).add(parts[1])
        return sorted(int(v[1:]) for v, files in found.items() if not complete or METRICS in files)

    def versions(self) -> list[str]:
        """Complete versions, oldest first."""
        return [f"v{n:04d}" for n in self._numbers(complete=True)]

    def register(self, files: dict[str, bytes], metrics: dict) -> str:
        """Write a new version (``files`` first, ``metrics.json`` last) and return its name."""
        self.lake.ensure()
        number = max(self._numbers(complete=False), default=0) + 1
        while not self.lake.create_exclusive(f"{self.prefix}/v{number:04d}/{CLAIM}", b""):
            number += 1  # another writer claimed it between our listing and our claim
        version = f"v{number:04d}"
        for name, data in files.items():
            self.lake.write_atomic(f"{self.prefix}/{version}/{name}", data)
        self.lake.write_atomic(f"{self.prefix}/{version}/{METRICS}", json.dumps(metrics, indent=2).encode())
        return version

    def require(self, version: str) -> str:
        """``version`` if it is registered, else ``ModelNotFoundError`` naming those that are."""
        available = self.versions()
        if version not in available:
            listed = ", ".join(available) or "none"
            raise ModelNotFoundError(
                f"{self.name} {version!r} not found under {self.lake.url}/{self.prefix}/; registered: {listed}"
            )
        return version

    def latest(self) -> str:
        available = self.versions()
        if not available:
            raise ModelNotFoundError(f"no {self.name} version under {self.lake.url}/{self.prefix}/")
        return available[-1]

    def read(self, version: str, name: str) -> bytes:
        return self.lake.read(f"{self.prefix}/{version}/{name}")

    def metrics(self, version: str) -> dict:
        return json.loads(self.read(version, METRICS))

    def promoted(self) -> str | None:
        """The promoted version, or None before the first promotion."""
        pointer = self.lake.path(f"{self.prefix}/{POINTER}")
        self.lake.fs.invalidate_cache()
        if not self.lake.fs.exists(pointer):
            return None
        return json.loads(self.lake.read(f"{self.prefix}/{POINTER}"))["version"]

    def promote(self, version: str) -> None:
        """Point the service at ``version`` (a registered one); also how a version is rolled back."""
        self.require(version)
        pointer = {"version": version, "promoted_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        self.lake.write_atomic(f"{self.prefix}/{POINTER}", json.dumps(pointer).encode())
