import pytest
from pydantic import ValidationError

from fer_platform.settings import load_settings


def test_defaults(monkeypatch, tmp_path):
    for name in ("FER_IMAGE_ROOT", "FER_SPLIT", "FER_PG_DSN", "FER_WEIGHTS", "FER_DEVICE", "FER_BATCH_SIZE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FER_HOME", str(tmp_path))
    s = load_settings()
    assert (s.split, s.weights, s.device, s.pg_dsn) == ("train", "imagenet", "auto", None)
    assert s.resolved_image_root == tmp_path / "images"
    assert s.embedded_pgdata == tmp_path / "pgdata"


def test_environment_overrides(monkeypatch, tmp_path):
    monkeypatch.setenv("FER_IMAGE_ROOT", str(tmp_path))
    monkeypatch.setenv("FER_SPLIT", "test")
    monkeypatch.setenv("FER_BATCH_SIZE", "16")
    s = load_settings()
    assert (s.resolved_image_root, s.split, s.batch_size) == (tmp_path, "test", 16)


@pytest.mark.parametrize("name,value", [("FER_SPLIT", "validation"), ("FER_DEVICE", "tpu"), ("FER_BATCH_SIZE", "0")])
def test_bad_values_are_named(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=name.removeprefix("FER_").lower()):
        load_settings()


def test_an_empty_events_queue_or_ray_address_means_unset(monkeypatch):
    monkeypatch.setenv("FER_EVENTS_QUEUE", "")
    monkeypatch.setenv("FER_RAY_ADDRESS", " ")
    s = load_settings()
    assert (s.events_queue, s.ray_address) == (None, None)


def test_events_need_an_azure_source(monkeypatch):
    monkeypatch.setenv("FER_EVENTS_QUEUE", "events")
    monkeypatch.setenv("FER_SOURCE_URL", "az://origen")
    assert load_settings().events_queue == "events"
    monkeypatch.delenv("FER_SOURCE_URL")
    with pytest.raises(ValidationError, match="a local folder"):
        load_settings()
