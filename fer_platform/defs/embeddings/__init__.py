"""Stage 1b: embeddings_table (pgvector, incremental, via the vector store) and its blocking checks."""
