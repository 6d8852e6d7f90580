from urllib.error import URLError

import numpy as np
import pytest
import torch

from fer_platform.embeddings.embedder import forward
from fer_platform.embeddings.model import (
    WeightsUnavailableError,
    build_resnet18,
    imagenet_checkpoint_path,
    load_model,
    resolve_device,
    resolve_precision,
    settings_for,
)

INPUT = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))


def features(module):
    with torch.inference_mode():
        return module(INPUT)


def test_random_weights_are_fixed_and_flagged():
    a, model_id = build_resnet18("random")
    b, _ = build_resnet18("random")
    assert "random" in model_id
    assert isinstance(a.fc, torch.nn.Identity) and not a.training
    assert features(a).shape == (2, 512)
    assert torch.equal(features(a), features(b))


def test_state_dict_file_with_or_without_fc(tmp_path):
    reference, _ = build_resnet18("random")
    with_fc = {**reference.state_dict(), "fc.weight": torch.zeros(1000, 512), "fc.bias": torch.zeros(1000)}
    for name, state in (("with_fc.pth", with_fc), ("without_fc.pth", reference.state_dict())):
        torch.save(state, tmp_path / name)
        module, model_id = build_resnet18(str(tmp_path / name))
        assert model_id.startswith("resnet18-fc_identity/state_dict-")
        assert torch.allclose(features(module), features(reference))


def test_bad_weights_values_are_named(tmp_path):
    with pytest.raises(WeightsUnavailableError, match="nope.pth"):
        build_resnet18(str(tmp_path / "nope.pth"))
    (tmp_path / "junk.pth").write_text("junk")
    with pytest.raises(WeightsUnavailableError, match="junk.pth"):
        build_resnet18(str(tmp_path / "junk.pth"))
    torch.save({"conv1.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(WeightsUnavailableError, match="not a ResNet18"):
        build_resnet18(str(tmp_path / "other.pth"))


def test_imagenet_weights_come_from_torchvision_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    cached = imagenet_checkpoint_path()
    assert cached == tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    cached.parent.mkdir(parents=True)
    stand_in, _ = build_resnet18("random")  # no download here: any ResNet18 weights stand in
    torch.save(stand_in.state_dict(), cached)
    module, model_id = build_resnet18("imagenet")
    assert "imagenet1k_v1" in model_id
    assert torch.allclose(features(module), features(stand_in))


def test_imagenet_offline_error_names_both_remedies(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def offline(*args, **kwargs):
        raise URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(WeightsUnavailableError) as err:
        build_resnet18("imagenet")
    message = str(err.value)
    assert "resnet18-f37072fd.pth" in message and "FER_WEIGHTS=" in message and str(tmp_path) in message


def test_device_resolution():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="FER_DEVICE=cuda"):
            resolve_device("cuda")


def test_bf16_stays_close_to_fp32_and_has_its_own_id():
    fp32 = load_model("random", "cpu", "fp32")
    bf16 = load_model("random", "cpu", "bf16")
    assert bf16.model_id == fp32.model_id + "/bf16"
    a, b = forward(fp32, INPUT), forward(bf16, INPUT)
    cosine = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cosine.min() >= 0.999
    with pytest.raises(ValueError, match="FER_PRECISION"):
        load_model("random", "cpu", "fp8")


@pytest.mark.parametrize(
    ("weights", "precision", "setting"),
    [("random", "fp32", "FER_WEIGHTS=random"), ("random", "bf16", "FER_WEIGHTS=random FER_PRECISION=bf16")],
)
def test_settings_for_names_what_loads_a_stored_model_id(weights, precision, setting):
    assert settings_for(load_model(weights, "cpu", precision).model_id) == setting


def test_settings_for_other_ids():
    assert settings_for("resnet18-fc_identity/imagenet1k_v1/t") == "FER_WEIGHTS=imagenet"
    assert "sha256 starts with 0123abcd" in settings_for("resnet18-fc_identity/state_dict-0123abcd/t")
    assert "not one this platform writes" in settings_for(None)


def test_auto_precision_is_bf16_on_cuda_and_fp32_elsewhere():
    assert resolve_precision("auto", torch.device("cuda")) == "bf16"
    assert resolve_precision("auto", torch.device("cpu")) == "fp32"
    assert resolve_precision("bf16", torch.device("cpu")) == "bf16"
    auto = load_model("random", "cpu", "auto")
    assert auto is load_model("random", "cpu", "fp32")  # resolved before the id is built: one model, no "auto"
    assert auto.precision == "fp32" and "auto" not in auto.model_id
    if torch.cuda.is_available():
        on_gpu = load_model("random", "auto", "auto")
        assert on_gpu.precision == "bf16" and on_gpu.model_id == auto.model_id + "/bf16"
    with pytest.raises(ValueError, match="FER_PRECISION='fp8' is not one of fp32, bf16, auto"):
        resolve_precision("fp8", torch.device("cpu"))
