"""What a killed writer leaves of an object write under way, seen from outside the writer, locally and on Azure.

Locally ``Location.write_atomic`` writes a hidden temporary next to the object (``.<name>.<uuid>.tmp``); on Azure
a large upload stages blocks that only a final commit makes the blob's content. Tests poll these to SIGKILL a
writer while bytes of the new object exist but are not yet what readers see.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobServiceClient

from fer_platform.storage.location import Location


def bytes_in_flight(location: Location, relative: str) -> int:
    """Bytes written for ``relative`` that readers do not see yet: the size of its hidden temporaries (local),
    or of its uploaded but uncommitted blocks (Azure)."""
    target = location.path(relative)
    if location.is_local:
        folder, name = Path(target).parent, Path(target).name
        total = 0
        for temporary in folder.glob(f".{name}.*.tmp"):
            try:
                total += temporary.stat().st_size
            except FileNotFoundError:
                pass  # renamed or removed between the listing and the stat
        return total
    container, _, blob = target.partition("/")
    service = BlobServiceClient.from_connection_string(os.environ["AZURE_STORAGE_CONNECTION_STRING"])
    try:
        _, uncommitted = service.get_blob_client(container, blob).get_block_list("uncommitted")
    except ResourceNotFoundError:
        return 0
    return sum(block.size for block in uncommitted)


def reads_as(location: Location, relative: str, expected: bytes) -> bool:
    """Does ``relative`` read exactly ``expected`` (False when it is missing or has another size)?"""
    location.fs.invalidate_cache()
    path = location.path(relative)
    try:
        if location.fs.size(path) != len(expected):
            return False
        return location.read(relative) == expected
    except FileNotFoundError:
        return False


def kill_when(writer: subprocess.Popen, ready: Callable[[], int], timeout_s: float = 120) -> int:
    """SIGKILL ``writer`` as soon as ``ready()`` (polled) is non-zero; returns that value, seen with the writer
    alive just before the signal. Fails if the writer ends first; the signal must find it alive (-SIGKILL)."""
    deadline = time.monotonic() + timeout_s
    try:
        while not (seen := ready()):
            assert writer.poll() is None, f"the writer ended (rc {writer.returncode}) before it was killed"
            assert time.monotonic() < deadline, "the write never got under way"
            time.sleep(0.005)
        assert writer.poll() is None, "the writer ended before it was killed"
        writer.send_signal(signal.SIGKILL)
    finally:
        writer.kill()
        returncode = writer.wait()
    assert returncode == -signal.SIGKILL, f"the writer was not killed mid-write (rc {returncode})"
    return seen


def objects_in_flight(location: Location, prefix: str, before: set[str]) -> set[str]:
    """Names under ``prefix`` not in ``before``, those being written included: local files (object_store stages
    a file beside its final name) and Azure blobs that have only uncommitted blocks."""
    if location.is_local:
        root = Path(location.path(prefix))
        found = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()} if root.exists() else set()
        return found - before
    container, _, folder = location.path(prefix).partition("/")
    service = BlobServiceClient.from_connection_string(os.environ["AZURE_STORAGE_CONNECTION_STRING"])
    blobs = service.get_container_client(container).list_blobs(name_starts_with=folder, include=["uncommittedblobs"])
    return {b.name for b in blobs} - before
