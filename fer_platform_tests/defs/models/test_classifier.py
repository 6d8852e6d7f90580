"""emotion_classifier: metadata, the registry's versions, promotion and pinning."""

import pytest
import torch
from dagster import DagsterInstance

from fer_platform.definitions import build_definitions
from fer_platform.models.lifecycle.registry import (
    EMOTION_CLASSIFIER,
    ModelNotFoundError,
    load_version,
    model_registry,
    served_version,
)
from fer_platform.orchestration.names import CLASSIFIER_JOB
from fer_platform.orchestration.partitions import register_emotions
from fer_platform.settings import load_settings
from fer_platform.storage.location import open_location
from fer_platform_tests.support.constants import TEST_EMOTIONS
from fer_platform_tests.support.helpers import asset_metadata

pytestmark = pytest.mark.slow  # trains emotion_classifier versions on a platform of its own


def test_classifier_metadata_and_versions(search_env):
    heads = model_registry(open_location(load_settings().resolved_lake_url), EMOTION_CLASSIFIER)
    before = heads.versions()  # v0001 registered by the search_env fixture, more by the module's other tests
    assert before[0] == "v0001"
    new = f"v{len(before) + 1:04d}"
    instance = DagsterInstance.ephemeral()
    register_emotions(instance, list(TEST_EMOTIONS))  # the training rows are loaded per emotion partition
    result = build_definitions(load_settings()).resolve_job_def(CLASSIFIER_JOB).execute_in_process(instance=instance)
    meta = asset_metadata(result, "emotion_classifier")
    assert meta["version"] == new and heads.versions() == [*before, new]
    assert (meta["train_samples"], meta["test_samples"]) == (90, 12)
    assert meta["test_accuracy"] >= 0.75
    assert all(f"| {e} |" in meta["recall_per_emotion"] for e in TEST_EMOTIONS)
    assert meta["confusion_matrix"].startswith("![confusion matrix](data:image/png;base64,")
    version = served_version(heads, None)  # each registered head is promoted
    head = load_version(heads, version, torch.device("cpu"))
    assert version == new and head.classes == list(TEST_EMOTIONS)
    assert heads.metrics(version)["accuracy"] == meta["test_accuracy"]
    assert served_version(heads, "v0001") == "v0001"
    with pytest.raises(ModelNotFoundError, match="v0009"):
        served_version(heads, "v0009")


def test_a_second_training_embeds_no_test_image(search_env):
    instance = DagsterInstance.ephemeral()
    register_emotions(instance, list(TEST_EMOTIONS))
    job = build_definitions(load_settings()).resolve_job_def(CLASSIFIER_JOB)
    result = job.execute_in_process(instance=instance)  # the test split's vectors are in the store by now
    messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert any("12 distinct images, 0 through the model (ran the model on no image" in m for m in messages)
