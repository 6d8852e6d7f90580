"""The lake's layout (stage 4): where images and Parquet embeddings live under FER_LAKE_URL."""
