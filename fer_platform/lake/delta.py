"""The lake's embeddings as one Delta Lake table (``deltalake``, delta-rs), partitioned by ``emotion``.

Readable by polars (``pl.read_delta``), DuckDB (``delta_scan``), Spark, Fabric and Databricks, and its data files
stay plain Parquet. A landing commits only what changed: one ``MERGE`` by ``id`` that upserts the changed rows
and deletes the ids the replica no longer holds, restricted to the emotion's partition. The replica horizon a
commit applied is written *in the same commit* as a Delta application transaction
(``txn``: app id ``fer_platform.embeddings.<emotion>``, version = the horizon), so the next run asks the table
what it already holds and a killed run, whose commit either happened or did not, is applied once. A commit
that fails leaves the previous version readable: Delta's log is only ever appended by a complete commit.

The same URL as the rest of the lake (a folder, ``az://`` or ``abfss://``) is turned into a delta-rs URI and
its storage options from the environment, as ``storage.location`` does for fsspec.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from urllib.parse import urlsplit

import polars as pl
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake
from deltalake.exceptions import TableNotFoundError

from fer_platform.lake.layout import EMBEDDINGS_PREFIX, PARTITION_COLUMN
from fer_platform.storage.location import Location


@dataclass(frozen=True)
class DeltaTarget:
    """A Delta table's URI with the options delta-rs needs to reach it (credentials: never logged)."""

    uri: str
    options: dict[str, str]

    def open(self) -> DeltaTable | None:
        """The table, or None before its first commit."""
        try:
            return DeltaTable(self.uri, storage_options=self.options)
        except TableNotFoundError:
            return None


def connection_string_options(conn_str: str) -> dict[str, str]:
    """delta-rs options from an Azure Storage connection string (Azurite's included: its endpoint is a path)."""
    parts = dict(p.split("=", 1) for p in conn_str.split(";") if "=" in p)
    options = {"account_name": parts["AccountName"], "account_key": parts["AccountKey"]}
    endpoint = parts.get("BlobEndpoint")
    if endpoint:
        options["azure_storage_endpoint"] = endpoint.rstrip("/")
        options["allow_http"] = str(endpoint.startswith("http://")).lower()
    return options


def azure_options(account: str | None) -> dict[str, str]:
    """Credentials from the environment only, in the order ``storage.location`` uses them."""
    env = os.environ
    if env.get("AZURE_STORAGE_CONNECTION_STRING"):
        return connection_string_options(env["AZURE_STORAGE_CONNECTION_STRING"])
    options = {"account_name": account or ""}
    if env.get("AZURE_STORAGE_ACCOUNT_KEY"):
        options["account_key"] = env["AZURE_STORAGE_ACCOUNT_KEY"]
    elif env.get("AZURE_STORAGE_SAS_TOKEN"):
        options["sas_token"] = env["AZURE_STORAGE_SAS_TOKEN"].lstrip("?")
    else:
        options["use_azure_cli"] = "true"  # else managed identity / workload identity, as DefaultAzureCredential
    return options


def embeddings_target(lake: Location, prefix: str = EMBEDDINGS_PREFIX) -> DeltaTarget:
    """The embeddings table under the lake root (``<lake>/raw/embeddings/fer2013``)."""
    if lake.is_local:
        return DeltaTarget(lake.path(prefix), {})
    parts = urlsplit(lake.url)
    if parts.scheme == "az":
        return DeltaTarget(f"az://{lake.path(prefix)}", azure_options(None))
    container, _, host = parts.netloc.partition("@")
    path = f"{parts.path.strip('/')}/{prefix}".strip("/")
    return DeltaTarget(f"abfss://{container}@{host}/{path}", azure_options(host.split(".")[0]))


def app_id(emotion: str) -> str:
    """The Delta application id under which a partition's applied replica horizon is recorded."""
    return f"fer_platform.embeddings.{emotion}"


def applied_horizon(target: DeltaTarget, emotion: str) -> int | None:
    """The replica horizon the partition's last commit applied (None: never written by a delta run)."""
    table = target.open()
    return None if table is None else table.transaction_version(app_id(emotion))


def quoted(value: str) -> str:
    """A SQL string literal for a delta-rs predicate."""
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class EmbeddingsChange:
    """What one run commits for one emotion: rows to upsert, the logged ids they answer (None: replace the
    whole partition with ``rows``), and the replica horizon this brings the partition to."""

    emotion: str
    rows: pl.DataFrame
    ids: list[int] | None
    horizon: int


@dataclass(frozen=True)
class CommitReport:
    """What a commit did to the table (from delta-rs's operation metrics)."""

    version: int | None
    rows_written: int
    rows_deleted: int
    files_added: int


def commit_bytes(location: Location, prefix: str, version: int | None) -> int:
    """Bytes of the data files commit ``version`` of the table under ``prefix`` added (its log entry's ``add``
    actions): what a landing wrote to the lake, read from one small JSON file."""
    if version is None:
        return 0
    entry = location.read(f"{prefix.rstrip('/')}/_delta_log/{version:020d}.json").decode()
    actions = (json.loads(line) for line in entry.splitlines() if line.strip())
    return sum(int(action["add"]["size"]) for action in actions if "add" in action)


def as_delta(rows: pl.DataFrame):
    """The rows as Arrow with ``vector`` a plain list of float32: Delta has no fixed-size array type, and a data
    file written as one would not read back through readers that follow the table's schema (polars)."""
    if "vector" in rows.columns:
        rows = rows.with_columns(pl.col("vector").cast(pl.List(pl.Float32)))
    return rows.to_arrow()


MAX_LISTED_IDS = 1_000
DELETED = "_deleted"  # a column of the merge's source only: the row's id was deleted from the replica


def merge_source(change: EmbeddingsChange) -> pl.DataFrame:
    """The change's rows, and a row (id and emotion, nothing else) for each logged id the replica no longer
    holds, flagged ``DELETED``: deletes ride in the same source, so the merge needs no not-matched-by-source
    clause (which makes delta-rs read the whole partition)."""
    rows = change.rows.with_columns(pl.lit(False).alias(DELETED))
    gone = sorted(set(change.ids or ()) - set(change.rows.get_column("id").to_list()))
    deletes = pl.DataFrame(
        {"id": gone, PARTITION_COLUMN: [change.emotion] * len(gone), DELETED: [True] * len(gone)},
        schema={"id": pl.Int64, PARTITION_COLUMN: pl.String, DELETED: pl.Boolean},
    )
    return pl.concat([rows, deletes], how="diagonal_relaxed")


def id_filter(ids: list[int]) -> str:
    """What lets delta-rs skip the data files whose id statistics hold none of ``ids``: the literal list for a
    landing-sized change; past ``MAX_LISTED_IDS`` their range (a list of 300,000 literals overflows delta-rs's
    stack, measured: a segfault), which prunes less but stays one small expression."""
    if len(ids) <= MAX_LISTED_IDS:
        return f"t.id IN ({', '.join(str(int(i)) for i in ids)})"
    return f"t.id BETWEEN {int(min(ids))} AND {int(max(ids))}"


def _merge(table: DeltaTable, change: EmbeddingsChange, props: CommitProperties) -> dict:
    """Upsert and delete the logged ids in one commit. The id filter in the predicate lets delta-rs skip every
    data file that cannot hold them: a landing reads the files it touches (none when it only adds rows), not
    the partition."""
    merger = table.merge(
        as_delta(merge_source(change)),
        predicate=f"t.{PARTITION_COLUMN} = {quoted(change.emotion)} AND {id_filter(change.ids or [])} AND t.id = s.id",
        source_alias="s",
        target_alias="t",
        commit_properties=props,
    )
    merger = merger.when_matched_delete(predicate=f"s.{DELETED}")
    merger = merger.when_matched_update_all(predicate=f"NOT s.{DELETED}", except_cols=[DELETED])
    return merger.when_not_matched_insert_all(predicate=f"NOT s.{DELETED}", except_cols=[DELETED]).execute()


def commit_change(target: DeltaTarget, change: EmbeddingsChange) -> CommitReport:
    """Apply ``change`` in one Delta commit carrying its horizon; no commit when nothing changed."""
    table = target.open()
    if change.ids == [] and table is not None:
        return CommitReport(None, 0, 0, 0)
    props = CommitProperties(app_transactions=[Transaction(app_id(change.emotion), change.horizon)])
    if change.ids is None or table is None:
        existing = table is not None
        write_deltalake(
            target.uri,
            as_delta(change.rows),
            partition_by=[PARTITION_COLUMN],
            mode="overwrite" if existing else "append",
            predicate=f"{PARTITION_COLUMN} = {quoted(change.emotion)}" if existing else None,
            storage_options=target.options,
            commit_properties=props,
        )
        table = target.open()
        metrics = table.history(1)[0].get("operationMetrics", {})
        return CommitReport(table.version(), len(change.rows), 0, int(metrics.get("num_added_files", 0)))
    metrics = _merge(table, change, props)
    written = metrics["num_target_rows_inserted"] + metrics["num_target_rows_updated"]
    return CommitReport(
        target.open().version(), written, metrics["num_target_rows_deleted"], metrics["num_target_files_added"]
    )


def read_partition(target: DeltaTarget, emotion: str, columns: list[str] | None = None) -> pl.DataFrame:
    """One emotion's rows as the lake holds them (file pruning by the partition column)."""
    table = target.open()
    if table is None:
        return pl.DataFrame()
    data = table.to_pyarrow_table(partitions=[(PARTITION_COLUMN, "=", emotion)], columns=columns)
    return pl.from_arrow(data)


def partition_rows(target: DeltaTarget, emotion: str) -> int:
    """Rows of one emotion from the log's file statistics: no data file is read."""
    table = target.open()
    if table is None:
        return 0
    actions = pl.DataFrame(table.get_add_actions(flatten=True))
    column = f"partition.{PARTITION_COLUMN}"
    return int(actions.filter(pl.col(column) == emotion)["num_records"].sum()) if len(actions) else 0
