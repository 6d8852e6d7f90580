"""Stage 4, lake: where images and Parquet embeddings live under FER_LAKE_URL."""
