"""A scan of one emotion folder: which files it must read, and what it stores.

A scan reads only the files whose stat fingerprint (size, mtime, inode) differs from the manifest the last scan
stored. It learns the fingerprints in one of two ways:

- ``update_manifest`` lists the folder: N ``stat`` calls (no reads) and k reads for k changed files. This is
  what a run the image-root sensor asked for does, and a first scan.
- ``update_landed`` stats only the files a landing run wrote (``landings.landed_paths``): k ``stat`` calls and
  k reads, whatever the folder holds. It applies only when the folder's mtime says nothing else changed: the
  mark the last scan stored equals the folder's mtime just before the landing's first write, and the folder's
  mtime now equals the one just after its last write. Otherwise the run lists the folder.

A change that keeps size, mtime and inode (a tool that restores mtimes after rewriting in place), and a file
another writer added to the folder while a landing was copying into it, are what the scheduled
``verify_images`` job finds (it re-reads every file and drops the folder's mark, so the sensor asks for a run).
"""

from __future__ import annotations

import os
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from fer_platform.images.manifest import (
    BLOCK_ROWS,
    MANIFEST_SCHEMA,
    Describe,
    describe_here,
    gathered,
    is_image_candidate,
)

# What tells a file changed without reading it.
FINGERPRINT = ("size_bytes", "mtime_ns", "inode")
FINGERPRINTED = ("filepath", *FINGERPRINT)  # what a listing is compared on: all a rescan reads of the manifest
LISTING_SCHEMA = {"filepath": pl.String, **{name: pl.Int64 for name in FINGERPRINT}}
@dataclass(frozen=True)
class FolderMark:
    """What a scan of a folder saw: the folder's mtime before listing it, the newest file mtime in it, and when
    it looked (ns since the epoch). The sensor compares folder mtimes with it (``changes.folder_changes``)."""

    mtime_ns: int
    newest_file_ns: int
    marked_at_ns: int

    def settled(self, settle_s: float) -> bool:
        """No file of the scan was younger than ``settle_s`` when the scan looked."""
        return self.newest_file_ns <= self.marked_at_ns - int(settle_s * 1e9)


def stat_folder(image_root: Path, split: str, emotion: str) -> tuple[pl.DataFrame, FolderMark]:
    """``filepath`` and the fingerprint of every image candidate of the folder, from ``stat`` alone, and the
    folder's mark (its mtime taken before the listing, so a file added during it changes the mtime again)."""
    folder = image_root / split / emotion
    if not folder.is_dir():
        raise FileNotFoundError(f"emotion folder {str(folder)!r} does not exist")
    marked_at, folder_mtime = time.time_ns(), os.stat(folder).st_mtime_ns
    blocks, rows, newest = [], [], 0
    with os.scandir(folder) as entries:
        for entry in entries:
            if is_image_candidate(entry.name) and entry.is_file(follow_symlinks=True):
                stat = entry.stat(follow_symlinks=True)
                rows.append((f"{split}/{emotion}/{entry.name}", stat.st_size, stat.st_mtime_ns, stat.st_ino))
                newest = max(newest, stat.st_mtime_ns)
            if len(rows) == BLOCK_ROWS:  # a block of Python tuples at most, whatever the folder holds
                blocks.append(pl.DataFrame(rows, schema=LISTING_SCHEMA, orient="row"))
                rows = []
    blocks.append(pl.DataFrame(rows, schema=LISTING_SCHEMA, orient="row"))
    return pl.concat(blocks), FolderMark(folder_mtime, newest, marked_at)


@dataclass(frozen=True)
class ManifestUpdate:
    """What a scan stores: the rows it reads (new or changed files: blocks, read and described as the store
    takes them, once), the paths now gone, and the folder's mark."""

    described: Generator[pl.DataFrame, None, None]
    removed: list[str]
    mark: FolderMark


@dataclass(frozen=True)
class ScanTally:
    """What a scan read, summed block by block: files, bytes, and the first decodable files (a sample of what
    arrived), so that nothing after the scan holds its rows."""

    files: int = 0
    bytes: int = 0
    first_decodable: tuple[str, ...] = ()

    def plus(self, block: pl.DataFrame, sample: int) -> ScanTally:
        """This tally and ``block``'s rows, keeping at most ``sample`` decodable paths."""
        wanted = sample - len(self.first_decodable)
        decodable = block.filter(pl.col("error").is_null()).head(max(wanted, 0)).get_column("filepath").to_list()
        bytes_read = int(block.get_column("size_bytes").sum() or 0)
        return ScanTally(self.files + len(block), self.bytes + bytes_read, (*self.first_decodable, *decodable))


def update_manifest(
    image_root: Path, split: str, emotion: str, previous: pl.DataFrame, describe: Describe
) -> ManifestUpdate:
    """Lists the folder and reads only the files whose fingerprint differs from ``previous`` (the manifest
    stored by the last scan; empty for a first scan)."""
    listed, mark = stat_folder(image_root, split, emotion)
    described, removed = merge_listing(previous, listed, describe)
    return ManifestUpdate(described, removed, mark)


def stat_paths(image_root: Path, paths: Sequence[str]) -> pl.DataFrame:
    """``filepath`` and the fingerprint of each of ``paths`` (relative to the root); FileNotFoundError when one
    is gone (the folder changed: the caller lists it instead)."""
    rows = []
    for path in paths:
        stat = os.stat(image_root / path)
        rows.append((path, stat.st_size, stat.st_mtime_ns, stat.st_ino))
    return pl.DataFrame(rows, schema=LISTING_SCHEMA, orient="row")


def update_landed(
    image_root: Path,
    scope: str,
    landed: Sequence[str],
    folder_mtimes: tuple[int | None, int | None],
    mark: FolderMark | None,
    previous: pl.DataFrame,
    describe: Describe,
) -> ManifestUpdate | None:
    """The scan of the folder ``scope`` a landing wrote the files ``landed`` into (relative to the root), with no
    listing; None when the folder's mtimes say something else may have changed it (the caller lists it then).
    ``folder_mtimes``: the folder's (absolute) mtime just before the landing's first write and just after its
    last; ``previous``: the stored rows of ``landed``. The new mark keeps the last mark's newest file and time
    of look: a file that was young then is still looked at again once settled, and the landed files, renamed
    into place whole, need no second look."""
    before, after = folder_mtimes
    if mark is None or mark.mtime_ns != before or after is None or not landed and before != after:
        return None
    try:
        listed = stat_paths(image_root, landed)
        if os.stat(image_root / scope).st_mtime_ns != after:
            return None
    except FileNotFoundError:
        return None
    described, removed = merge_listing(previous, listed, describe)
    return ManifestUpdate(described, removed, FolderMark(after, mark.newest_file_ns, mark.marked_at_ns))


def merge_listing(
    previous: pl.DataFrame, listed: pl.DataFrame, describe: Describe
) -> tuple[Generator[pl.DataFrame, None, None], list[str]]:
    """(blocks of rows described now, paths gone) from the last manifest and a listing (``stat_folder``): the
    files whose fingerprint differs from ``previous`` (or that it lacks) are described, the others need nothing.
    Frames throughout, and no merged manifest is built: a scan stores what it read block by block and what is
    gone, so the driver holds the listing, the last manifest's fingerprints and a block of rows read, never the
    folder's rows (``scan_folder`` gathers them where a whole manifest is asked for)."""
    fingerprints = previous.select(FINGERPRINTED).cast(LISTING_SCHEMA)
    to_read = listed.join(fingerprints, on=["filepath", *FINGERPRINT], how="anti").get_column("filepath").sort()
    described = describe(to_read)
    removed = fingerprints.join(listed, on="filepath", how="anti").get_column("filepath").sort().to_list()
    return described, removed


def scan_folder(image_root: Path, split: str, emotion: str, describe: Describe) -> pl.DataFrame:
    """The manifest of one emotion folder, every file read (``verify_images``, tests, benchmarks)."""
    listed, _ = stat_folder(image_root, split, emotion)
    described, _ = merge_listing(pl.DataFrame(schema=MANIFEST_SCHEMA), listed, describe)
    return gathered(described).sort("filepath")


def scan_emotion(image_root: Path, split: str, emotion: str) -> pl.DataFrame:
    """``scan_folder`` in this process."""
    return scan_folder(image_root, split, emotion, describe_here(image_root, emotion))


def drifted(stored: pl.DataFrame, found: pl.DataFrame) -> dict[str, str]:
    """Files whose stored fingerprint still matches but whose content does not (what an incremental scan
    cannot see): path -> what differs."""
    same = stored.join(found, on=["filepath", *FINGERPRINT], how="inner", suffix="_found")
    differs = same.filter(
        (pl.col("sha256") != pl.col("sha256_found")) | (pl.col("error").eq_missing(pl.col("error_found")).not_())
    )
    return {
        path: f"sha256 {old[:12]}... stored, {new[:12]}... on disk, size, mtime and inode unchanged"
        for path, old, new in differs.select("filepath", "sha256", "sha256_found").sort("filepath").rows()
    }
