"""The partitioned jobs a person launches from the UI or the sensor requests: embed, replicate, the whole recipe."""

from dagster import define_asset_job

from fer_platform.orchestration import names
from fer_platform.orchestration.partitions import EMOTION_PARTITIONS

embed_images = define_asset_job(
    names.EMBED_JOB,
    selection=[names.LANDED_IMAGES, names.RAW_IMAGES, names.EMBEDDINGS_TABLE],
    partitions_def=EMOTION_PARTITIONS,
    description="Scan one emotion folder and embed what changed into imagenes_fer.",
)
embed_and_replicate = define_asset_job(
    names.SYNC_JOB,
    selection=[names.LANDED_IMAGES, names.RAW_IMAGES, names.EMBEDDINGS_TABLE, names.AZURE_REPLICA],
    partitions_def=EMOTION_PARTITIONS,
    description="Embed one emotion folder and carry the change to the Azure replica.",
)
fer_pipeline = define_asset_job(
    names.PIPELINE_JOB,
    selection=list(names.PIPELINE_STAGES),
    partitions_def=EMOTION_PARTITIONS,
    description="The whole seed recipe for one emotion: embed, replicate, upload, lakehouse.",
)
