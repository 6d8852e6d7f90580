"""raw_images through Dagster against the real source database: a landing reads what landed, not what is stored."""

import os
import shutil

import psycopg
from dagster import DagsterInstance

from fer_platform.definitions import build_definitions
from fer_platform.images import manifest
from fer_platform.images.stored_manifest import TABLE, read_mark
from fer_platform.settings import load_settings
from fer_platform_tests.support.helpers import asset_metadata, embeddings_metadata, run_partition


def land(image_root, emotion: str, count: int) -> None:
    folder = image_root / "train" / emotion
    for i in range(count):
        shutil.copy(folder / "im0.png", folder / f"landed {i}.png")


def stored_paths(dsn: str, emotion: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        return {p for (p,) in conn.execute(f"SELECT filepath FROM {TABLE} WHERE emotion = %s", (emotion,))}


def stored_counts_are_a_recount(dsn: str, scope: str) -> bool:
    """The folder's maintained counts equal a count of its stored manifest rows."""
    with psycopg.connect(dsn) as conn:
        kept = conn.execute("SELECT files, decodable, bytes FROM fer_image_folders WHERE scope = %s", (scope,))
        recount = conn.execute(
            f"SELECT count(*), count(*) FILTER (WHERE error IS NULL), sum(size_bytes) FROM {TABLE} "
            "WHERE starts_with(filepath, %s)",
            (scope,),
        )
        return kept.fetchone() == recount.fetchone()


def test_a_landing_reads_only_the_files_that_landed(fer_env, image_root):
    instance = DagsterInstance.ephemeral()
    first = asset_metadata(run_partition("happy", instance), "raw_images")
    assert (first["files"], first["files_hashed"], first["files_unchanged"]) == (4, 4, 0)
    land(image_root, "happy", 2)
    (image_root / "train" / "happy" / "im3.png").unlink()
    second = asset_metadata(run_partition("happy", instance), "raw_images")
    assert (second["files"], second["files_hashed"], second["files_unchanged"], second["files_removed"]) == (5, 2, 3, 1)
    assert second["bytes_read"] == 2 * (image_root / "train" / "happy" / "im0.png").stat().st_size
    assert stored_paths(fer_env["FER_PG_DSN"], "happy") == {
        f"train/happy/{name}" for name in ("im0.png", "im1.png", "im2.png", "landed 0.png", "landed 1.png")
    }
    third = asset_metadata(run_partition("happy", instance), "raw_images")
    assert (third["files_hashed"], third["files"]) == (0, 5)
    assert stored_counts_are_a_recount(fer_env["FER_PG_DSN"], "train/happy/")


def test_verify_images_fails_on_drift_and_the_next_run_reads_the_file(fer_env, image_root):
    instance = DagsterInstance.ephemeral()
    assert run_partition("happy", instance).success
    verify = build_definitions(load_settings()).resolve_job_def("verify_images")
    clean = verify.execute_in_process(instance=instance)
    assert clean.success
    target = image_root / "train" / "happy" / "im1.png"
    stat = target.stat()
    with target.open("r+b") as handle:  # same size, same inode; the mtime put back: invisible to a scan
        handle.write((image_root / "train" / "happy" / "im2.png").read_bytes()[: stat.st_size].ljust(stat.st_size))
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert asset_metadata(run_partition("happy", instance), "raw_images")["files_hashed"] == 0
    failed = verify.execute_in_process(instance=instance, raise_on_error=False)
    assert not failed.success
    failure = failed.failure_data_for_node("verify_image_hashes")
    assert "train/happy/im1.png" in failure.user_failure_data.description
    assert "train/happy/im1.png" not in stored_paths(fer_env["FER_PG_DSN"], "happy")
    assert stored_counts_are_a_recount(fer_env["FER_PG_DSN"], "train/happy/")  # the dropped row's counts too
    rerun = run_partition("happy", instance)
    assert asset_metadata(rerun, "raw_images")["files_hashed"] == 1
    assert stored_counts_are_a_recount(fer_env["FER_PG_DSN"], "train/happy/")
    assert embeddings_metadata(rerun)["changed"] + embeddings_metadata(rerun)["failed"] == 1


def test_a_scan_killed_halfway_keeps_the_blocks_it_stored_and_the_next_run_reads_the_rest(
    fer_env, image_root, monkeypatch
):
    """A scan stores its rows a block at a time: killed while reading its second block, the first stays stored
    (counts moved, the folder's mark void: it still reads as changed), and the next run reads only the files left."""
    monkeypatch.setattr(manifest, "BLOCK_ROWS", 2)
    monkeypatch.setattr(manifest, "DESCRIBE_BATCH", 1)
    read = manifest.describe_file

    def killed_at_im3(path, root, emotion):
        if path.name == "im3.png":
            raise RuntimeError("the step's process was killed")
        return read(path, root, emotion)

    monkeypatch.setattr(manifest, "describe_file", killed_at_im3)
    instance = DagsterInstance.ephemeral()
    assert not run_partition("happy", instance).success
    assert stored_paths(fer_env["FER_PG_DSN"], "happy") == {"train/happy/im0.png", "train/happy/im1.png"}
    assert stored_counts_are_a_recount(fer_env["FER_PG_DSN"], "train/happy/")
    with psycopg.connect(fer_env["FER_PG_DSN"]) as conn:
        assert read_mark(conn, "train/happy/").mtime_ns == -1
    monkeypatch.setattr(manifest, "describe_file", read)
    rerun = asset_metadata(run_partition("happy", instance), "raw_images")
    assert (rerun["files"], rerun["files_hashed"], rerun["files_unchanged"]) == (4, 2, 2)
