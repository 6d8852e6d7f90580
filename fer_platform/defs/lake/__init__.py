"""Stage 4, lake: source_images_blob, lakehouse_images, lakehouse_embeddings (Parquet), their checks and
``lake_io_manager``."""
