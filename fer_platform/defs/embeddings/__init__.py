"""Stage 2, embeddings: embeddings_table (pgvector, incremental, via the vector store), its blocking checks and
``pgvector_io_manager``."""
