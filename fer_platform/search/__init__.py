"""Stage 6, search: the HNSW index on the replica and top-k queries (the HTTP service in ``service/`` serves it)."""
