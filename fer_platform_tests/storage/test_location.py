import pytest

from fer_platform.storage.location import open_location


def test_local_folder(tmp_path):
    loc = open_location(str(tmp_path / "lake"))
    assert loc.is_local and loc.root == (tmp_path / "lake").as_posix()


def test_adls_gen2_url_uses_the_blob_api_with_env_credentials(monkeypatch):
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT_KEY", "a2V5")
    loc = open_location("abfss://lakehouse@feraccount.dfs.core.windows.net/raw")
    assert loc.root == "lakehouse/raw" and loc.fs.account_name == "feraccount"
    assert not loc.is_local


def test_bad_urls_are_named(monkeypatch):
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)
    with pytest.raises(ValueError, match="AZURE_STORAGE_CONNECTION_STRING"):
        open_location("az://container/x")
    with pytest.raises(ValueError, match="abfss://<container>@<account>"):
        open_location("abfss://nocontainer/x")
    with pytest.raises(ValueError, match="s3://b"):
        open_location("s3://b/x")
