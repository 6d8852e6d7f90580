"""What changed in the image source since the sensor last looked: one digest per emotion folder.

A tick must stay cheap on folders of hundreds of thousands of files, so it
never reads images: a folder's digest covers the names, sizes and modification
times of its files (``os.scandir``), plus, when the source container is in
Azure, the names, sizes and MD5s of blobs that are there but not in the image
root (images that landed in Blob Storage). Our own uploads therefore never look
like news. A folder holding a file modified less than ``settle_s`` ago is left
for a later tick, so a file still being written is not embedded half-written.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from fer_platform.images.folders import discover_emotions, is_valid_partition_key
from fer_platform.images.manifest import is_image_candidate
from fer_platform.storage.location import Listing


@dataclass(frozen=True)
class FolderScan:
    """One emotion folder as a tick sees it."""

    digest: str
    files: int
    settling: bool = False
    names: frozenset[str] = frozenset()


def digest_of(entries: list[tuple[str, int, int | str | None]]) -> str:
    """An order-independent digest of (name, size, version) triples."""
    h = hashlib.blake2b(digest_size=16)
    for name, size, version in sorted(entries):
        h.update(f"{name}\0{size}\0{version}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def scan_folder(folder: Path, settle_s: float, now: float) -> FolderScan:
    """Names, sizes and mtimes of the image candidates of one folder, without reading them."""
    entries, settling = [], False
    with os.scandir(folder) as it:
        for entry in it:
            if not is_image_candidate(entry.name) or not entry.is_file(follow_symlinks=False):
                continue
            stat = entry.stat(follow_symlinks=False)
            settling = settling or stat.st_mtime > now - settle_s
            entries.append((entry.name, stat.st_size, stat.st_mtime_ns))
    return FolderScan(digest_of(entries), len(entries), settling, frozenset(name for name, _, _ in entries))


def scan_local(image_root: Path, split: str, settle_s: float, now: float) -> dict[str, FolderScan]:
    """Every emotion folder of the split."""
    return {
        emotion: scan_folder(image_root / split / emotion, settle_s, now)
        for emotion in discover_emotions(image_root, split)
    }


def landed_blobs(listing: Listing, split: str) -> dict[str, list[tuple[str, int, str | None]]]:
    """Blobs under ``<split>/<emotion>/`` grouped by emotion as (name, size, md5)."""
    grouped: dict[str, list[tuple[str, int, str | None]]] = {}
    for path, (size, md5) in listing.items():
        parts = path.split("/")
        if len(parts) == 3 and parts[0] == split and is_valid_partition_key(parts[1]):
            if is_image_candidate(parts[2]):
                grouped.setdefault(parts[1], []).append((parts[2], size, md5))
    return grouped


def merge_blob_only(local: dict[str, FolderScan], blobs: dict[str, list]) -> dict[str, FolderScan]:
    """Fold into each folder's digest the blobs that the image root does not have."""
    merged = dict(local)
    for emotion, entries in blobs.items():
        scan = local.get(emotion, FolderScan(digest_of([]), 0))
        only = [e for e in entries if e[0] not in scan.names]
        if only:
            digest = digest_of([(scan.digest, 0, None), *[(f"blob:{n}", s, m) for n, s, m in only]])
            merged[emotion] = FolderScan(digest, scan.files + len(only), scan.settling, scan.names)
    return merged


@dataclass
class SensorCursor:
    """What the sensor has already requested: a change counter and the digest per emotion."""

    seq: int = 0
    digests: dict[str, str] = field(default_factory=dict)

    @classmethod
    def loads(cls, text: str | None) -> SensorCursor:
        if not text:
            return cls()
        data = json.loads(text)
        return cls(seq=int(data["seq"]), digests=dict(data["digests"]))

    def dumps(self) -> str:
        return json.dumps({"seq": self.seq, "digests": self.digests}, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class Changes:
    """The emotions to re-run, those waiting for files to settle, and the next cursor."""

    changed: list[str]
    settling: list[str]
    vanished: list[str]
    cursor: SensorCursor


def detect_changes(previous: SensorCursor, scans: dict[str, FolderScan]) -> Changes:
    """Compare this tick's scans with the cursor; settling folders keep their old digest."""
    digests, changed, settling = {}, [], []
    for emotion, scan in sorted(scans.items()):
        if scan.settling:
            settling.append(emotion)
            if emotion in previous.digests:
                digests[emotion] = previous.digests[emotion]
            continue
        digests[emotion] = scan.digest
        if previous.digests.get(emotion) != scan.digest:
            changed.append(emotion)
    vanished = sorted(set(previous.digests) - set(scans))
    seq = previous.seq + 1 if changed else previous.seq
    return Changes(changed, settling, vanished, SensorCursor(seq=seq, digests=digests))
