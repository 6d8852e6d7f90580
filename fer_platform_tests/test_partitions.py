from fer_platform.images.folders import discover_emotions


def test_partitions_follow_the_folders_on_disk(tmp_path):
    for name in ("zebra", "Alegría", "a'; DROP TABLE imagenes_fer; --", "bad...name"):
        (tmp_path / "train" / name).mkdir(parents=True)
    (tmp_path / "train" / ".cache").mkdir()
    (tmp_path / "train" / "file.txt").write_text("x")
    assert discover_emotions(tmp_path, "train") == ["Alegría", "a'; DROP TABLE imagenes_fer; --", "zebra"]


def test_missing_split_means_no_partitions(tmp_path):
    assert discover_emotions(tmp_path, "test") == []
