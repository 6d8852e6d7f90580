import hashlib

from PIL import Image

from fer_platform.sample_data import FER2013_EMOTIONS, write_sample_dataset


def digest_tree(root):
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*.png")}


def test_deterministic_fer_layout(tmp_path):
    assert write_sample_dataset(tmp_path / "a", per_class=2, test_per_class=1) == 21
    write_sample_dataset(tmp_path / "b", per_class=2, test_per_class=1)
    assert digest_tree(tmp_path / "a") == digest_tree(tmp_path / "b")
    assert {p.split("/")[1] for p in digest_tree(tmp_path / "a")} == set(FER2013_EMOTIONS)
    img = Image.open(tmp_path / "a" / "train" / "happy" / "im0.png")
    assert img.size == (48, 48) and img.mode == "L"


def test_other_label_sets(tmp_path):
    write_sample_dataset(tmp_path, per_class=1, test_per_class=0, emotions=["joy", "anger"])
    assert sorted(p.name for p in (tmp_path / "train").iterdir()) == ["anger", "joy"]
