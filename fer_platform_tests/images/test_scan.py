"""A scan of a folder: by listing, or of what a landing wrote (no listing), and drift."""

import os
import shutil
from collections.abc import Iterator

import polars as pl

from fer_platform.images.manifest import MANIFEST_SCHEMA, describe_here, gathered
from fer_platform.images.scan import FolderMark, drifted, scan_emotion, update_landed, update_manifest


def counting(image_root, emotion: str):
    """``describe_here`` that records which files it was asked to read."""
    read: list[str] = []
    describe = describe_here(image_root, emotion)

    def counted(paths: pl.Series) -> Iterator[pl.DataFrame]:
        read.extend(paths)
        return describe(paths)

    return counted, read


def test_an_update_reads_only_new_and_changed_files(image_root):
    folder = image_root / "train" / "happy"
    first = scan_emotion(image_root, "train", "happy")
    shutil.copy(folder / "im0.png", folder / "new.png")
    (folder / "im1.png").write_bytes((folder / "im2.png").read_bytes())  # content and mtime change
    (folder / "im2.png").unlink()
    describe, read = counting(image_root, "happy")
    update = update_manifest(image_root, "train", "happy", first, describe)
    assert read == ["train/happy/im1.png", "train/happy/new.png"]
    assert update.removed == ["train/happy/im2.png"]
    now = scan_emotion(image_root, "train", "happy")
    assert gathered(update.described).equals(now.filter(pl.col("filepath").is_in(read)))
    again, read_again = counting(image_root, "happy")
    assert gathered(update_manifest(image_root, "train", "happy", now, again).described).is_empty()
    assert read_again == []


def test_a_replaced_file_with_the_same_size_and_mtime_is_read_again(image_root):
    folder = image_root / "train" / "happy"
    first = scan_emotion(image_root, "train", "happy")
    stat = (folder / "im0.png").stat()
    replacement = folder / "replacement.tmp"
    replacement.write_bytes(bytes(reversed((folder / "im0.png").read_bytes())))
    os.utime(replacement, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    replacement.replace(folder / "im0.png")  # a new inode under the old name, size and mtime
    describe, read = counting(image_root, "happy")
    update_manifest(image_root, "train", "happy", first, describe)
    assert read == ["train/happy/im0.png"]


def test_drift_is_a_content_change_under_an_unchanged_fingerprint(image_root):
    folder = image_root / "train" / "happy"
    stored = scan_emotion(image_root, "train", "happy")
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
    drift = drifted(stored, found)
    assert list(drift) == ["train/happy/im0.png"] and "unchanged" in drift["train/happy/im0.png"]




def landing(folder, names: list[str]) -> tuple[list[str], tuple[int, int]]:
    """Copy ``names`` into the folder as a landing does; (their paths, the folder's mtimes before and after)."""
    before = os.stat(folder).st_mtime_ns
    for name in names:
        shutil.copy(folder / "im0.png", folder / name)
    return [f"train/happy/{name}" for name in names], (before, os.stat(folder).st_mtime_ns)


def marked(image_root) -> tuple[pl.DataFrame, FolderMark]:
    """The manifest and mark a first scan of happy stores."""
    empty = pl.DataFrame(schema=MANIFEST_SCHEMA)
    update = update_manifest(image_root, "train", "happy", empty, describe_here(image_root, "happy"))
    return gathered(update.described), update.mark


def test_after_a_landing_only_the_landed_files_are_stat_ed_and_read(image_root, monkeypatch):
    folder = image_root / "train" / "happy"
    stored, mark = marked(image_root)
    os.utime(folder, ns=(1, 1))  # the folder as the last scan marked it
    mark = FolderMark(1, mark.newest_file_ns, mark.marked_at_ns)
    paths, mtimes = landing(folder, ["a.png", "b.png"])
    monkeypatch.setattr(os, "scandir", None)  # no listing
    describe, read = counting(image_root, "happy")
    update = update_landed(image_root, "train/happy/", paths, mtimes, mark, stored.clear(), describe)
    assert read == paths and update.removed == []
    assert update.mark == FolderMark(mtimes[1], mark.newest_file_ns, mark.marked_at_ns)


def test_a_folder_changed_beside_the_landing_is_listed_instead(image_root):
    folder = image_root / "train" / "happy"
    stored, mark = marked(image_root)
    describe, read = counting(image_root, "happy")
    paths, mtimes = landing(folder, ["a.png"])
    stale = FolderMark(mark.mtime_ns - 1, mark.newest_file_ns, mark.marked_at_ns)  # changed before the landing
    assert update_landed(image_root, "train/happy/", paths, mtimes, stale, stored.clear(), describe) is None
    current = FolderMark(mtimes[0], mark.newest_file_ns, mark.marked_at_ns)
    shutil.copy(folder / "im0.png", folder / "after.png")  # changed after the landing
    os.utime(folder, ns=(mtimes[1] + 10, mtimes[1] + 10))
    assert update_landed(image_root, "train/happy/", paths, mtimes, current, stored.clear(), describe) is None
    (folder / "a.png").unlink()  # a landed file gone since
    os.utime(folder, ns=(mtimes[1], mtimes[1]))
    assert update_landed(image_root, "train/happy/", paths, mtimes, current, stored.clear(), describe) is None
    assert update_landed(image_root, "train/happy/", [], (mtimes[0], mtimes[1]), current, stored, describe) is None
    assert update_landed(image_root, "train/happy/", paths, mtimes, None, stored.clear(), describe) is None
    assert read == []
