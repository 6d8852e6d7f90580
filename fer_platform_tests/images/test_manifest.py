import pytest

from fer_platform.images.manifest import scan_emotion
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
