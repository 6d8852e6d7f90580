"""A scan of one emotion folder: which files it must read, and what it stores.

A scan reads only the files whose stat fingerprint (size, mtime, inode) differs from the manifest the last scan
stored. It learns the fingerprints in one of two ways:

- ``update_manifest`` lists the folder: N ``stat`` calls (no reads) and k reads for k changed files. This is
  what a run the image-root sensor asked for does, and a first scan.
- ``update_landed`` stats only the files a landing run wrote (``landings.landed_paths``): k ``stat`` calls and
  k reads, whatever the folder holds. It applies only when the folder's mtime says nothing else changed: the
  mark the last scan stored equals the folder's mtime just before the landing's first write, and the folder's
  mtime now equals the one just after its last write. Otherwise the run lists the folder.

Either way the fingerprints go into a temporary table of the scan's connection and PostgreSQL compares them
with the stored manifest (``images.listing``): the driver holds a block of the listing and a page of the paths to
read at a time, whatever the folder holds.

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
import psycopg

from fer_platform.images.listing import FINGERPRINT, gone, listed_blocks, load_listing, pages_to_read, stat_paths
from fer_platform.images.manifest import Describe, describe_here, gathered


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


def folder_mark_before(image_root: Path, split: str, emotion: str) -> tuple[int, int]:
    """(now, the folder's mtime), taken before a listing, so a file added during it changes the mtime again."""
    folder = image_root / split / emotion
    if not folder.is_dir():
        raise FileNotFoundError(f"emotion folder {str(folder)!r} does not exist")
    return time.time_ns(), os.stat(folder).st_mtime_ns


def update_manifest(
    conn: psycopg.Connection, image_root: Path, split: str, emotion: str, describe: Describe
) -> ManifestUpdate:
    """Lists the folder into the connection's listing and reads only the files whose fingerprint differs from the
    stored manifest (all of them for a first scan); the stored paths no longer listed are gone."""
    marked_at, folder_mtime = folder_mark_before(image_root, split, emotion)
    newest = load_listing(conn, listed_blocks(image_root, split, emotion))
    removed = gone(conn, f"{split}/{emotion}/")
    return ManifestUpdate(described_pages(conn, describe), removed, FolderMark(folder_mtime, newest, marked_at))


def update_landed(
    conn: psycopg.Connection,
    image_root: Path,
    scope: str,
    landed: Sequence[str],
    folder_mtimes: tuple[int | None, int | None],
    mark: FolderMark | None,
    describe: Describe,
) -> ManifestUpdate | None:
    """The scan of the folder ``scope`` a landing wrote the files ``landed`` into (relative to the root), with no
    listing; None when the folder's mtimes say something else may have changed it (the caller lists it then).
    ``folder_mtimes``: the folder's (absolute) mtime just before the landing's first write and just after its
    last. The new mark keeps the last mark's newest file and time of look: a file that was young then is still
    looked at again once settled, and the landed files, renamed into place whole, need no second look."""
    before, after = folder_mtimes
    if mark is None or mark.mtime_ns != before or after is None or not landed and before != after:
        return None
    try:
        listed = stat_paths(image_root, landed)
        if os.stat(image_root / scope).st_mtime_ns != after:
            return None
    except FileNotFoundError:
        return None
    load_listing(conn, [listed])
    landed_mark = FolderMark(after, mark.newest_file_ns, mark.marked_at_ns)
    return ManifestUpdate(described_pages(conn, describe), [], landed_mark)


def described_pages(conn: psycopg.Connection, describe: Describe) -> Generator[pl.DataFrame, None, None]:
    """The rows of the listed files the stored manifest lacks or holds with another fingerprint, described a page
    of paths at a time (``listing.pages_to_read``): the driver holds one page and one block of rows, never the
    folder's, and a run stopped here (``close``) stops the page's reading."""
    for paths in pages_to_read(conn):
        yield from describe(paths)


def scan_folder(image_root: Path, split: str, emotion: str, describe: Describe) -> pl.DataFrame:
    """The manifest of one emotion folder, every file read (``verify_images``, tests, benchmarks)."""
    folder_mark_before(image_root, split, emotion)  # a clear error for a missing folder
    blocks = (block for listed in listed_blocks(image_root, split, emotion) for block in describe(listed["filepath"]))
    return gathered(blocks).sort("filepath")


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
