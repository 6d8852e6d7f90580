"""A folder's listing compared with its stored manifest inside PostgreSQL: blocks in, pages of paths out."""

import os

import polars as pl

from fer_platform.images import listing
from fer_platform.images.listing import LISTING_SCHEMA, gone, listed_blocks, load_listing, pages_to_read
from fer_platform.images.manifest import describe_here
from fer_platform.images.stored_manifest import store_read


def test_a_folder_is_listed_a_block_at_a_time(image_root, monkeypatch):
    monkeypatch.setattr(listing, "BLOCK_ROWS", 3)
    blocks = list(listed_blocks(image_root, "train", "happy"))
    names = sorted(p.name for p in (image_root / "train" / "happy").iterdir())
    assert [len(block) for block in blocks[:-1]] == [3] * (len(names) // 3) and len(blocks[-1]) == len(names) % 3
    assert pl.concat(blocks)["filepath"].sort().to_list() == [f"train/happy/{name}" for name in names]


def test_pages_name_each_changed_path_once_while_the_rows_read_are_stored_between_them(conn, tmp_path, monkeypatch):
    """Pages of 2 over 7 listed files, 2 of them stored with the fingerprint listed: the 5 others come out once
    each, in pages, though each page's rows are stored (and committed) before the next is asked for, with a
    fingerprint that is not the listed one (touched meanwhile); a stored path no longer listed is gone, and
    another folder's rows are neither."""
    monkeypatch.setattr(listing, "BLOCK_ROWS", 2)
    folder = tmp_path / "train" / "happy"
    folder.mkdir(parents=True)
    for k in range(7):
        (folder / f"f{k}.png").write_bytes(bytes([k]) * 10)
    load_listing(conn, listed_blocks(tmp_path, "train", "happy"))
    describe = describe_here(tmp_path, "happy")
    for path in ("train/happy/f1.png", "train/happy/f4.png", "train/happy/old.png", "train/happyish/x.png"):
        (tmp_path / path).parent.mkdir(exist_ok=True)
        (tmp_path / path).write_bytes(b"stored")
        with conn.transaction():
            store_read(conn, "train/happy/", next(describe(pl.Series([path]))))
    (tmp_path / "train/happy/old.png").unlink()
    load_listing(conn, listed_blocks(tmp_path, "train", "happy"))
    asked = []
    for page in pages_to_read(conn):
        assert len(page) <= 2
        asked.extend(page)
        for path in page:  # touched since the listing: stored with another fingerprint than the one listed
            os.utime(tmp_path / path, ns=(7, 7))
        with conn.transaction():
            store_read(conn, "train/happy/", pl.concat(list(describe(page))))
    assert sorted(asked) == [f"train/happy/f{k}.png" for k in (0, 2, 3, 5, 6)] and len(asked) == 5
    assert sorted(p for page in pages_to_read(conn) for p in page) == sorted(asked)  # touched: read again next time
    assert gone(conn, "train/happy/") == ["train/happy/old.png"]


def test_a_new_listing_replaces_the_last_one_and_names_its_newest_mtime(conn):
    rows = [("train/happy/a.png", 1, 7, 1), ("train/happy/b.png", 1, 9, 2)]
    assert load_listing(conn, [pl.DataFrame(rows, schema=LISTING_SCHEMA, orient="row")]) == 9
    assert [page.to_list() for page in pages_to_read(conn)] == [["train/happy/a.png", "train/happy/b.png"]]
    assert load_listing(conn, [pl.DataFrame(rows[:1], schema=LISTING_SCHEMA, orient="row")]) == 7
    assert [page.to_list() for page in pages_to_read(conn)] == [["train/happy/a.png"]]
    assert load_listing(conn, []) == 0 and list(pages_to_read(conn)) == []
