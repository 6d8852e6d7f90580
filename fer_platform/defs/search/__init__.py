"""Stage 6, search: vector_index (HNSW on the replica), recall_at_10, build_search_index, the automation sensor
and ``search``."""
