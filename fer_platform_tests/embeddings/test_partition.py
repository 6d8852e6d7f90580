"""One partition through the real model and the real vector store: the run holds at most a chunk of vectors,
its plan is staged on the server, and the table's rows are what the model computed."""

import numpy as np
import psycopg
from pgvector.psycopg import register_vector

from fer_platform.embeddings import cached
from fer_platform.embeddings.embedder import BatchEmbedder, embed_files
from fer_platform.embeddings.model import load_model
from fer_platform.embeddings.partition import embed_partition
from fer_platform.embeddings.vector_store import STORE_TABLE, PgVectorStore
from fer_platform.images.manifest import MANIFEST_TABLE
from fer_platform.images.scan import scan_emotion
from fer_platform.images.stored_manifest import ensure_manifest_table, store_read
from fer_platform.sample_data import write_sample_dataset
from fer_platform.table.planned import Comparison, write_planned
from fer_platform.table.rows import read_partition
from fer_platform.table.schema import ensure_table

TABLE = "imagenes_fer"


class RecordingStore(PgVectorStore):
    """The real store, recording how many vectors each commit carried (what the run held at once)."""

    def put(self, digests, vectors):
        self.__dict__.setdefault("chunks", []).append(len(digests))
        return super().put(digests, vectors)


def test_a_partition_holds_a_chunk_at_most_and_its_rows_are_the_models_vectors(pg_dsn, tmp_path, monkeypatch):
    monkeypatch.setattr(cached, "CHUNK_ROWS", 4)  # batches of 2: a commit every 4 vectors
    root = tmp_path / "images"
    write_sample_dataset(root, per_class=9, test_per_class=0, emotions=("happy",))
    embedder = BatchEmbedder(load_model("random", "cpu"), batch_size=2, num_workers=0)
    store = RecordingStore(pg_dsn, embedder.model_id)
    store.prepare()
    manifest = scan_emotion(root, "train", "happy")
    comparison = Comparison(MANIFEST_TABLE, TABLE, "happy", "train/happy/", embedder.model_id)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        ensure_table(conn, TABLE)
        ensure_manifest_table(conn)
        register_vector(conn)
        with conn.transaction():
            store_read(conn, "train/happy/", manifest)
        run = embed_partition(pg_dsn, "run1", comparison, embedder, root, store)
        assert run.delta.vectors_from == STORE_TABLE and run.delta.rows == 9 and run.counts.new == 9
        assert store.chunks == [4, 4, 1] and (run.embedded, run.reused, run.failures) == (9, 0, 0)
        with conn.transaction():
            write_planned(conn, TABLE, run.delta)
        written = read_partition(conn, TABLE, "happy")
        paths = manifest["filepath"].to_list()
        expected = embed_files(embedder.model, [root / p for p in paths], 2, 0).vectors
        by_path = dict(zip(written["filepath"], written["vector"].to_numpy()))
        assert np.allclose(np.stack([by_path[p] for p in paths]), expected, atol=1e-5)
        conn.execute(f"TRUNCATE {TABLE}")  # every vector in the store: nothing computed, the same rows
        again = embed_partition(pg_dsn, "run2", comparison, embedder, root, store)
        assert (again.embedded, again.reused, store.chunks) == (0, 9, [4, 4, 1])
        with conn.transaction():
            write_planned(conn, TABLE, again.delta)
        assert read_partition(conn, TABLE, "happy").drop("id").equals(written.drop("id"))
