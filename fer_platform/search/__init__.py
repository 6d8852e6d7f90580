"""Similarity search over the replica: the HNSW index, queries, face crops and the HTTP service."""
