"""The platform factory's choices that depend on what is stored: the query model's precision."""

import pytest

from fer_platform.factory import Platform
from fer_platform.settings import load_settings

FP32 = "resnet18-fc_identity/random-seed0/gray3-r256-c224-imagenetnorm"  # FER_WEIGHTS=random
BF16 = f"{FP32}/bf16"


@pytest.mark.parametrize(
    "setting, stored, expected",
    [
        ("auto", [BF16], "bf16"),  # rows made on GPU actors, queried on a CPU
        ("auto", [FP32], "fp32"),
        ("auto", [], "fp32"),  # nothing stored yet: this machine's own choice (a CPU here)
        ("fp32", [BF16], "fp32"),  # a setting is obeyed (and refused later)
    ],
)
def test_auto_precision_follows_the_stored_rows(fer_env, monkeypatch, setting, stored, expected):
    monkeypatch.setenv("FER_PRECISION", setting)
    model = Platform(load_settings()).query_model(stored)
    assert model.precision == expected and model.model_id.endswith("/bf16") == (expected == "bf16")
