"""Blocking asset checks on each partition of ``embeddings_table``."""

import polars as pl
from dagster import AssetCheckResult, AssetIn, asset_check
from psycopg import sql

from fer_platform.images.manifest import MANIFEST_TABLE
from fer_platform.images.manifest_log import last_run_changes
from fer_platform.images.stored_manifest import FolderManifest
from fer_platform.orchestration import names
from fer_platform.orchestration.partitions import EMOTION_PARTITIONS
from fer_platform.orchestration.resources import ImagesResource, PostgresResource
from fer_platform.table.aggregates import partition_aggregate
from fer_platform.table.rows import invalid_vectors, partition_row_count
from fer_platform.table.schema import DEFAULT_TABLE, EMBEDDING_DIM

UNIQUE_PATHS = """
SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
WHERE i.indrelid = to_regclass(%s) AND i.indisunique AND i.indnatts = 1 AND a.attname = 'filepath'
"""
DUPLICATE_PATHS = """
SELECT filepath, count(*) FROM {table} WHERE emotion = %s
GROUP BY filepath HAVING count(*) > 1 ORDER BY filepath LIMIT 20
"""
ROWS_IN_SCOPE = "SELECT count(*) FROM {table} WHERE emotion = %s AND filepath = ANY(%s)"
# decodable files of the folder, and how many of them have a row: compared on the server, whatever the folder holds
WHOLE_FOLDER = """
SELECT count(*), count(t.filepath) FROM {manifest} m LEFT JOIN {table} t ON t.filepath = m.filepath AND t.emotion = %s
WHERE m.emotion = %s AND starts_with(m.filepath, %s) AND m.error IS NULL
"""


def query(postgres: PostgresResource, statement: str, params: tuple) -> list[tuple]:
    """Run one read-only check query against the table."""
    with postgres.connect(vector=False) as conn:
        return conn.execute(sql.SQL(statement).format(table=sql.Identifier(DEFAULT_TABLE)), params).fetchall()


def whole_folder_rows(postgres: PostgresResource, emotion: str, scope: str) -> tuple[int, int]:
    """(decodable files of the folder, how many of them have a row), counted by the server."""
    identifiers = {"table": sql.Identifier(DEFAULT_TABLE), "manifest": sql.Identifier(MANIFEST_TABLE)}
    statement = sql.SQL(WHOLE_FOLDER).format(**identifiers)
    with postgres.connect(vector=False) as conn:
        return conn.execute(statement, (emotion, emotion, scope)).fetchone()


def last_run_paths(postgres: PostgresResource, scope: str) -> list[str] | None:
    """The files the last run of ``embeddings_table`` compared, from the manifest log; None when it compared
    the whole folder (a first run, a model change): the checks then look at the whole partition."""
    with postgres.connect(vector=False) as conn:
        changes = last_run_changes(conn, names.EMBEDDINGS_TABLE, scope)
    return None if changes is None else sorted(changes)


def rows_in_folder(postgres: PostgresResource, emotion: str, scope: str, expected: int) -> int:
    """Rows of the emotion folder: the partition's maintained count (one lookup) when it says ``expected``;
    else counted by path prefix (the table may hold another split's rows of the emotion)."""
    with postgres.connect(vector=False) as conn:
        maintained = partition_aggregate(conn, DEFAULT_TABLE, emotion).rows
        return maintained if maintained == expected else partition_row_count(conn, DEFAULT_TABLE, emotion, scope)


@asset_check(
    asset=names.EMBEDDINGS_TABLE,
    blocking=True,
    partitions_def=EMOTION_PARTITIONS,
    additional_ins={"raw_images": AssetIn(names.RAW_IMAGES)},
)
def rows_match_manifest(
    context, postgres: PostgresResource, images: ImagesResource, raw_images: FolderManifest
) -> AssetCheckResult:
    """Rows stored for the emotion folder == manifest files that decoded (no missing, no stale rows): the
    maintained counts, and, for the files the run compared, a row for each decodable one and none for those gone
    (their manifest rows read by path; after a whole run, compared on the server for the whole folder)."""
    emotion, scope = context.partition_key, images.scope(context.partition_key)
    compared = last_run_paths(postgres, scope)
    if compared is None:
        (wanted, for_wanted), for_gone = whole_folder_rows(postgres, emotion, scope), 0
    else:
        with postgres.connect(vector=False) as conn:
            manifest = raw_images.rows(conn, compared)
        usable = manifest.filter(pl.col("error").is_null()).get_column("filepath").to_list()
        gone = sorted(set(compared) - set(manifest.get_column("filepath").to_list()))
        wanted, for_wanted = len(usable), query(postgres, ROWS_IN_SCOPE, (emotion, usable))[0][0]
        for_gone = query(postgres, ROWS_IN_SCOPE, (emotion, gone))[0][0] if gone else 0
    decodable = raw_images.counts.decodable
    in_folder = rows_in_folder(postgres, emotion, scope, decodable)
    return AssetCheckResult(
        passed=in_folder == decodable and for_wanted == wanted and for_gone == 0,
        metadata={
            "decodable_files": decodable,
            "rows_in_folder": in_folder,
            "files_checked": "all" if compared is None else len(compared),
            "rows_for_decodable_checked": for_wanted,
            "rows_for_files_gone": for_gone,
        },
    )


@asset_check(asset=names.EMBEDDINGS_TABLE, blocking=True, partitions_def=EMOTION_PARTITIONS)
def filepaths_unique(context, postgres: PostgresResource) -> AssetCheckResult:
    """No file path is stored twice in the partition: the table's unique index on ``filepath`` guarantees it
    (one catalog lookup); a table without it (made by hand) is searched for duplicates."""
    with postgres.connect(vector=False) as conn:
        indexed = conn.execute(UNIQUE_PATHS, (DEFAULT_TABLE,)).fetchone() is not None
    if indexed:
        return AssetCheckResult(passed=True, metadata={"enforced_by": "unique index on filepath", "duplicates": []})
    duplicates = query(postgres, DUPLICATE_PATHS, (context.partition_key,))
    return AssetCheckResult(passed=not duplicates, metadata={"duplicates": [f"{p} x{n}" for p, n in duplicates]})


@asset_check(asset=names.EMBEDDINGS_TABLE, blocking=True, partitions_def=EMOTION_PARTITIONS)
def vectors_valid(context, postgres: PostgresResource, images: ImagesResource) -> AssetCheckResult:
    """Every vector the last run wrote (all of the partition after a whole run) has 512 finite values and a
    non-zero norm; ``verify_replica`` looks at every stored row on its schedule."""
    compared = last_run_paths(postgres, images.scope(context.partition_key))
    with postgres.connect(vector=False) as conn:
        bad = invalid_vectors(conn, DEFAULT_TABLE, EMBEDDING_DIM, context.partition_key, compared)
    return AssetCheckResult(
        passed=not bad,
        metadata={
            "invalid_examples": [p for _, p in bad],
            "rows_checked": "all" if compared is None else len(compared),
        },
    )
