"""The sensor's change detection as pure logic: digests, settling, cursor."""

import os

from fer_platform.images.changes import (
    FolderScan,
    SensorCursor,
    detect_changes,
    digest_of,
    landed_blobs,
    merge_blob_only,
    scan_folder,
)


def test_digest_ignores_listing_order_and_sees_size_and_version():
    a = [("a.png", 10, 1), ("b.png", 20, 2)]
    assert digest_of(a) == digest_of(list(reversed(a)))
    assert digest_of(a) != digest_of([("a.png", 10, 1), ("b.png", 20, 3)])
    assert digest_of(a) != digest_of([("a.png", 11, 1), ("b.png", 20, 2)])


def test_scan_folder_skips_hidden_and_partial_files_and_flags_fresh_ones(tmp_path):
    for name in ("a.png", ".hidden.png", "b.png.part", "c.PNG.crdownload"):
        (tmp_path / name).write_bytes(b"x")
    os.utime(tmp_path / "a.png", (1_000, 1_000))
    scan = scan_folder(tmp_path, settle_s=5, now=2_000)
    assert scan.names == {"a.png"} and scan.files == 1 and not scan.settling
    assert scan_folder(tmp_path, settle_s=5, now=1_002).settling


def test_detect_changes_keeps_settling_digests_and_counts_batches():
    previous = SensorCursor(seq=4, digests={"happy": "h1", "sad": "s1", "gone": "g1"})
    scans = {
        "happy": FolderScan("h2", 3),
        "sad": FolderScan("s2", 3, settling=True),
        "new": FolderScan("n1", 1),
    }
    changes = detect_changes(previous, scans)
    assert changes.changed == ["happy", "new"]
    assert changes.settling == ["sad"] and changes.vanished == ["gone"]
    assert changes.cursor == SensorCursor(seq=5, digests={"happy": "h2", "sad": "s1", "new": "n1"})
    assert SensorCursor.loads(changes.cursor.dumps()) == changes.cursor
    assert detect_changes(changes.cursor, {k: v for k, v in scans.items() if k != "sad"}).cursor.seq == 5


def test_only_blobs_missing_locally_change_a_digest():
    local = {"happy": FolderScan("d", 1, names=frozenset({"a.png"}))}
    listing = {
        "train/happy/a.png": (10, "m1"),
        "train/happy/b.png": (10, "m2"),
        "train/fear/c.png": (5, None),
        "test/happy/z.png": (1, None),
        "train/happy/.part": (1, None),
        "stray.txt": (1, None),
    }
    blobs = landed_blobs(listing, "train")
    assert sorted(blobs) == ["fear", "happy"]
    merged = merge_blob_only(local, blobs)
    assert merged["happy"].digest != "d" and merged["happy"].files == 2 and "fear" in merged
    assert merge_blob_only(local, {"happy": [("a.png", 10, "m1")]}) == local
