"""Stage 6, search: vector_index (HNSW on the replica), recall_at_10, its job and its automation sensor."""
