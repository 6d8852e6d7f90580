"""The model jobs: train (and, through the check, promote) emotion_model; compute expression vectors."""

from dagster import define_asset_job

from fer_platform.orchestration import names
from fer_platform.orchestration.partitions import EMOTION_PARTITIONS

train_emotion_model = define_asset_job(
    names.EMOTION_MODEL_JOB,
    selection=[names.EMOTION_MODEL],
    description="Train emotion_model on the train/ images, register it, promote it if not worse than the champion.",
)

embed_expressions = define_asset_job(
    names.EXPRESSION_JOB,
    selection=[names.EXPRESSION_VECTORS],
    partitions_def=EMOTION_PARTITIONS,
    description="The served emotion_model's expression vectors of one emotion's stored images.",
)
