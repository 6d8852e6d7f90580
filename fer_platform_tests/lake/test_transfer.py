"""Incremental mirroring between locations (local folders here; Azurite in test_assets)."""

import time

import pytest

from fer_platform.lake.transfer import needs_transfer, sync_prefix
from fer_platform.storage.location import StorageUnavailableError, open_location
from fer_platform_tests.support.faulty_proxy import FaultyProxy


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


@pytest.mark.slow  # waits out the retries
def test_unreachable_store_fails_clearly_after_retries(tmp_path, monkeypatch):
    (tmp_path / "src" / "train" / "happy").mkdir(parents=True)
    (tmp_path / "src" / "train" / "happy" / "a.png").write_bytes(b"x")
    monkeypatch.setenv(
        "AZURE_STORAGE_CONNECTION_STRING",
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
        "BlobEndpoint=http://127.0.0.1:1/devstoreaccount1;",
    )
    start = time.monotonic()
    with pytest.raises(StorageUnavailableError, match="cannot reach Azure storage for 'az://down/x' after retries"):
        sync_prefix(
            src=open_location(str(tmp_path / "src")),
            src_prefix="train/happy/",
            dst=open_location("az://down/x"),
            dst_prefix="train/happy/",
        )
    assert time.monotonic() - start < 60


def test_missing_source_is_an_error_not_a_mass_delete(tmp_path):
    dst = tmp_path / "dst" / "train" / "happy"
    dst.mkdir(parents=True)
    (dst / "keep.png").write_bytes(b"x")
    with pytest.raises(StorageUnavailableError, match="does not exist"):
        sync_prefix(
            src=open_location(str(tmp_path / "nope")),
            src_prefix="train/happy/",
            dst=open_location(str(tmp_path / "dst")),
            dst_prefix="train/happy/",
        )
    assert (dst / "keep.png").exists()


def test_lake_assets_retry_with_backoff():
    from fer_platform.defs.lake.assets import STORAGE_RETRY

    assert STORAGE_RETRY.max_retries == 3 and STORAGE_RETRY.backoff is not None


@pytest.mark.slow  # waits out the retries
def test_503_mid_copy_is_retried_with_backoff(tmp_path, monkeypatch, azurite):
    """The second blob PUT gets one 503: the Azure SDK backs off and retries, and every file lands once."""
    src_dir = tmp_path / "src" / "train" / "fear"
    src_dir.mkdir(parents=True)
    for i in range(6):
        (src_dir / f"im{i}.png").write_bytes(bytes([i]) * 100)
    upstream = int(azurite.split("127.0.0.1:")[1].split("/")[0])
    puts = {"n": 0}

    def second_blob_put(method: str, path: str) -> bool:
        if method == "PUT" and "/train/fear/" in path:
            puts["n"] += 1
            return puts["n"] == 2
        return False

    proxy = FaultyProxy(upstream, second_blob_put)
    try:
        monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.replace(f":{upstream}/", f":{proxy.port}/"))
        dst = open_location(f"az://faulty-{tmp_path.name[-12:].lower().replace('_', '-')}")
        report = sync_prefix(
            src=open_location(str(tmp_path / "src")), src_prefix="train/fear/", dst=dst, dst_prefix="train/fear/"
        )
    finally:
        proxy.close()
    assert len(proxy.served_503) == 1
    failed_blob = proxy.served_503[0].split("?")[0]
    assert sum(1 for m, p in proxy.forwarded if m == "PUT" and p.split("?")[0] == failed_blob) == 1
    assert sorted(report.sent) == [f"im{i}.png" for i in range(6)]
    assert len(dst.listing("train/fear/")) == 6
