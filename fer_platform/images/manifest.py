"""The manifest of one emotion folder: which files exist, their size, hash and decodability.

A manifest is a polars DataFrame with one row per file (see ``MANIFEST_SCHEMA``);
``error`` is null for files that decode and holds the reason otherwise. File
paths are POSIX paths relative to the image root (``train/happy/im0.png``), the
form stored in ``imagenes_fer.filepath``.

Each row also holds the file's stat fingerprint (size, mtime in ns, inode) as it was when the file was read, so
that a later scan reads only the files whose fingerprint changed (``images.scan``). This module makes rows: it
reads and describes files, in this process or in the same form as a Ray task.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Generator, Iterable, Mapping
from pathlib import Path

import numpy as np
import polars as pl

from fer_platform.images.decode import ImageDecodeError, decode_image

MANIFEST_TABLE = "fer_image_manifest"  # where a scan stores these rows, on the source database
# imagenes_fer.filepath is varchar(255), as in the seed.
MAX_FILEPATH_CHARS = 255

MANIFEST_SCHEMA = {
    "filepath": pl.String,
    "emotion": pl.String,
    "size_bytes": pl.Int64,
    "sha256": pl.String,
    "width": pl.Int32,
    "height": pl.Int32,
    "error": pl.String,
    "mtime_ns": pl.Int64,
    "inode": pl.Int64,
}
# Described rows travel as numpy columns (a Ray task's batch has no nulls): a usable file's error is "", an unusable
# file's width and height 0 (a decoded image is never 0 wide, a reason never empty: ``describe_file`` sees to it).
WIRE_DTYPES = {"width": np.int32, "height": np.int32, "size_bytes": np.int64, "mtime_ns": np.int64, "inode": np.int64}
DESCRIBE_BATCH = 64  # files described per batch in this process, as per Ray task
BLOCK_ROWS = 65_536  # rows a scan reads, holds and stores at a time, whatever the folder holds


# Names that copy tools, browsers and editors give files still being written.
PARTIAL_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".download", ".swp")


def is_image_candidate(name: str) -> bool:
    """A file name that may be an image: not hidden, not a partial download or temporary file."""
    return not name.startswith(".") and not name.lower().endswith(PARTIAL_SUFFIXES)


def list_emotion_files(image_root: Path, split: str, emotion: str) -> list[Path]:
    """Regular image-candidate files of ``<root>/<split>/<emotion>/``, sorted by name."""
    folder = image_root / split / emotion
    if not folder.is_dir():
        raise FileNotFoundError(f"emotion folder {str(folder)!r} does not exist")
    return sorted(p for p in folder.iterdir() if p.is_file() and is_image_candidate(p.name))


def describe_file(path: Path, image_root: Path, emotion: str) -> dict:
    """One manifest row for ``path``: reads it once, hashes it and tries to decode it. The fingerprint is the
    open file's, taken before reading, so a write that lands during the read changes it for the next scan."""
    with path.open("rb") as handle:
        stat = os.fstat(handle.fileno())
        data = handle.read()
    row = {
        "filepath": path.relative_to(image_root).as_posix(),
        "emotion": emotion,
        "size_bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "width": None,
        "height": None,
        "error": None,
        "mtime_ns": stat.st_mtime_ns,
        "inode": stat.st_ino,
    }
    if len(row["filepath"]) > MAX_FILEPATH_CHARS:
        row["error"] = f"file path longer than {MAX_FILEPATH_CHARS} characters"
        return row
    try:
        img = decode_image(data)
        row["width"], row["height"] = img.size
    except ImageDecodeError as exc:
        row["error"] = str(exc) or type(exc).__name__
    return row


def describe_columns(paths: Iterable[str], image_root: Path, emotion: str) -> dict[str, np.ndarray]:
    """The rows of one batch of paths (relative to ``image_root``) as numpy columns (``WIRE_DTYPES``): what a Ray
    task returns and what this process makes, so both paths meet the driver in the same form."""
    rows = [describe_file(image_root / str(path), image_root, emotion) for path in paths]
    columns = {}
    for name in MANIFEST_SCHEMA:
        values = [row[name] for row in rows]
        if name in WIRE_DTYPES:
            columns[name] = np.array([0 if v is None else v for v in values], dtype=WIRE_DTYPES[name])
        else:
            columns[name] = np.array(["" if v is None else v for v in values], dtype=object)
    return columns


def described_frame(columns: Mapping[str, np.ndarray]) -> pl.DataFrame:
    """The ``MANIFEST_SCHEMA`` frame of described columns, with the nulls the wire form leaves out put back."""
    frame = pl.DataFrame({name: pl.Series(name, columns[name], dtype=dtype) for name, dtype in MANIFEST_SCHEMA.items()})
    return frame.with_columns(
        *(pl.when(pl.col(name) != 0).then(pl.col(name)).alias(name) for name in ("width", "height")),
        pl.when(pl.col("error") != "").then(pl.col("error")).alias("error"),
    )


def stacked(batches: list[Mapping[str, np.ndarray]]) -> pl.DataFrame:
    """One frame of several described batches."""
    return described_frame({name: np.concatenate([batch[name] for batch in batches]) for name in MANIFEST_SCHEMA})


def described_blocks(batches: Iterable[Mapping[str, np.ndarray]]) -> Generator[pl.DataFrame, None, None]:
    """Described batches (in any order) as frames of ``BLOCK_ROWS`` rows or so, each handed on once full: the
    driver holds one block of numpy batches and the block being stored, never the scan's rows, so a first scan
    of 1M files costs what one of 65k files does."""
    pending, held = [], 0
    for batch in batches:
        pending.append(batch)
        held += len(batch["filepath"])
        if held >= BLOCK_ROWS:
            yield stacked(pending)
            pending, held = [], 0
    if pending:
        yield stacked(pending)


def gathered(blocks: Iterable[pl.DataFrame]) -> pl.DataFrame:
    """Described blocks as one frame: a whole manifest, where one is asked for (``scan.scan_folder``)."""
    return pl.concat([pl.DataFrame(schema=MANIFEST_SCHEMA), *blocks])


# Reads and describes files given by their paths relative to the image root (in process or on Ray workers): blocks
# of rows, described as they are taken.
Describe = Callable[[pl.Series], Generator[pl.DataFrame, None, None]]


def describe_here(image_root: Path, emotion: str) -> Describe:
    """``Describe`` in this process, a batch at a time (``describe_columns``, as a Ray task does)."""

    def describe(paths: pl.Series) -> Generator[pl.DataFrame, None, None]:
        starts = range(0, len(paths), DESCRIBE_BATCH)
        return described_blocks(
            describe_columns(paths.slice(start, DESCRIBE_BATCH), image_root, emotion) for start in starts
        )

    return describe
