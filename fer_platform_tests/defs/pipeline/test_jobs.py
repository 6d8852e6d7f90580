"""The cross-stage jobs select the seed recipe's stages for one emotion partition, and nothing else."""

import pytest
from dagster import AssetKey

from fer_platform.definitions import build_definitions
from fer_platform.orchestration import names
from fer_platform.orchestration.partitions import EMOTION_PARTITIONS
from fer_platform.settings import load_settings

IMAGES = [names.LANDED_IMAGES, names.RAW_IMAGES]


@pytest.mark.parametrize(
    ("job_name", "stages"),
    [
        (names.EMBED_JOB, [*IMAGES, names.EMBEDDINGS_TABLE]),
        (names.SYNC_JOB, [*IMAGES, names.EMBEDDINGS_TABLE, names.AZURE_REPLICA]),
        (names.PIPELINE_JOB, list(names.PIPELINE_STAGES)),
    ],
)
def test_a_pipeline_job_runs_its_stages_in_data_order_for_one_emotion(fer_env, job_name, stages):
    defs = build_definitions(load_settings())
    job = defs.resolve_job_def(job_name)
    assert job.partitions_def == EMOTION_PARTITIONS
    assert sorted(key.to_user_string() for key in job.asset_layer.selected_asset_keys) == sorted(stages)
    graph = defs.resolve_asset_graph()
    for i, stage in enumerate(stages):  # the listed order is the data's: a stage reads only stages before it
        upstream = {key.to_user_string() for key in graph.get(AssetKey(stage)).parent_keys}
        assert upstream & set(stages) <= set(stages[:i]), stage
