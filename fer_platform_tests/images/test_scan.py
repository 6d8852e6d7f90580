"""A scan of a folder against its stored manifest (a real PostgreSQL): by listing, or of what a landing wrote (no
listing), its mark, and drift."""

import os
import shutil
from collections.abc import Iterator

import polars as pl

from fer_platform.images.changes import folder_changes, folder_mtimes
from fer_platform.images.manifest import describe_here, gathered
from fer_platform.images.scan import (
    FolderMark,
    ManifestUpdate,
    drifted,
    scan_emotion,
    update_landed,
    update_manifest,
)
from fer_platform.images.stored_manifest import store_end, store_read

S = 1_000_000_000  # ns
SCOPE = "train/happy/"


def counting(image_root, emotion: str):
    """``describe_here`` that records which files it was asked to read."""
    read: list[str] = []
    describe = describe_here(image_root, emotion)

    def counted(paths: pl.Series) -> Iterator[pl.DataFrame]:
        read.extend(paths)
        return describe(paths)

    return counted, read


def stored(conn, update: ManifestUpdate) -> pl.DataFrame:
    """Store an update block by block as ``raw_images`` does; the rows it read."""
    blocks = []
    for block in update.described:
        with conn.transaction():
            store_read(conn, SCOPE, block)
        blocks.append(block)
    with conn.transaction():
        store_end(conn, SCOPE, update.removed, update.mark)
    return gathered(blocks).sort("filepath")


def first_scan(conn, image_root) -> tuple[pl.DataFrame, FolderMark]:
    """The manifest and mark a first scan of happy stores."""
    update = update_manifest(conn, image_root, "train", "happy", describe_here(image_root, "happy"))
    return stored(conn, update), update.mark


def test_an_update_reads_only_new_and_changed_files(conn, image_root):
    folder = image_root / "train" / "happy"
    first, _ = first_scan(conn, image_root)
    assert first.equals(scan_emotion(image_root, "train", "happy"))
    shutil.copy(folder / "im0.png", folder / "new.png")
    (folder / "im1.png").write_bytes((folder / "im2.png").read_bytes())  # content and mtime change
    (folder / "im2.png").unlink()
    describe, read = counting(image_root, "happy")
    update = update_manifest(conn, image_root, "train", "happy", describe)
    assert update.removed == ["train/happy/im2.png"]
    got = stored(conn, update)
    assert sorted(read) == ["train/happy/im1.png", "train/happy/new.png"]
    now = scan_emotion(image_root, "train", "happy")
    assert got.equals(now.filter(pl.col("filepath").is_in(read)))
    again, read_again = counting(image_root, "happy")
    update = update_manifest(conn, image_root, "train", "happy", again)
    assert stored(conn, update).is_empty() and read_again == [] and update.removed == []


def test_a_replaced_file_with_the_same_size_and_mtime_is_read_again(conn, image_root):
    folder = image_root / "train" / "happy"
    first_scan(conn, image_root)
    stat = (folder / "im0.png").stat()
    replacement = folder / "replacement.tmp"
    replacement.write_bytes(bytes(reversed((folder / "im0.png").read_bytes())))
    os.utime(replacement, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    replacement.replace(folder / "im0.png")  # a new inode under the old name, size and mtime
    describe, read = counting(image_root, "happy")
    stored(conn, update_manifest(conn, image_root, "train", "happy", describe))
    assert read == ["train/happy/im0.png"]


def test_the_scan_marks_the_folder_with_its_mtime_from_before_the_listing(conn, tmp_path):
    folder = tmp_path / "train" / "happy"
    folder.mkdir(parents=True)
    (folder / "a.png").write_bytes(b"x")
    os.utime(folder / "a.png", ns=(5 * S, 5 * S))
    os.utime(folder, ns=(3 * S, 3 * S))
    update = update_manifest(conn, tmp_path, "train", "happy", describe_here(tmp_path, "happy"))
    assert update.mark.mtime_ns == 3 * S == folder_mtimes(tmp_path, "train")["happy"]
    assert update.mark.newest_file_ns == 5 * S and update.mark.settled(5)
    (folder / "b.png").write_bytes(b"y")  # a landing: the folder's mtime moves on, the mark does not
    assert folder_changes(folder_mtimes(tmp_path, "train"), {"happy": update.mark}, 0, 10**20).runs.keys() == {"happy"}


def test_drift_is_a_content_change_under_an_unchanged_fingerprint(image_root):
    folder = image_root / "train" / "happy"
    stored_rows = scan_emotion(image_root, "train", "happy")
    target = folder / "im0.png"
    stat = target.stat()
    with target.open("r+b") as handle:  # rewritten in place: same inode, same size
        data = bytearray(handle.read())
        data[-1] ^= 0xFF
        handle.seek(0)
        handle.write(bytes(data))
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    shutil.copy(folder / "im1.png", folder / "late.png")  # new since the scan: not drift
    found = scan_emotion(image_root, "train", "happy")
    drift = drifted(stored_rows, found)
    assert list(drift) == ["train/happy/im0.png"] and "unchanged" in drift["train/happy/im0.png"]


def landing(folder, names: list[str]) -> tuple[list[str], tuple[int, int]]:
    """Copy ``names`` into the folder as a landing does; (their paths, the folder's mtimes before and after)."""
    before = os.stat(folder).st_mtime_ns
    for name in names:
        shutil.copy(folder / "im0.png", folder / name)
    return [f"train/happy/{name}" for name in names], (before, os.stat(folder).st_mtime_ns)


def test_after_a_landing_only_the_landed_files_are_stat_ed_and_read(conn, image_root, monkeypatch):
    folder = image_root / "train" / "happy"
    _, mark = first_scan(conn, image_root)
    os.utime(folder, ns=(1, 1))  # the folder as the last scan marked it
    mark = FolderMark(1, mark.newest_file_ns, mark.marked_at_ns)
    paths, mtimes = landing(folder, ["a.png", "b.png"])
    monkeypatch.setattr(os, "scandir", None)  # no listing
    describe, read = counting(image_root, "happy")
    update = update_landed(conn, image_root, SCOPE, paths, mtimes, mark, describe)
    assert update.removed == [] and update.mark == FolderMark(mtimes[1], mark.newest_file_ns, mark.marked_at_ns)
    assert stored(conn, update)["filepath"].to_list() == paths and read == paths
    again, read_again = counting(image_root, "happy")  # stored now: the same landing reads nothing again
    assert stored(conn, update_landed(conn, image_root, SCOPE, paths, mtimes, mark, again)).is_empty()
    assert read_again == []


def test_a_folder_changed_beside_the_landing_is_listed_instead(conn, image_root):
    folder = image_root / "train" / "happy"
    _, mark = first_scan(conn, image_root)
    describe, read = counting(image_root, "happy")
    paths, mtimes = landing(folder, ["a.png"])
    stale = FolderMark(mark.mtime_ns - 1, mark.newest_file_ns, mark.marked_at_ns)  # changed before the landing
    assert update_landed(conn, image_root, SCOPE, paths, mtimes, stale, describe) is None
    current = FolderMark(mtimes[0], mark.newest_file_ns, mark.marked_at_ns)
    shutil.copy(folder / "im0.png", folder / "after.png")  # changed after the landing
    os.utime(folder, ns=(mtimes[1] + 10, mtimes[1] + 10))
    assert update_landed(conn, image_root, SCOPE, paths, mtimes, current, describe) is None
    (folder / "a.png").unlink()  # a landed file gone since
    os.utime(folder, ns=(mtimes[1], mtimes[1]))
    assert update_landed(conn, image_root, SCOPE, paths, mtimes, current, describe) is None
    assert update_landed(conn, image_root, SCOPE, [], (mtimes[0], mtimes[1]), current, describe) is None
    assert update_landed(conn, image_root, SCOPE, paths, mtimes, None, describe) is None
    assert read == []
