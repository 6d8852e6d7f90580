"""The public names of the definitions (asset keys, job names), each stated once and referred to by name.

They are a contract with the outside (CLI commands, the UI, scripts, the README);
the definitions snapshot test fails when one of them changes.
"""

from __future__ import annotations

LANDED_IMAGES = "landed_images"
RAW_IMAGES = "raw_images"
EMBEDDINGS_TABLE = "embeddings_table"
AZURE_REPLICA = "azure_replica"
SOURCE_IMAGES_BLOB = "source_images_blob"
LAKEHOUSE_IMAGES = "lakehouse_images"
LAKEHOUSE_EMBEDDINGS = "lakehouse_embeddings"
VECTOR_INDEX = "vector_index"
EMOTION_CLASSIFIER = "emotion_classifier"
EMOTION_MODEL = "emotion_model"
EXPRESSION_VECTORS = "expression_vectors"
NOT_WORSE_THAN_SERVED = "not_worse_than_served"
EXPRESSION_VECTORS_COMPLETE = "expression_vectors_complete"
SPLIT_OVERLAP = "split_overlap"
NO_TEST_IMAGES_IN_TRAIN = "no_test_images_in_train"
LABEL_ISSUES = "label_issues"
LANDINGS_DELIVERED = "landings_delivered"

# The seed recipe for one emotion, in data order: what fer_pipeline (and the sensor) runs.
PIPELINE_STAGES = (
    LANDED_IMAGES,
    RAW_IMAGES,
    EMBEDDINGS_TABLE,
    AZURE_REPLICA,
    SOURCE_IMAGES_BLOB,
    LAKEHOUSE_IMAGES,
    LAKEHOUSE_EMBEDDINGS,
)

# The tag by which a run started for blob events finds its events in fer_landing_events.
LANDING_RUN_TAG = "fer/landing_events"

EMBED_JOB = "embed_images"
SYNC_JOB = "embed_and_replicate"
PIPELINE_JOB = "fer_pipeline"
INDEX_JOB = "build_search_index"
CLASSIFIER_JOB = "train_emotion_classifier"
MIGRATION_JOB = "initial_migration"
EMOTION_MODEL_JOB = "train_emotion_model"
EXPRESSION_JOB = "embed_expressions"
VERIFY_IMAGES_JOB = "verify_images"
VERIFY_REPLICA_JOB = "verify_replica"
LAKE_MAINTENANCE_JOB = "lake_maintenance"
