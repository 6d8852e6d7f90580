import polars as pl
import pytest

from fer_platform.images import manifest
from fer_platform.images.manifest import (
    MANIFEST_SCHEMA,
    describe_columns,
    describe_file,
    described_blocks,
    described_frame,
    gathered,
)
from fer_platform.images.scan import scan_emotion
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


def test_batches_are_handed_on_in_blocks_as_they_fill_in_any_order(image_root, monkeypatch):
    """With blocks of 3 rows, batches of 2 arriving in reverse order (as Ray delivers them) are handed on a
    block at a time, each before the next batch is taken, and the blocks make the manifest of one whole-folder
    batch."""
    monkeypatch.setattr(manifest, "BLOCK_ROWS", 3)
    expected = scan_emotion(image_root, "train", "happy")
    paths = expected["filepath"].to_list()
    batches = [describe_columns(paths[i : i + 2], image_root, "happy") for i in range(0, len(paths), 2)]
    taken = []

    def arriving():
        for batch in reversed(batches):
            taken.append(len(batch["filepath"]))
            yield batch

    blocks = described_blocks(arriving())
    first = next(blocks)
    assert len(first) == 4 and sum(taken) == 4  # a full block leaves before the rest is read
    assert gathered([first, *blocks]).sort("filepath").equals(expected)
    assert gathered(described_blocks([])).equals(pl.DataFrame(schema=MANIFEST_SCHEMA))
