"""The images stage's Ray task bodies, called as plain functions (the cluster tests run them on real nodes):
a scan's rows equal the in-process manifest; landing copies blobs whole from Azurite, answers deleted ones as
gone, and a node without credentials or without the image root says which setting."""

import uuid

import numpy as np
import pyarrow as pa
import pytest

from fer_platform.images.manifest import described_blocks, gathered
from fer_platform.images.reading import describe_batch, land_batch
from fer_platform.images.scan import scan_emotion
from fer_platform.storage.location import open_location
from fer_platform_tests.support.bad_images import write_bad_files


def test_described_columns_are_the_manifest_rows_after_a_trip_through_arrow(image_root):
    """A task's numpy columns, carried as Arrow (as Ray carries a block) and collected on the driver, are the
    manifest the in-process scan makes: nulls of unusable files included, no row parsed from text."""
    write_bad_files(image_root / "train" / "happy")
    expected = scan_emotion(image_root, "train", "happy")
    batch = {"filepath": expected["filepath"].to_numpy()}
    columns = describe_batch(batch, str(image_root), "happy")
    assert all(isinstance(column, np.ndarray) for column in columns.values())
    carried = pa.table(columns)
    back = {name: carried[name].to_numpy(zero_copy_only=False) for name in carried.column_names}
    assert gathered(described_blocks([back])).equals(expected)
    assert expected["error"].null_count() < len(expected)  # bad files are among them


def test_landing_copies_whole_blobs_and_answers_deleted_ones_as_gone(tmp_path, azurite, monkeypatch):
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite)
    url = f"az://src-{uuid.uuid4().hex[:10]}"
    source = open_location(url)
    source.ensure()
    source.fs.pipe_file(source.path("train/happy/a.png"), b"landed bytes")
    out = land_batch({"name": np.array(["train/happy/a.png", "train/happy/deleted.png"])}, url, str(tmp_path))
    assert out["gone"].tolist() == [False, True]
    assert (tmp_path / "train/happy/a.png").read_bytes() == b"landed bytes"
    assert sorted(p.name for p in (tmp_path / "train/happy").iterdir()) == ["a.png"]  # no temporary left


def test_a_node_without_credentials_names_the_settings(tmp_path, monkeypatch):
    for name in ("AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCOUNT_KEY", "AZURE_STORAGE_SAS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(PermissionError, match="FER_SOURCE_URL.*AZURE_STORAGE_CONNECTION_STRING"):
        land_batch({"name": np.array(["train/happy/a.png"])}, "az://source", str(tmp_path))


def test_a_node_without_the_image_root_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="FER_IMAGE_ROOT=.*mount the image root"):
        describe_batch({"filepath": np.array(["train/happy/a.png"])}, str(tmp_path / "absent"), "happy")
