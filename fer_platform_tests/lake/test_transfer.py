"""Incremental mirroring between locations (local folders here; Azurite in test_assets)."""

from fer_platform.lake.store import open_location
from fer_platform.lake.transfer import needs_transfer, sync_prefix


def test_needs_transfer_compares_size_and_md5():
    source = {"a": (1, "m1"), "b": (2, "m2"), "c": (3, "m3"), "d": (4, None)}
    target = {"a": (1, "m1"), "b": (2, "other"), "d": (4, "m4")}
    assert needs_transfer(source, target) == ["b", "c"]


def test_mirror_is_incremental_and_keeps_awkward_names(tmp_path):
    src_dir, dst_dir = tmp_path / "src" / "train" / "happy", tmp_path / "dst"
    src_dir.mkdir(parents=True)
    names = ["a b.png", "ünïcødé 表情.png", "quote'\"s.png"]
    for i, name in enumerate(names):
        (src_dir / name).write_bytes(bytes([i]) * 10)
    src, dst = open_location(str(tmp_path / "src")), open_location(str(dst_dir))
    first = sync_prefix(src=src, src_prefix="train/happy/", dst=dst, dst_prefix="raw/train/happy/")
    assert sorted(first.sent) == sorted(names)
    assert sorted(p.name for p in (dst_dir / "raw" / "train" / "happy").iterdir()) == sorted(names)
    (src_dir / "a b.png").write_bytes(b"changed!!!")  # same size, other content
    (src_dir / names[1]).unlink()
    second = sync_prefix(src=src, src_prefix="train/happy/", dst=dst, dst_prefix="raw/train/happy/")
    assert second.sent == ["a b.png"] and second.deleted == [names[1]] and second.unchanged == 1
    assert (dst_dir / "raw" / "train" / "happy" / "a b.png").read_bytes() == b"changed!!!"
    assert sync_prefix(src=src, src_prefix="train/happy/", dst=dst, dst_prefix="raw/train/happy/").sent == []
