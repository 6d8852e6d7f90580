import os
import shutil

import polars as pl
import pytest

from fer_platform.images import manifest
from fer_platform.images.manifest import (
    MANIFEST_SCHEMA,
    collect_described,
    describe_columns,
    describe_file,
    describe_here,
    described_frame,
    drifted,
    scan_emotion,
    update_manifest,
)
from fer_platform_tests.support.bad_images import write_bad_files


def test_manifest_lists_files_with_hash_and_errors(image_root):
    expected_bad = write_bad_files(image_root / "train" / "happy")
    (image_root / "train" / "happy" / ".hidden").write_text("x")
    manifest = scan_emotion(image_root, "train", "happy")
    rows = {r["filepath"]: r for r in manifest.iter_rows(named=True)}
    assert "train/happy/im0.png" in rows and rows["train/happy/im0.png"]["error"] is None
    assert len(rows["train/happy/im0.png"]["sha256"]) == 64
    assert {p.split("/")[-1] for p, r in rows.items() if r["error"]} == set(expected_bad)
    assert not any(p.endswith(".hidden") for p in rows)


def test_long_file_path_is_an_error_not_a_crash(image_root):
    (image_root / "train" / "happy" / ("x" * 250 + ".png")).write_bytes(
        (image_root / "train" / "happy" / "im0.png").read_bytes()
    )
    manifest = scan_emotion(image_root, "train", "happy")
    assert manifest.filter(manifest["filepath"].str.len_chars() > 255)["error"].to_list() == [
        "file path longer than 255 characters"
    ]


def test_missing_folder_is_named(image_root):
    with pytest.raises(FileNotFoundError, match="nope"):
        scan_emotion(image_root, "train", "nope")


def counting(image_root, emotion: str):
    """``describe_here`` that records which files it was asked to read."""
    read: list[str] = []
    describe = describe_here(image_root, emotion)

    def counted(paths: pl.Series) -> pl.DataFrame:
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
    assert update.manifest.equals(scan_emotion(image_root, "train", "happy"))
    again, read_again = counting(image_root, "happy")
    assert update_manifest(image_root, "train", "happy", update.manifest, again).described.is_empty()
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


def test_described_columns_are_the_rows_describe_file_makes(image_root):
    """The column form (what a Ray task returns and what this process makes) holds exactly the per-file rows:
    nulls of unusable files, a too-long path's error, every fingerprint."""
    folder = image_root / "train" / "happy"
    write_bad_files(folder)
    (folder / ("x" * 250 + ".png")).write_bytes((folder / "im0.png").read_bytes())
    paths = sorted(p.relative_to(image_root).as_posix() for p in folder.iterdir())
    rows = pl.DataFrame([describe_file(image_root / p, image_root, "happy") for p in paths], schema=MANIFEST_SCHEMA)
    assert described_frame(describe_columns(paths, image_root, "happy")).equals(rows)
    assert rows["error"].null_count() < len(rows) and rows["width"].null_count() > 0


def test_batches_are_gathered_in_blocks_in_any_order_and_the_listing_too(image_root, monkeypatch):
    """With blocks of 3 rows, batches of 2 arriving in reverse order (as Ray delivers them) and a listing of
    several blocks give the manifest of one whole-folder batch."""
    monkeypatch.setattr(manifest, "BLOCK_ROWS", 3)
    expected = scan_emotion(image_root, "train", "happy")
    paths = expected["filepath"].to_list()
    batches = [describe_columns(paths[i : i + 2], image_root, "happy") for i in range(0, len(paths), 2)]
    assert collect_described(reversed(batches)).sort("filepath").equals(expected)
    listed, _ = manifest.stat_folder(image_root, "train", "happy")
    assert listed.sort("filepath")["filepath"].to_list() == paths
    assert collect_described([]).equals(pl.DataFrame(schema=MANIFEST_SCHEMA))
