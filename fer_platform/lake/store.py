"""Where lake and source objects live: a local folder, Azure Blob (``az://``) or ADLS Gen2 (``abfss://``).

All three go through fsspec (``adlfs`` for Azure, which speaks the Blob API
also for Gen2 accounts), so the data path never needs the dfs-only API that
Azurite lacks. Credentials come only from the environment:
``AZURE_STORAGE_CONNECTION_STRING`` (Azurite, or any account), else
``AZURE_STORAGE_ACCOUNT_KEY`` / ``AZURE_STORAGE_SAS_TOKEN``, else
``DefaultAzureCredential`` (managed identity, ``az login``...).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import fsspec
from fsspec.implementations.local import LocalFileSystem

# relative path -> (size, md5 hex or None when the store does not keep one)
Listing = dict[str, tuple[int, "str | None"]]


@dataclass(frozen=True)
class Location:
    """A root inside one filesystem; object names below it are POSIX relative paths."""

    fs: fsspec.AbstractFileSystem
    root: str
    url: str

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, LocalFileSystem)

    def path(self, relative: str) -> str:
        """Full filesystem path of a relative object name."""
        return f"{self.root}/{relative}" if relative else self.root

    def ensure(self) -> None:
        """Create the root (for Azure: the container) if it does not exist yet.

        adlfs' ``makedirs`` is a no-op for containers; ``mkdir`` creates them and is idempotent.
        """
        if self.is_local:
            self.fs.makedirs(self.root, exist_ok=True)
        else:
            self.fs.mkdir(self.root, create_parents=True)

    def listing(self, prefix: str) -> Listing:
        """Every object under ``prefix`` with its size and MD5 (computed for local files)."""
        base = self.path(prefix).rstrip("/")
        if not self.fs.exists(base):
            return {}
        found = self.fs.find(base, detail=True)
        return {
            name[len(self.root) + 1 :]: (int(info["size"]), self._md5(name, info))
            for name, info in found.items()
            if info.get("type") != "directory"
        }

    def _md5(self, name: str, info: dict) -> str | None:
        if self.is_local:
            return hashlib.md5(Path(name).read_bytes()).hexdigest()
        md5 = (info.get("content_settings") or {}).get("content_md5")
        return bytes(md5).hex() if md5 else None


def azure_blob_fs(account: str | None) -> fsspec.AbstractFileSystem:
    """An adlfs filesystem with credentials from the environment only."""
    from adlfs import AzureBlobFileSystem

    env = os.environ
    if env.get("AZURE_STORAGE_CONNECTION_STRING"):
        return AzureBlobFileSystem(connection_string=env["AZURE_STORAGE_CONNECTION_STRING"])
    if not account:
        raise ValueError("az:// URLs need AZURE_STORAGE_CONNECTION_STRING (or use abfss://container@account...)")
    if env.get("AZURE_STORAGE_ACCOUNT_KEY"):
        return AzureBlobFileSystem(account_name=account, account_key=env["AZURE_STORAGE_ACCOUNT_KEY"])
    if env.get("AZURE_STORAGE_SAS_TOKEN"):
        return AzureBlobFileSystem(account_name=account, sas_token=env["AZURE_STORAGE_SAS_TOKEN"])
    return AzureBlobFileSystem(account_name=account, anon=False)  # DefaultAzureCredential


def open_location(url: str) -> Location:
    """The ``Location`` of a local folder, ``az://container/path`` or ``abfss://container@account.dfs.../path``."""
    parts = urlsplit(url)
    if parts.scheme in ("", "file"):
        root = Path(parts.path if parts.scheme else url).expanduser().resolve()
        return Location(LocalFileSystem(auto_mkdir=True), root.as_posix(), url)
    if parts.scheme == "az":
        return Location(azure_blob_fs(None), f"{parts.netloc}{parts.path}".rstrip("/"), url)
    if parts.scheme in ("abfs", "abfss"):
        container, _, host = parts.netloc.partition("@")
        if not container or not host:
            raise ValueError(f"{url!r}: expected abfss://<container>@<account>.dfs.core.windows.net/<path>")
        return Location(azure_blob_fs(host.split(".")[0]), f"{container}{parts.path}".rstrip("/"), url)
    raise ValueError(f"unsupported storage URL {url!r}: use a folder, az://... or abfss://...")


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()
