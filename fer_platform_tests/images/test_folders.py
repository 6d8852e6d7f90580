from fer_platform.images.folders import INVALID_KEY_SUBSTRINGS, discover_emotions, is_valid_partition_key


def test_partitions_follow_the_folders_on_disk(tmp_path):
    for name in ("zebra", "Alegría", "a'; DROP TABLE imagenes_fer; --", "bad...name"):
        (tmp_path / "train" / name).mkdir(parents=True)
    (tmp_path / "train" / ".cache").mkdir()
    (tmp_path / "train" / "file.txt").write_text("x")
    assert discover_emotions(tmp_path, "train") == ["Alegría", "a'; DROP TABLE imagenes_fer; --", "zebra"]


def test_missing_split_means_no_partitions(tmp_path):
    assert discover_emotions(tmp_path, "test") == []


def test_the_partition_key_rule_is_dagsters():
    from dagster._core.definitions.partitions.utils.base import INVALID_PARTITION_SUBSTRINGS

    assert sorted(INVALID_KEY_SUBSTRINGS) == sorted(INVALID_PARTITION_SUBSTRINGS)
    assert not is_valid_partition_key("a...b") and not is_valid_partition_key("tab\tbed")
    assert is_valid_partition_key("happy") and is_valid_partition_key("très content")
