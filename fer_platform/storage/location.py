"""Where lake and source objects live: a local folder, Azure Blob (``az://``) or ADLS Gen2 (``abfss://``).

All three go through fsspec (``adlfs`` for Azure, which speaks the Blob API
also for Gen2 accounts), so the data path never needs the dfs-only API that
Azurite lacks. Credentials come only from the environment:
``AZURE_STORAGE_CONNECTION_STRING`` (Azurite, or any account), else
``AZURE_STORAGE_ACCOUNT_KEY`` / ``AZURE_STORAGE_SAS_TOKEN``, else
``DefaultAzureCredential`` (managed identity, ``az login``...).

Before any transfer a location is probed with the Azure SDK directly, with a
short retry budget (1, 2, 4 s): adlfs alone retries an unreachable endpoint
for more than a minute and then carries on as if the container existed.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import fsspec
from azure.core.exceptions import AzureError, ResourceExistsError
from azure.storage.blob import BlobServiceClient, ExponentialRetry
from fsspec.implementations.local import LocalFileSystem

# relative path -> (size, md5 hex or None when the store does not keep one)
Listing = dict[str, tuple[int, "str | None"]]
PROBE_RETRY = dict(initial_backoff=1, increment_base=2, retry_total=3, random_jitter_range=1)
# Concurrent object requests of a transfer or a landing (the Azure SDK and adlfs batch them).
DEFAULT_CONCURRENCY = 64


class StorageUnavailableError(ConnectionError):
    """A store cannot be reached or a required container is missing; the message says which and why."""


class ContainerMissingError(StorageUnavailableError):
    """The store answers, but the container (or folder) is not there and was not to be created."""


@dataclass(frozen=True)
class Location:
    """A root inside one filesystem; object names below it are POSIX relative paths."""

    fs: fsspec.AbstractFileSystem
    root: str
    url: str
    sdk: dict[str, Any] = field(default_factory=dict)  # BlobServiceClient arguments (Azure only)

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, LocalFileSystem)

    def path(self, relative: str) -> str:
        """Full filesystem path of a relative object name."""
        return f"{self.root}/{relative}" if relative else self.root

    def ensure(self, create: bool = True) -> None:
        """Check the store answers and the root exists, creating it (folder or container) when ``create``.

        Raises ``StorageUnavailableError`` after the probe's retries.
        """
        if self.is_local:
            if create:
                self.fs.makedirs(self.root, exist_ok=True)
            elif not self.fs.exists(self.root):
                raise ContainerMissingError(f"{self.url!r} does not exist")
            return
        container = self.root.split("/")[0]
        try:
            client = self._service().get_container_client(container)
            if not client.exists():
                if not create:
                    raise ContainerMissingError(f"container {container!r} of {self.url!r} does not exist")
                try:
                    client.create_container()
                except ResourceExistsError:
                    pass  # another writer created it between our check and our create
        except AzureError as exc:
            raise StorageUnavailableError(
                f"cannot reach Azure storage for {self.url!r} after retries: {str(exc).splitlines()[0]}. "
                f"Check that the account (or Azurite) is up, its firewall/network rules admit this machine, "
                f"and the credentials in AZURE_STORAGE_CONNECTION_STRING / AZURE_STORAGE_ACCOUNT_KEY / "
                f"AZURE_STORAGE_SAS_TOKEN (or DefaultAzureCredential)."
            ) from exc

    def _service(self) -> BlobServiceClient:
        options = dict(retry_policy=ExponentialRetry(**PROBE_RETRY), connection_timeout=5, read_timeout=30)
        if "conn_str" in self.sdk:
            return BlobServiceClient.from_connection_string(self.sdk["conn_str"], **options)
        return BlobServiceClient(**self.sdk, **options)

    def write_atomic(self, relative: str, data: bytes) -> None:
        """Write an object so that readers see the old bytes or the new ones, never a part: a local file is
        written under a temporary name and renamed; an Azure blob upload commits only when complete."""
        target = self.path(relative)
        if not self.is_local:
            self.fs.pipe_file(target, data)
            return
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        temporary = Path(target).with_name(f".{Path(target).name}.{uuid.uuid4().hex}.tmp")
        try:
            with open(temporary, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)

    def create_exclusive(self, relative: str, data: bytes) -> bool:
        """Create an object only if it does not exist (O_EXCL locally, If-None-Match: * on Azure); False when
        another writer got there first. This is what makes claiming a registry version race-free."""
        if self.is_local:
            target = Path(self.path(relative))
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with open(target, "xb") as out:
                    out.write(data)
            except FileExistsError:
                return False
            return True
        container, _, blob = self.path(relative).partition("/")
        try:
            self._service().get_blob_client(container, blob).upload_blob(data, overwrite=False)
        except ResourceExistsError:
            return False
        return True

    def read(self, relative: str) -> bytes:
        """The bytes of one object."""
        return self.fs.cat_file(self.path(relative))

    def listing(self, prefix: str) -> Listing:
        """Every object under ``prefix`` with its size and MD5 (computed for local files)."""
        return {
            name[len(self.root) + 1 :]: (int(info["size"]), self._md5(name, info))
            for name, info in self._find(prefix).items()
        }

    def names(self, prefix: str) -> set[str]:
        """The relative names of the objects under ``prefix``, without reading or hashing them."""
        return {name[len(self.root) + 1 :] for name in self._find(prefix)}

    def page(self, prefix: str, token: str | None, size: int) -> tuple[list[str], str | None]:
        """One page of at most ``size`` relative names under ``prefix`` of an Azure container, from the service's
        continuation ``token`` (None: the first page); and the token of the next page (None after the last).
        What lets a caller list a container of millions of blobs a bounded slice at a time."""
        if self.is_local:
            raise ValueError(f"{self.url!r} is a local folder: only Azure containers are listed by page")
        container, _, base = self.root.partition("/")
        start = f"{base}/{prefix}" if base else prefix
        try:
            client = self._service().get_container_client(container)
            pages = client.list_blobs(name_starts_with=start, results_per_page=size).by_page(continuation_token=token)
            names = [blob.name[len(base) + 1 :] if base else blob.name for blob in next(pages)]
        except StopIteration:
            return [], None
        except AzureError as exc:
            raise StorageUnavailableError(f"cannot list {self.url!r}: {str(exc).splitlines()[0]}") from exc
        return names, pages.continuation_token or None

    def _find(self, prefix: str) -> dict[str, dict]:
        """Fresh listing (no fsspec cache: other writers change the store) of the objects under ``prefix``."""
        base = self.path(prefix).rstrip("/")
        self.fs.invalidate_cache()
        if not self.fs.exists(base):
            return {}
        return {n: i for n, i in self.fs.find(base, detail=True).items() if i.get("type") != "directory"}

    def _md5(self, name: str, info: dict) -> str | None:
        if self.is_local:
            return hashlib.md5(Path(name).read_bytes()).hexdigest()
        md5 = (info.get("content_settings") or {}).get("content_md5")
        return bytes(md5).hex() if md5 else None


def azure_credentials(account: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(adlfs arguments, BlobServiceClient arguments), from the environment only."""
    env = os.environ
    if env.get("AZURE_STORAGE_CONNECTION_STRING"):
        conn = env["AZURE_STORAGE_CONNECTION_STRING"]
        return {"connection_string": conn}, {"conn_str": conn}
    if not account:
        raise ValueError("az:// URLs need AZURE_STORAGE_CONNECTION_STRING (or use abfss://container@account...)")
    url = f"https://{account}.blob.core.windows.net"
    if env.get("AZURE_STORAGE_ACCOUNT_KEY"):
        key = env["AZURE_STORAGE_ACCOUNT_KEY"]
        return (
            {"account_name": account, "account_key": key},
            {"account_url": url, "credential": {"account_name": account, "account_key": key}},
        )
    if env.get("AZURE_STORAGE_SAS_TOKEN"):
        sas = env["AZURE_STORAGE_SAS_TOKEN"]
        return {"account_name": account, "sas_token": sas}, {"account_url": url, "credential": sas}
    from azure.identity import DefaultAzureCredential

    return {"account_name": account, "anon": False}, {
        "account_url": url,
        "credential": DefaultAzureCredential(),
    }


def azure_location(url: str, account: str | None, root: str) -> Location:
    from adlfs import AzureBlobFileSystem

    fs_args, sdk_args = azure_credentials(account)
    return Location(AzureBlobFileSystem(**fs_args), root.rstrip("/"), url, sdk_args)


def open_location(url: str) -> Location:
    """The ``Location`` of a local folder, ``az://container/path`` or ``abfss://container@account.dfs.../path``."""
    parts = urlsplit(url)
    if parts.scheme in ("", "file"):
        root = Path(parts.path if parts.scheme else url).expanduser().resolve()
        return Location(LocalFileSystem(auto_mkdir=True), root.as_posix(), url)
    if parts.scheme == "az":
        return azure_location(url, None, f"{parts.netloc}{parts.path}")
    if parts.scheme in ("abfs", "abfss"):
        container, _, host = parts.netloc.partition("@")
        if not container or not host:
            raise ValueError(f"{url!r}: expected abfss://<container>@<account>.dfs.core.windows.net/<path>")
        return azure_location(url, host.split(".")[0], f"{container}{parts.path}")
    raise ValueError(f"unsupported storage URL {url!r}: use a folder, az://... or abfss://...")
