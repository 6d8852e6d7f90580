"""The content-addressed vector store through real runs: identical bytes once, resume after SIGKILL, progress."""

import os
import shutil
import subprocess
import sys

import numpy as np
import psycopg
import pytest
from dagster import DagsterInstance

from fer_platform.orchestration.partitions import register_emotions
from fer_platform.sample_data import write_sample_dataset
from fer_platform.table.vector_store import PgVectorStore
from fer_platform_tests.helpers import embeddings_metadata, run_partition, table_rows

# Runs the happy partition in a real process that SIGKILLs itself right after the first chunk is committed.
KILLED_RUN = """
import os, signal
from fer_platform.table import vector_store
original = vector_store.PgVectorStore.put
def put_then_die(self, digests, vectors):
    added = original(self, digests, vectors)
    os.kill(os.getpid(), signal.SIGKILL)
vector_store.PgVectorStore.put = put_then_die
from fer_platform_tests.helpers import run_partition
run_partition("happy")
"""


def store_rows(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT count(*) FROM fer_vector_store").fetchone()[0]


def test_identical_bytes_go_through_the_model_once(fer_env, image_root):
    happy, sad = image_root / "train" / "happy", image_root / "train" / "sad"
    for i in range(3):
        shutil.copy(happy / "im0.png", happy / f"copy{i}.png")
    shutil.copy(happy / "im1.png", sad / "from_happy.png")
    meta = embeddings_metadata(run_partition("happy"))
    assert (meta["embedded"], meta["reused_vectors"]) == (4, 3)  # 7 rows, 4 distinct contents
    assert len(table_rows(fer_env["FER_PG_DSN"], "happy")) == 7
    sad_meta = embeddings_metadata(run_partition("sad"))
    assert (sad_meta["embedded"], sad_meta["reused_vectors"]) == (4, 1)  # another emotion: taken from the store
    assert sad_meta["store_rows"] == 8 and sad_meta["store_bytes"] > 8 * 2048


def test_a_killed_run_resumes_with_only_the_missing_images(fer_env, image_root):
    happy = image_root / "train" / "happy"
    shutil.rmtree(happy)
    write_sample_dataset(image_root / "more", per_class=40, test_per_class=0, emotions=("happy",))
    shutil.move(image_root / "more" / "train" / "happy", happy)  # 40 images; chunks of 4 batches of 4
    proc = subprocess.run([sys.executable, "-c", KILLED_RUN], env=os.environ.copy(), capture_output=True, timeout=300)
    assert proc.returncode == -9, proc.stderr[-2000:]
    assert store_rows(fer_env["FER_PG_DSN"]) == 16  # the first chunk was committed before the kill
    assert table_rows(fer_env["FER_PG_DSN"], "happy") == {}  # the table is unchanged until a run commits
    meta = embeddings_metadata(run_partition("happy"))
    assert (meta["embedded"], meta["reused_vectors"], meta["new"]) == (24, 16, 40)
    assert len(table_rows(fer_env["FER_PG_DSN"], "happy")) == 40


def test_progress_with_eta_is_in_the_run_log(fer_env):
    instance = DagsterInstance.ephemeral()
    register_emotions(instance, ["angry"])
    result = run_partition("angry", instance)
    messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert any(m.startswith("angry: 4/4 images (100 %)") and "img/s" in m and "ETA" in m for m in messages)


def test_a_new_model_drops_the_stored_vectors_of_the_old_one(fer_env, monkeypatch):
    run_partition("angry")
    monkeypatch.setenv("FER_PRECISION", "bf16")
    meta = embeddings_metadata(run_partition("angry"))
    assert (meta["embedded"], meta["reused_vectors"], meta["store_rows"]) == (4, 0, 4)
    with psycopg.connect(fer_env["FER_PG_DSN"]) as conn:
        assert conn.execute("SELECT DISTINCT model_id FROM fer_vector_store").fetchall() == [(meta["model_id"],)]


def test_the_store_answers_only_for_the_same_bytes_and_model(pg_dsn):
    digest, other = "a" * 64, "a" * 63 + "b"
    store = PgVectorStore(pg_dsn, "model-1")
    store.prepare()
    vector = np.arange(512, dtype=np.float32)
    assert store.put([digest], vector[None, :]) == 1
    assert store.put([digest], np.zeros((1, 512), np.float32)) == 0  # an entry is never overwritten
    assert np.array_equal(store.lookup([digest, other])[digest], vector) and other not in store.lookup([other])
    assert PgVectorStore(pg_dsn, "model-2").lookup([digest]) == {}


def test_a_chunk_that_cannot_be_committed_names_the_server_not_the_password():
    store = PgVectorStore("postgresql://fer:hunter2@127.0.0.1:1/fer?connect_timeout=2", "model-1")
    with pytest.raises(ConnectionError) as err:
        store.put(["a" * 64], np.zeros((1, 512), np.float32))
    assert "127.0.0.1:1" in str(err.value) and "hunter2" not in str(err.value)
