"""The content-addressed vector store through real runs: identical bytes once, resume after SIGKILL, progress."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psycopg
import pytest
from dagster import DagsterInstance

from fer_platform.embeddings.vector_store import PgVectorStore
from fer_platform.orchestration.partitions import register_emotions
from fer_platform.sample_data import write_sample_dataset
from fer_platform_tests.support.helpers import embeddings_metadata, run_partition, table_rows

# Runs the happy partition in a real process whose second chunk stops in the middle of its COPY: after the first
# chunk (4 batches of 4) is committed, the second (the other 24 vectors) sends 8 rows to the server, writes the
# digests of the first chunk and its backend's pid to argv[1], and waits there for the parent's SIGKILL.
KILLED_RUN = """
import json, sys, time
from pathlib import Path
import psycopg
from fer_platform.embeddings import cached
from fer_platform.embeddings import vector_store
cached.CHUNK_SECONDS = 1e9  # two chunks: the first 4 batches, then the rest
mark, rows_before_kill = Path(sys.argv[1]), int(sys.argv[2])
chunks = []
original_put = vector_store.PgVectorStore.put
def put(self, digests, vectors):
    chunks.append({"digests": list(digests), "rows": 0})
    return original_put(self, digests, vectors)
vector_store.PgVectorStore.put = put
original_write_row = psycopg.Copy.write_row
def write_row(self, row):
    original_write_row(self, row)
    if len(chunks) != 2:
        return
    chunks[-1]["rows"] += 1
    if chunks[-1]["rows"] == rows_before_kill:
        buffered, self.formatter._write_buffer = self.formatter._write_buffer, bytearray()
        self.writer.flush_threshold = 0
        self._write(buffered)  # the rows written so far go to the server now (flushed), not at the end of the COPY
        pid = self.connection.info.backend_pid
        mark.with_suffix(".tmp").write_text(json.dumps({"backend_pid": pid, "committed": chunks[0]["digests"]}))
        mark.with_suffix(".tmp").replace(mark)
        time.sleep(600)
psycopg.Copy.write_row = write_row
from fer_platform_tests.support.helpers import run_partition
run_partition("happy")
"""
ROWS_BEFORE_KILL = 8


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


def copy_progress(dsn: str, backend_pid: int) -> int:
    """Bytes the server has received so far in the COPY FROM of ``backend_pid`` (0 when none runs). Rows count
    only once the server flushes its multi-insert buffer, so bytes are the sign that a chunk is under way."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT bytes_processed FROM pg_stat_progress_copy WHERE pid = %s AND command = 'COPY FROM'",
            (backend_pid,),
        ).fetchone()
    return row[0] if row else 0


def stored_digests(dsn: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        return sorted(row[0] for row in conn.execute("SELECT content_sha256 FROM fer_vector_store"))


@pytest.mark.slow  # SIGKILL of an embedding subprocess
def test_a_run_killed_mid_copy_keeps_whole_chunks_and_resumes_with_the_rest(fer_env, image_root, tmp_path):
    """SIGKILL lands while a chunk's COPY is under way (8 of its rows received by the server, its transaction
    open): the store keeps the committed chunk whole and nothing of the killed one; the re-run embeds the rest."""
    dsn = fer_env["FER_PG_DSN"]
    happy = image_root / "train" / "happy"
    shutil.rmtree(happy)
    write_sample_dataset(image_root / "more", per_class=40, test_per_class=0, emotions=("happy",))
    shutil.move(image_root / "more" / "train" / "happy", happy)  # 40 images: a chunk of 16, then one of 24
    mark, log = tmp_path / "killed.json", tmp_path / "killed.log"
    env = os.environ | {"PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", KILLED_RUN, str(mark), str(ROWS_BEFORE_KILL)], env=env, stdout=out, stderr=out
        )
    try:
        deadline, progress = time.monotonic() + 300, None
        while not (mark.exists() and (progress := copy_progress(dsn, backend(mark))) and progress > 0):
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "no row of the second chunk reached the server"
            time.sleep(0.05)
        assert proc.poll() is None  # the writer is alive, inside the COPY
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        returncode = proc.wait()
    assert returncode == -signal.SIGKILL  # the signal found it alive
    committed = sorted(json.loads(mark.read_text())["committed"])
    assert len(committed) == 16
    assert stored_digests(dsn) == committed  # the first chunk whole, nothing of the killed one
    assert table_rows(dsn, "happy") == {}  # the table is unchanged until a run commits
    meta = embeddings_metadata(run_partition("happy"))
    assert (meta["embedded"], meta["reused_vectors"], meta["new"]) == (24, 16, 40)
    assert len(table_rows(dsn, "happy")) == 40 and store_rows(dsn) == 40


def backend(mark: Path) -> int:
    return json.loads(mark.read_text())["backend_pid"]


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
