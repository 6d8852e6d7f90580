"""Similarity search over the replica (stage 5): the HNSW index, top-k queries, and FER face crops."""
