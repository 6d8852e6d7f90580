"""Stage 2, embeddings: embeddings_table (pgvector, incremental, via the vector store) and its blocking checks."""
