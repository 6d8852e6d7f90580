"""embeddings_table materialized through Dagster against a real PostgreSQL + pgvector."""

import base64
import io

import numpy as np
import psycopg
import pytest
import torch
from dagster import build_op_context
from PIL import Image

from fer_platform.defs.embeddings.checks import rows_match_manifest
from fer_platform.embeddings.model import SEED_TRANSFORM, build_resnet18
from fer_platform.images.decode import to_8bit
from fer_platform.images.scan import ScanTally
from fer_platform.images.stored_manifest import stored_folder
from fer_platform.orchestration.resources import ImagesResource, PostgresResource
from fer_platform_tests.support.bad_images import write_bad_files, write_unusual_good_files
from fer_platform_tests.support.helpers import (
    asset_metadata,
    check_results,
    embeddings_metadata,
    run_partition,
    table_rows,
)

ALL_CHECKS = {"landings_delivered": True, "rows_match_manifest": True, "filepaths_unique": True, "vectors_valid": True}


def test_every_partition_lands_and_rerun_embeds_nothing(fer_env, image_root):
    for emotion in ("angry", "happy", "sad"):
        result = run_partition(emotion)
        assert result.success and check_results(result) == ALL_CHECKS
        assert embeddings_metadata(result)["embedded"] == 4
    first = table_rows(fer_env["FER_PG_DSN"])
    assert len(first) == 12
    again = run_partition("happy")
    meta = embeddings_metadata(again)
    assert (meta["embedded"], meta["unchanged"], meta["removed"]) == (0, 0, 0)
    assert meta["compared"] == "0 file(s) the manifest logged"  # nothing landed: nothing read, nothing compared
    second = table_rows(fer_env["FER_PG_DSN"])
    assert {p: r[0] for p, r in first.items()} == {p: r[0] for p, r in second.items()}


def test_metadata_a_person_looks_at(fer_env):
    run_partition("angry")
    result = run_partition("happy")
    meta = embeddings_metadata(result)
    assert (meta["partition_rows"], meta["table_rows"]) == (4, 8)
    assert "| angry | 4 | 50.0% |" in meta["emotion_distribution"]
    faces = asset_metadata(result, "raw_images")["sample_faces"]
    png = base64.b64decode(faces.split("base64,")[1].rstrip(")"))
    assert Image.open(io.BytesIO(png)).size == (8 * 48, 48)  # 4 faces on one row of 8


def test_incremental_add_change_delete(fer_env, image_root):
    run_partition("happy")
    before = table_rows(fer_env["FER_PG_DSN"], "happy")
    folder = image_root / "train" / "happy"
    for i in range(3):
        (folder / f"new{i}.png").write_bytes((image_root / "train" / "sad" / f"im{i}.png").read_bytes())
    (folder / "im1.png").write_bytes((image_root / "train" / "angry" / "im0.png").read_bytes())
    (folder / "im2.png").unlink()
    result = run_partition("happy")
    meta = embeddings_metadata(result)
    assert (meta["new"], meta["changed"], meta["removed"], meta["unchanged"], meta["embedded"]) == (3, 1, 1, 0, 4)
    assert meta["compared"] == "5 file(s) the manifest logged"  # the landing, not the folder
    after = table_rows(fer_env["FER_PG_DSN"], "happy")
    assert set(after) == {f"train/happy/{n}.png" for n in ("im0", "im1", "im3", "new0", "new1", "new2")}
    assert after["train/happy/im0.png"][0] == before["train/happy/im0.png"][0]  # untouched row kept its id
    assert after["train/happy/im1.png"][1] != before["train/happy/im1.png"][1]
    sad = table_rows(fer_env["FER_PG_DSN"], "sad")
    assert sad == {}  # other partitions untouched
    assert check_results(result) == ALL_CHECKS


def test_changing_the_weights_reembeds_everything(fer_env, monkeypatch, tmp_path):
    run_partition("sad")
    module, _ = build_resnet18("random")
    torch.save(module.state_dict(), tmp_path / "weights.pth")
    monkeypatch.setenv("FER_WEIGHTS", str(tmp_path / "weights.pth"))
    meta = embeddings_metadata(run_partition("sad"))
    assert (meta["model_changed"], meta["embedded"]) == (4, 4)
    assert meta["model_id"].startswith("resnet18-fc_identity/state_dict-") and not meta["random_weights"]


def test_bad_files_are_reported_and_skipped(fer_env, image_root):
    folder = image_root / "train" / "happy"
    bad = write_bad_files(folder)
    good = write_unusual_good_files(folder)
    result = run_partition("happy")
    assert result.success, "bad files must not fail the partition"
    meta = embeddings_metadata(result)
    assert meta["failed"] == len(bad) and meta["embedded"] == 4 + len(good)
    for name in bad:
        assert name in meta["failed_files"]
    stored = table_rows(fer_env["FER_PG_DSN"], "happy")
    assert {f"train/happy/{n}" for n in good} <= set(stored)
    assert check_results(result) == ALL_CHECKS


def test_corrupting_a_stored_file_never_loses_its_row(fer_env, image_root):
    run_partition("happy")
    before = table_rows(fer_env["FER_PG_DSN"], "happy")
    path = image_root / "train" / "happy" / "im0.png"
    path.write_bytes(path.read_bytes()[:100])
    result = run_partition("happy")
    assert embeddings_metadata(result)["failed"] == 1
    after = table_rows(fer_env["FER_PG_DSN"], "happy")
    assert after["train/happy/im0.png"][1] == before["train/happy/im0.png"][1]
    # The stale row is kept, and the count check says the folder and the table disagree.
    assert check_results(result)["rows_match_manifest"] is False


def test_emotion_folder_with_sql_metacharacters(fer_env, image_root):
    evil = "a'; DROP TABLE imagenes_fer; --"
    (image_root / "train" / evil).mkdir()
    for i in range(2):
        (image_root / "train" / evil / f"x{i}.png").write_bytes((image_root / "train" / "sad" / "im0.png").read_bytes())
    result = run_partition(evil)
    assert result.success and check_results(result) == ALL_CHECKS
    assert len(table_rows(fer_env["FER_PG_DSN"], evil)) == 2


def test_too_long_emotion_name_is_a_clear_error(fer_env, image_root):
    name = "e" * 51
    (image_root / "train" / name).mkdir()
    result = run_partition(name)
    assert not result.success
    assert "at most 50" in str(result.get_step_failure_events()[0].event_specific_data.error)


def test_test_split_is_separate_from_train(fer_env, image_root, monkeypatch):
    run_partition("happy")
    monkeypatch.setenv("FER_SPLIT", "test")
    meta = embeddings_metadata(run_partition("happy"))
    assert (meta["embedded"], meta["removed"]) == (1, 0)
    paths = set(table_rows(fer_env["FER_PG_DSN"], "happy"))
    assert "test/happy/im0.png" in paths and len(paths) == 5


def test_checks_catch_tampering(fer_env):
    run_partition("angry")
    with psycopg.connect(fer_env["FER_PG_DSN"], autocommit=True) as conn:
        conn.execute(
            "UPDATE imagenes_fer SET vector = array_fill(0, ARRAY[512])::vector WHERE filepath = 'train/angry/im0.png'"
        )
        # Someone replaced the unique index by a plain one of the same name.
        conn.execute("DROP INDEX imagenes_fer_filepath_key")
        conn.execute("CREATE INDEX imagenes_fer_filepath_key ON imagenes_fer (filepath)")
        conn.execute(
            "INSERT INTO imagenes_fer (filepath, emotion, vector, content_sha256, model_id) "
            "SELECT filepath, emotion, vector, content_sha256, model_id FROM imagenes_fer "
            "WHERE filepath = 'train/angry/im1.png'"
        )
    checks = check_results(run_partition("angry"))
    assert checks["vectors_valid"] is False and checks["filepaths_unique"] is False


def seed_reference(path) -> np.ndarray:
    """The seed script's computation: one image at a time, torch.no_grad, no batching.

    The only departure is documented: 16-bit images are scaled to 8 bits (PIL would clip them).
    """
    model, _ = build_resnet18("random")
    with torch.no_grad():
        return model(SEED_TRANSFORM(to_8bit(Image.open(path))).unsqueeze(0)).squeeze().numpy()


@pytest.mark.parametrize("workers", ["0", "1"])
def test_stored_vectors_equal_the_seed_reference(fer_env, image_root, monkeypatch, workers):
    monkeypatch.setenv("FER_NUM_WORKERS", workers)
    write_unusual_good_files(image_root / "train" / "happy")
    run_partition("happy")
    stored = table_rows(fer_env["FER_PG_DSN"], "happy")
    assert len(stored) == 10
    for filepath, (_, _, vector) in stored.items():
        ref = seed_reference(image_root / filepath)
        cosine = float(np.dot(ref, vector) / np.linalg.norm(ref) / np.linalg.norm(vector))
        assert cosine >= 0.99999, (filepath, cosine)
        assert np.allclose(vector, ref, rtol=1e-4, atol=1e-4)


def test_after_a_landing_rows_match_manifest_looks_at_the_landed_files_not_only_the_counts(fer_env, image_root):
    run_partition("happy")
    folder = image_root / "train" / "happy"
    (folder / "landed.png").write_bytes((image_root / "train" / "sad" / "im0.png").read_bytes())
    assert check_results(run_partition("happy"))["rows_match_manifest"]
    with psycopg.connect(fer_env["FER_PG_DSN"], autocommit=True) as conn:  # the count stays right, the rows not
        conn.execute(
            "UPDATE imagenes_fer SET filepath = 'train/happy/stale.png' WHERE filepath = 'train/happy/landed.png'"
        )
    images = ImagesResource(image_root=str(image_root), source_url=str(image_root), split="train", settle_s=0)
    postgres = PostgresResource(dsn=fer_env["FER_PG_DSN"], embedded_pgdata="")
    with psycopg.connect(fer_env["FER_PG_DSN"], autocommit=True) as conn:
        raw = stored_folder(conn, "train/happy/", ScanTally(), [])
    context = build_op_context(partition_key="happy")
    result = rows_match_manifest(context, postgres=postgres, images=images, raw_images=raw)
    assert not result.passed and result.metadata["rows_for_decodable_checked"].value == 0
